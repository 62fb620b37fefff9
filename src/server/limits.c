#include "server/limits.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/types.h>

#include "core/log.h"
#include "core/xmalloc.h"

#define LIMITS_SLOTS 1024      /* workers alive at once, over all generations */
#define LIMITS_MIN_CAP 64

/* One (address, worker slot) pair with its session count. Entries of one
 * address sit in the probe sequence of its hash, so its total over all
 * workers is the sum along that sequence. */
struct limits_entry {
	struct limits_key key;
	uint16_t slot;             /* worker slot + 1; 0 marks an empty entry */
	uint32_t count;
};

struct limits_shm {
	pthread_mutex_t lock;
	uint64_t seed;
	unsigned max_total, max_per_ip;
	unsigned total;            /* sessions over all workers */
	size_t cap;                /* entries in table, a power of two */
	size_t used;               /* non-empty entries */
	uint8_t slot_used[LIMITS_SLOTS];
	unsigned slot_total[LIMITS_SLOTS];
	struct limits_entry table[];
};

static struct limits_shm *shm;
static size_t shm_size;

void limits_key_from_sockaddr(const struct sockaddr *sa, struct limits_key *key_r)
{
	memset(key_r, 0, sizeof *key_r);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		key_r->b[10] = 0xff;
		key_r->b[11] = 0xff;
		memcpy(&key_r->b[12], &sin->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			memcpy(key_r->b, &sin6->sin6_addr, 16);
		else
			memcpy(key_r->b, &sin6->sin6_addr, 8);   /* the /64 */
	}
}

/* ---- the mutex ---- */

static void lock(void)
{
	int r = pthread_mutex_lock(&shm->lock);
	if (r == EOWNERDEAD) {
		/* A worker died holding the lock; its slot is released when the
		 * master reaps it, which also drops whatever it was changing. */
		pthread_mutex_consistent(&shm->lock);
		log_warn("limits", "event=lock_recovered");
	}
}

static void unlock(void)
{
	pthread_mutex_unlock(&shm->lock);
}

/* ---- the table: linear probing, deletion by backward shift ---- */

static size_t home(const struct limits_key *key)
{
	uint64_t h = shm->seed;
	for (size_t i = 0; i < sizeof key->b; i += 8) {
		uint64_t w;
		memcpy(&w, &key->b[i], 8);
		h ^= w;
		/* splitmix64 finaliser */
		h += 0x9e3779b97f4a7c15ULL;
		h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
		h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
		h ^= h >> 31;
	}
	return (size_t)h & (shm->cap - 1);
}

static bool key_eq(const struct limits_key *a, const struct limits_key *b)
{
	return memcmp(a->b, b->b, sizeof a->b) == 0;
}

static unsigned count_ip_locked(const struct limits_key *key)
{
	unsigned sum = 0;
	size_t mask = shm->cap - 1;
	for (size_t i = home(key); shm->table[i].slot != 0; i = (i + 1) & mask)
		if (key_eq(&shm->table[i].key, key))
			sum += shm->table[i].count;
	return sum;
}

/* Index of the entry (key, slot), or of the empty entry ending its probe. */
static size_t find_locked(const struct limits_key *key, int slot)
{
	size_t mask = shm->cap - 1;
	size_t i = home(key);
	while (shm->table[i].slot != 0 &&
	       !(shm->table[i].slot == slot + 1 && key_eq(&shm->table[i].key, key)))
		i = (i + 1) & mask;
	return i;
}

/* Whether home index k lies cyclically in (i, j]. */
static bool between(size_t i, size_t k, size_t j)
{
	return i <= j ? (i < k && k <= j) : (i < k || k <= j);
}

/* Knuth's algorithm R: empty entry i, moving later entries of the cluster
 * back so that every probe sequence stays unbroken. */
static void delete_locked(size_t i)
{
	size_t mask = shm->cap - 1;
	size_t j = i;
	for (;;) {
		shm->table[i].slot = 0;
		shm->table[i].count = 0;
		for (;;) {
			j = (j + 1) & mask;
			if (shm->table[j].slot == 0) {
				shm->used--;
				return;
			}
			if (!between(i, home(&shm->table[j].key), j))
				break;
		}
		shm->table[i] = shm->table[j];
		i = j;
	}
}

