/*
 * net_ctrl.c - the virtio-net control queue: RX mode, MAC tables and
 * address, VLAN filter, announce, queue pairs, RSS and hash
 * configuration, guest offloads.
 *
 * A command is one chain: class and command (2 readable bytes), the
 * command's data (readable), one writable ack byte at the end. The
 * driver may split these across descriptors as it likes, so the readable
 * bytes are copied out once into a local buffer and parsed from there:
 * what is checked is what is used. Every command must have exactly the
 * size its data says; anything else, or a command whose feature was not
 * negotiated, is answered VIO_NET_ERR and counted, and changes nothing.
 */
#include "net_priv.h"

/* Longest data any command may carry: two full MAC tables. */
#define CTRL_DATA_MAX (2 * (4 + VIO_NET_MAC_TABLE_MAX * VIO_NET_MAC_LEN) + 256)

#define net_log(net, level, ...) vio_dev_logf(&(net)->dev, level, __VA_ARGS__)

void vio__net_filters_reset(struct vio_net_dev *net)
{
	net->promisc = true;
	net->allmulti = net->alluni = net->nomulti = net->nouni = net->nobcast = false;
	net->uni_overflow = net->multi_overflow = false;
	net->n_uni = net->n_multi = 0;
	memset(net->vlans, 0, sizeof(net->vlans));
	net->rss_on = net->hash_on = false;
	net->hash_types = 0;
	net->rss_mask = 0;
	net->rss_unclassified = 0;
	net->key_len = 0;
	net->active_pairs = 1;
}

static bool has(const struct vio_net_dev *net, unsigned bit)
{
	return vio_dev_has_feature(&net->dev, bit);
}

static uint16_t get16(const struct vio_net_dev *net, const uint8_t *p)
{
	vio_le16 v;

	memcpy(&v, p, sizeof(v));
	return vio_get16(net->dev.legacy, v);
}

static uint32_t get32(const struct vio_net_dev *net, const uint8_t *p)
{
	vio_le32 v;

	memcpy(&v, p, sizeof(v));
	return vio_get32(net->dev.legacy, v);
}

static uint64_t get64(const struct vio_net_dev *net, const uint8_t *p)
{
	vio_le64 v;

	memcpy(&v, p, sizeof(v));
	return vio_get64(net->dev.legacy, v);
}

/* A refusal: says why, and the caller answers VIO_NET_ERR. */
VIO_PRINTF(2, 3)
static int refuse(const struct vio_net_dev *net, const char *fmt, ...)
{
	char why[160];
	va_list ap;

	if (!net->dev.log)
		return -EINVAL;
	va_start(ap, fmt);
	vio_vformat(why, sizeof(why), fmt, ap);
	va_end(ap);
	net_log(net, VIO_LOG_WARN, "net: control command refused: %s", why);
	return -EINVAL;
}

static int ctrl_rx(struct vio_net_dev *net, unsigned cmd, const uint8_t *d, size_t len)
{
	bool *flags[] = { &net->promisc, &net->allmulti, &net->alluni,
			  &net->nomulti, &net->nouni, &net->nobcast };

	if (!has(net, VIO_NET_F_CTRL_RX))
		return refuse(net, "RX mode without CTRL_RX");
	if (cmd > VIO_NET_CTRL_RX_NOBCAST)
		return refuse(net, "unknown RX mode command %u", cmd);
	if (cmd > VIO_NET_CTRL_RX_ALLMULTI && !has(net, VIO_NET_F_CTRL_RX_EXTRA))
		return refuse(net, "RX mode command %u without CTRL_RX_EXTRA", cmd);
	if (len != 1 || d[0] > 1)
		return refuse(net, "RX mode data: %zu bytes, want one byte 0 or 1", len);
	*flags[cmd] = d[0] == 1;
	return 0;
}

/* One MAC table at d[*off]: a count, then that many addresses. */
static int mac_table(const struct vio_net_dev *net, const uint8_t *d, size_t len, size_t *off,
		     uint32_t *n)
{
	if (len - *off < 4)
		return refuse(net, "MAC table without its entry count");
	*n = get32(net, d + *off);
	*off += 4;
	if (*n > (len - *off) / VIO_NET_MAC_LEN)
		return refuse(net, "MAC table of %u entries in %zu bytes", *n, len - *off);
	*off += (size_t)*n * VIO_NET_MAC_LEN;
	return 0;
}

