/* LIST patterns: one table row per case (pattern, name, match or not), then
 * the length limit and patterns that would make a backtracking matcher take
 * exponential time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imap/imap_list.h"

struct match_case {
	const char *pattern;
	const char *name;
	bool match;
};

static const struct match_case cases[] = {
	/* ---- literal ---- */
	{ "Sent", "Sent", true },
	{ "Sent", "sent", false },
	{ "Sent", "Sent2", false },
	{ "Sent", "Sen", false },
	{ "", "Sent", false },
	{ "", "", true },
	{ "Work/2026", "Work/2026", true },
	{ "Work/2026", "Work/2025", false },
	{ "caf\xc3\xa9", "caf\xc3\xa9", true },
	{ "caf\xc3\xa9", "cafe", false },
	/* ---- "*" ---- */
	{ "*", "INBOX", true },
	{ "*", "Work/2026/Q1", true },
	{ "*", "", true },
	{ "Work*", "Work", true },
	{ "Work*", "Workshop", true },
	{ "Work*", "Work/2026/Q1", true },
	{ "Work*", "Wor", false },
	{ "*/Q1", "Work/2026/Q1", true },
	{ "*/Q1", "Q1", false },
	{ "*2026*", "Work/2026/Q1", true },
	{ "*2026*", "Work/2025/Q1", false },
	{ "W*k", "Work", true },
	{ "W*k", "Work/Desk", true },
	{ "W*k", "Works", false },
	{ "a*b*c", "aXbYc", true },
	{ "a*b*c", "abcbc", true },
	{ "a*b*c", "acb", false },
	{ "**", "x/y", true },
	/* ---- "%" ---- */
	{ "%", "INBOX", true },
	{ "%", "Work", true },
	{ "%", "Work/2026", false },
	{ "%", "", true },
	{ "Work/%", "Work/2026", true },
	{ "Work/%", "Work/2026/Q1", false },
	{ "Work/%", "Work", false },
	{ "Work/%", "Work/", true },
	{ "%/%", "Work/2026", true },
	{ "%/%", "Work/2026/Q1", false },
	{ "%/Q1", "Work/Q1", true },
	{ "%/Q1", "Work/2026/Q1", false },
	{ "W%", "Work", true },
	{ "W%", "Work/2026", false },
	{ "%k", "Work", true },
	{ "%%", "Work", true },
	{ "%%", "Work/x", false },
	{ "a%b%c", "aXbYc", true },
	{ "a%b%c", "a/bc", false },
	/* ---- "*" and "%" together ---- */
	{ "*/%", "Work/2026/Q1", true },
	{ "*/%", "Work", false },
	{ "%/*", "Work/2026/Q1", true },
	{ "%/*", "Work", false },
	{ "%*", "Work/2026", true },
	{ "*%", "Work/2026", true },
	{ "%/%/%", "a/b/c", true },
	{ "%/%/%", "a/b", false },
	{ "%/%/%", "a/b/c/d", false },
	{ "*a%", "x/ab", true },
	{ "*a%", "xa/b", false },
	{ "%a*", "ba/x", true },
	{ "%a*", "b/a", false },
	/* ---- INBOX in any case, its first level only ---- */
	{ "INBOX", "INBOX", true },
	{ "inbox", "INBOX", true },
	{ "InBoX", "INBOX", true },
	{ "in*", "INBOX", true },
	{ "I%", "INBOX", true },
	{ "inbox/%", "INBOX/Sub", true },
	{ "inbox/sub", "INBOX/Sub", false },
	{ "inbox*", "INBOX/Sub", true },
	{ "inbox", "Inboxes", false },
	{ "inboxes", "Inboxes", false },
	{ "Inboxes", "Inboxes", true },
	{ "*box", "INBOX", true },
	{ "*box", "Mailbox", true },
	{ "*BOX", "Mailbox", false },
	{ "x/inbox", "x/INBOX", false },
	/* ---- wildcards as the only difference ---- */
	{ "a?b", "aXb", false },
	{ "a.b", "aXb", false },
};

