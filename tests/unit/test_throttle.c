/* Login throttling: delays, lockout, expiry, keys, the table and its
 * eviction, and a table shared by forked processes. Time is passed in, so
 * nothing here sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "account/throttle.h"

static const struct throttle_policy policy = {
	.fail_delay = 1, .max_delay = 16, .lockout_failures = 5, .lockout_time = 60,
};

static void test_delay(void **state)
{
	static const int64_t want[] = { 0, 1, 2, 4, 8, 16, 16, 16 };
	for (uint32_t n = 0; n < sizeof want / sizeof want[0]; n++)
		assert_int_equal(throttle_delay(&policy, n), want[n]);
	/* A huge count neither overflows nor loops for long. */
	assert_int_equal(throttle_delay(&policy, UINT32_MAX), 16);

	struct throttle_policy p = { .fail_delay = 3, .max_delay = 10 };
	assert_int_equal(throttle_delay(&p, 1), 3);
	assert_int_equal(throttle_delay(&p, 2), 6);
	assert_int_equal(throttle_delay(&p, 3), 10);
	p.fail_delay = 0;   /* auth.fail_delay = 0 turns delays off */
	assert_int_equal(throttle_delay(&p, 7), 0);
	p.fail_delay = 5;
	p.max_delay = 2;    /* the cap wins even over the first delay */
	assert_int_equal(throttle_delay(&p, 1), 2);
	p.max_delay = 3600;
	p.fail_delay = 3600;
	assert_int_equal(throttle_delay(&p, 40), 3600);
}

static void test_lockout_and_expiry(void **state)
{
	struct throttle_state st = { 0, 0, 0 };
	int64_t t = 1000;
	for (uint32_t n = 1; n <= 4; n++) {
		throttle_record_failure(&policy, &st, t + n);
		assert_int_equal(throttle_failures(&policy, &st, t + n), n);
		assert_false(throttle_locked(&st, t + n));
	}
	throttle_record_failure(&policy, &st, t + 5);   /* the 5th within 60 s */
	assert_true(throttle_locked(&st, t + 5));
	/* Locked for lockout_time after the failure that locked it... */
	assert_true(throttle_locked(&st, t + 5 + 59));
	assert_int_equal(throttle_failures(&policy, &st, t + 5 + 59), 5);
	/* ...then free, with every failure forgotten. */
	assert_false(throttle_locked(&st, t + 5 + 60));
	assert_int_equal(throttle_failures(&policy, &st, t + 5 + 60), 0);
	throttle_record_failure(&policy, &st, t + 70);
	assert_int_equal(throttle_failures(&policy, &st, t + 70), 1);
	assert_false(throttle_locked(&st, t + 70));
	assert_int_equal(throttle_delay(&policy, throttle_failures(&policy, &st, t + 70)), 1);
}

/* Failures spread wider than lockout_time never lock. */
static void test_window(void **state)
{
	struct throttle_state st = { 0, 0, 0 };
	throttle_record_failure(&policy, &st, 100);
	throttle_record_failure(&policy, &st, 150);
	throttle_record_failure(&policy, &st, 159);
	assert_int_equal(throttle_failures(&policy, &st, 159), 3);
	assert_int_equal(throttle_failures(&policy, &st, 160), 0);   /* window of 100..159 over */
	throttle_record_failure(&policy, &st, 160);
	assert_int_equal(throttle_failures(&policy, &st, 160), 1);
	for (int64_t t = 300; t < 300 + 60 * 20; t += 30)            /* two per window, forever */
		throttle_record_failure(&policy, &st, t);
	assert_false(throttle_locked(&st, 300 + 60 * 20));
	assert_true(throttle_failures(&policy, &st, 300 + 60 * 20 - 30) <= 2);
}