static void mac_table_store(uint8_t (*dst)[6], unsigned *ndst, bool *overflow, const uint8_t *src,
			    uint32_t n)
{
	*overflow = n > VIO_NET_MAC_TABLE_MAX;
	*ndst = *overflow ? 0 : n;
	memcpy(dst, src, (size_t)*ndst * VIO_NET_MAC_LEN);
}

static int ctrl_mac(struct vio_net_dev *net, unsigned cmd, const uint8_t *d, size_t len)
{
	size_t off = 0, uni_off, multi_off;
	uint32_t nu, nm;

	if (cmd == VIO_NET_CTRL_MAC_ADDR_SET) {
		if (!has(net, VIO_NET_F_CTRL_MAC_ADDR))
			return refuse(net, "MAC_ADDR_SET without CTRL_MAC_ADDR");
		if (len != VIO_NET_MAC_LEN)
			return refuse(net, "MAC_ADDR_SET data: %zu bytes, want 6", len);
		memcpy(net->mac, d, VIO_NET_MAC_LEN);
		vio__net_sync_config(net);
		return 0;
	}
	if (cmd != VIO_NET_CTRL_MAC_TABLE_SET)
		return refuse(net, "unknown MAC command %u", cmd);
	if (!has(net, VIO_NET_F_CTRL_RX))
		return refuse(net, "MAC_TABLE_SET without CTRL_RX");
	uni_off = off + 4;
	if (mac_table(net, d, len, &off, &nu))
		return -EINVAL;
	multi_off = off + 4;
	if (mac_table(net, d, len, &off, &nm))
		return -EINVAL;
	if (off != len)
		return refuse(net, "MAC_TABLE_SET: %zu bytes after the tables", len - off);
	mac_table_store(net->uni, &net->n_uni, &net->uni_overflow, d + uni_off, nu);
	mac_table_store(net->multi, &net->n_multi, &net->multi_overflow, d + multi_off, nm);
	return 0;
}

static int ctrl_vlan(struct vio_net_dev *net, unsigned cmd, const uint8_t *d, size_t len)
{
	unsigned vid;

	if (!has(net, VIO_NET_F_CTRL_VLAN))
		return refuse(net, "VLAN command without CTRL_VLAN");
	if (cmd > VIO_NET_CTRL_VLAN_DEL)
		return refuse(net, "unknown VLAN command %u", cmd);
	if (len != 2)
		return refuse(net, "VLAN data: %zu bytes, want 2", len);
	vid = get16(net, d);
	if (vid > VIO_NET_VLAN_MAX)
		return refuse(net, "VLAN id %u above 4095", vid);
	if (cmd == VIO_NET_CTRL_VLAN_ADD)
		net->vlans[vid / 64] |= UINT64_C(1) << (vid % 64);
	else
		net->vlans[vid / 64] &= ~(UINT64_C(1) << (vid % 64));
	return 0;
}

static int ctrl_announce(struct vio_net_dev *net, unsigned cmd, size_t len)
{
	if (!has(net, VIO_NET_F_GUEST_ANNOUNCE))
		return refuse(net, "ANNOUNCE_ACK without GUEST_ANNOUNCE");
	if (cmd != VIO_NET_CTRL_ANNOUNCE_ACK || len != 0)
		return refuse(net, "announce command %u with %zu bytes", cmd, len);
	net->status &= (uint16_t)~VIO_NET_S_ANNOUNCE;
	vio__net_sync_config(net);
	return 0;
}

/* The Toeplitz key, after its length byte at d[off]: exactly to the end. */
static int take_key(struct vio_net_dev *net, const uint8_t *d, size_t len, size_t off,
		    uint8_t *key, uint8_t *key_len)
{
	unsigned kl = d[off];

	if (kl > net->config.rss_max_key_size)
		return refuse(net, "hash key of %u bytes, at most %u", kl,
			      net->config.rss_max_key_size);
	if (len - off - 1 != kl)
		return refuse(net, "hash key of %u bytes in %zu", kl, len - off - 1);
	memcpy(key, d + off + 1, kl);
	*key_len = (uint8_t)kl;
	return 0;
}

static int hash_types_ok(struct vio_net_dev *net, uint32_t types)
{
	uint32_t supported = vio_le32_to_cpu(net->config.supported_hash_types);

	if (types & ~supported)
		return refuse(net, "hash types %#x not supported (%#x are)", types, supported);
	return 0;
}