static void test_table(void **state)
{
	(void)state;
	size_t failed = 0;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct match_case *t = &cases[i];
		bool got = imap_list_match(t->pattern, t->name, '/');
		if (got != t->match) {
			print_error("pattern \"%s\" name \"%s\": %s, want %s\n", t->pattern, t->name,
				    got ? "match" : "no match", t->match ? "match" : "no match");
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

/* The compiled form gives the same answers, and remembers a trailing "%". */
static void test_compiled(void **state)
{
	(void)state;
	struct imap_list_pattern *p = imap_list_pattern_new("Work/%", '/');
	assert_non_null(p);
	assert_true(imap_list_pattern_ends_pct(p));
	assert_true(imap_list_pattern_match(p, "Work/2026"));
	assert_false(imap_list_pattern_match(p, "Work/2026/Q1"));
	assert_true(imap_list_pattern_match(p, "Work/2025"));
	imap_list_pattern_free(&p);
	assert_null(p);
	imap_list_pattern_free(&p);   /* NULL is fine */

	p = imap_list_pattern_new("Work/*", '/');
	assert_false(imap_list_pattern_ends_pct(p));
	imap_list_pattern_free(&p);
	p = imap_list_pattern_new("%*", '/');   /* collapses to "*" */
	assert_false(imap_list_pattern_ends_pct(p));
	imap_list_pattern_free(&p);
}

/* Another separator: "%" stops at it, "/" is an ordinary character. */
static void test_separator(void **state)
{
	(void)state;
	assert_true(imap_list_match("%", "a/b", '.'));
	assert_false(imap_list_match("%", "a.b", '.'));
	assert_true(imap_list_match("INBOX.%", "INBOX.x", '.'));
	assert_true(imap_list_match("inbox.%", "INBOX.x", '.'));
}

static char *repeat(const char *unit, size_t times, const char *tail)
{
	size_t ul = strlen(unit), tl = strlen(tail);
	char *s = malloc(ul * times + tl + 1);
	for (size_t i = 0; i < times; i++)
		memcpy(s + i * ul, unit, ul);
	memcpy(s + ul * times, tail, tl + 1);
	return s;
}

/* The limit: a pattern of IMAP_LIST_PATTERN_MAX bytes works, one more byte
 * is refused (and matches nothing). */
static void test_limit(void **state)
{
	(void)state;
	char *ok = repeat("*", IMAP_LIST_PATTERN_MAX, "");
	char *big = repeat("*", IMAP_LIST_PATTERN_MAX + 1, "");
	struct imap_list_pattern *p = imap_list_pattern_new(ok, '/');
	assert_non_null(p);
	assert_true(imap_list_pattern_match(p, "anything/at/all"));
	imap_list_pattern_free(&p);
	assert_null(imap_list_pattern_new(big, '/'));
	assert_false(imap_list_match(big, "x", '/'));
	free(ok);
	free(big);

	/* The longest literal pattern, over several 64-bit words. */
	char *lit = repeat("ab", IMAP_LIST_PATTERN_MAX / 2, "");
	char *name = repeat("ab", IMAP_LIST_PATTERN_MAX / 2, "");
	assert_true(imap_list_match(lit, name, '/'));
	name[IMAP_LIST_PATTERN_MAX - 1] = 'x';
	assert_false(imap_list_match(lit, name, '/'));
	free(lit);
	free(name);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Patterns that make a backtracking matcher exponential: "*a*a*a...*b" and
 * "%a%a%a...%b" against "aaa...a", at the length limits. Each must take well
 * under a second (here they take microseconds). */
static void test_no_backtracking(void **state)
{
	(void)state;
	static const char *const units[] = { "*a", "%a", "*a%a" };
	char *name = repeat("a", 1000, "");
	for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
		char *pattern = repeat(units[u], IMAP_LIST_PATTERN_MAX / strlen(units[u]) - 1, "*b");
		double t0 = now();
		for (int i = 0; i < 10; i++)
			assert_false(imap_list_match(pattern, name, '/'));
		double t = now() - t0;
		if (t > 1.0)
			fail_msg("%s...: %.2f s for 10 matches", units[u], t);
		free(pattern);
	}
	free(name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_compiled),
		cmocka_unit_test(test_separator),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_no_backtracking),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