/* ---- master ---- */

int limits_init(unsigned max_total, unsigned max_per_ip, char **error_r)
{
	size_t cap = LIMITS_MIN_CAP;
	while (cap < 2 * (size_t)max_total)
		cap *= 2;
	shm_size = sizeof *shm + cap * sizeof shm->table[0];
	void *p = mmap(NULL, shm_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		*error_r = xasprintf("cannot map %zu bytes for connection limits: %s", shm_size,
				     strerror(errno));
		return -1;
	}
	shm = p;   /* a fresh anonymous mapping is zero-filled */
	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&shm->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	if (getrandom(&shm->seed, sizeof shm->seed, 0) != (ssize_t)sizeof shm->seed)
		shm->seed = (uint64_t)(uintptr_t)p;
	shm->cap = cap;
	limits_set_max(max_total, max_per_ip);
	return 0;
}

void limits_deinit(void)
{
	if (shm == NULL)
		return;
	pthread_mutex_destroy(&shm->lock);
	munmap(shm, shm_size);
	shm = NULL;
}

void limits_set_max(unsigned max_total, unsigned max_per_ip)
{
	lock();
	if (max_total > shm->cap / 2) {
		log_warn("limits", "event=capped max_connections=%u applied=%zu "
			 "reason=\"table sized at start; restart to raise it\"",
			 max_total, shm->cap / 2);
		max_total = (unsigned)(shm->cap / 2);
	}
	shm->max_total = max_total;
	shm->max_per_ip = max_per_ip;
	unlock();
}

int limits_slot_alloc(void)
{
	int found = -1;
	lock();
	for (int i = 0; i < LIMITS_SLOTS; i++) {
		if (!shm->slot_used[i]) {
			shm->slot_used[i] = 1;
			shm->slot_total[i] = 0;
			found = i;
			break;
		}
	}
	unlock();
	return found;
}

void limits_slot_release(int slot)
{
	if (slot < 0 || slot >= LIMITS_SLOTS)
		return;
	lock();
	/* Deleting at i may pull a later entry into i: look at i again. Entries
	 * only move back towards their home, so none is skipped. */
	for (size_t i = 0; i < shm->cap;) {
		if (shm->table[i].slot == slot + 1)
			delete_locked(i);
		else
			i++;
	}
	shm->total -= shm->slot_total[slot];
	shm->slot_total[slot] = 0;
	shm->slot_used[slot] = 0;
	unlock();
}

/* ---- workers ---- */

enum limits_result limits_acquire(int slot, const struct limits_key *key)
{
	enum limits_result r = LIMITS_OK;
	lock();
	if (shm->total >= shm->max_total) {
		r = LIMITS_TOTAL;
	} else if (count_ip_locked(key) >= shm->max_per_ip) {
		r = LIMITS_PER_IP;
	} else {
		size_t i = find_locked(key, slot);
		if (shm->table[i].slot == 0) {
			if (shm->used + 1 >= shm->cap) {
				r = LIMITS_FULL;
				goto out;
			}
			shm->table[i].key = *key;
			shm->table[i].slot = (uint16_t)(slot + 1);
			shm->table[i].count = 0;
			shm->used++;
		}
		shm->table[i].count++;
		shm->total++;
		shm->slot_total[slot]++;
	}
out:
	unlock();
	return r;
}

void limits_release(int slot, const struct limits_key *key)
{
	lock();
	size_t i = find_locked(key, slot);
	if (shm->table[i].slot != 0) {
		if (--shm->table[i].count == 0)
			delete_locked(i);
		shm->total--;
		shm->slot_total[slot]--;
	}
	unlock();
}

unsigned limits_total(void)
{
	lock();
	unsigned n = shm->total;
	unlock();
	return n;
}

unsigned limits_count_ip(const struct limits_key *key)
{
	lock();
	unsigned n = count_ip_locked(key);
	unlock();
	return n;
}
