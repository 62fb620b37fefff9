/* IMAP SEARCH: program parsing (one row a case: arguments, error), matching
 * against a five-message mailbox (one row a case: program, matching
 * sequence numbers), the fetch mask, BODY/TEXT hand-off, the SEARCH and
 * ESEARCH answers, SAVE, and the case mapping. Arguments go through the
 * real command parser ("t SEARCH " + the row). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/imap_parser.h"
#include "imap/imap_search.h"

static struct imap_parser *parser;

static const struct imap_command *command(const char *args)
{
	struct buf line = BUF_INIT;
	buf_appendf(&line, "t SEARCH %s", args);
	imap_parser_reset(parser);
	enum imap_parse_result r = imap_parser_line(parser, line.data, line.len);
	if (r != IMAP_PARSE_COMMAND)
		fail_msg("parser refused \"%s\"", line.data);
	buf_free(&line);
	return imap_parser_command(parser);
}

static struct imap_search_program *parse_ok(const char *args)
{
	const struct imap_command *c = command(args);
	struct imap_search_program *p = NULL;
	struct imap_search_error err = { 0 };
	if (imap_search_parse(c->args, c->count, &p, &err) < 0)
		fail_msg("\"%s\": %s", args, err.reason);
	return p;
}

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* ---- parsing ---- */

struct parse_case {
	const char *args;
	const char *error;        /* NULL: accepted */
	bool badcharset, limit;
};

static const struct parse_case parse_cases[] = {
	{ "ALL", NULL },
	{ "RETURN (MIN COUNT) CHARSET UTF-8 OR FROM a SUBJECT b 1:5", NULL },
	{ "return () charset us-ascii seen", NULL },
	{ "CHARSET \"utf-8\" ALL", NULL },
	{ "CHARSET KOI8-R ALL", "Unsupported charset", true },
	{ "CHARSET US-ASCII SUBJECT \"\xc3\xa9t\xc3\xa9\"", "Search string is not US-ASCII" },
	{ "RETURN (FOO) ALL", "Unknown RETURN option" },
	{ "RETURN MIN ALL", "RETURN needs a list of options" },
	{ "RETURN (MIN)", "Missing search key" },
	{ "FOO", "Unknown search key" },
	{ "CHARSET", "Unknown search key" },
	{ "()", "Missing search key" },
	{ "(ALL SEEN) (OR ANSWERED (FLAGGED DRAFT) NOT NEW)", NULL },
	{ "\"ALL\"", "Invalid search key" },
	{ "1:5,7,*", NULL },
	{ "$", NULL },
	{ "1:x", "Invalid sequence set" },
	{ "UID 1:*", NULL },
	{ "UID $", NULL },
	{ "UID", "Missing argument to search key" },
	{ "UID ALL", "Invalid sequence set" },
	{ "NOT", "Missing search key" },
	{ "OR ALL", "Missing search key" },
	{ "BEFORE 1-Feb-1994", NULL },
	{ "SINCE \"01-feb-1994\" SENTON 31-DEC-2023", NULL },
	{ "BEFORE 1-Foo-1994", "Invalid date" },
	{ "BEFORE 1-Feb-94", "Invalid date" },
	{ "BEFORE 0-Feb-1994", "Invalid date" },
	{ "BEFORE 123-Feb-1994", "Invalid date" },
	{ "BEFORE 1-Feb-1994x", "Invalid date" },
	{ "LARGER 9223372036854775807", NULL },
	{ "LARGER 9223372036854775808", "Invalid number" },
	{ "SMALLER 12a", "Invalid number" },
	{ "SMALLER \"12\"", "Invalid number" },
	{ "OLDER 0", "Invalid number" },
	{ "YOUNGER 4294967295", NULL },
	{ "YOUNGER 4294967296", "Invalid number" },
	{ "KEYWORD $Forwarded UNKEYWORD NonJunk", NULL },
	{ "KEYWORD \\Seen", "Invalid keyword" },
	{ "KEYWORD \"foo\"", "Invalid keyword" },
	{ "HEADER X-Foo bar", NULL },
	{ "HEADER \"Message-ID\" \"\"", NULL },
	{ "HEADER \"\" x", "Invalid header field name" },
	{ "HEADER \"a b\" x", "Invalid header field name" },
	{ "HEADER X-Foo", "Missing argument to search key" },
	{ "FROM NIL", NULL },
	{ "FROM a%b", "Invalid search string" },
	{ "MODSEQ 5", NULL },
	{ "MODSEQ \"/flags/\\\\draft\" all 620162338", NULL },
	{ "MODSEQ \"/flags/$Junk\" priv 0", NULL },
	{ "MODSEQ \"/flags/x\" bogus 5", "Invalid MODSEQ entry" },
	{ "MODSEQ \"/other/x\" all 5", "Invalid MODSEQ entry" },
	{ "MODSEQ x", "Invalid MODSEQ value" },
	{ "EMAILID M6d99ac3275bb4e THREADID T64b478a75b7ea9", NULL },
	{ "EMAILID a.b", "Invalid object id" },
	{ "BODY \"\" TEXT hello", NULL },
};

