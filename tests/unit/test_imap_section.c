/* IMAP FETCH body sections: one table of atoms (parsed, with the name the
 * response shows or the error), one table of extractions from small
 * messages written here (the exact bytes, or the error). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/imap_section.h"
#include "mime/mime.h"

/* ---- parsing and names ---- */

struct parse_case {
	const char *atom;
	size_t len;                 /* 0: strlen(atom) */
	bool ok;
	const char *result;         /* ok: the response name; else the error */
	bool peek;
};

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct parse_case parse_cases[] = {
	/* ---- good ---- */
	{ "BODY[]", 0, true, "BODY[]" },
	{ "body.peek[]", 0, true, "BODY[]", true },
	{ "Body.Peek[Header]", 0, true, "BODY[HEADER]", true },
	{ "BODY[TEXT]", 0, true, "BODY[TEXT]" },
	{ "BODY[]<0.10>", 0, true, "BODY[]<0>" },
	{ "BODY[TEXT]<5.1>", 0, true, "BODY[TEXT]<5>" },
	{ "BODY[]<007.1>", 0, true, "BODY[]<7>" },
	{ "BODY[1]", 0, true, "BODY[1]" },
	{ "BODY[1.2.3]", 0, true, "BODY[1.2.3]" },
	{ "BODY[10.20]", 0, true, "BODY[10.20]" },
	{ "BODY[1.2.mime]", 0, true, "BODY[1.2.MIME]" },
	{ "BODY[1.header]", 0, true, "BODY[1.HEADER]" },
	{ "BODY[2.TEXT]<0.1>", 0, true, "BODY[2.TEXT]<0>" },
	{ "BODY[HEADER.FIELDS (From)]", 0, true, "BODY[HEADER.FIELDS (FROM)]" },
	{ "BODY.PEEK[HEADER.FIELDS (From \"To\" subject)]<0.100>", 0, true,
	  "BODY[HEADER.FIELDS (FROM TO SUBJECT)]<0>", true },
	{ "BODY[3.HEADER.FIELDS.NOT (X-Spam List-ID)]", 0, true,
	  "BODY[3.HEADER.FIELDS.NOT (X-SPAM LIST-ID)]" },
	{ "body[header.fields.not (x)]", 0, true, "BODY[HEADER.FIELDS.NOT (X)]" },
	{ "BODY[HEADER.FIELDS (\"X%Y\" \"a\\\\b\" \"q\\\"\" \"(p)\")]", 0, true,
	  "BODY[HEADER.FIELDS (\"X%Y\" \"A\\\\B\" \"Q\\\"\" \"(P)\")]" },
	{ "BODY[HEADER.FIELDS (X]Y)]", 0, true, "BODY[HEADER.FIELDS (\"X]Y\")]" },
	{ "BODY[4294967295]", 0, true, "BODY[4294967295]" },
	{ "BODY[]<9223372036854775807.9223372036854775807>", 0, true,
	  "BODY[]<9223372036854775807>" },
	{ "BINARY[]", 0, true, "BINARY[]" },
	{ "binary[3]", 0, true, "BINARY[3]" },
	{ "BINARY.PEEK[1.2]<10.20>", 0, true, "BINARY[1.2]<10>", true },
	{ "BINARY.SIZE[3]", 0, true, "BINARY.SIZE[3]" },
	{ "binary.size[]", 0, true, "BINARY.SIZE[]" },
	/* ---- not a section ---- */
	{ "BODY", 0, false, "Invalid fetch attribute" },
	{ "BODYSTRUCTURE", 0, false, "Invalid fetch attribute" },
	{ "BODY.PEEK", 0, false, "Invalid fetch attribute" },
	{ "BODY.PEEK.PEEK[]", 0, false, "Invalid fetch attribute" },
	{ "RFC822.HEADER", 0, false, "Invalid fetch attribute" },
	{ "BINARY.SIZE.PEEK[1]", 0, false, "Invalid fetch attribute" },
	{ "BINARY.PEEK.SIZE[1]", 0, false, "Invalid fetch attribute" },
	{ " BODY[]", 0, false, "Invalid fetch attribute" },
	{ "", 0, false, "Invalid fetch attribute" },
	/* ---- bad sections ---- */
	{ "BODY[", 0, false, "Invalid section" },
	{ "BODY[TEXT", 0, false, "Invalid section" },
	{ "BODY[MIME]", 0, false, "Invalid section" },
	{ "BODY[HEADERX]", 0, false, "Invalid section" },
	{ "BODY[TEXT.MIME]", 0, false, "Invalid section" },
	{ "BODY[.1]", 0, false, "Invalid section" },
	{ "BODY[ HEADER]", 0, false, "Invalid section" },
	{ "BODY[1.MIMEX]", 0, false, "Invalid section" },
	{ "BODY[1.MIME.HEADER]", 0, false, "Invalid section" },
	{ "BODY[1.]", 0, false, "Invalid section text" },
	{ "BODY[1..2]", 0, false, "Invalid section text" },
	{ "BODY[1.FOO]", 0, false, "Invalid section text" },
	{ "BODY[0]", 0, false, "Invalid section part number" },
	{ "BODY[01]", 0, false, "Invalid section part number" },
	{ "BODY[1.0]", 0, false, "Invalid section part number" },
	{ "BODY[4294967296]", 0, false, "Invalid section part number" },
	{ "BODY[99999999999999999999999]", 0, false, "Invalid section part number" },
	{ "BODY[]x", 0, false, "Junk after the section" },
	{ "BODY[] ", 0, false, "Junk after the section" },
	{ "BODY[]<0.1>x", 0, false, "Junk after the section" },
	{ "BODY[]\0", 7, false, "Junk after the section" },
	/* ---- header lists ---- */
	{ "BODY[HEADER.FIELDS]", 0, false, "Invalid section" },
	{ "BODY[HEADER.FIELDS(From)]", 0, false, "Invalid section" },
	{ "BODY[HEADER.FIELDS From]", 0, false, "Missing header field list" },
	{ "BODY[HEADER.FIELDS ()]", 0, false, "Invalid header field list" },
	{ "BODY[HEADER.FIELDS (From]", 0, false, "Invalid header field list" },
	{ "BODY[HEADER.FIELDS (From", 0, false, "Invalid header field list" },
	{ "BODY[HEADER.FIELDS (From  To)]", 0, false, "Invalid header field list" },
	{ "BODY[HEADER.FIELDS (From )]", 0, false, "Invalid header field list" },
	{ "BODY[HEADER.FIELDS ( From)]", 0, false, "Invalid header field list" },
	{ "BODY[HEADER.FIELDS (From) ]", 0, false, "Invalid section" },
	{ "BODY[HEADER.FIELDS (From\0)]", 27, false, "Invalid header field list" },
	{ "BODY[HEADER.FIELDS (\"From)]", 0, false, "Invalid header field list" },
	{ "BODY[HEADER.FIELDS (From {4}\r\nTo)]", 0, false, "Invalid header field list" },
	{ "BODY[HEADER.FIELDS (From {4}", 0, false, "Literal in header field list" },
	{ "BODY[HEADER.FIELDS (\"Fr\\om\")]", 0, false, "Invalid header field list" },
	{ "BODY[HEADER.FIELDS (Fr:om)]", 0, false, "Invalid header field name" },
	{ "BODY[HEADER.FIELDS (\"\")]", 0, false, "Invalid header field name" },
	{ "BODY[HEADER.FIELDS (\"a b\")]", 0, false, "Invalid header field name" },
	{ "BODY[HEADER.FIELDS (\"Fr\xc3\xa9\")]", 0, false, "Invalid header field name" },
	/* ---- partials ---- */
	{ "BODY[]<0>", 0, false, "Invalid partial" },
	{ "BODY[]<0.0>", 0, false, "Invalid partial" },
	{ "BODY[]<0.01>", 0, false, "Invalid partial" },
	{ "BODY[]<1.2", 0, false, "Invalid partial" },
	{ "BODY[]<-1.2>", 0, false, "Invalid partial" },
	{ "BODY[]<.2>", 0, false, "Invalid partial" },
	{ "BODY[]<1 .2>", 0, false, "Invalid partial" },
	{ "BODY[]<9223372036854775808.1>", 0, false, "Invalid partial" },
	{ "BODY[]<0.9223372036854775808>", 0, false, "Invalid partial" },
	/* ---- BINARY ---- */
	{ "BINARY[HEADER]", 0, false, "BINARY takes only a part number" },
	{ "BINARY[TEXT]", 0, false, "BINARY takes only a part number" },
	{ "BINARY[1.MIME]", 0, false, "BINARY takes only a part number" },
	{ "BINARY.PEEK[1.TEXT]", 0, false, "BINARY takes only a part number" },
	{ "BINARY[0]", 0, false, "Invalid section part number" },
	{ "BINARY.SIZE[1]<0.10>", 0, false, "BINARY.SIZE takes no partial" },
	{ "BINARY.SIZE[]<0.10>", 0, false, "BINARY.SIZE takes no partial" },
};

