/*
 * net_fdb.h - the learning table of vhost-user-net's switch (net_switch.c):
 * which port each source MAC address was last seen on.
 *
 * A fixed-size table allocated once (no allocation per frame): buckets of
 * NET_FDB_WAYS entries, a bucket picked by a keyed hash of the address
 * (a random key per table: a guest does not know which of its addresses
 * share a bucket, so it cannot cheaply fill one). An entry not refreshed
 * for the ageing time is gone: a lookup ignores it and a learn reuses its
 * slot. When every entry of a bucket is live with other addresses, the
 * new address is not learned (counted in `full`): frames to it are
 * flooded, as a switch with a full table does, and nothing already
 * learned is pushed out by a guest sending from many addresses.
 *
 * Time is the caller's: every call takes `now` in nanoseconds (a
 * monotonic clock), which lets a test age entries without waiting.
 * Threads: every call takes the table's mutex, a leaf lock (nothing else
 * is taken while it is held), so any thread may call.
 */
#ifndef NET_FDB_H
#define NET_FDB_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define NET_FDB_WAYS 4u
#define NET_FDB_NO_PORT (-1)

struct net_fdb_entry {
	uint8_t mac[6];
	bool used;
	uint8_t port;
	int64_t seen;           /* ns: when last learned */
};

struct net_fdb {
	pthread_mutex_t lock;
	struct net_fdb_entry *e;        /* nbuckets * NET_FDB_WAYS */
	unsigned nbuckets;              /* a power of two */
	int64_t age_ns;
	uint64_t key[2];                /* the hash's key */
	uint64_t full;                  /* addresses not learned: bucket full (under lock) */
	uint64_t moved;                 /* addresses seen on another port than before */
};

/* A table of at least `entries` entries (rounded up to a power of two
 * times NET_FDB_WAYS, at least NET_FDB_WAYS) whose entries live age_ns
 * after their last learn. 0, -EINVAL (entries 0 or above 1 << 20, age_ns
 * not positive), -ENOMEM. */
int net_fdb_init(struct net_fdb *t, unsigned entries, int64_t age_ns);
void net_fdb_fini(struct net_fdb *t);

/* Is this address one a table holds? (unicast, not all zero) */
bool net_fdb_learnable(const uint8_t mac[6]);

/*
 * One frame's work under one lock: learns `src` on `port` (when
 * learnable; refreshed if there, moved if it was on another port) and
 * returns the port unicast `dst` lives on, or NET_FDB_NO_PORT (unknown,
 * aged out, or a group address: flood). *learn_out, when not NULL, is 1
 * when src became a new entry, 0 otherwise, -1 when it was not learned
 * for want of room.
 */
int net_fdb_forward(struct net_fdb *t, const uint8_t src[6], unsigned port, const uint8_t dst[6],
		    int64_t now, int *learn_out);

/* The port `mac` lives on, or NET_FDB_NO_PORT. */
int net_fdb_lookup(struct net_fdb *t, const uint8_t mac[6], int64_t now);

/* Live entries on `port` (every port: port < 0). */
unsigned net_fdb_count(struct net_fdb *t, int port, int64_t now);

/* Forgets every address learned on `port` (its frontend left). */
void net_fdb_flush_port(struct net_fdb *t, unsigned port);

/* Test hook: the table's bucket for mac (to fill one bucket on purpose). */
unsigned net_fdb_bucket(const struct net_fdb *t, const uint8_t mac[6]);

#endif