static void test_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
		const struct parse_case *pc = &parse_cases[i];
		const struct imap_command *c = command(pc->args);
		struct imap_search_program *p = NULL;
		struct imap_search_error err = { 0 };
		int r = imap_search_parse(c->args, c->count, &p, &err);
		if (pc->error == NULL) {
			if (r != 0)
				fail_msg("\"%s\": refused: %s", pc->args, err.reason);
			assert_non_null(p);
			imap_search_free(&p);
			assert_null(p);
			continue;
		}
		if (r == 0)
			fail_msg("\"%s\": accepted", pc->args);
		assert_null(p);
		if (strcmp(err.reason, pc->error) != 0)
			fail_msg("\"%s\": \"%s\", want \"%s\"", pc->args, err.reason, pc->error);
		assert_int_equal(err.badcharset, pc->badcharset);
		assert_int_equal(err.limit, pc->limit);
	}
}

/* A date may not be a literal (date = date-text / DQUOTE date-text DQUOTE). */
static void test_literal_date(void **state)
{
	(void)state;
	imap_parser_reset(parser);
	const char *l1 = "t SEARCH BEFORE {10}";
	assert_int_equal(imap_parser_line(parser, l1, strlen(l1)), IMAP_PARSE_LITERAL);
	assert_int_equal(imap_parser_literal_data(parser, "1-Feb-1994", 10), IMAP_PARSE_LITERAL);
	assert_int_equal(imap_parser_line(parser, "", 0), IMAP_PARSE_COMMAND);
	const struct imap_command *c = imap_parser_command(parser);
	struct imap_search_program *p = NULL;
	struct imap_search_error err = { 0 };
	assert_int_equal(imap_search_parse(c->args, c->count, &p, &err), -1);
	assert_string_equal(err.reason, "Invalid date");
}

static void test_return_options(void **state)
{
	(void)state;
	struct imap_search_program *p = parse_ok("ALL");
	assert_false(imap_search_has_return(p));
	assert_int_equal(imap_search_return(p), 0);
	imap_search_free(&p);
	p = parse_ok("RETURN () ALL");
	assert_true(imap_search_has_return(p));
	assert_int_equal(imap_search_return(p), IMAP_SEARCH_RET_ALL);
	imap_search_free(&p);
	p = parse_ok("RETURN (min MAX save count all) ALL");
	assert_int_equal(imap_search_return(p), 0x1f);
	assert_false(imap_search_uses_saved(p));
	assert_false(imap_search_has_modseq(p));
	imap_search_free(&p);
	p = parse_ok("OR $ MODSEQ 4 SEEN");
	assert_true(imap_search_uses_saved(p));
	assert_true(imap_search_has_modseq(p));
	imap_search_free(&p);
}

static void repeat(struct buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf_append_str(b, s);
}

