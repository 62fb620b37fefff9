/* IMAP SORT and THREAD (RFC 5256, RFC 5957): the base subject (one row per
 * rule of section 2.1), sort criteria, sorting, the per-message record
 * built from a header, and both threading algorithms, with the tricky
 * cases of REFERENCES: missing parents, loops, duplicate ids, dummies,
 * subject merging, and chains too deep for recursion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/imap_parser.h"
#include "imap/imap_search.h"
#include "imap/imap_sort.h"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* ---- base subject ---- */

static void test_base_subject(void **state)
{
	(void)state;
	static const struct { const char *in, *base; bool refwd; } cases[] = {
		{ "", "", false },
		{ "test", "test", false },
		/* (1) whitespace */
		{ "  test   this\tnow  ", "test this now", false },
		{ "a\r\n b", "a b", false },
		/* (3) subj-leader = (*subj-blob subj-refwd) / WSP */
		{ "Re: test", "test", true },
		{ "RE: Re: re: test", "test", true },
		{ "Re:test", "test", true },
		{ "Re : test", "test", true },
		{ "Fwd: test", "test", true },
		{ "FW: test", "test", true },
		{ "fw:test", "test", true },
		{ "Re [list]: test", "test", true },
		{ "Re[2]: test", "test", true },
		{ "[list] Re: test", "test", true },
		{ "[a][b] Re: [c] Fwd: test", "test", true },
		{ "Reply: test", "Reply: test", false },
		{ "ReRe: test", "ReRe: test", false },
		{ "Fw: Fwd test", "Fwd test", true },
		{ "Re: ", "", true },
		{ "Re: Re:", "", true },
		/* (4) a leading subj-blob goes when something is left */
		{ "[list] test", "test", false },
		{ "[a][b] test", "test", false },
		{ "[list]", "[list]", false },
		{ "[a] [b]", "[b]", false },
		{ "Fwd: [x]", "[x]", true },
		{ "[a [b] c", "[a [b] c", false },
		/* (2) subj-trailer = "(fwd)" / WSP */
		{ "test (fwd)", "test", true },
		{ "test (FWD) (fwd)  ", "test", true },
		{ "test(fwd)", "test", true },
		{ "(fwd)", "", true },
		{ "Re:(fwd)", "", true },
		/* (6) subj-fwd = "[fwd:" subject "]" */
		{ "[fwd: test]", "test", false },
		{ "[Fwd: Re: test]", "test", true },
		{ "Re: [fwd: test] (fwd)", "test", true },
		{ "re: [fwd: re: [l] hello]", "hello", true },
		{ "[fwd: [fwd: x]]", "x", false },
		{ "[fwd: a] b", "b", false },
		{ "[fwd:]", "", false },
		{ "Re: \xc3\x89t\xc3\xa9", "\xc3\x89t\xc3\xa9", true },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b = BUF_INIT;
		bool refwd = !cases[i].refwd;
		imap_base_subject(cases[i].in, &b, &refwd);
		if (strcmp(buf_cstr(&b), cases[i].base) != 0 || refwd != cases[i].refwd)
			fail_msg("\"%s\": \"%s\" %d, want \"%s\" %d", cases[i].in, buf_cstr(&b), refwd,
				 cases[i].base, cases[i].refwd);
		buf_free(&b);
	}
}

/* ---- criteria ---- */

static struct imap_parser *parser;

static const struct imap_command *command(const char *line)
{
	imap_parser_reset(parser);
	if (imap_parser_line(parser, line, strlen(line)) != IMAP_PARSE_COMMAND)
		fail_msg("parser refused \"%s\"", line);
	return imap_parser_command(parser);
}