static void test_keys(void **state)
{
	static const struct { const char *ip, *key; } cases[] = {
		{ "192.0.2.7", "ip4:192.0.2.7" },
		{ "::ffff:192.0.2.7", "ip4:192.0.2.7" },
		{ "2001:db8:1:2::1", "ip6:2001:db8:1:2::/64" },
		{ "2001:DB8:1:2:ffff:ffff:ffff:fffe", "ip6:2001:db8:1:2::/64" },
		{ "2001:db8:1:3::1", "ip6:2001:db8:1:3::/64" },
		{ "::1", "ip6:::/64" },
		{ "unix", "ip?:unix" },
		{ NULL, "ip?:" },
	};
	char key[THROTTLE_KEY_MAX];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		throttle_ip_key(cases[i].ip, key);
		assert_string_equal(key, cases[i].key);
	}
	throttle_account_key("Alice@Example.ORG", key);
	assert_string_equal(key, "acct:alice@example.org");
	char longname[1000];
	memset(longname, 'X', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	throttle_account_key(longname, key);
	assert_int_equal(strlen(key), 5 + 256);
	assert_int_equal(key[260], 'x');
}

static void test_table_rules(void **state)
{
	struct throttle_table *t = throttle_table_new(64, false);
	assert_non_null(t);
	char ip1[THROTTLE_KEY_MAX], ip1b[THROTTLE_KEY_MAX], ip2[THROTTLE_KEY_MAX];
	char alice[THROTTLE_KEY_MAX], bob[THROTTLE_KEY_MAX];
	throttle_ip_key("2001:db8:1:2::1", ip1);
	throttle_ip_key("2001:db8:1:2::99", ip1b);   /* same /64 */
	throttle_ip_key("198.51.100.1", ip2);
	throttle_account_key("alice@example.org", alice);
	throttle_account_key("bob@example.org", bob);

	struct throttle_verdict v;
	throttle_check(t, &policy, ip1, alice, 10, &v);
	assert_false(v.locked);
	assert_int_equal(v.failures, 0);
	assert_int_equal(v.delay, 0);

	/* The delay grows with each failure: 1, 2, 4, 8 s. */
	for (uint32_t n = 1; n <= 4; n++) {
		throttle_fail(t, &policy, n % 2 ? ip1 : ip1b, alice, 10 + n, &v);
		assert_int_equal(v.failures, n);
		assert_int_equal(v.delay, 1 << (n - 1));
		assert_false(v.locked);
	}
	/* A success clears the account, not the IP (its /64). */
	throttle_success(t, alice);
	assert_int_equal(throttle_lookup(t, alice).failures, 0);
	assert_int_equal(throttle_lookup(t, ip1).failures, 4);
	throttle_check(t, &policy, ip2, alice, 20, &v);
	assert_int_equal(v.failures, 0);
	throttle_check(t, &policy, ip1b, bob, 20, &v);
	assert_int_equal(v.failures, 4);
	assert_int_equal(v.delay, 8);

	/* The fifth failure from that /64 locks it, whatever the account. */
	throttle_fail(t, &policy, ip1b, bob, 21, &v);
	assert_true(v.locked);
	assert_int_equal(v.delay, 16);
	throttle_check(t, &policy, ip1, alice, 22, &v);
	assert_true(v.locked);
	throttle_check(t, &policy, ip2, alice, 22, &v);
	assert_false(v.locked);
	throttle_check(t, &policy, ip1, alice, 21 + 60, &v);
	assert_false(v.locked);

	/* An account attacked from many addresses locks too. */
	for (int n = 0; n < 5; n++) {
		char ip[THROTTLE_KEY_MAX], text[32];
		snprintf(text, sizeof text, "203.0.113.%d", n);
		throttle_ip_key(text, ip);
		throttle_fail(t, &policy, ip, bob, 100, &v);
	}
	assert_true(v.locked);
	throttle_check(t, &policy, ip2, bob, 101, &v);
	assert_true(v.locked);
	assert_int_equal(v.failures, 5);
	throttle_check(t, &policy, ip2, bob, 160, &v);
	assert_false(v.locked);
	throttle_table_free(&t);
	assert_null(t);
}