/* IMAP_SEARCH_MAX_DEPTH and IMAP_SEARCH_MAX_KEYS, at and past the limit. */
static void test_limits(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	struct imap_search_error err = { 0 };
	struct imap_search_program *p = NULL;
	const struct imap_command *c;
	/* 31 NOTs and the key: depth 32. */
	repeat(&b, "NOT ", IMAP_SEARCH_MAX_DEPTH - 1);
	buf_append_str(&b, "SEEN");
	c = command(b.data);
	assert_int_equal(imap_search_parse(c->args, c->count, &p, &err), 0);
	imap_search_free(&p);
	buf_clear(&b);
	repeat(&b, "NOT ", IMAP_SEARCH_MAX_DEPTH);
	buf_append_str(&b, "SEEN");
	c = command(b.data);
	assert_int_equal(imap_search_parse(c->args, c->count, &p, &err), -1);
	assert_string_equal(err.reason, "Search keys nested too deeply");
	assert_true(err.limit);
	buf_clear(&b);
	repeat(&b, "OR SEEN ", IMAP_SEARCH_MAX_DEPTH);
	buf_append_str(&b, "SEEN");
	c = command(b.data);
	assert_int_equal(imap_search_parse(c->args, c->count, &p, &err), -1);
	assert_true(err.limit);
	/* Keys: every node counts, the top-level AND too. */
	buf_clear(&b);
	repeat(&b, "SEEN ", IMAP_SEARCH_MAX_KEYS - 1);
	buf_append_str(&b, "ALL");
	c = command(b.data);
	assert_int_equal(imap_search_parse(c->args, c->count, &p, &err), -1);
	assert_string_equal(err.reason, "Too many search keys");
	assert_true(err.limit);
	buf_clear(&b);
	repeat(&b, "SEEN ", IMAP_SEARCH_MAX_KEYS - 2);
	buf_append_str(&b, "ALL");
	c = command(b.data);
	assert_int_equal(imap_search_parse(c->args, c->count, &p, &err), 0);
	imap_search_free(&p);
	buf_free(&b);
}

/* ---- matching ---- */

#define T0 1704067200   /* 2024-01-01 00:00:00 UTC */
#define DAY 86400
#define NOW (T0 + 19 * DAY)

static const char *const kw1[] = { "$Forwarded" };
static const uint32_t box_uids[] = { 3, 5, 9, 10, 20 };
static const char *const hdr[] = {
	"From: Alice Example <alice@example.org>\r\nX-Prio: 1\r\nReceived: hop1\r\n"
	"Received: from x\r\n by hop2\r\n"
	"Subject: =?utf-8?q?=C3=89t=C3=A9?= =?utf-8?q?_=C3=A0_Paris?=\r\n\r\nbody\r\n",
	"From: carol@example.net\r\nX-Prio:\r\nSubject: Hello\r\n\r\n",
	"Subject: x\nX-Prio : 3\n\n",
	NULL,
	"X-Other: y\r\n\r\n",
};

static struct store_message box[5];
static bool box_recent[5] = { true, false, true, false, false };

static void box_init(void)
{
	memset(box, 0, sizeof box);
	for (size_t i = 0; i < 5; i++) {
		box[i].uid = box_uids[i];
		box[i].from = box[i].to = box[i].cc = box[i].bcc = box[i].subject = "";
		box[i].message_id = "";
		box[i].header = hdr[i];
		box[i].header_len = hdr[i] != NULL ? strlen(hdr[i]) : 0;
	}
	box[0] = (struct store_message){ .uid = 3, .modseq = 5, .flags = STORE_FLAG_SEEN,
		.keywords = kw1, .n_keywords = 1, .internaldate = T0 + 3600, .size = 50,
		.from = "Alice Example <alice@example.org>", .to = "bob@example.org", .cc = "",
		.bcc = "", .subject = "\xc3\x89t\xc3\xa9 \xc3\xa0 Paris", .message_id = "",
		.header = hdr[0], .header_len = strlen(hdr[0]) };
	box[1].modseq = 7, box[1].flags = STORE_FLAG_FLAGGED | STORE_FLAG_ANSWERED;
	box[1].internaldate = T0 + DAY, box[1].sent_date = T0 - 1, box[1].size = 150;
	box[1].from = "carol@example.net", box[1].subject = "Hello";
	box[2].modseq = 9, box[2].flags = STORE_FLAG_DELETED | STORE_FLAG_DRAFT;
	box[2].internaldate = T0 + 2 * DAY + 43200, box[2].sent_date = T0 + 2 * DAY;
	box[2].size = 100, box[2].subject = "x";
	box[3].modseq = 2, box[3].internaldate = T0 + 9 * DAY, box[3].size = 1000;
	box[4].modseq = 12, box[4].flags = STORE_FLAG_SEEN, box[4].internaldate = NOW - 10;
	box[4].size = 99;
}

