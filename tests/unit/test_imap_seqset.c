/* IMAP sequence sets: parsing (one row per set as written, with its ranges
 * or its error), the translation of sequence numbers and of UIDs against a
 * mailbox, and writing UID lists back as compact sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/imap_seqset.h"

/* ---- parsing ---- */

static void print_ranges(struct buf *b, const struct imap_seqset *set)
{
	if (set->dollar)
		buf_append_str(b, "$");
	for (size_t i = 0; i < set->count; i++) {
		if (i > 0)
			buf_putc(b, ',');
		const struct store_uid_range *r = &set->ranges[i];
		if (r->lo == r->hi)
			buf_appendf(b, "%u", r->lo);
		else
			buf_appendf(b, "%u-%u", r->lo, r->hi);
	}
}

struct parse_case {
	const char *in;
	const char *want;     /* the ranges as lo-hi, "*" as 4294967295; or the error */
	bool ok;
};

#define STAR "4294967295"

static const struct parse_case parse_cases[] = {
	{ "1", "1", true },
	{ "1:3", "1-3", true },
	{ "3:1", "1-3", true },
	{ "*", STAR, true },
	{ "1:*", "1-" STAR, true },
	{ "*:1", "1-" STAR, true },
	{ "*:*", STAR, true },
	{ "1,3:5,7", "1,3-5,7", true },
	{ "5,1:3,2", "5,1-3,2", true },
	{ "4294967295", STAR, true },
	{ "2:4294967295", "2-" STAR, true },
	{ "010", "", false },   /* nz-number has no leading zero */
	{ "$", "$", true },
	{ "", "", false },
	{ "0", "", false },
	{ "1:0", "", false },
	{ "4294967296", "", false },
	{ "99999999999999999999", "", false },
	{ "1,", "", false },
	{ ",1", "", false },
	{ "1,,2", "", false },
	{ "1:", "", false },
	{ ":1", "", false },
	{ "1:2:3", "", false },
	{ "1-3", "", false },
	{ " 1", "", false },
	{ "1 ", "", false },
	{ "$,1", "", false },
	{ "1,$", "", false },
	{ "$$", "", false },
	{ "**", "", false },
	{ "1*", "", false },
	{ "a", "", false },
};

static void test_parse(void **state)
{
	for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
		const struct parse_case *c = &parse_cases[i];
		struct imap_seqset set;
		const char *error = NULL;
		bool ok = imap_seqset_parse(c->in, strlen(c->in), &set, &error);
		if (ok != c->ok)
			fail_msg("'%s': %s, want %s", c->in, ok ? "ok" : error, c->ok ? "ok" : "an error");
		if (!ok) {
			assert_string_equal(error, "Invalid sequence set");
			assert_null(set.ranges);
			assert_int_equal(set.count, 0);
			continue;
		}
		struct buf got = BUF_INIT;
		print_ranges(&got, &set);
		if (strcmp(buf_cstr(&got), c->want) != 0)
			fail_msg("'%s': %s, want %s", c->in, buf_cstr(&got), c->want);
		buf_free(&got);
		imap_seqset_free(&set);
		assert_null(set.ranges);
	}
}

/* The set is not read past len. */
static void test_parse_len(void **state)
{
	struct imap_seqset set;
	const char *error;
	assert_true(imap_seqset_parse("1:2 FLAGS", 3, &set, &error));
	assert_int_equal(set.count, 1);
	assert_int_equal(set.ranges[0].hi, 2);
	imap_seqset_free(&set);
}

static void test_max_ranges(void **state)
{
	struct buf s = BUF_INIT;
	for (int i = 0; i < IMAP_SEQSET_MAX_RANGES; i++)
		buf_appendf(&s, "%s%d", i > 0 ? "," : "", i + 1);
	struct imap_seqset set;
	const char *error = NULL;
	assert_true(imap_seqset_parse(s.data, s.len, &set, &error));
	assert_int_equal(set.count, IMAP_SEQSET_MAX_RANGES);
	imap_seqset_free(&set);
	buf_append_str(&s, ",1");
	assert_false(imap_seqset_parse(s.data, s.len, &set, &error));
	assert_string_equal(error, "Too many ranges in sequence set");
	assert_null(set.ranges);
	buf_free(&s);
}

/* ---- translation ---- */

static const uint32_t mailbox[] = { 3, 5, 6, 7, 10, 200, 300 };
#define N (sizeof mailbox / sizeof mailbox[0])

struct map_case {
	const char *set;
	bool uid;            /* a UID set (else sequence numbers) */
	size_t n;            /* messages of mailbox[] in the mailbox */
	const char *want;    /* the UIDs, written as a set; "" for none */
};