/* A full table forgets the least recently used records. */
static void test_eviction(void **state)
{
	struct throttle_table *t = throttle_table_new(4, false);
	struct throttle_verdict v;
	throttle_fail(t, &policy, "ip4:1", "acct:1", 1, &v);
	throttle_fail(t, &policy, "ip4:2", "acct:2", 2, &v);
	throttle_fail(t, &policy, "ip4:1", "acct:1", 3, &v);    /* 1 is fresher than 2 now */
	assert_int_equal(throttle_lookup(t, "ip4:1").failures, 2);
	throttle_fail(t, &policy, "ip4:3", "acct:3", 4, &v);    /* full: 2's records go */
	assert_int_equal(throttle_lookup(t, "ip4:2").failures, 0);
	assert_int_equal(throttle_lookup(t, "acct:2").failures, 0);
	assert_int_equal(throttle_lookup(t, "ip4:1").failures, 2);
	assert_int_equal(throttle_lookup(t, "acct:1").failures, 2);
	assert_int_equal(throttle_lookup(t, "ip4:3").failures, 1);
	assert_int_equal(throttle_lookup(t, "acct:3").failures, 1);
	assert_int_equal(v.failures, 1);
	/* The IP's slot is never taken for the account of the same failure. */
	throttle_fail(t, &policy, "ip4:4", "acct:4", 4, &v);
	assert_int_equal(throttle_lookup(t, "ip4:4").failures, 1);
	assert_int_equal(throttle_lookup(t, "acct:4").failures, 1);
	throttle_table_free(&t);

	/* One slot: degenerate but safe. */
	t = throttle_table_new(1, false);
	throttle_fail(t, &policy, "ip4:1", "acct:1", 1, &v);
	assert_int_equal(v.failures, 1);
	throttle_table_free(&t);
	assert_null(throttle_table_new(0, false));
}

static void hammer(struct throttle_table *t, const struct throttle_policy *p, int n)
{
	struct throttle_verdict v;
	for (int i = 0; i < n; i++)
		throttle_fail(t, p, "ip4:192.0.2.1", "acct:shared", 50, &v);
}

/* Two processes counting into one shared table at the same time. */
static void test_shared_fork(void **state)
{
	struct throttle_policy p = policy;
	p.lockout_failures = 1000000;
	struct throttle_table *t = throttle_table_new(128, true);
	assert_non_null(t);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		hammer(t, &p, 2000);
		_exit(0);
	}
	hammer(t, &p, 2000);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(throttle_lookup(t, "ip4:192.0.2.1").failures, 4000);
	assert_int_equal(throttle_lookup(t, "acct:shared").failures, 4000);
	throttle_table_free(&t);

	/* A process-local table is not shared: the child's failures stay its own. */
	t = throttle_table_new(128, false);
	pid = fork();
	if (pid == 0) {
		hammer(t, &p, 10);
		_exit(throttle_lookup(t, "acct:shared").failures == 10 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(throttle_lookup(t, "acct:shared").failures, 0);
	throttle_table_free(&t);
}

/* The default table: local until throttle_init_shared() makes a shared one,
 * which a forked worker then uses to lock an account for everyone. */
static void test_default_table(void **state)
{
	struct throttle_table *local = throttle_table_default();
	assert_non_null(local);
	assert_ptr_equal(throttle_table_default(), local);
	assert_int_equal(throttle_init_shared(0), 0);   /* the default size */
	struct throttle_table *shared = throttle_table_default();
	assert_true(shared != local);
	pid_t pid = fork();
	if (pid == 0) {
		struct throttle_verdict v;
		for (int i = 0; i < 5; i++)
			throttle_fail(throttle_table_default(), &policy, "ip4:192.0.2.9",
				      "acct:carol", 500, &v);
		_exit(v.locked ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	struct throttle_verdict v;
	throttle_check(shared, &policy, "ip4:198.51.100.2", "acct:carol", 501, &v);
	assert_true(v.locked);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delay),
		cmocka_unit_test(test_lockout_and_expiry),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_table_rules),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_shared_fork),
		cmocka_unit_test(test_default_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