static int big_header(void *ctx, const char **header_r, size_t *len_r)
{
	int *calls = ctx;
	(*calls)++;
	*header_r = "X-Big: yes\r\n\r\n";
	*len_r = strlen(*header_r);
	return 0;
}

static int broken_header(void *ctx, const char **header_r, size_t *len_r)
{
	(void)ctx, (void)header_r, (void)len_r;
	return -1;
}

/* BODY / TEXT answers, by query. */
static void attach_text(struct imap_search_program *p)
{
	static const struct { const char *q; uint32_t uids[2]; size_t n; } fts[] = {
		{ "hello", { 10, 5 }, 2 }, { "x", { 3 }, 1 }, { "y", { 20 }, 1 },
	};
	for (size_t i = 0; i < imap_search_text_count(p); i++) {
		enum store_search_field field;
		const char *q;
		struct store_uid_list l = { 0 };
		imap_search_text_key(p, i, &field, &q);
		for (size_t k = 0; k < sizeof fts / sizeof fts[0]; k++) {
			if (strcmp(fts[k].q, q) != 0)
				continue;
			l.uids = malloc(2 * sizeof *l.uids);
			memcpy(l.uids, fts[k].uids, fts[k].n * sizeof *l.uids);
			l.count = l.cap = fts[k].n;
		}
		imap_search_set_text_result(p, i, &l);
		assert_null(l.uids);
	}
}

static const uint32_t saved_uids[] = { 5, 20 };

/* The matching sequence numbers, space-separated, into out. */
static void run_search(struct imap_search_program *p, struct buf *out,
		       struct imap_search_result *res)
{
	struct store_uid_list saved = { (uint32_t *)saved_uids, 2, 2 };
	struct imap_search_mailbox mb = { box_uids, 5, &saved, NOW };
	int calls = 0;
	attach_text(p);
	imap_search_prepare(p, &mb);
	for (uint32_t seq = 1; seq <= 5; seq++) {
		struct imap_search_message m = { seq, &box[seq - 1], box_recent[seq - 1],
			seq == 5 ? "e5" : NULL, NULL, big_header, &calls };
		int r = imap_search_match(p, &m);
		assert_true(r == 0 || r == 1);
		if (r == 0)
			continue;
		buf_appendf(out, "%s%u", out->len ? " " : "", seq);
		if (res != NULL)
			imap_search_result_add(res, seq, box[seq - 1].uid, box[seq - 1].modseq);
	}
	assert_true(calls <= 1);
}

struct match_case {
	const char *args;
	const char *seqs;
};