static void test_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
		const struct parse_case *c = &parse_cases[i];
		size_t len = c->len != 0 ? c->len : strlen(c->atom);
		/* A copy without a NUL past the end: the parser keeps to len. */
		char *atom = malloc(len > 0 ? len : 1);
		assert_non_null(atom);
		memcpy(atom, c->atom, len);
		struct imap_section sec;
		const char *error = NULL;
		bool ok = imap_section_parse(atom, len, &sec, &error);
		if (ok != c->ok)
			fail_msg("%s: parse %s (%s)", c->atom, ok ? "succeeded" : "failed", error);
		if (ok) {
			struct buf name = BUF_INIT;
			imap_section_write_name(&sec, &name);
			if (strcmp(buf_cstr(&name), c->result) != 0)
				fail_msg("%s: name %s, expected %s", c->atom, buf_cstr(&name), c->result);
			assert_int_equal(sec.peek, c->peek);
			buf_free(&name);
			imap_section_clear(&sec);
		} else {
			assert_non_null(error);
			if (strcmp(error, c->result) != 0)
				fail_msg("%s: error '%s', expected '%s'", c->atom, error, c->result);
			assert_null(sec.part);
			assert_null(sec.fields);
		}
		free(atom);
	}
}

static void test_parse_fields(void **state)
{
	(void)state;
	const char *atom = "BODY[1.HEADER.FIELDS (From \"x\\\"y\" subject)]<3.9>";
	struct imap_section sec;
	const char *error = NULL;
	assert_true(imap_section_parse(atom, strlen(atom), &sec, &error));
	assert_int_equal(sec.kind, IMAP_FETCH_BODY);
	assert_false(sec.peek);
	assert_string_equal(sec.part, "1");
	assert_int_equal(sec.text, IMAP_SECTION_HEADER_FIELDS);
	assert_int_equal(sec.n_fields, 3);
	assert_string_equal(sec.fields[0], "From");
	assert_string_equal(sec.fields[1], "x\"y");
	assert_string_equal(sec.fields[2], "subject");
	assert_true(sec.partial);
	assert_int_equal(sec.offset, 3);
	assert_int_equal(sec.length, 9);
	imap_section_clear(&sec);
	assert_null(sec.part);
	imap_section_clear(&sec);   /* twice is harmless */
}

