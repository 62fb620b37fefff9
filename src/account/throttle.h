/* Login throttling, per client IP (IPv6: per /64) and per account.
 *
 * Rules (auth.* in the configuration):
 *  - A window opens at the first failure and lasts auth.lockout_time; failures
 *    in it are counted, and forgotten when it ends (for a locked IP or
 *    account: when the lockout ends). No failure older than lockout_time
 *    counts towards a new lockout.
 *  - After the n-th failure in the window, the reply is delayed by
 *    min(auth.fail_delay * 2^(n-1), auth.max_delay).
 *  - At auth.lockout_failures failures in the window, the IP or account is
 *    locked for auth.lockout_time: logins are refused without checking the
 *    password.
 *  - A successful login clears the account's record, not the IP's.
 *
 * The arithmetic is pure (it takes `now`); the table keeps one record per key
 * in a fixed number of slots, evicting the least recently used one when full.
 * It may live in shared memory so that every worker process sees the same
 * counts. */
#ifndef SUREL_ACCOUNT_THROTTLE_H
#define SUREL_ACCOUNT_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;

struct throttle_policy {
	int64_t fail_delay;         /* seconds */
	int64_t max_delay;          /* seconds */
	int64_t lockout_failures;
	int64_t lockout_time;       /* seconds */
};

void throttle_policy_from_config(struct throttle_policy *policy, const struct config *cfg);

/* ---- the arithmetic, on one record ---- */

struct throttle_state {
	int64_t window_start;   /* time of the window's first failure */
	int64_t locked_until;   /* locked while now < locked_until */
	uint32_t failures;      /* in the window */
};

/* Failures that still count at `now` (0 once the window has ended). */
uint32_t throttle_failures(const struct throttle_policy *policy,
			   const struct throttle_state *st, int64_t now);
bool throttle_locked(const struct throttle_state *st, int64_t now);
/* Count one failure at `now`, opening a new window or locking as needed. */
void throttle_record_failure(const struct throttle_policy *policy, struct throttle_state *st,
			     int64_t now);
/* Delay before answering the failures-th failure: 0 for none, else
 * min(fail_delay * 2^(failures-1), max_delay). */
int64_t throttle_delay(const struct throttle_policy *policy, uint32_t failures);

/* The clock the table uses: seconds, monotonic, the same in every process. */
int64_t throttle_now(void);

/* ---- keys ---- */

#define THROTTLE_KEY_MAX 264

/* "ip4:192.0.2.7", "ip6:2001:db8:1:2::/64" (IPv4-mapped IPv6 counts as IPv4),
 * or "ip?:TEXT" for something that is not an address. */
void throttle_ip_key(const char *ip, char key[THROTTLE_KEY_MAX]);
/* "acct:" and the user name, ASCII lower-cased, at most 256 bytes of it. */
void throttle_account_key(const char *username, char key[THROTTLE_KEY_MAX]);

/* ---- the table ---- */

struct throttle_table;

#define THROTTLE_DEFAULT_SLOTS 8192

/* slots >= 1. shared: in MAP_SHARED memory with a process-shared robust
 * mutex, so that processes forked afterwards use the same table. NULL with
 * errno set when the memory cannot be mapped. */
struct throttle_table *throttle_table_new(size_t slots, bool shared);
void throttle_table_free(struct throttle_table **table);

/* Make a shared table the process's default (before forking the workers);
 * slots 0 means THROTTLE_DEFAULT_SLOTS. Returns 0, or -1 with errno set. */
int throttle_init_shared(size_t slots);
/* The process's table: the shared one when throttle_init_shared() was
 * called, else a process-local one made on first use. */
struct throttle_table *throttle_table_default(void);

struct throttle_verdict {
	bool locked;         /* the IP or the account is locked */
	uint32_t failures;   /* the larger of the IP's and the account's count */
	int64_t delay;       /* seconds to wait before replying */
};

/* Before checking a password: whether the IP or account is locked, and the
 * delay a refusal would get. Creates no record. */
void throttle_check(struct throttle_table *table, const struct throttle_policy *policy,
		    const char *ip_key, const char *account_key, int64_t now,
		    struct throttle_verdict *out);
/* After a failed login: count it for both keys. */
void throttle_fail(struct throttle_table *table, const struct throttle_policy *policy,
		   const char *ip_key, const char *account_key, int64_t now,
		   struct throttle_verdict *out);
/* After a successful login: forget the account's failures. */
void throttle_success(struct throttle_table *table, const char *account_key);

/* For tests: the record of key (all zero when there is none). */
struct throttle_state throttle_lookup(struct throttle_table *table, const char *key);

#endif