static const struct match_case match_cases[] = {
	{ "ALL", "1 2 3 4 5" },
	{ "SEEN", "1 5" }, { "UNSEEN", "2 3 4" }, { "NOT SEEN", "2 3 4" },
	{ "FLAGGED", "2" }, { "UNFLAGGED", "1 3 4 5" }, { "ANSWERED", "2" },
	{ "UNANSWERED", "1 3 4 5" }, { "DELETED", "3" }, { "UNDELETED", "1 2 4 5" },
	{ "DRAFT", "3" }, { "UNDRAFT", "1 2 4 5" },
	{ "OR SEEN FLAGGED", "1 2 5" }, { "OR OR SEEN FLAGGED DRAFT", "1 2 3 5" },
	{ "(SEEN UID 1:4)", "1" }, { "SEEN (UNSEEN)", "" },
	{ "RECENT", "1 3" }, { "NEW", "3" }, { "OLD", "2 4 5" },
	/* sequence sets; "*" is the last message, beyond it nothing */
	{ "1:2", "1 2" }, { "2:*", "2 3 4 5" }, { "*", "5" }, { "4:2", "2 3 4" },
	{ "7:*", "5" }, { "6:7", "" }, { "1,3,5", "1 3 5" },
	{ "UID 9:*", "3 4 5" }, { "UID *", "5" }, { "UID 30:*", "5" }, { "UID 4:6", "2" },
	{ "UID 1,10", "4" }, { "UID 21:30", "" },
	/* "$": the saved UIDs {5, 20} */
	{ "$", "2 5" }, { "UID $", "2 5" }, { "NOT $", "1 3 4" },
	{ "KEYWORD $forwarded", "1" }, { "UNKEYWORD $Forwarded", "2 3 4 5" },
	{ "KEYWORD Junk", "" },
	/* decoded fields, case-insensitive substrings */
	{ "FROM alice", "1" }, { "FROM ALICE", "1" }, { "FROM example", "1 2" },
	{ "TO BOB", "1" }, { "CC x", "" }, { "BCC \"\"", "1 2 3 4 5" },
	{ "SUBJECT \"\xc3\xa9T\xc3\x89\"", "1" }, { "SUBJECT \"\xc3\x80 PARIS\"", "1" },
	{ "SUBJECT \"\"", "1 2 3 4 5" }, { "SUBJECT hello", "2" },
	/* HEADER: every occurrence, decoded; "" for a field that is there */
	{ "HEADER X-Prio 1", "1" }, { "HEADER x-prio \"\"", "1 2 3" }, { "HEADER x-prio 3", "3" },
	{ "HEADER Received hop2", "1" }, { "HEADER Received \"x BY HOP\"", "1" },
	{ "HEADER Subject \"\xc3\xa9t\xc3\xa9 \xc3\xa0\"", "1" },
	{ "HEADER X-Big yes", "4" }, { "HEADER Nope \"\"", "" }, { "HEADER X-Prio body", "" },
	/* days of INTERNALDATE and of Date: (absent: INTERNALDATE), UTC */
	{ "ON 1-Jan-2024", "1" }, { "BEFORE 2-Jan-2024", "1" }, { "SINCE 3-Jan-2024", "3 4 5" },
	{ "SINCE 2-jan-2024", "2 3 4 5" }, { "ON \"3-Jan-2024\"", "3" },
	{ "SENTON 1-Jan-2024", "1" }, { "SENTON 31-Dec-2023", "2" },
	{ "SENTBEFORE 1-Jan-2024", "2" }, { "SENTSINCE 3-Jan-2024", "3 4 5" },
	{ "SENTON 19-Jan-2024", "5" },
	{ "LARGER 100", "2 4" }, { "SMALLER 100", "1 5" }, { "LARGER 99 SMALLER 101", "3" },
	/* WITHIN: message 5 is 10 s old */
	{ "YOUNGER 3600", "5" }, { "OLDER 3600", "1 2 3 4" }, { "YOUNGER 10", "5" },
	{ "OLDER 10", "1 2 3 4" }, { "OLDER 9", "1 2 3 4 5" },
	{ "MODSEQ 7", "2 3 5" }, { "MODSEQ \"/flags/\\\\Seen\" all 9", "3 5" },
	{ "MODSEQ 0", "1 2 3 4 5" },
	{ "EMAILID e5", "5" }, { "EMAILID e4", "" }, { "THREADID t1", "" },
	/* BODY / TEXT: the index's answers, hello = {5, 10}, x = {3}, y = {20} */
	{ "BODY hello", "2 4" }, { "TEXT \"\"", "1 2 3 4 5" }, { "OR BODY x TEXT y", "1 5" },
	{ "BODY nothing", "" }, { "NOT BODY hello", "1 3 5" },
	{ "RETURN (MIN) CHARSET UTF-8 OR FROM carol SUBJECT paris 1:5", "1 2" },
};

static void test_match(void **state)
{
	(void)state;
	box_init();
	for (size_t i = 0; i < sizeof match_cases / sizeof match_cases[0]; i++) {
		const struct match_case *mc = &match_cases[i];
		struct imap_search_program *p = parse_ok(mc->args);
		struct buf out = BUF_INIT;
		run_search(p, &out, NULL);
		if (strcmp(buf_cstr(&out), mc->seqs) != 0)
			fail_msg("\"%s\": \"%s\", want \"%s\"", mc->args, buf_cstr(&out), mc->seqs);
		buf_free(&out);
		imap_search_free(&p);
	}
}

/* HEADER needs the raw header; without it (too large for the cache) the
 * callback gives it, and its failure is the match's. */