/* ---- extraction ---- */

static const char msg_simple[] =
	"Return-Path: <a@example.org>\r\n"   /* as a store prefix would add it */
	"From: a@example.org\r\n"
	"To: b@example.org,\r\n"
	" c@example.org\r\n"
	"Subject: hi\r\n"
	"X-A: 1\r\n"
	"subject : again\r\n"
	"\tfolded\r\n"
	"Received: x\r\n"
	"\r\n"
	"Hello\r\n"
	"World\r\n";

static const char msg_multi[] =
	"From: a@example.org\r\n"
	"Subject: multi\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=\"B\"\r\n"
	"\r\n"
	"preamble\r\n"
	"--B\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"part one\r\n"
	"--B\r\n"
	"Content-Type: application/octet-stream\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"AAEC/w==\r\n"
	"--B\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: Quoted-Printable\r\n"
	"\r\n"
	"caf=C3=A9 soft=\r\n"
	"break\r\n"
	"--B\r\n"
	"Content-Type: message/rfc822\r\n"
	"\r\n"
	"From: inner@example.org\r\n"
	"Subject: inner\r\n"
	"Content-Type: multipart/alternative; boundary=\"C\"\r\n"
	"\r\n"
	"--C\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"inner text\r\n"
	"--C\r\n"
	"Content-Type: text/html\r\n"
	"\r\n"
	"<p>inner</p>\r\n"
	"--C--\r\n"
	"--B\r\n"
	"Content-Type: text/plain\r\n"
	"Content-Transfer-Encoding: x-uuencode\r\n"
	"\r\n"
	"begin 644 x\r\n"
	"--B\r\n"
	"Content-Type: multipart/alternative; boundary=\"D\"\r\n"
	"\r\n"
	"--D\r\n"
	"\r\n"
	"d1\r\n"
	"--D--\r\n"
	"--B--\r\n"
	"epilogue\r\n";

