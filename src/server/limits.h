/* Connection limits shared by every worker: the number of client sessions
 * (limits.max_connections) and the number per client IP address
 * (limits.max_connections_per_ip; IPv6 addresses count per /64).
 *
 * The counts live in one MAP_SHARED anonymous mapping that the master creates
 * before it forks, guarded by a process-shared robust mutex. Each worker
 * holds a slot, and every count is recorded against the slot of the worker
 * that holds the session, so when a worker dies the master releases its slot
 * and with it every count the worker held: a crash cannot leak counts.
 *
 * The table of addresses is sized from limits.max_connections at start-up;
 * raising it with a reload is capped at that size (a restart applies more). */
#ifndef SUREL_SERVER_LIMITS_H
#define SUREL_SERVER_LIMITS_H

#include <stdint.h>
#include <sys/socket.h>

/* A client address as counted: IPv4 as ::ffff:a.b.c.d, IPv6 cut to its /64. */
struct limits_key {
	uint8_t b[16];
};

enum limits_result {
	LIMITS_OK,
	LIMITS_TOTAL,     /* limits.max_connections reached */
	LIMITS_PER_IP,    /* limits.max_connections_per_ip reached for this address */
	LIMITS_FULL,      /* the table is full (only when limits were raised by a reload) */
};

void limits_key_from_sockaddr(const struct sockaddr *sa, struct limits_key *key_r);

/* Master, before forking: create the shared mapping. */
int limits_init(unsigned max_total, unsigned max_per_ip, char **error_r);
/* Master: unmap (at exit). */
void limits_deinit(void);
/* Master: new maxima after a reload (max_total is capped by the table size). */
void limits_set_max(unsigned max_total, unsigned max_per_ip);

/* Master: a free slot for a worker about to be forked, or -1. */
int limits_slot_alloc(void);
/* Master, after reaping the worker: forget every count it held, free the slot. */
void limits_slot_release(int slot);

/* Worker: count one session for key in its slot, unless over a limit. */
enum limits_result limits_acquire(int slot, const struct limits_key *key);
/* Worker: the session counted by limits_acquire() has ended. */
void limits_release(int slot, const struct limits_key *key);

/* Current counts (for logs and tests). */
unsigned limits_total(void);
unsigned limits_count_ip(const struct limits_key *key);

#endif