static int ctrl_rss(struct vio_net_dev *net, const uint8_t *d, size_t len)
{
	const size_t head = sizeof(struct vio_net_rss_config_head);
	uint16_t table[VIO_NET_RSS_TABLE_MAX];
	uint8_t key[VIO_NET_RSS_KEY_MAX];
	uint8_t key_len;
	uint32_t types, tlen, max_rx = 0;
	unsigned mask, uncl, max_tx;
	size_t off;

	if (!has(net, VIO_NET_F_RSS))
		return refuse(net, "RSS_CONFIG without RSS");
	if (len < head + VIO_NET_RSS_CONFIG_TAIL_LEN)
		return refuse(net, "RSS_CONFIG of %zu bytes", len);
	types = get32(net, d);
	mask = get16(net, d + 4);
	uncl = get16(net, d + 6);
	tlen = (uint32_t)mask + 1;
	if (hash_types_ok(net, types))
		return -EINVAL;
	if (tlen & mask || tlen > VIO_NET_RSS_TABLE_MAX)
		return refuse(net, "indirection table of %u entries (a power of 2 up to %u)", tlen,
			      VIO_NET_RSS_TABLE_MAX);
	if ((len - head - VIO_NET_RSS_CONFIG_TAIL_LEN) / 2 < tlen)
		return refuse(net, "RSS_CONFIG of %zu bytes for a table of %u", len, tlen);
	if (uncl >= net->max_pairs)
		return refuse(net, "unclassified queue %u of %u", uncl, net->max_pairs);
	for (uint32_t i = 0; i < tlen; i++) {
		table[i] = get16(net, d + head + 2 * i);
		if (table[i] >= net->max_pairs)
			return refuse(net, "indirection table entry %u: queue %u of %u", i,
				      table[i], net->max_pairs);
		if (table[i] + 1u > max_rx)
			max_rx = table[i] + 1u;
	}
	off = head + 2 * (size_t)tlen;
	max_tx = get16(net, d + off);
	if (max_tx < 1 || max_tx > net->max_pairs)
		return refuse(net, "max_tx_vq %u of %u", max_tx, net->max_pairs);
	if (take_key(net, d, len, off + 2, key, &key_len))
		return -EINVAL;
	memcpy(net->rss_table, table, tlen * sizeof(table[0]));
	memcpy(net->key, key, key_len);
	net->key_len = key_len;
	net->hash_types = types;
	net->rss_mask = (uint16_t)mask;
	net->rss_unclassified = (uint16_t)uncl;
	net->active_pairs = max_rx > max_tx ? max_rx : max_tx;
	if (uncl + 1 > net->active_pairs)
		net->active_pairs = uncl + 1;
	net->rss_on = true;
	return 0;
}

static int ctrl_hash(struct vio_net_dev *net, const uint8_t *d, size_t len)
{
	uint8_t key[VIO_NET_RSS_KEY_MAX];
	uint8_t key_len;
	uint32_t types;

	if (!has(net, VIO_NET_F_HASH_REPORT))
		return refuse(net, "HASH_CONFIG without HASH_REPORT");
	if (len < VIO_NET_HASH_CONFIG_HEAD_LEN)
		return refuse(net, "HASH_CONFIG of %zu bytes", len);
	types = get32(net, d);
	if (hash_types_ok(net, types) ||
	    take_key(net, d, len, VIO_NET_HASH_CONFIG_HEAD_LEN - 1, key, &key_len))
		return -EINVAL;
	memcpy(net->key, key, key_len);
	net->key_len = key_len;
	net->hash_types = types;
	net->hash_on = true;
	net->rss_on = false;
	return 0;
}

static int ctrl_mq(struct vio_net_dev *net, unsigned cmd, const uint8_t *d, size_t len)
{
	unsigned pairs;

	if (cmd == VIO_NET_CTRL_MQ_RSS_CONFIG)
		return ctrl_rss(net, d, len);
	if (cmd == VIO_NET_CTRL_MQ_HASH_CONFIG)
		return ctrl_hash(net, d, len);
	if (cmd != VIO_NET_CTRL_MQ_VQ_PAIRS_SET)
		return refuse(net, "unknown MQ command %u", cmd);
	if (!has(net, VIO_NET_F_MQ))
		return refuse(net, "VQ_PAIRS_SET without MQ");
	if (len != 2)
		return refuse(net, "VQ_PAIRS_SET data: %zu bytes, want 2", len);
	pairs = get16(net, d);
	if (pairs < VIO_NET_MQ_PAIRS_MIN || pairs > net->max_pairs)
		return refuse(net, "VQ_PAIRS_SET %u, want 1 to %u", pairs, net->max_pairs);
	net->active_pairs = pairs;
	net->rss_on = false;
	return 0;
}