/* A single-part message that is itself a message/rfc822. */
static const char msg_fwd[] =
	"Subject: fwd\r\n"
	"Content-Type: message/rfc822\r\n"
	"\r\n"
	"Subject: inside\r\n"
	"\r\n"
	"body\r\n";

/* A header that the connection cut: no blank line, no body. */
static const char msg_cut[] =
	"Subject: x\r\n"
	"From: y\r\n";

static const char msg_b64[] =
	"Subject: one part\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"aGVsbG8gd29y\r\n"
	"bGQ=\r\n";

static const char msg_lf[] =
	"Subject: lf\n"
	"To: x\n"
	"\n"
	"body\n";

static const struct {
	const char *name;
	const char *text;
	size_t len;
} messages[] = {
#define MSG(n) { #n, n, sizeof n - 1 }
	MSG(msg_simple), MSG(msg_multi), MSG(msg_fwd), MSG(msg_cut), MSG(msg_b64), MSG(msg_lf),
};

enum { SIMPLE, MULTI, FWD, CUT, B64, LF };

struct fetch_case {
	int msg;
	const char *atom;
	const char *bytes;          /* the result (BINARY.SIZE: NULL); NULL with error */
	size_t len;                 /* 0: strlen(bytes); BINARY.SIZE: the size */
	int ret;
	bool unknown_cte;
};

/* The bytes of msg_simple after its header. */
#define SIMPLE_BODY "Hello\r\nWorld\r\n"
#define SIMPLE_HEADER \
	"Return-Path: <a@example.org>\r\nFrom: a@example.org\r\nTo: b@example.org,\r\n" \
	" c@example.org\r\nSubject: hi\r\nX-A: 1\r\nsubject : again\r\n\tfolded\r\n" \
	"Received: x\r\n\r\n"
#define INNER_BODY \
	"--C\r\nContent-Type: text/plain\r\n\r\ninner text\r\n" \
	"--C\r\nContent-Type: text/html\r\n\r\n<p>inner</p>\r\n--C--"
#define INNER_HEADER \
	"From: inner@example.org\r\nSubject: inner\r\n" \
	"Content-Type: multipart/alternative; boundary=\"C\"\r\n\r\n"

