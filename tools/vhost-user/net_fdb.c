/*
 * net_fdb.c - the switch's learning table (net_fdb.h): MAC address to
 * port, in fixed buckets, with ageing and no allocation after init.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "net_fdb.h"

int net_fdb_init(struct net_fdb *t, unsigned entries, int64_t age_ns)
{
	unsigned nb = 1;

	memset(t, 0, sizeof(*t));
	if (entries == 0 || entries > (1u << 20) || age_ns <= 0)
		return -EINVAL;
	while (nb * NET_FDB_WAYS < entries)
		nb *= 2;
	t->e = calloc((size_t)nb * NET_FDB_WAYS, sizeof(*t->e));
	if (!t->e)
		return -ENOMEM;
	t->nbuckets = nb;
	t->age_ns = age_ns;
	if (getrandom(t->key, sizeof(t->key), GRND_NONBLOCK) != (ssize_t)sizeof(t->key)) {
		/* No entropy yet: the clock still differs per run. */
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		t->key[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u ^ (uint64_t)ts.tv_sec;
		t->key[1] = t->key[0] * 0xbf58476d1ce4e5b9u + 1;
	}
	pthread_mutex_init(&t->lock, NULL);
	return 0;
}

void net_fdb_fini(struct net_fdb *t)
{
	if (t->e) {
		pthread_mutex_destroy(&t->lock);
		free(t->e);
	}
	t->e = NULL;
}

bool net_fdb_learnable(const uint8_t m[6])
{
	return !(m[0] & 1) && (m[0] | m[1] | m[2] | m[3] | m[4] | m[5]);
}

unsigned net_fdb_bucket(const struct net_fdb *t, const uint8_t m[6])
{
	uint64_t x = (uint64_t)m[0] << 40 | (uint64_t)m[1] << 32 | (uint64_t)m[2] << 24 |
		     (uint64_t)m[3] << 16 | (uint64_t)m[4] << 8 | m[5];

	/* A keyed mix (splitmix64's finaliser around the key). */
	x ^= t->key[0];
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * (t->key[1] | 1);
	x ^= x >> 31;
	return (unsigned)x & (t->nbuckets - 1);
}

static bool live(const struct net_fdb *t, const struct net_fdb_entry *e, int64_t now)
{
	return e->used && now - e->seen < t->age_ns;
}

/* mac's live entry, or NULL. Under the lock. */
static struct net_fdb_entry *find(struct net_fdb *t, const uint8_t mac[6], int64_t now)
{
	struct net_fdb_entry *b = &t->e[(size_t)net_fdb_bucket(t, mac) * NET_FDB_WAYS];

	for (unsigned w = 0; w < NET_FDB_WAYS; w++)
		if (live(t, &b[w], now) && !memcmp(b[w].mac, mac, 6))
			return &b[w];
	return NULL;
}

/* 1 new, 0 refreshed, -1 no room. Under the lock. */
static int learn(struct net_fdb *t, const uint8_t mac[6], unsigned port, int64_t now)
{
	struct net_fdb_entry *b = &t->e[(size_t)net_fdb_bucket(t, mac) * NET_FDB_WAYS];
	struct net_fdb_entry *e = find(t, mac, now);

	if (e) {
		if (e->port != port)
			t->moved++;
		e->port = (uint8_t)port;
		e->seen = now;
		return 0;
	}
	for (unsigned w = 0; w < NET_FDB_WAYS; w++) {
		if (live(t, &b[w], now))
			continue;
		memcpy(b[w].mac, mac, 6);
		b[w].used = true;
		b[w].port = (uint8_t)port;
		b[w].seen = now;
		return 1;
	}
	t->full++;
	return -1;
}

int net_fdb_forward(struct net_fdb *t, const uint8_t src[6], unsigned port, const uint8_t dst[6],
		    int64_t now, int *learn_out)
{
	const struct net_fdb_entry *e;
	int l = 0, out = NET_FDB_NO_PORT;

	pthread_mutex_lock(&t->lock);
	if (net_fdb_learnable(src))
		l = learn(t, src, port, now);
	if (!(dst[0] & 1) && (e = find(t, dst, now)))
		out = e->port;
	pthread_mutex_unlock(&t->lock);
	if (learn_out)
		*learn_out = l;
	return out;
}

int net_fdb_lookup(struct net_fdb *t, const uint8_t mac[6], int64_t now)
{
	const struct net_fdb_entry *e;
	int out = NET_FDB_NO_PORT;

	pthread_mutex_lock(&t->lock);
	if (!(mac[0] & 1) && (e = find(t, mac, now)))
		out = e->port;
	pthread_mutex_unlock(&t->lock);
	return out;
}

unsigned net_fdb_count(struct net_fdb *t, int port, int64_t now)
{
	unsigned n = 0;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < (size_t)t->nbuckets * NET_FDB_WAYS; i++)
		if (live(t, &t->e[i], now) && (port < 0 || t->e[i].port == (unsigned)port))
			n++;
	pthread_mutex_unlock(&t->lock);
	return n;
}

void net_fdb_flush_port(struct net_fdb *t, unsigned port)
{
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < (size_t)t->nbuckets * NET_FDB_WAYS; i++)
		if (t->e[i].used && t->e[i].port == port)
			t->e[i].used = false;
	pthread_mutex_unlock(&t->lock);
}
