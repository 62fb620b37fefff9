/* The store's pure helpers, table-driven: mailbox names, UID sets,
 * keywords, dates, modified UTF-7, line endings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "store/store_int.h"

static void test_mailbox_names(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "INBOX", "INBOX" }, { "inbox", "INBOX" }, { "InBox/Sub", "INBOX/Sub" },
		{ "inboxes", "inboxes" }, { "Work/2026", "Work/2026" },
		{ "M\xc3\xbcnchen", "M\xc3\xbcnchen" }, { "\xf0\x9f\x93\xa7 mail", "\xf0\x9f\x93\xa7 mail" },
		{ "a.b", "a.b" }, { "", NULL }, { "/a", NULL }, { "a/", NULL }, { "a//b", NULL },
		{ "a*", NULL }, { "a%", NULL }, { "a\nb", NULL }, { "a\x7f", NULL },
		{ "\xc0\xaf", NULL },            /* overlong '/' */
		{ "\xed\xa0\x80", NULL },        /* surrogate */
		{ "\xf4\x90\x80\x80", NULL },    /* above U+10FFFF */
		{ "\xe2\x82", NULL },            /* truncated */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *norm = NULL, *err = NULL;
		int rc = store_mailbox_name_normalize(cases[i].in, &norm, &err);
		if (cases[i].out == NULL) {
			if (rc != -1)
				fail_msg("case %zu: accepted '%s'", i, cases[i].in);
			assert_non_null(err);
			free(err);
		} else {
			if (rc != 0)
				fail_msg("case %zu: %s", i, err);
			assert_string_equal(norm, cases[i].out);
			free(norm);
		}
	}
	struct buf deep = BUF_INIT;
	for (int i = 0; i < 65; i++)
		buf_append_str(&deep, i ? "/x" : "x");
	char *norm = NULL, *err = NULL;
	assert_int_equal(store_mailbox_name_normalize(buf_cstr(&deep), &norm, &err), -1);
	free(err);
	buf_free(&deep);
}

static void test_uidsets(void **state)
{
	static const struct {
		struct store_uid_range in[4];
		size_t n_in;
		struct store_uid_range out[4];
		size_t n_out;
	} cases[] = {
		{ { { 1, 5 } }, 1, { { 1, 5 } }, 1 },
		{ { { 5, 1 } }, 1, { { 1, 5 } }, 1 },                               /* 5:1 */
		{ { { 7, 9 }, { 1, 2 }, { 3, 3 } }, 3, { { 1, 3 }, { 7, 9 } }, 2 },  /* sort, join adjacent */
		{ { { 1, 10 }, { 4, 6 } }, 2, { { 1, 10 } }, 1 },                    /* contained */
		{ { { 5, UINT32_MAX }, { 2, 8 } }, 2, { { 2, UINT32_MAX } }, 1 },    /* "*" */
		{ { { 1, 1 }, { 1, 1 } }, 2, { { 1, 1 } }, 1 },
		{ { { 0 } }, 0, { { 0 } }, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct store_uidset set = { cases[i].in, cases[i].n_in };
		struct store_uid_range *r;
		size_t n;
		uidset_normalize(&set, &r, &n);
		assert_int_equal(n, cases[i].n_out);
		for (size_t k = 0; k < n; k++) {
			assert_int_equal(r[k].lo, cases[i].out[k].lo);
			assert_int_equal(r[k].hi, cases[i].out[k].hi);
		}
		free(r);
	}
	struct store_uid_range *r;
	size_t n;
	uidset_normalize(NULL, &r, &n);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].lo, 1);
	assert_int_equal(r[0].hi, UINT32_MAX);
	free(r);
}