static void test_sort_parse(void **state)
{
	(void)state;
	static const struct { const char *line, *error; size_t count; } cases[] = {
		{ "t SORT (DATE) UTF-8 ALL", NULL, 1 },
		{ "t SORT (reverse date Subject DISPLAYFROM displayto arrival cc from size to) UTF-8 ALL",
		  NULL, 9 },
		{ "t SORT () UTF-8 ALL", "Sort criteria must be a list" },
		{ "t SORT DATE UTF-8 ALL", "Sort criteria must be a list" },
		{ "t SORT (REVERSE) UTF-8 ALL", "REVERSE without a sort key" },
		{ "t SORT (REVERSE REVERSE DATE) UTF-8 ALL", "Unknown sort key" },
		{ "t SORT (FOO) UTF-8 ALL", "Unknown sort key" },
		{ "t SORT (\"DATE\") UTF-8 ALL", "Unknown sort key" },
		{ "t SORT (DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE "
		  "DATE DATE DATE) UTF-8 ALL", "Too many sort criteria" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct imap_command *c = command(cases[i].line);
		struct imap_sort_program sp;
		const char *error = NULL;
		int r = imap_sort_parse(&c->args[0], &sp, &error);
		if (cases[i].error == NULL) {
			assert_int_equal(r, 0);
			assert_int_equal(sp.count, cases[i].count);
			/* the rest is SORT's search-criteria */
			struct imap_search_program *p = NULL;
			struct imap_search_error err = { 0 };
			assert_int_equal(imap_search_parse_criteria(c->args + 1, c->count - 1, &p, &err),
					 0);
			imap_search_free(&p);
		} else {
			assert_int_equal(r, -1);
			assert_string_equal(error, cases[i].error);
		}
	}
	const struct imap_command *c = command("t SORT (REVERSE DATE SIZE) UTF-8 ALL");
	struct imap_sort_program sp;
	const char *error;
	assert_int_equal(imap_sort_parse(&c->args[0], &sp, &error), 0);
	assert_int_equal(sp.crit[0].key, IMAP_SORT_DATE);
	assert_true(sp.crit[0].reverse);
	assert_int_equal(sp.crit[1].key, IMAP_SORT_SIZE);
	assert_false(sp.crit[1].reverse);
	assert_int_equal(imap_sort_fetch_mask(&sp), STORE_FETCH_SEARCH);
	c = command("t SORT (ARRIVAL SIZE) UTF-8 ALL");
	assert_int_equal(imap_sort_parse(&c->args[0], &sp, &error), 0);
	assert_int_equal(imap_sort_fetch_mask(&sp), 0);
	c = command("t SORT (DISPLAYTO) UTF-8 ALL");
	assert_int_equal(imap_sort_parse(&c->args[0], &sp, &error), 0);
	assert_int_equal(imap_sort_fetch_mask(&sp), STORE_FETCH_HEADER);
}

/* SORT and THREAD take "charset SP search-key..." */
static void test_criteria(void **state)
{
	(void)state;
	static const struct { const char *line; const char *error; bool badcharset; } cases[] = {
		{ "t THREAD REFERENCES UTF-8 ALL", NULL },
		{ "t THREAD REFERENCES us-ascii SEEN FROM x", NULL },
		{ "t THREAD REFERENCES KOI8-R ALL", "Unsupported charset", true },
		{ "t THREAD REFERENCES UTF-8", "Missing search key" },
		{ "t THREAD REFERENCES", "Missing charset" },
		{ "t THREAD REFERENCES CHARSET UTF-8 ALL", "Unsupported charset", true },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct imap_command *c = command(cases[i].line);
		enum imap_thread_alg alg;
		const char *error;
		assert_int_equal(imap_thread_parse(&c->args[0], &alg, &error), 0);
		assert_int_equal(alg, IMAP_THREAD_REFERENCES);
		struct imap_search_program *p = NULL;
		struct imap_search_error err = { 0 };
		int r = imap_search_parse_criteria(c->args + 1, c->count - 1, &p, &err);
		if (cases[i].error == NULL) {
			assert_int_equal(r, 0);
			imap_search_free(&p);
			continue;
		}
		assert_int_equal(r, -1);
		assert_string_equal(err.reason, cases[i].error);
		assert_int_equal(err.badcharset, cases[i].badcharset);
	}
	const struct imap_command *c = command("t THREAD orderedsubject UTF-8 ALL");
	enum imap_thread_alg alg;
	const char *error;
	assert_int_equal(imap_thread_parse(&c->args[0], &alg, &error), 0);
	assert_int_equal(alg, IMAP_THREAD_ORDEREDSUBJECT);
	assert_int_equal(imap_thread_fetch_mask(alg), STORE_FETCH_SEARCH);
	assert_int_equal(imap_thread_fetch_mask(IMAP_THREAD_REFERENCES),
			 STORE_FETCH_SEARCH | STORE_FETCH_HEADER);
	c = command("t THREAD THREADS UTF-8 ALL");
	assert_int_equal(imap_thread_parse(&c->args[0], &alg, &error), -1);
	assert_string_equal(error, "Unknown thread algorithm");
}

/* ---- sorting ---- */

static const struct imap_sort_msg sort_box[] = {
	/* seq uid internal sent size subject refwd from to cc dfrom dto */
	{ 3, 30, 200, 50, 500, "BETA", false, "BOB", "", "A", "BOB", "" },
	{ 1, 10, 300, 100, 500, "BETA", false, "CAROL", "X", "", "ZOE", "B" },
	{ 4, 40, 200, 300, 50, "", false, "", "Y", "", "", "C" },
	{ 2, 20, 100, 0, 100, "ALPHA", false, "ALICE", "X", "B", "ALICE", "A" },
};

static void test_sort(void **state)
{
	(void)state;
	static const struct { const char *criteria, *seqs; } cases[] = {
		{ "(ARRIVAL)", "2 3 4 1" },
		{ "(REVERSE ARRIVAL)", "1 3 4 2" },       /* ties stay in mailbox order */
		{ "(DATE)", "3 1 2 4" },                  /* no Date: uses INTERNALDATE */
		{ "(REVERSE DATE)", "4 1 2 3" },
		{ "(SIZE)", "4 2 1 3" },
		{ "(SUBJECT)", "4 2 1 3" },
		{ "(SUBJECT DATE)", "4 2 3 1" },
		{ "(FROM)", "4 2 3 1" },
		{ "(TO)", "3 1 2 4" },
		{ "(CC)", "1 4 3 2" },
		{ "(DISPLAYFROM)", "4 2 3 1" },
		{ "(DISPLAYTO)", "3 2 1 4" },
		{ "(REVERSE SIZE REVERSE ARRIVAL)", "1 3 2 4" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf line = BUF_INIT, got = BUF_INIT;
		buf_appendf(&line, "t SORT %s UTF-8 ALL", cases[i].criteria);
		const struct imap_command *c = command(line.data);
		struct imap_sort_program sp;
		const char *error;
		assert_int_equal(imap_sort_parse(&c->args[0], &sp, &error), 0);
		struct imap_sort_msg msgs[4];
		memcpy(msgs, sort_box, sizeof msgs);
		imap_sort(msgs, 4, &sp);
		for (size_t k = 0; k < 4; k++)
			buf_appendf(&got, "%s%u", k ? " " : "", msgs[k].seq);
		if (strcmp(got.data, cases[i].seqs) != 0)
			fail_msg("%s: \"%s\", want \"%s\"", cases[i].criteria, got.data, cases[i].seqs);
		buf_free(&line);
		buf_free(&got);
	}
}

/* ---- the record ---- */

static void test_record(void **state)
{
	(void)state;
	static const char header[] =
		"From: =?utf-8?q?Zo=C3=AB?= <Zoe@Example.org>, bob@x\r\n"
		"To: undisclosed-recipients:;\r\n"
		"Cc: Group: a@b, c@d;\r\n"
		"Message-ID: <m1@x>\r\n"
		"In-Reply-To: <p@x>\r\n"
		"References: <r1@x>\r\n <p@x>\r\n"
		"\r\n";
	struct store_message m = { .uid = 7, .internaldate = 99, .sent_date = 98, .size = 1234,
				   .subject = "Re: [list] Hello World" };
	struct imap_sort_msg r;
	imap_sort_msg_init(&r, 3, &m, header, strlen(header));
	assert_int_equal(r.seq, 3);
	assert_int_equal(r.uid, 7);
	assert_int_equal(r.internaldate, 99);
	assert_int_equal(r.sent_date, 98);
	assert_int_equal(r.size, 1234);
	assert_string_equal(r.base_subject, "HELLO WORLD");
	assert_true(r.reply_or_fwd);
	assert_string_equal(r.from, "ZOE");
	assert_string_equal(r.display_from, "ZO\xc3\x8b");
	assert_string_equal(r.to, "");
	assert_string_equal(r.display_to, "");
	assert_string_equal(r.cc, "A");
	assert_string_equal(r.message_id, "<m1@x>");
	assert_string_equal(r.in_reply_to, "<p@x>");
	assert_non_null(strstr(r.references, "<r1@x>"));
	assert_non_null(strstr(r.references, "<p@x>"));
	imap_sort_msg_clear(&r);
	assert_null(r.storage_);

	/* Without a display name: mailbox@host; without a header: "". */
	static const char h2[] = "From: <x@Y.org>\r\nTo: \"\" <t@u>\r\n\r\n";
	m.subject = "";
	imap_sort_msg_init(&r, 1, &m, h2, strlen(h2));
	assert_string_equal(r.display_from, "X@Y.ORG");
	assert_string_equal(r.display_to, "T@U");
	assert_null(r.message_id);
	assert_null(r.references);
	imap_sort_msg_clear(&r);
	imap_sort_msg_init(&r, 1, &m, NULL, 0);
	assert_string_equal(r.from, "");
	assert_string_equal(r.base_subject, "");
	imap_sort_msg_clear(&r);
}

/* ---- THREAD ---- */

struct tmsg {
	const char *subject;
	time_t date;
	const char *id, *irt, *refs;
};

static void run_thread(const struct tmsg *spec, size_t n, enum imap_thread_alg alg, bool uid,
		       struct buf *out)
{
	struct imap_sort_msg *msgs = calloc(n + 1, sizeof *msgs);
	for (size_t i = 0; i < n; i++) {
		struct buf h = BUF_INIT;
		if (spec[i].id != NULL)
			buf_appendf(&h, "Message-ID: %s\r\n", spec[i].id);
		if (spec[i].irt != NULL)
			buf_appendf(&h, "In-Reply-To: %s\r\n", spec[i].irt);
		if (spec[i].refs != NULL)
			buf_appendf(&h, "References: %s\r\n", spec[i].refs);
		buf_append_str(&h, "\r\n");
		struct store_message m = { .uid = (uint32_t)(i + 101), .internaldate = 1000000,
					   .sent_date = spec[i].date,
					   .subject = spec[i].subject ? spec[i].subject : "" };
		imap_sort_msg_init(&msgs[i], (uint32_t)(i + 1), &m, h.data, h.len);
		buf_free(&h);
	}
	imap_thread(msgs, n, alg, uid, out);
	for (size_t i = 0; i < n; i++)
		imap_sort_msg_clear(&msgs[i]);
	free(msgs);
}

static void expect_thread(const char *name, const struct tmsg *spec, size_t n,
			  enum imap_thread_alg alg, bool uid, const char *want)
{
	struct buf out = BUF_INIT;
	run_thread(spec, n, alg, uid, &out);
	if (strcmp(buf_cstr(&out), want) != 0)
		fail_msg("%s: \"%s\", want \"%s\"", name, buf_cstr(&out), want);
	buf_free(&out);
}

#define EXPECT(name, spec, want) \
	expect_thread(name, spec, sizeof spec / sizeof spec[0], IMAP_THREAD_REFERENCES, false, want)

static void test_references_links(void **state)
{
	(void)state;
	const struct tmsg chain[] = {
		{ "a", 1, "<a@x>" }, { "b", 2, "<b@x>", NULL, "<a@x>" },
		{ "c", 3, "<c@x>", NULL, "<a@x> <b@x>" },
	};
	EXPECT("chain", chain, "(1 2 3)");
	const struct tmsg branch[] = {
		{ "a", 1, "<a@x>" }, { "b", 2, "<b@x>", NULL, "<a@x>" }, { "c", 3, "<c@x>", NULL, "<a@x>" },
	};
	EXPECT("branch", branch, "(1 (2)(3))");
	expect_thread("uid", branch, 3, IMAP_THREAD_REFERENCES, true, "(101 (102)(103))");
	/* In-Reply-To when References has no valid id; comments around ids */
	const struct tmsg irt[] = {
		{ "a", 1, "<a@x>" }, { "b", 2, "<b@x>", "(re) <a@x> (x)", "<no-at-sign> junk" },
	};
	EXPECT("in-reply-to", irt, "(1 2)");
	/* References wins over In-Reply-To */
	const struct tmsg both[] = {
		{ "a", 1, "<a@x>" }, { "b", 2, "<b@x>" }, { "c", 3, "<c@x>", "<a@x>", "<b@x>" },
	};
	EXPECT("references first", both, "(1)(2 3)");
	/* folded ids */
	const struct tmsg folded[] = {
		{ "a", 1, "<a@x>" }, { "b", 2, "<b@x>", NULL, "<a\r\n @x>" },
	};
	EXPECT("folded id", folded, "(1 2)");
}

static void test_references_missing(void **state)
{
	(void)state;
	/* A missing parent with two children stays as a dummy at the root. */
	const struct tmsg two[] = {
		{ "x", 1, "<1@x>", NULL, "<m@x>" }, { "y", 2, "<2@x>", NULL, "<m@x>" },
	};
	EXPECT("dummy with two", two, "((1)(2))");
	/* ... with one child it is replaced by the child (3B). */
	const struct tmsg one[] = { { "x", 1, "<1@x>", NULL, "<m@x>" } };
	EXPECT("dummy with one", one, "(1)");
	/* Missing grandparent: the inner dummies go, their children move up. */
	const struct tmsg grand[] = {
		{ "x", 1, "<1@x>", NULL, "<g@x> <p@x>" }, { "y", 2, "<2@x>", NULL, "<g@x> <q@x>" },
	};
	EXPECT("missing grandparent", grand, "((1)(2))");
	/* A dummy between two messages disappears. */
	const struct tmsg gap[] = {
		{ "a", 1, "<a@x>" }, { "c", 2, "<c@x>", NULL, "<a@x> <b@x>" },
	};
	EXPECT("gap", gap, "(1 2)");
	/* A dummy root sorts by its first child's date. */
	const struct tmsg order[] = {
		{ "x", 10, "<1@x>", NULL, "<m@x>" }, { "y", 3, "<2@x>", NULL, "<m@x>" },
		{ "z", 5, "<3@x>" },
	};
	EXPECT("dummy date", order, "((2)(1))(3)");
}

static void test_references_broken(void **state)
{
	(void)state;
	/* Each references the other: no loop is made. */
	const struct tmsg loop[] = {
		{ "a", 1, "<a@x>", NULL, "<b@x>" }, { "b", 2, "<b@x>", NULL, "<a@x>" },
	};
	EXPECT("loop", loop, "(2 1)");
	const struct tmsg loop3[] = {
		{ "a", 1, "<a@x>", NULL, "<c@x> <b@x>" }, { "b", 2, "<b@x>", NULL, "<a@x> <c@x>" },
		{ "c", 3, "<c@x>", NULL, "<b@x> <a@x>" },
	};
	EXPECT("loop of three", loop3, "(3 2 1)");
	/* A message that references itself. */
	const struct tmsg self[] = { { "a", 1, "<a@x>", NULL, "<a@x>" } };
	EXPECT("self", self, "(1)");
	const struct tmsg self2[] = {
		{ "a", 1, "<a@x>" }, { "b", 2, "<b@x>", NULL, "<a@x> <b@x> <a@x>" },
	};
	EXPECT("self in the middle", self2, "(1 2)");
	/* The first of duplicate Message-IDs keeps it; the others are alone. */
	const struct tmsg dup[] = {
		{ "a", 1, "<a@x>" }, { "b", 2, "<a@x>" }, { "c", 3, "<c@x>", NULL, "<a@x>" },
	};
	EXPECT("duplicate ids", dup, "(1 3)(2)");
	/* No Message-ID at all. */
	const struct tmsg none[] = { { "a", 1, NULL }, { "b", 2, "" }, { "c", 3, "<>" } };
	EXPECT("no ids", none, "(1)(2)(3)");
	/* 1B keeps links already made: b stays under a, not x. */
	const struct tmsg keep[] = {
		{ "s", 1, "<c@x>", NULL, "<a@x> <b@x>" }, { "t", 2, "<d@x>", NULL, "<x@x> <b@x>" },
	};
	EXPECT("existing links", keep, "((1)(2))");
	/* 1C: a message's own References replace the parent that another
	 * message's References gave it. */
	const struct tmsg reparent[] = {
		{ "s", 1, "<m@x>", NULL, "<x@x> <b@x>" }, { "t", 2, "<b@x>", NULL, "<a@x>" },
	};
	EXPECT("reparent", reparent, "(2 1)");
}

static void test_references_subjects(void **state)
{
	(void)state;
	/* A reply without references joins the thread of its subject. */
	const struct tmsg reply[] = { { "hello", 1, "<a@x>" }, { "Re: hello", 2, "<b@x>" } };
	EXPECT("reply by subject", reply, "(1 2)");
	/* The reply came first: it goes under the original all the same. */
	const struct tmsg reply_first[] = {
		{ "Re: hello", 1, "<a@x>" }, { "HELLO", 2, "<b@x>" },
	};
	EXPECT("reply first", reply_first, "(2 1)");
	/* Two originals with the same subject: a new dummy holds both. */
	const struct tmsg same[] = {
		{ "hello", 1, "<a@x>" }, { "hello", 2, "<b@x>" }, { "other", 3, "<c@x>" },
	};
	EXPECT("same subject", same, "((1)(2))(3)");
	/* Two replies, no original. */
	const struct tmsg replies[] = { { "Re: hi", 1, "<a@x>" }, { "Fwd: hi", 2, "<b@x>" } };
	EXPECT("two replies", replies, "((1)(2))");
	/* Two dummies with the same subject: their children merge. */
	const struct tmsg dummies[] = {
		{ "s", 1, "<1@x>", NULL, "<m1@x>" }, { "s", 2, "<2@x>", NULL, "<m1@x>" },
		{ "Re: s", 3, "<3@x>", NULL, "<m2@x>" }, { "Re: s", 4, "<4@x>", NULL, "<m2@x>" },
	};
	EXPECT("two dummies", dummies, "((1)(2)(3)(4))");
	/* A dummy and a message: the message joins the dummy's children. */
	const struct tmsg dm[] = {
		{ "s", 2, "<1@x>", NULL, "<m@x>" }, { "s", 3, "<2@x>", NULL, "<m@x>" },
		{ "s", 1, "<3@x>" },
	};
	EXPECT("dummy and message", dm, "((3)(1)(2))");
	/* Empty subjects are never merged. */
	const struct tmsg empty[] = { { "", 1, "<a@x>" }, { "Re:", 2, "<b@x>" } };
	EXPECT("empty subjects", empty, "(1)(2)");
	/* Children sort by date at every level (step 6). */
	const struct tmsg dates[] = {
		{ "a", 5, "<a@x>" }, { "a", 30, "<b@x>", NULL, "<a@x>" },
		{ "a", 20, "<c@x>", NULL, "<a@x>" }, { "z", 1, "<z@x>" },
		{ "a", 25, "<d@x>", NULL, "<a@x> <b@x>" }, { "a", 21, "<e@x>", NULL, "<a@x> <b@x>" },
	};
	EXPECT("dates", dates, "(4)(1 (3)(2 (6)(5)))");
}

/* A chain of 20000 replies, and a spine of 5000 with a leaf off each:
 * nothing may recurse on depth. */
static void test_references_deep(void **state)
{
	(void)state;
	enum { CHAIN = 20000, SPINE = 5000 };
	struct tmsg *spec = calloc(2 * SPINE > CHAIN ? 2 * SPINE : CHAIN, sizeof *spec);
	char (*ids)[32] = calloc(CHAIN, 32), (*refs)[32] = calloc(CHAIN, 32);
	for (size_t i = 0; i < CHAIN; i++) {
		snprintf(ids[i], 32, "<%zu@x>", i);
		if (i > 0)
			snprintf(refs[i], 32, "<%zu@x>", i - 1);
		spec[i] = (struct tmsg){ "deep", (time_t)i + 1, ids[i], NULL, i ? refs[i] : NULL };
	}
	struct buf out = BUF_INIT, want = BUF_INIT;
	run_thread(spec, CHAIN, IMAP_THREAD_REFERENCES, false, &out);
	buf_putc(&want, '(');
	for (size_t i = 0; i < CHAIN; i++)
		buf_appendf(&want, "%s%zu", i ? " " : "", i + 1);
	buf_putc(&want, ')');
	assert_string_equal(buf_cstr(&out), buf_cstr(&want));
	/* spine: message 2k is on the spine (refs 2k-2), 2k+1 a leaf off it */
	for (size_t i = 0; i < 2 * SPINE; i++) {
		snprintf(ids[i], 32, "<%zu@x>", i);
		size_t parent = i % 2 == 0 ? i - 2 : i - 1;
		if (i >= 1)
			snprintf(refs[i], 32, "<%zu@x>", parent);
		spec[i] = (struct tmsg){ "spine", (time_t)i + 1, ids[i], NULL, i >= 1 ? refs[i] : NULL };
	}
	buf_clear(&out);
	run_thread(spec, 2 * SPINE, IMAP_THREAD_REFERENCES, false, &out);
	long depth = 0, max = 0;
	for (size_t i = 0; i < out.len; i++) {
		depth += out.data[i] == '(' ? 1 : out.data[i] == ')' ? -1 : 0;
		assert_true(depth >= 0);
		if (depth > max)
			max = depth;
	}
	assert_int_equal(depth, 0);
	assert_true(max >= SPINE - 1);
	if (strncmp(out.data, "(1 (2)(3 (4)(5 (6)(7 ", 21) != 0)
		fail_msg("spine: %.40s", out.data);
	buf_free(&out);
	buf_free(&want);
	free(ids);
	free(refs);
	free(spec);
}

static void test_orderedsubject(void **state)
{
	(void)state;
	const struct tmsg msgs[] = {
		{ "a", 10 }, { "Re: a", 30 }, { "b", 20 }, { "A", 40 }, { "c", 5 }, { "Fwd: b", 50 },
		{ "", 60 },
	};
	expect_thread("orderedsubject", msgs, 7, IMAP_THREAD_ORDEREDSUBJECT, false,
		      "(5)(1 (2)(4))(3 6)(7)");
	expect_thread("orderedsubject uid", msgs, 7, IMAP_THREAD_ORDEREDSUBJECT, true,
		      "(105)(101 (102)(104))(103 106)(107)");
	/* equal dates: sequence order */
	const struct tmsg ties[] = { { "x", 10 }, { "x", 10 }, { "y", 10 } };
	expect_thread("ties", ties, 3, IMAP_THREAD_ORDEREDSUBJECT, false, "(1 2)(3)");
	struct buf out = BUF_INIT;
	run_thread(msgs, 0, IMAP_THREAD_ORDEREDSUBJECT, false, &out);
	run_thread(msgs, 0, IMAP_THREAD_REFERENCES, false, &out);
	assert_string_equal(buf_cstr(&out), "");
	buf_free(&out);
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
		cmocka_unit_test(test_base_subject),
		cmocka_unit_test(test_sort_parse),
		cmocka_unit_test(test_criteria),
		cmocka_unit_test(test_sort),
		cmocka_unit_test(test_record),
		cmocka_unit_test(test_references_links),
		cmocka_unit_test(test_references_missing),
		cmocka_unit_test(test_references_broken),
		cmocka_unit_test(test_references_subjects),
		cmocka_unit_test(test_references_deep),
		cmocka_unit_test(test_orderedsubject),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
