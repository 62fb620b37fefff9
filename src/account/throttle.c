/* Login throttling: the arithmetic and the (possibly shared) table. */
#include "account/throttle.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "core/config.h"
#include "core/log.h"

void throttle_policy_from_config(struct throttle_policy *policy, const struct config *cfg)
{
	policy->fail_delay = cfg->auth_fail_delay;
	policy->max_delay = cfg->auth_max_delay;
	policy->lockout_failures = cfg->auth_lockout_failures;
	policy->lockout_time = cfg->auth_lockout_time;
}

/* ---- arithmetic ---- */

bool throttle_locked(const struct throttle_state *st, int64_t now)
{
	return now < st->locked_until;
}

/* Whether the failures still count: within lockout_time of the window's
 * first one, or while the lockout they caused lasts. */
static bool window_open(const struct throttle_policy *policy, const struct throttle_state *st,
			int64_t now)
{
	return st->failures > 0 &&
	       (now - st->window_start < policy->lockout_time || throttle_locked(st, now));
}

uint32_t throttle_failures(const struct throttle_policy *policy,
			   const struct throttle_state *st, int64_t now)
{
	return window_open(policy, st, now) ? st->failures : 0;
}

void throttle_record_failure(const struct throttle_policy *policy, struct throttle_state *st,
			     int64_t now)
{
	if (!window_open(policy, st, now)) {
		st->window_start = now;
		st->failures = 0;
	}
	if (st->failures < UINT32_MAX)
		st->failures++;
	if ((int64_t)st->failures >= policy->lockout_failures && !throttle_locked(st, now))
		st->locked_until = now + policy->lockout_time;
}

int64_t throttle_delay(const struct throttle_policy *policy, uint32_t failures)
{
	if (failures == 0 || policy->fail_delay <= 0)
		return 0;
	int64_t d = policy->fail_delay;
	for (uint32_t i = 1; i < failures && d < policy->max_delay; i++)
		d *= 2;   /* both are at most an hour: no overflow before the cap */
	return d < policy->max_delay ? d : policy->max_delay;
}

int64_t throttle_now(void)
{
	struct timespec ts;
	/* CLOCK_BOOTTIME: monotonic, counts suspended time, one clock for all processes. */
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (int64_t)ts.tv_sec;
}

/* ---- keys ---- */

void throttle_ip_key(const char *ip, char key[THROTTLE_KEY_MAX])
{
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];
	if (ip != NULL && inet_pton(AF_INET, ip, a) == 1) {
		snprintf(key, THROTTLE_KEY_MAX, "ip4:%s", inet_ntop(AF_INET, a, text, sizeof text));
		return;
	}
	if (ip != NULL && inet_pton(AF_INET6, ip, a) == 1) {
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (memcmp(a, mapped, sizeof mapped) == 0) {
			snprintf(key, THROTTLE_KEY_MAX, "ip4:%s",
				 inet_ntop(AF_INET, a + 12, text, sizeof text));
			return;
		}
		/* One /64 is what one subscriber usually gets. */
		memset(a + 8, 0, 8);
		snprintf(key, THROTTLE_KEY_MAX, "ip6:%s/64",
			 inet_ntop(AF_INET6, a, text, sizeof text));
		return;
	}
	snprintf(key, THROTTLE_KEY_MAX, "ip?:%.256s", ip != NULL ? ip : "");
}

void throttle_account_key(const char *username, char key[THROTTLE_KEY_MAX])
{
	size_t n = snprintf(key, THROTTLE_KEY_MAX, "acct:%.256s", username);
	for (size_t i = 5; i < n && i < THROTTLE_KEY_MAX; i++)
		if (key[i] >= 'A' && key[i] <= 'Z')
			key[i] = (char)(key[i] - 'A' + 'a');
}

/* ---- the table ---- */

/* The index is scanned on every look-up, so it is kept small and apart from
 * the records. */
struct slot_index {
	uint64_t hash;      /* 0: free */
	int64_t touched;    /* last update, for eviction */
};

struct slot_data {
	struct throttle_state st;
	char key[THROTTLE_KEY_MAX];
};

/* One mapping: this header, then the index, then the records. */
struct throttle_table {
	pthread_mutex_t lock;
	size_t slots;
	size_t map_size;
	struct slot_index *index;   /* pointers into this same mapping: valid in */
	struct slot_data *data;     /* every process, since children inherit the address */
};