static int ctrl_offloads(struct vio_net_dev *net, unsigned cmd, const uint8_t *d, size_t len)
{
	const uint64_t guest = VIO_NET_DEV_GUEST_OFFLOADS;
	uint64_t want;

	if (!has(net, VIO_NET_F_CTRL_GUEST_OFFLOADS))
		return refuse(net, "GUEST_OFFLOADS_SET without CTRL_GUEST_OFFLOADS");
	if (cmd != VIO_NET_CTRL_GUEST_OFFLOADS_SET)
		return refuse(net, "unknown offloads command %u", cmd);
	if (len != 8)
		return refuse(net, "GUEST_OFFLOADS_SET data: %zu bytes, want 8", len);
	want = get64(net, d);
	if (want & ~(net->dev.features & guest))
		return refuse(net, "offloads %#llx not negotiated", (unsigned long long)want);
	vio__net_set_offloads(net, want, false);
	return 0;
}

static int ctrl_run(struct vio_net_dev *net, unsigned cls, unsigned cmd, const uint8_t *d,
		    size_t len)
{
	switch (cls) {
	case VIO_NET_CTRL_RX:
		return ctrl_rx(net, cmd, d, len);
	case VIO_NET_CTRL_MAC:
		return ctrl_mac(net, cmd, d, len);
	case VIO_NET_CTRL_VLAN:
		return ctrl_vlan(net, cmd, d, len);
	case VIO_NET_CTRL_ANNOUNCE:
		return ctrl_announce(net, cmd, len);
	case VIO_NET_CTRL_MQ:
		return ctrl_mq(net, cmd, d, len);
	case VIO_NET_CTRL_GUEST_OFFLOADS:
		return ctrl_offloads(net, cmd, d, len);
	default:
		return refuse(net, "unknown class %u", cls);
	}
}

/* Answers one command; returns the bytes written (the ack, or none). */
static uint32_t ctrl_one(struct vio_net_dev *net, const struct vio_elem *e)
{
	struct vio_net_ctrl_stats *s = &net->ctrl_stats;
	uint8_t d[CTRL_DATA_MAX];
	struct vio_net_ctrl_hdr h;
	uint8_t ack = VIO_NET_ERR;
	int r = -EINVAL;

	if (e->in_len == 0) {
		net_log(net, VIO_LOG_WARN, "net: control command without room for the ack");
		vio_stat_inc(&s->unanswered);
		return 0;
	}
	if (e->out_len < sizeof(h))
		refuse(net, "%u readable bytes: no class and command", e->out_len);
	else if (e->out_len - sizeof(h) > sizeof(d))
		refuse(net, "%u bytes of data", e->out_len);
	else {
		size_t len = e->out_len - sizeof(h);

		vio_iov_to_buf(e->out, e->out_num, 0, &h, sizeof(h));
		vio_iov_to_buf(e->out, e->out_num, sizeof(h), d, len);
		r = ctrl_run(net, h.class, h.cmd, d, len);
	}
	if (r == 0)
		ack = VIO_NET_OK;
	/* The ack is the chain's last writable byte. */
	vio_iov_from_buf(e->in, e->in_num, e->in_len - 1, &ack, 1);
	vio_stat_inc(&s->commands);
	vio_stat_inc(r == 0 ? &s->ok : &s->err);
	return e->in_len;
}

void vio__net_ctrl_notify(struct vio_net_dev *net, unsigned qi)
{
	struct vio_devq *vq = vio_dev_vq(&net->dev, qi);
	struct vio_elem *e = &net->ctrl_elem;
	bool any = false;
	int r;

	if (!vq)
		return;
	while ((r = vio_devq_pop(vq, e)) == 0) {
		(void)vio_devq_push(vq, e, ctrl_one(net, e));
		any = true;
	}
	if (any)
		vio_dev_interrupt(&net->dev, qi);
	vio_dev_check(&net->dev, qi, r);
}