static void test_keywords(void **state)
{
	static const struct { const char *kw; bool ok; } cases[] = {
		{ "$Forwarded", true }, { "NonJunk", true }, { "a.b-c_d+e", true },
		{ "", false }, { "\\Seen", false }, { "two words", false }, { "a(b", false },
		{ "a)b", false }, { "a{1}", false }, { "a%", false }, { "a*", false },
		{ "a\"b", false }, { "a]", false }, { "a\\b", false }, { "\xc3\xa9", false },
		{ "tab\t", false },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (store_keyword_valid(cases[i].kw) != cases[i].ok)
			fail_msg("keyword '%s'", cases[i].kw);
}

static void test_dates(void **state)
{
	static const struct { const char *in; long long t; } cases[] = {
		{ "Mon, 2 Nov 2026 10:00:00 +0000", 1793613600 },
		{ "2 Nov 2026 10:00:00 +0000", 1793613600 },                   /* no weekday */
		{ "Mon, 02 Nov 2026 11:30:00 +0130", 1793613600 },
		{ "Mon, 2 Nov 2026 05:00:00 -0500", 1793613600 },
		{ "Mon, 2 Nov 2026 05:00:00 EST", 1793613600 },                /* obsolete zone */
		{ "Mon, 2 Nov 2026 10:00 GMT", 1793613600 },                   /* no seconds */
		{ "Mon (Monday), 2 Nov 2026 10:00:00 +0000 (UTC)", 1793613600 }, /* comments */
		{ "  Mon,\r\n 2 Nov 2026\r\n 10:00:00 +0000", 1793613600 },   /* folded */
		{ "Mon, 2 Nov 26 10:00:00 +0000", 1793613600 },                /* 2-digit year */
		{ "Thu, 1 Jan 1970 00:00:00 +0000", 0 },
		{ "Mon, 2 Nov 2026 10:00:00", 1793613600 },                    /* zone missing: UTC */
		{ "", -1 }, { "yesterday", -1 }, { "Mon, 2 Foo 2026 10:00:00 +0000", -1 },
		{ "Mon, 32 Nov 2026 10:00:00 +0000", -1 }, { "Mon, 2 Nov 2026 25:00:00 +0000", -1 },
		{ "Mon, 2 Nov 2026 10:00:00 +0099", -1 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		long long t = (long long)store_parse_rfc5322_date(cases[i].in);
		if (t != cases[i].t)
			fail_msg("'%s': %lld, want %lld", cases[i].in, t, cases[i].t);
	}
	const char *from = "Mon Nov  2 10:00:00 2026";
	assert_int_equal(store_parse_asctime(from, strlen(from)), 1793613600);
	assert_int_equal(store_parse_asctime("garbage", 7), -1);
	struct buf b = BUF_INIT;
	store_format_asctime(1793613600, &b);
	assert_string_equal(buf_cstr(&b), from);
	buf_free(&b);
}

static void test_mutf7(void **state)
{
	static const struct { const char *utf8, *mutf7; } cases[] = {
		{ "INBOX", "INBOX" },
		{ "\xc3\x84rger", "&AMQ-rger" },
		{ "a&b", "a&-b" },
		{ "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
		  "~peter/mail/&U,BTFw-/&ZeVnLIqe-" },                  /* RFC 3501's example */
		{ "\xf0\x9f\x93\xa7", "&2D3c5w-" },                       /* beyond the BMP */
		{ "a.b", "a&AC4-b" },                                     /* '.' for Maildir++ */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf enc = BUF_INIT, dec = BUF_INIT;
		mutf7_encode(cases[i].utf8, &enc);
		assert_string_equal(buf_cstr(&enc), cases[i].mutf7);
		assert_int_equal(mutf7_decode(cases[i].mutf7, &dec), 0);
		assert_string_equal(buf_cstr(&dec), cases[i].utf8);
		buf_free(&enc);
		buf_free(&dec);
	}
	static const char *const bad[] = { "&", "&AMQ", "&-&", "&2D0-", "&!!-", "\xc3\xa4" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct buf dec = BUF_INIT;
		if (mutf7_decode(bad[i], &dec) != -1)
			fail_msg("accepted '%s'", bad[i]);
		buf_free(&dec);
	}
}

static void test_line_endings(void **state)
{
	static const struct { const char *crlf, *lf; } cases[] = {
		{ "a\r\nb\r\n", "a\nb\n" }, { "a\rb\r\n", "a\rb\n" }, { "\r\n\r\n", "\n\n" },
		{ "", "" }, { "no newline", "no newline" }, { "end\r", "end\r" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf out = BUF_INIT;
		store_crlf_to_lf(cases[i].crlf, strlen(cases[i].crlf), &out);
		assert_string_equal(buf_cstr(&out), cases[i].lf);
		buf_free(&out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mailbox_names),
		cmocka_unit_test(test_uidsets),
		cmocka_unit_test(test_keywords),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_mutf7),
		cmocka_unit_test(test_line_endings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