static const struct fetch_case fetch_cases[] = {
	/* ---- whole message, header, text ---- */
	{ SIMPLE, "BODY[]", msg_simple },
	{ SIMPLE, "BODY[HEADER]", SIMPLE_HEADER },
	{ SIMPLE, "BODY[TEXT]", SIMPLE_BODY },
	{ SIMPLE, "BODY[1]", SIMPLE_BODY },
	{ SIMPLE, "BODY[1.MIME]", SIMPLE_HEADER },
	{ SIMPLE, "BODY[2]", "" },
	{ SIMPLE, "BODY[1.1]", "" },
	{ SIMPLE, "BODY[1.HEADER]", "" },
	{ SIMPLE, "BODY[1.TEXT]", "" },
	/* ---- HEADER.FIELDS: all occurrences, folded lines, message order ---- */
	{ SIMPLE, "BODY[HEADER.FIELDS (SUBJECT)]",
	  "Subject: hi\r\nsubject : again\r\n\tfolded\r\n\r\n" },
	{ SIMPLE, "BODY[HEADER.FIELDS (to from)]",
	  "From: a@example.org\r\nTo: b@example.org,\r\n c@example.org\r\n\r\n" },
	{ SIMPLE, "BODY[HEADER.FIELDS (X-Missing)]", "\r\n" },
	{ SIMPLE, "BODY[HEADER.FIELDS (X)]", "\r\n" },
	{ SIMPLE, "BODY[HEADER.FIELDS (X-A X-A Received)]", "X-A: 1\r\nReceived: x\r\n\r\n" },
	{ SIMPLE, "BODY[HEADER.FIELDS.NOT (Subject To Return-Path Received)]",
	  "From: a@example.org\r\nX-A: 1\r\n\r\n" },
	{ SIMPLE, "BODY[HEADER.FIELDS.NOT (Nothing)]", SIMPLE_HEADER },
	{ SIMPLE, "BODY[HEADER.FIELDS (Subject)]<0.5>", "Subje" },
	{ SIMPLE, "BODY[HEADER.FIELDS (Subject)]<39.100>", "\r\n" },
	{ SIMPLE, "BODY[HEADER.FIELDS (Subject)]<41.100>", "" },
	{ SIMPLE, "BODY[HEADER.FIELDS (Subject)]<1000.1>", "" },
	/* ---- partials ---- */
	{ SIMPLE, "BODY[TEXT]<0.5>", "Hello" },
	{ SIMPLE, "BODY[TEXT]<0.1>", "H" },
	{ SIMPLE, "BODY[TEXT]<7.5>", "World" },
	{ SIMPLE, "BODY[TEXT]<7.100>", "World\r\n" },
	{ SIMPLE, "BODY[TEXT]<13.1>", "\n" },
	{ SIMPLE, "BODY[TEXT]<14.1>", "" },
	{ SIMPLE, "BODY[TEXT]<15.1>", "" },
	{ SIMPLE, "BODY[TEXT]<9223372036854775807.9223372036854775807>", "" },
	{ SIMPLE, "BODY[TEXT]<0.9223372036854775807>", SIMPLE_BODY },
	{ SIMPLE, "BODY[]<0.6>", "Return" },
	{ SIMPLE, "BODY[2]<0.6>", "" },
	/* ---- multipart ---- */
	{ MULTI, "BODY[1]", "part one" },
	{ MULTI, "BODY[1.MIME]", "Content-Type: text/plain\r\n\r\n" },
	{ MULTI, "BODY[1.HEADER]", "" },
	{ MULTI, "BODY[1.1]", "" },
	{ MULTI, "BODY[2]", "AAEC/w==" },
	{ MULTI, "BODY[HEADER.FIELDS (Subject Content-Type)]",
	  "Subject: multi\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n" },
	{ MULTI, "BODY[4]", INNER_HEADER INNER_BODY },
	{ MULTI, "BODY[4.MIME]", "Content-Type: message/rfc822\r\n\r\n" },
	{ MULTI, "BODY[4.HEADER]", INNER_HEADER },
	{ MULTI, "BODY[4.HEADER.FIELDS (subject)]", "Subject: inner\r\n\r\n" },
	{ MULTI, "BODY[4.HEADER.FIELDS.NOT (subject content-type)]",
	  "From: inner@example.org\r\n\r\n" },
	{ MULTI, "BODY[4.TEXT]", INNER_BODY },
	{ MULTI, "BODY[4.TEXT]<2.1>", "C" },
	{ MULTI, "BODY[4.1]", "inner text" },
	{ MULTI, "BODY[4.1.MIME]", "Content-Type: text/plain\r\n\r\n" },
	{ MULTI, "BODY[4.2]", "<p>inner</p>" },
	{ MULTI, "BODY[4.3]", "" },
	{ MULTI, "BODY[4.1.1]", "" },
	{ MULTI, "BODY[4.1.TEXT]", "" },
	{ MULTI, "BODY[6]", "--D\r\n\r\nd1\r\n--D--" },
	{ MULTI, "BODY[6.MIME]", "Content-Type: multipart/alternative; boundary=\"D\"\r\n\r\n" },
	{ MULTI, "BODY[6.1]", "d1" },
	{ MULTI, "BODY[6.1.MIME]", "\r\n" },
	{ MULTI, "BODY[6.HEADER]", "" },
	{ MULTI, "BODY[7]", "" },
	{ MULTI, "BODY[99.1.2]", "" },
	/* ---- a message that is a message/rfc822 ---- */
	{ FWD, "BODY[1]", "Subject: inside\r\n\r\nbody\r\n" },
	{ FWD, "BODY[1.HEADER]", "Subject: inside\r\n\r\n" },
	{ FWD, "BODY[1.TEXT]", "body\r\n" },
	{ FWD, "BODY[1.1]", "body\r\n" },
	{ FWD, "BODY[1.2]", "" },
	{ FWD, "BODY[2]", "" },
	{ FWD, "BODY[TEXT]", "Subject: inside\r\n\r\nbody\r\n" },
	/* ---- a header without its blank line: what is there, no blank line added ---- */
	{ CUT, "BODY[HEADER]", msg_cut },
	{ CUT, "BODY[HEADER.FIELDS (From)]", "From: y\r\n" },
	{ CUT, "BODY[HEADER.FIELDS.NOT (From)]", "Subject: x\r\n" },
	{ CUT, "BODY[TEXT]", "" },
	{ CUT, "BODY[1]", "" },
	{ CUT, "BINARY[1]", "" },
	{ CUT, "BINARY.SIZE[]", NULL, 21 },
	/* ---- bare LF: the bytes as stored ---- */
	{ LF, "BODY[HEADER.FIELDS (TO)]", "To: x\n\n" },
	{ LF, "BODY[HEADER]", "Subject: lf\nTo: x\n\n" },
	{ LF, "BODY[TEXT]", "body\n" },
	/* ---- BINARY ---- */
	{ MULTI, "BINARY[1]", "part one" },
	{ MULTI, "BINARY[2]", "\x00\x01\x02\xff", 4 },
	{ MULTI, "BINARY[2]<1.2>", "\x01\x02", 2 },
	{ MULTI, "BINARY[2]<3.10>", "\xff", 1 },
	{ MULTI, "BINARY[2]<4.10>", "" },
	{ MULTI, "BINARY[2]<5.10>", "" },
	{ MULTI, "BINARY.SIZE[2]", NULL, 4 },
	{ MULTI, "BINARY[3]", "caf\xc3\xa9 softbreak" },
	{ MULTI, "BINARY.PEEK[3]<3.2>", "\xc3\xa9" },
	{ MULTI, "BINARY.SIZE[3]", NULL, 15 },
	{ MULTI, "BINARY[4.1]", "inner text" },
	{ MULTI, "BINARY[5]", NULL, 0, -1, true },
	{ MULTI, "BINARY.SIZE[5]", NULL, 0, -1, true },
	{ MULTI, "BINARY[7]", NULL, 0, -1, false },
	{ MULTI, "BINARY.SIZE[4.3]", NULL, 0, -1, false },
	{ MULTI, "BODY[5]", "begin 644 x" },
	{ MULTI, "BINARY[]", msg_multi },
	{ B64, "BINARY[1]", "hello world" },
	{ B64, "BINARY[1]<6.100>", "world" },
	{ B64, "BINARY.SIZE[1]", NULL, 11 },
	{ B64, "BINARY[]",
	  "Subject: one part\r\nContent-Transfer-Encoding: base64\r\n\r\nhello world" },
	{ B64, "BINARY[]<0.7>", "Subject" },
	{ B64, "BINARY.SIZE[]", NULL, 67 },
	{ B64, "BODY[1]", "aGVsbG8gd29y\r\nbGQ=\r\n" },
	{ SIMPLE, "BINARY[1]", SIMPLE_BODY },
	{ SIMPLE, "BINARY[2]", NULL, 0, -1, false },
};

