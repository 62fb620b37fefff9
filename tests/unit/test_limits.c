/* Shared connection limits: totals, per-address counts, IPv6 /64 grouping,
 * and a dead worker's counts released with its slot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "server/limits.h"

static struct limits_key key4(const char *ip)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
	struct limits_key k;
	limits_key_from_sockaddr((struct sockaddr *)&sin, &k);
	return k;
}

static struct limits_key key6(const char *ip)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	assert_int_equal(inet_pton(AF_INET6, ip, &sin6.sin6_addr), 1);
	struct limits_key k;
	limits_key_from_sockaddr((struct sockaddr *)&sin6, &k);
	return k;
}

static int setup(unsigned total, unsigned per_ip)
{
	char *error = NULL;
	int r = limits_init(total, per_ip, &error);
	free(error);
	return r;
}

static void test_keys(void **state)
{
	struct limits_key a = key6("2001:db8:1:2::1"), b = key6("2001:db8:1:2:ffff::9");
	struct limits_key c = key6("2001:db8:1:3::1");
	assert_memory_equal(&a, &b, sizeof a);          /* same /64 */
	assert_memory_not_equal(&a, &c, sizeof a);
	struct limits_key v4 = key4("192.0.2.7"), mapped = key6("::ffff:192.0.2.7");
	assert_memory_equal(&v4, &mapped, sizeof v4);   /* v4-mapped counts as v4 */
	struct limits_key other = key4("192.0.2.8");
	assert_memory_not_equal(&v4, &other, sizeof v4);
}

static void test_per_ip_and_total(void **state)
{
	assert_int_equal(setup(4, 2), 0);
	int slot = limits_slot_alloc();
	assert_true(slot >= 0);
	struct limits_key a = key4("198.51.100.1"), b = key4("198.51.100.2"), c = key4("198.51.100.3");
	assert_int_equal(limits_acquire(slot, &a), LIMITS_OK);
	assert_int_equal(limits_acquire(slot, &a), LIMITS_OK);
	assert_int_equal(limits_acquire(slot, &a), LIMITS_PER_IP);
	assert_int_equal(limits_count_ip(&a), 2);
	assert_int_equal(limits_acquire(slot, &b), LIMITS_OK);
	assert_int_equal(limits_acquire(slot, &c), LIMITS_OK);
	assert_int_equal(limits_total(), 4);
	assert_int_equal(limits_acquire(slot, &c), LIMITS_TOTAL);
	limits_release(slot, &a);
	assert_int_equal(limits_count_ip(&a), 1);
	assert_int_equal(limits_acquire(slot, &c), LIMITS_OK);
	assert_int_equal(limits_count_ip(&c), 2);
	/* raising the limits takes effect at once */
	limits_set_max(10, 3);
	assert_int_equal(limits_acquire(slot, &c), LIMITS_OK);
	limits_slot_release(slot);
	assert_int_equal(limits_total(), 0);
	limits_deinit();
}

/* Counts of one address held by two workers add up; when one dies (its
 * slot is released) only its own counts go. */
static void test_slot_release_forgets_a_dead_worker(void **state)
{
	assert_int_equal(setup(100, 3), 0);
	int w1 = limits_slot_alloc(), w2 = limits_slot_alloc();
	assert_true(w1 >= 0 && w2 >= 0 && w1 != w2);
	struct limits_key a = key6("2001:db8::1"), a2 = key6("2001:db8::2");
	assert_int_equal(limits_acquire(w1, &a), LIMITS_OK);
	assert_int_equal(limits_acquire(w2, &a2), LIMITS_OK);
	assert_int_equal(limits_acquire(w2, &a), LIMITS_OK);
	assert_int_equal(limits_acquire(w1, &a2), LIMITS_PER_IP);   /* same /64: 3 already */
	limits_slot_release(w2);
	assert_int_equal(limits_count_ip(&a), 1);
	assert_int_equal(limits_total(), 1);
	assert_int_equal(limits_acquire(w1, &a), LIMITS_OK);
	/* the released slot is free for the next worker */
	int w3 = limits_slot_alloc();
	assert_int_equal(w3, w2);
	limits_slot_release(w1);
	limits_slot_release(w3);
	assert_int_equal(limits_total(), 0);
	limits_deinit();
}

/* Random acquire / release / slot release against a plain model, with few
 * table entries so that probe sequences collide and wrap: the backward-shift
 * deletion must keep every count findable. */
static void test_against_model(void **state)
{
	enum { KEYS = 40, SLOTS = 4, STEPS = 20000 };
	assert_int_equal(setup(60, 1000), 0);   /* 128 entries */
	int slot[SLOTS];
	for (int i = 0; i < SLOTS; i++)
		slot[i] = limits_slot_alloc();
	static unsigned model[SLOTS][KEYS];
	memset(model, 0, sizeof model);
	struct limits_key keys[KEYS];
	for (int k = 0; k < KEYS; k++) {
		struct sockaddr_in sin = { .sin_family = AF_INET };
		sin.sin_addr.s_addr = htonl(0x0a000000u + (uint32_t)k * 7919u);
		limits_key_from_sockaddr((struct sockaddr *)&sin, &keys[k]);
	}
	srand(1234);
	unsigned total = 0;
	for (int step = 0; step < STEPS; step++) {
		int s = rand() % SLOTS, k = rand() % KEYS, op = rand() % 100;
		if (op < 55) {
			enum limits_result r = limits_acquire(slot[s], &keys[k]);
			if (total >= 60) {
				assert_int_equal(r, LIMITS_TOTAL);
			} else {
				assert_int_equal(r, LIMITS_OK);
				model[s][k]++;
				total++;
			}
		} else if (op < 99) {
			if (model[s][k] > 0) {
				limits_release(slot[s], &keys[k]);
				model[s][k]--;
				total--;
			}
		} else {
			limits_slot_release(slot[s]);
			for (int j = 0; j < KEYS; j++) {
				total -= model[s][j];
				model[s][j] = 0;
			}
			slot[s] = limits_slot_alloc();
		}
		assert_int_equal(limits_total(), total);
		for (int j = 0; j < KEYS; j++) {
			unsigned want = 0;
			for (int t = 0; t < SLOTS; t++)
				want += model[t][j];
			assert_int_equal(limits_count_ip(&keys[j]), want);
		}
	}
	limits_deinit();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_per_ip_and_total),
		cmocka_unit_test(test_slot_release_forgets_a_dead_worker),
		cmocka_unit_test(test_against_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