static void test_header_callback(void **state)
{
	(void)state;
	box_init();
	struct imap_search_program *p = parse_ok("OR HEADER X-Big yes HEADER X-Big no");
	struct imap_search_mailbox mb = { box_uids, 5, NULL, NOW };
	imap_search_prepare(p, &mb);
	int calls = 0;
	struct imap_search_message m = { 4, &box[3], false, NULL, NULL, big_header, &calls };
	assert_int_equal(imap_search_match(p, &m), 1);
	assert_int_equal(calls, 1);
	m.get_header = broken_header;
	assert_int_equal(imap_search_match(p, &m), -1);
	m.get_header = NULL;
	assert_int_equal(imap_search_match(p, &m), -1);
	/* A program that needs no header never asks. */
	imap_search_free(&p);
	p = parse_ok("UNSEEN");
	imap_search_prepare(p, &mb);
	m.get_header = broken_header;
	assert_int_equal(imap_search_match(p, &m), 1);
	imap_search_free(&p);
}

static void test_fetch_mask(void **state)
{
	(void)state;
	static const struct { const char *args; unsigned mask; } cases[] = {
		{ "UNSEEN", 0 }, { "1:*", 0 }, { "UID 1:* LARGER 5 BEFORE 1-Jan-2020", 0 },
		{ "BODY x", 0 }, { "FROM x", STORE_FETCH_SEARCH },
		{ "NOT SENTON 1-Jan-2020", STORE_FETCH_SEARCH }, { "HEADER a b", STORE_FETCH_HEADER },
		{ "OR SUBJECT a HEADER a b", STORE_FETCH_SEARCH | STORE_FETCH_HEADER },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct imap_search_program *p = parse_ok(cases[i].args);
		assert_int_equal(imap_search_fetch_mask(p), cases[i].mask);
		imap_search_free(&p);
	}
}

static void test_text_keys(void **state)
{
	(void)state;
	struct imap_search_program *p = parse_ok("BODY \"a b\" TEXT B OR BODY c SEEN BODY \"\"");
	enum store_search_field f;
	const char *q;
	assert_int_equal(imap_search_text_count(p), 3);
	imap_search_text_key(p, 0, &f, &q);
	assert_int_equal(f, STORE_SEARCH_BODY);
	assert_string_equal(q, "a b");
	imap_search_text_key(p, 1, &f, &q);
	assert_int_equal(f, STORE_SEARCH_TEXT);
	assert_string_equal(q, "B");
	imap_search_text_key(p, 2, &f, &q);
	assert_int_equal(f, STORE_SEARCH_BODY);
	assert_string_equal(q, "c");
	imap_search_free(&p);
}

/* ---- answers ---- */

struct write_case {
	const char *args;
	bool uid, rev2;
	const char *want;
};

static const struct write_case write_cases[] = {
	{ "SEEN", false, false, "* SEARCH 1 5\r\n" },
	{ "SEEN", true, false, "* SEARCH 3 20\r\n" },
	{ "KEYWORD Junk", false, false, "* SEARCH\r\n" },
	{ "MODSEQ 6", false, false, "* SEARCH 2 3 5 (MODSEQ 12)\r\n" },
	{ "MODSEQ 6 UNSEEN", true, false, "* SEARCH 5 9 (MODSEQ 9)\r\n" },
	{ "MODSEQ 100", false, false, "* SEARCH\r\n" },
	{ "RETURN (MIN MAX COUNT ALL) UNDELETED", true, false,
	  "* ESEARCH (TAG \"a1\") UID MIN 3 MAX 20 ALL 3,5,10,20 COUNT 4\r\n" },
	{ "RETURN (MIN MAX COUNT ALL) UNDELETED", false, false,
	  "* ESEARCH (TAG \"a1\") MIN 1 MAX 5 ALL 1:2,4:5 COUNT 4\r\n" },
	{ "RETURN () SEEN", false, false, "* ESEARCH (TAG \"a1\") ALL 1,5\r\n" },
	{ "RETURN (COUNT) KEYWORD Junk", true, false, "* ESEARCH (TAG \"a1\") UID COUNT 0\r\n" },
	{ "RETURN (MIN ALL) KEYWORD Junk", false, false, "* ESEARCH (TAG \"a1\")\r\n" },
	{ "RETURN (SAVE) SEEN", false, false, "" },
	{ "RETURN (SAVE MIN) SEEN", false, false, "* ESEARCH (TAG \"a1\") MIN 1\r\n" },
	{ "SEEN", false, true, "* ESEARCH (TAG \"a1\") ALL 1,5\r\n" },
	{ "SEEN", true, true, "* ESEARCH (TAG \"a1\") UID ALL 3,20\r\n" },
	{ "RETURN (ALL) MODSEQ 6", false, false, "* ESEARCH (TAG \"a1\") ALL 2:3,5 MODSEQ 12\r\n" },
	{ "RETURN (MIN) MODSEQ 6", false, false, "* ESEARCH (TAG \"a1\") MIN 2 MODSEQ 7\r\n" },
	{ "RETURN (MAX) MODSEQ 6", false, false, "* ESEARCH (TAG \"a1\") MAX 5 MODSEQ 12\r\n" },
	{ "RETURN (MIN) MODSEQ 6 UNSEEN", false, false, "* ESEARCH (TAG \"a1\") MIN 2 MODSEQ 7\r\n" },
	{ "RETURN (COUNT) MODSEQ 6 UNSEEN", false, false,
	  "* ESEARCH (TAG \"a1\") COUNT 2 MODSEQ 9\r\n" },
	{ "RETURN (COUNT) MODSEQ 60", false, false, "* ESEARCH (TAG \"a1\") COUNT 0\r\n" },
};