static const struct map_case map_cases[] = {
	/* sequence numbers */
	{ "1", false, N, "3" },
	{ "1:3", false, N, "3,5:6" },
	{ "3:1", false, N, "3,5:6" },
	{ "*", false, N, "300" },
	{ "1:*", false, N, "3,5:7,10,200,300" },
	{ "6:*", false, N, "200,300" },
	{ "7:*", false, N, "300" },
	{ "9:*", false, N, "300" },        /* "*" is 7: 7:9 */
	{ "8", false, N, "" },             /* beyond the last message */
	{ "8:9", false, N, "" },
	{ "6:9", false, N, "200,300" },
	{ "7,1,1:2,2", false, N, "3,5,300" },
	{ "4294967295", false, N, "300" },
	{ "*", false, 0, "" },
	{ "1:*", false, 0, "" },
	{ "1", false, 0, "" },
	{ "$", false, N, "" },
	/* UIDs */
	{ "3", true, N, "3" },
	{ "4", true, N, "" },
	{ "1:6", true, N, "3,5:6" },
	{ "6:1", true, N, "3,5:6" },
	{ "*", true, N, "300" },
	{ "200:*", true, N, "200,300" },
	{ "201:*", true, N, "300" },
	{ "500:*", true, N, "300" },       /* 300:500 */
	{ "*:500", true, N, "300" },
	{ "301:400", true, N, "" },
	{ "1:*", true, N, "3,5:7,10,200,300" },
	{ "7:10,5,300,5:6", true, N, "5:7,10,300" },
	{ "11:199", true, N, "" },
	{ "1:4294967294", true, N, "3,5:7,10,200,300" },
	{ "*", true, 0, "" },
	{ "1:*", true, 0, "" },
	{ "3", true, 0, "" },
	{ "2:3", true, 1, "3" },
	{ "5:*", true, 1, "3" },
	{ "$", true, N, "" },
};

static void test_map(void **state)
{
	struct store_uid_list out = { 0 };
	struct buf got = BUF_INIT;
	for (size_t i = 0; i < sizeof map_cases / sizeof map_cases[0]; i++) {
		const struct map_case *c = &map_cases[i];
		struct imap_seqset set;
		const char *error;
		assert_true(imap_seqset_parse(c->set, strlen(c->set), &set, &error));
		if (c->uid)
			imap_seqset_uids(&set, mailbox, c->n, &out);
		else
			imap_seqset_to_uids(&set, mailbox, c->n, &out);
		for (size_t k = 1; k < out.count; k++)
			assert_true(out.uids[k - 1] < out.uids[k]);
		buf_clear(&got);
		imap_seqset_write(out.uids, out.count, &got);
		if (strcmp(buf_cstr(&got), c->want) != 0)
			fail_msg("%s '%s' n=%zu: %s, want %s", c->uid ? "UID" : "seq", c->set, c->n,
				 buf_cstr(&got), c->want);
		imap_seqset_free(&set);
	}
	buf_free(&got);
	store_uid_list_free(&out);
}

/* A UID set with the largest possible UID in the mailbox. */
static void test_top_uid(void **state)
{
	const uint32_t uids[] = { 1, 4294967294u, 4294967295u };
	struct store_uid_list out = { 0 };
	struct imap_seqset set;
	const char *error;
	assert_true(imap_seqset_parse("2:*", 3, &set, &error));
	imap_seqset_uids(&set, uids, 3, &out);
	assert_int_equal(out.count, 2);
	assert_int_equal(out.uids[1], 4294967295u);
	imap_seqset_free(&set);
	store_uid_list_free(&out);
}

static void test_uid_to_seq(void **state)
{
	assert_int_equal(imap_uid_to_seq(mailbox, N, 3), 1);
	assert_int_equal(imap_uid_to_seq(mailbox, N, 10), 5);
	assert_int_equal(imap_uid_to_seq(mailbox, N, 300), 7);
	assert_int_equal(imap_uid_to_seq(mailbox, N, 4), 0);
	assert_int_equal(imap_uid_to_seq(mailbox, N, 1), 0);
	assert_int_equal(imap_uid_to_seq(mailbox, N, 301), 0);
	assert_int_equal(imap_uid_to_seq(mailbox, 0, 3), 0);
}

/* ---- writing ---- */

static void test_write(void **state)
{
	static const struct {
		uint32_t uids[8];
		size_t n;
		const char *want;
	} cases[] = {
		{ { 0 }, 0, "" },
		{ { 7 }, 1, "7" },
		{ { 1, 2, 3 }, 3, "1:3" },
		{ { 1, 2, 3, 7, 9, 10, 11, 12 }, 8, "1:3,7,9:12" },
		{ { 1, 3, 5 }, 3, "1,3,5" },
		{ { 4294967294u, 4294967295u }, 2, "4294967294:4294967295" },
	};
	struct buf out = BUF_INIT;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		buf_clear(&out);
		imap_seqset_write(cases[i].uids, cases[i].n, &out);
		assert_string_equal(buf_cstr(&out), cases[i].want);
	}
	/* it appends */
	buf_set(&out, "COPYUID 1 ", 10);
	imap_seqset_write(cases[3].uids, cases[3].n, &out);
	assert_string_equal(buf_cstr(&out), "COPYUID 1 1:3,7,9:12");
	buf_free(&out);
}

static void test_ranges(void **state)
{
	const uint32_t uids[] = { 1, 2, 3, 7, 9, 10 };
	size_t count = 99;
	struct store_uid_range *r = imap_uid_list_ranges(uids, 6, &count);
	assert_int_equal(count, 3);
	assert_int_equal(r[0].lo, 1);
	assert_int_equal(r[0].hi, 3);
	assert_int_equal(r[1].lo, 7);
	assert_int_equal(r[1].hi, 7);
	assert_int_equal(r[2].lo, 9);
	assert_int_equal(r[2].hi, 10);
	free(r);
	r = imap_uid_list_ranges(uids, 0, &count);
	assert_non_null(r);   /* never NULL: a NULL set would mean every message */
	assert_int_equal(count, 0);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_len),
		cmocka_unit_test(test_max_ranges),
		cmocka_unit_test(test_map),
		cmocka_unit_test(test_top_uid),
		cmocka_unit_test(test_uid_to_seq),
		cmocka_unit_test(test_write),
		cmocka_unit_test(test_ranges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