static void run_fetch_case(const struct fetch_case *c, const struct mime_message *m)
{
	const char *text = messages[c->msg].text;
	size_t tlen = messages[c->msg].len;
	struct imap_section sec;
	const char *perr = NULL;
	if (!imap_section_parse(c->atom, strlen(c->atom), &sec, &perr))
		fail_msg("%s: %s", c->atom, perr);
	struct buf out = BUF_INIT;
	buf_append_str(&out, "pre:");    /* the result is appended */
	uint64_t size = 12345;
	bool unknown = true;
	char *error = NULL;
	int ret = imap_section_fetch(&sec, m, text, tlen, &out, &size, &unknown, &error);
	if (ret != c->ret)
		fail_msg("%s %s: returned %d (%s)", messages[c->msg].name, c->atom, ret,
			 error != NULL ? error : "");
	assert_int_equal(unknown, c->unknown_cte);
	if (ret < 0) {
		assert_non_null(error);
		assert_string_equal(buf_cstr(&out), "pre:");
	} else if (sec.kind == IMAP_FETCH_BINARY_SIZE) {
		if (size != c->len)
			fail_msg("%s %s: size %llu, expected %zu", messages[c->msg].name, c->atom,
				 (unsigned long long)size, c->len);
		assert_string_equal(buf_cstr(&out), "pre:");
	} else {
		size_t len = c->len != 0 ? c->len : strlen(c->bytes);
		if (c->bytes == msg_multi || c->bytes == msg_simple)
			len = tlen;
		if (out.len - 4 != len || memcmp(out.data + 4, c->bytes, len) != 0)
			fail_msg("%s %s: got [%.*s] (%zu), expected [%.*s] (%zu)",
				 messages[c->msg].name, c->atom, (int)(out.len - 4), out.data + 4,
				 out.len - 4, (int)len, c->bytes, len);
		assert_int_equal(size, len);
	}
	free(error);
	buf_free(&out);
	imap_section_clear(&sec);
}