static void test_write(void **state)
{
	(void)state;
	box_init();
	for (size_t i = 0; i < sizeof write_cases / sizeof write_cases[0]; i++) {
		const struct write_case *wc = &write_cases[i];
		struct imap_search_program *p = parse_ok(wc->args);
		struct imap_search_result res = { 0 };
		struct buf seqs = BUF_INIT, out = BUF_INIT;
		run_search(p, &seqs, &res);
		imap_search_write(p, &res, "a1", wc->uid, wc->rev2, &out);
		if (strcmp(buf_cstr(&out), wc->want) != 0)
			fail_msg("\"%s\": \"%s\", want \"%s\"", wc->args, buf_cstr(&out), wc->want);
		imap_search_result_free(&res);
		buf_free(&seqs);
		buf_free(&out);
		imap_search_free(&p);
	}
}

static void test_tag_quoting(void **state)
{
	(void)state;
	struct imap_search_program *p = parse_ok("RETURN (COUNT) ALL");
	struct imap_search_result res = { 0 };
	struct buf out = BUF_INIT;
	imap_search_write(p, &res, "a\"b\\", false, false, &out);
	assert_string_equal(buf_cstr(&out), "* ESEARCH (TAG \"a\\\"b\\\\\") COUNT 0\r\n");
	buf_clear(&out);
	imap_search_write(p, &res, NULL, false, false, &out);
	assert_string_equal(buf_cstr(&out), "* ESEARCH COUNT 0\r\n");
	buf_free(&out);
	imap_search_free(&p);
}

/* RFC 5182 2.4: what SAVE keeps. */
static void test_saved(void **state)
{
	(void)state;
	static const struct { const char *args; const char *want; } cases[] = {
		{ "RETURN (SAVE) UNDELETED", "3 5 10 20" },
		{ "RETURN (SAVE MIN) UNDELETED", "3" },
		{ "RETURN (SAVE MAX) UNDELETED", "20" },
		{ "RETURN (SAVE MIN MAX) UNDELETED", "3 20" },
		{ "RETURN (SAVE MIN MAX) UID 5", "5" },
		{ "RETURN (SAVE MIN COUNT) UNDELETED", "3 5 10 20" },
		{ "RETURN (SAVE MAX ALL) UNDELETED", "3 5 10 20" },
		{ "RETURN (SAVE) KEYWORD Junk", "" },
	};
	box_init();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct imap_search_program *p = parse_ok(cases[i].args);
		struct imap_search_result res = { 0 };
		struct buf seqs = BUF_INIT, got = BUF_INIT;
		struct store_uid_list saved = { 0 };
		run_search(p, &seqs, &res);
		imap_search_saved(p, &res, &saved);
		for (size_t k = 0; k < saved.count; k++)
			buf_appendf(&got, "%s%u", k ? " " : "", saved.uids[k]);
		if (strcmp(buf_cstr(&got), cases[i].want) != 0)
			fail_msg("\"%s\": \"%s\", want \"%s\"", cases[i].args, buf_cstr(&got),
				 cases[i].want);
		store_uid_list_free(&saved);
		imap_search_result_free(&res);
		buf_free(&seqs);
		buf_free(&got);
		imap_search_free(&p);
	}
}