struct throttle_table *throttle_table_new(size_t slots, bool shared)
{
	if (slots == 0 || slots > SIZE_MAX / 2 / (sizeof(struct slot_index) + sizeof(struct slot_data))) {
		errno = EINVAL;
		return NULL;
	}
	size_t head = (sizeof(struct throttle_table) + 63) & ~(size_t)63;
	size_t size = head + slots * (sizeof(struct slot_index) + sizeof(struct slot_data));
	void *map = mmap(NULL, size, PROT_READ | PROT_WRITE,
			 (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return NULL;
	struct throttle_table *t = map;   /* mmap gives zeroed memory: every slot free */
	t->slots = slots;
	t->map_size = size;
	t->index = (struct slot_index *)((char *)map + head);
	t->data = (struct slot_data *)(t->index + slots);

	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	if (shared)
		pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	int err = pthread_mutex_init(&t->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	if (err != 0) {
		munmap(map, size);
		errno = err;
		return NULL;
	}
	return t;
}

void throttle_table_free(struct throttle_table **table)
{
	struct throttle_table *t = *table;
	if (t == NULL)
		return;
	*table = NULL;
	/* The mutex is not destroyed: in a shared table other processes may still use it. */
	munmap(t, t->map_size);
}

static struct throttle_table *default_table;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

int throttle_init_shared(size_t slots)
{
	struct throttle_table *t = throttle_table_new(slots != 0 ? slots : THROTTLE_DEFAULT_SLOTS, true);
	if (t == NULL)
		return -1;
	/* Replacing a table is for the process that starts the workers, before
	 * any of them runs; the old one is kept mapped for anyone holding it. */
	default_table = t;
	return 0;
}

static void make_local_table(void)
{
	if (default_table != NULL)
		return;
	default_table = throttle_table_new(THROTTLE_DEFAULT_SLOTS, false);
	if (default_table == NULL) {
		log_error("auth", "event=throttle-table error=\"%s\"", strerror(errno));
		abort();   /* like running out of memory */
	}
}

struct throttle_table *throttle_table_default(void)
{
	if (default_table == NULL)
		pthread_once(&default_once, make_local_table);
	return default_table;
}

static void table_lock(struct throttle_table *t)
{
	int err = pthread_mutex_lock(&t->lock);
	if (err == EOWNERDEAD) {
		/* A process died holding the lock. The counters it was changing are
		 * at worst off by one failure: carry on. */
		pthread_mutex_consistent(&t->lock);
	} else if (err != 0) {
		log_error("auth", "event=throttle-lock error=\"%s\"", strerror(err));
		abort();
	}
}

static void table_unlock(struct throttle_table *t)
{
	pthread_mutex_unlock(&t->lock);
}

static uint64_t key_hash(const char *key)
{
	uint64_t h = 0xcbf29ce484222325ULL;   /* FNV-1a; keys are compared in full */
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	return h != 0 ? h : 1;
}

/* The slot holding key, or -1. */
static long find_slot(struct throttle_table *t, const char *key, uint64_t h)
{
	for (size_t i = 0; i < t->slots; i++)
		if (t->index[i].hash == h && strcmp(t->data[i].key, key) == 0)
			return (long)i;
	return -1;
}

/* The slot for key, taking a free one or else the least recently used one
 * other than `keep` (the slot the caller is already using; SIZE_MAX for none). */
static size_t get_slot(struct throttle_table *t, const char *key, int64_t now, size_t keep)
{
	uint64_t h = key_hash(key);
	long found = find_slot(t, key, h);
	if (found >= 0)
		return (size_t)found;
	size_t victim = SIZE_MAX;
	for (size_t i = 0; i < t->slots; i++) {
		if (i == keep)
			continue;
		if (t->index[i].hash == 0) {
			victim = i;
			break;
		}
		if (victim == SIZE_MAX || t->index[i].touched < t->index[victim].touched)
			victim = i;
	}
	if (victim == SIZE_MAX)
		victim = 0;   /* a table of one slot: the two keys share it */
	t->index[victim].hash = h;
	t->index[victim].touched = now;
	memset(&t->data[victim].st, 0, sizeof t->data[victim].st);
	snprintf(t->data[victim].key, THROTTLE_KEY_MAX, "%s", key);
	return victim;
}

static struct throttle_state read_state(struct throttle_table *t, const char *key)
{
	long i = find_slot(t, key, key_hash(key));
	struct throttle_state none = { 0, 0, 0 };
	return i >= 0 ? t->data[i].st : none;
}

static uint32_t max_u32(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

void throttle_check(struct throttle_table *table, const struct throttle_policy *policy,
		    const char *ip_key, const char *account_key, int64_t now,
		    struct throttle_verdict *out)
{
	table_lock(table);
	struct throttle_state ip = read_state(table, ip_key);
	struct throttle_state acct = read_state(table, account_key);
	table_unlock(table);
	out->locked = throttle_locked(&ip, now) || throttle_locked(&acct, now);
	out->failures = max_u32(throttle_failures(policy, &ip, now),
				throttle_failures(policy, &acct, now));
	out->delay = throttle_delay(policy, out->failures);
}

void throttle_fail(struct throttle_table *table, const struct throttle_policy *policy,
		   const char *ip_key, const char *account_key, int64_t now,
		   struct throttle_verdict *out)
{
	table_lock(table);
	size_t i = get_slot(table, ip_key, now, SIZE_MAX);
	throttle_record_failure(policy, &table->data[i].st, now);
	table->index[i].touched = now;
	struct throttle_state ip = table->data[i].st;
	size_t a = get_slot(table, account_key, now, i);
	throttle_record_failure(policy, &table->data[a].st, now);
	table->index[a].touched = now;
	struct throttle_state acct = table->data[a].st;
	table_unlock(table);
	out->locked = throttle_locked(&ip, now) || throttle_locked(&acct, now);
	out->failures = max_u32(ip.failures, acct.failures);
	out->delay = throttle_delay(policy, out->failures);
}

void throttle_success(struct throttle_table *table, const char *account_key)
{
	table_lock(table);
	long i = find_slot(table, account_key, key_hash(account_key));
	if (i >= 0) {
		table->index[i].hash = 0;
		table->index[i].touched = 0;
		memset(&table->data[i], 0, sizeof table->data[i]);
	}
	table_unlock(table);
}

struct throttle_state throttle_lookup(struct throttle_table *table, const char *key)
{
	table_lock(table);
	struct throttle_state st = read_state(table, key);
	table_unlock(table);
	return st;
}