static void test_fetch(void **state)
{
	(void)state;
	struct mime_message *parsed[sizeof messages / sizeof messages[0]];
	for (size_t i = 0; i < sizeof messages / sizeof messages[0]; i++)
		parsed[i] = mime_parse(messages[i].text, messages[i].len);
	for (size_t i = 0; i < sizeof fetch_cases / sizeof fetch_cases[0]; i++)
		run_fetch_case(&fetch_cases[i], parsed[fetch_cases[i].msg]);
	for (size_t i = 0; i < sizeof messages / sizeof messages[0]; i++)
		mime_message_free(&parsed[i]);
}

/* BODY[HEADER] + BODY[TEXT] is BODY[], whatever the message. */
static void test_header_text_whole(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof messages / sizeof messages[0]; i++) {
		struct mime_message *m = mime_parse(messages[i].text, messages[i].len);
		struct buf out = BUF_INIT;
		const char *atoms[] = { "BODY[HEADER]", "BODY[TEXT]" };
		for (size_t k = 0; k < 2; k++) {
			struct imap_section sec;
			const char *perr;
			bool unknown;
			char *error = NULL;
			assert_true(imap_section_parse(atoms[k], strlen(atoms[k]), &sec, &perr));
			assert_int_equal(imap_section_fetch(&sec, m, messages[i].text, messages[i].len,
							    &out, NULL, &unknown, &error), 0);
			imap_section_clear(&sec);
		}
		assert_int_equal(out.len, messages[i].len);
		assert_memory_equal(out.data, messages[i].text, out.len);
		buf_free(&out);
		mime_message_free(&m);
	}
}

/* A long field list against a long header: each line is one lookup. */
static void test_many_fields(void **state)
{
	(void)state;
	struct buf atom = BUF_INIT, msg = BUF_INIT, want = BUF_INIT;
	buf_append_str(&atom, "BODY[HEADER.FIELDS (");
	for (int i = 0; i < 2000; i++)
		buf_appendf(&atom, "%sX-F%d", i > 0 ? " " : "", i * 2);
	buf_append_str(&atom, ")]");
	for (int i = 0; i < 2000; i++) {
		buf_appendf(&msg, "x-f%d: %d\r\n", i, i);
		if (i % 2 == 0)
			buf_appendf(&want, "x-f%d: %d\r\n", i, i);
	}
	buf_append_str(&msg, "\r\nbody\r\n");
	buf_append_str(&want, "\r\n");
	struct imap_section sec;
	const char *perr;
	assert_true(imap_section_parse(atom.data, atom.len, &sec, &perr));
	assert_int_equal(sec.n_fields, 2000);
	struct mime_message *m = mime_parse(msg.data, msg.len);
	struct buf out = BUF_INIT;
	bool unknown;
	char *error = NULL;
	assert_int_equal(imap_section_fetch(&sec, m, msg.data, msg.len, &out, NULL, &unknown, &error), 0);
	assert_int_equal(out.len, want.len);
	assert_memory_equal(out.data, want.data, want.len);
	mime_message_free(&m);
	imap_section_clear(&sec);
	buf_free(&out);
	buf_free(&atom);
	buf_free(&msg);
	buf_free(&want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_fetch),
		cmocka_unit_test(test_header_text_whole),
		cmocka_unit_test(test_many_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