/* ---- case mapping ---- */

/* ---- candidates: the messages a BODY/TEXT key limits the walk to ---- */

static void set_results(struct imap_search_program *p, uint32_t base)
{
	/* the i-th text key finds i + 1 messages: base, base + 1, ... */
	for (size_t i = 0; i < imap_search_text_count(p); i++) {
		struct store_uid_list l = { 0 };
		l.uids = malloc((i + 1) * sizeof *l.uids);
		for (size_t k = 0; k <= i; k++)
			l.uids[k] = base + (uint32_t)k;
		l.count = l.cap = i + 1;
		imap_search_set_text_result(p, i, &l);
	}
}

static void test_candidates(void **state)
{
	static const struct {
		const char *args;
		long count;          /* -1: none (the whole mailbox is walked) */
	} cases[] = {
		{ "BODY x", 1 },
		{ "BODY x FLAGGED", 1 },
		{ "FLAGGED TEXT x", 1 },
		{ "TEXT a BODY b", 1 },          /* the smaller of the two */
		{ "BODY b TEXT a", 1 },
		{ "OR BODY x FLAGGED", -1 },
		{ "NOT BODY x", -1 },
		{ "(BODY x) SEEN", -1 },         /* nested: not looked into */
		{ "FLAGGED", -1 },
		{ "BODY \"\"", -1 },             /* matches everything: no text key */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct imap_search_program *p = parse_ok(cases[i].args);
		set_results(p, 10);
		const struct store_uid_list *c = imap_search_candidates(p);
		if (cases[i].count < 0) {
			if (c != NULL)
				fail_msg("\"%s\": candidates given", cases[i].args);
		} else {
			if (c == NULL || (long)c->count != cases[i].count)
				fail_msg("\"%s\": %ld candidates, want %ld", cases[i].args,
					 c != NULL ? (long)c->count : -1L, cases[i].count);
			assert_int_equal(c->uids[0], 10);
		}
		imap_search_free(&p);
	}
}

static void test_casemap(void **state)
{
	(void)state;
	static const struct { const char *in, *out; } cases[] = {
		{ "abcXYZ09_[`{", "ABCXYZ09_[`{" },
		{ "\xc3\xa0\xc3\xa9\xc3\xbe\xc3\xb7\xc3\x9f", "\xc3\x80\xc3\x89\xc3\x9e\xc3\xb7\xc3\x9f" },
		{ "\xc3\xbf", "\xc5\xb8" },                                   /* ÿ -> Ÿ */
		{ "\xc2\xb5", "\xce\x9c" },                                   /* µ -> Μ */
		{ "\xc4\x81\xc4\xb1\xc4\xba\xc5\x82\xc5\xba\xc5\xbf\xc4\xb8",   /* āıĺłźſĸ */
		  "\xc4\x80I\xc4\xb9\xc5\x81\xc5\xb9S\xc4\xb8" },
		{ "\xce\xb1\xcf\x82\xcf\x89\xce\xac\xcf\x8e", "\xce\x91\xce\xa3\xce\xa9\xce\x86\xce\x8f" },
		{ "\xd0\xb6\xd1\x91", "\xd0\x96\xd0\x81" },                     /* жё -> ЖЁ */
		{ "\xe2\x82\xac\xf0\x9f\x94\x91", "\xe2\x82\xac\xf0\x9f\x94\x91" },
		{ "a\xff" "b\xc3", "A\xff" "B\xc3" },                           /* not UTF-8: kept */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b = BUF_INIT;
		imap_casemap(cases[i].in, strlen(cases[i].in), &b);
		assert_string_equal(buf_cstr(&b), cases[i].out);
		buf_free(&b);
	}
}

static int setup(void **state)
{
	(void)state;
	parser = imap_parser_new(NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	imap_parser_free(&parser);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_literal_date),
		cmocka_unit_test(test_return_options),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_header_callback),
		cmocka_unit_test(test_fetch_mask),
		cmocka_unit_test(test_text_keys),
		cmocka_unit_test(test_write),
		cmocka_unit_test(test_tag_quoting),
		cmocka_unit_test(test_saved),
		cmocka_unit_test(test_candidates),
		cmocka_unit_test(test_casemap),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
