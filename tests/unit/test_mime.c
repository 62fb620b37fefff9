/* The MIME parser: structure, BODYSTRUCTURE and ENVELOPE of table cases
 * (each also fed one byte at a time and in other splits), part numbers and
 * byte ranges, and the limits. The corpora are in test_mime_corpus.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "mime/mime.h"
#include "mime_check.h"

static struct mime_message *parse_str(const char *s)
{
	return mime_parse(s, strlen(s));
}

static char *bodystructure(const struct mime_message *m, bool extended)
{
	struct buf out = BUF_INIT;
	mime_write_bodystructure(m, extended, &out);
	return buf_steal(&out);
}

static char *envelope(const struct mime_message *m)
{
	struct buf out = BUF_INIT;
	mime_write_envelope(m, &out);
	return buf_steal(&out);
}

/* ---- table cases: BODYSTRUCTURE and ENVELOPE as Dovecot 2.3 writes
 * them for the same message (checked by tests/integration/
 * test_mime_dovecot.py), except where docs/mime.md says otherwise:
 * "missing semicolon", "close delimiter CRLF", "message/global" and
 * "invalid type". ---- */

static const struct {
	const char *name;
	const char *input;
	size_t len;                 /* 0: strlen(input) */
	const char *bodystructure;
	const char *envelope;
} cases[] = {
	{ "plain",
	  "Subject: hi\r\n"
	  "From: a@b\r\n"
	  "\r\n"
	  "body\r\n", 0,
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1 NIL NIL NIL NIL)",
	  "(NIL \"hi\" ((NIL NIL \"a\" \"b\")) ((NIL NIL \"a\" \"b\")) ((NIL NIL \"a\" \"b\")) NIL "
	  "NIL NIL NIL NIL)" },
	{ "bare LF",
	  "Subject: hi\n"
	  "From: Joe <a@b>\n"
	  "\n"
	  "line 1\n"
	  "line 2\n", 0,
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 14 2 NIL NIL NIL NIL)",
	  "(NIL \"hi\" ((\"Joe\" NIL \"a\" \"b\")) ((\"Joe\" NIL \"a\" \"b\")) ((\"Joe\" NIL \"a\" "
	  "\"b\")) NIL NIL NIL NIL NIL)" },
	{ "no header",
	  "\r\n"
	  "body\r\n", 0,
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1 NIL NIL NIL NIL)",
	  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "header only",
	  "Subject: a\r\n", 0,
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)",
	  "(NIL \"a\" NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "no final newline",
	  "Subject: a", 0,
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)",
	  "(NIL \"a\" NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "type case kept",
	  "Content-Type: Text/HTML; CharSet=UTF-8; Name=\"A\"\r\n"
	  "\r\n"
	  "x", 0,
	  "(\"Text\" \"HTML\" (\"CharSet\" \"UTF-8\" \"Name\" \"A\") NIL NIL \"7bit\" 1 0 NIL NIL N"
	  "IL NIL)",
	  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "plain 7bit root",
	  "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
	  "\r\n"
	  "x", 0,
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL)",
	  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "broken params",
	  "Content-Type: text/plain; a=b; c; d=e; f=\"g\" h; i=j\r\n"
	  "\r\n"
	  "x", 0,
	  "(\"text\" \"plain\" (\"a\" \"b\" \"f\" \"g\" \"i\" \"j\" \"charset\" \"us-ascii\") NIL N"
	  "IL \"7bit\" 1 0 NIL NIL NIL NIL)",
	  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "missing semicolon",
	  "Content-Type: multipart/mixed\r\n"
	  "\tboundary=\"b\"\r\n"
	  "\r\n"
	  "--b\r\n"
	  "\r\n"
	  "x\r\n"
	  "--b--\r\n", 0,
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL) \""
	  "mixed\" (\"boundary\" \"b\") NIL NIL NIL)",
	  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "rfc2231",
	  "Content-Type: application/x-stuff; title*0*=us-ascii'en'This%20is; title*1=\" even more\""
	  "; title*2*=%2A; Z*0=1; b*1=x; b*2=y\r\n"
	  "\r\n", 0,
	  "(\"application\" \"x-stuff\" (\"Z\" \"1\" \"b*1\" \"x\" \"b*2\" \"y\" \"title*\" \"us-as"
	  "cii'en'This%20is even more%2A\") NIL NIL \"7bit\" 0 NIL NIL NIL NIL)",
	  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "content fields",
	  "Content-Type: text/plain; name==\077utf-8\077q\077a_b\077=.txt\r\n"
	  "Content-ID:  <a@b> (c)\r\n"
	  "Content-Description:  hello\r\n"
	  "  world  \r\n"
	  "Content-MD5: abc \r\n"
	  "Content-Language: en, (x) de-DE\r\n"
	  "Content-Location:  http://x/ y\r\n"
	  "Content-Disposition: Attachment; FileName=\"a\\\"b\"; size=3\r\n"
	  "Content-Transfer-Encoding: Base64 \r\n"
	  "\r\n"
	  "x", 0,
	  "(\"text\" \"plain\" (\"name\" \"=\077utf-8\077q\077a_b\077=.txt\" \"charset\" \"us-ascii"
	  "\") \"<a@b> (c)\" \"hello  world  \" \"Base64\" 1 0 \"abc \" (\"Attachment\" (\"FileName"
	  "\" \"a\\\"b\" \"size\" \"3\")) (\"en\" \"de-DE\") \"http://x/ y\")",
	  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "invalid encoding",
	  "Content-Type: text/plain\r\n"
	  "Content-Transfer-Encoding: 8 bit\r\n"
	  "\r\n"
	  "x", 0,
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL)",
	  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "duplicates",
	  "Content-Type: text/plain; charset=a\r\n"
	  "Content-Type: text/html; charset=b\r\n"
	  "Subject: one\r\n"
	  "Subject: two\r\n"
	  "From: a@b\r\n"
	  "From: c@d\r\n"
	  "Message-ID: <1@x>\r\n"
	  "Message-ID: <2@x>\r\n"
	  "In-Reply-To:  <a@b> <c@d>  \r\n"
	  "Date:  Mon, 1 Jan 2001 \r\n"
	  "\r\n"
	  "x", 0,
	  "(\"text\" \"plain\" (\"charset\" \"a\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL)",
	  "(\"Mon, 1 Jan 2001 \" \"two\" ((NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")) ((NIL NIL \"a"
	  "\" \"b\")(NIL NIL \"c\" \"d\")) ((NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")) NIL NIL NIL"
	  " \"<a@b> <c@d>  \" \"<2@x>\")" },
	{ "empty fields",
	  "Subject:\r\n"
	  "Date: \r\n"
	  "Message-ID:\r\n"
	  "Content-Description:\r\n"
	  "Content-ID: \r\n"
	  "From:\r\n"
	  "To: \r\n"
	  "In-Reply-To:\r\n"
	  "\r\n"
	  "x", 0,
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL)",
	  "(\"\" \"\" NIL NIL NIL NIL NIL NIL \"\" \"\")" },
	{ "8-bit header",
	  "Content-Type: text/plain; name=\"\303\251\"\r\n"
	  "Content-Description: \303\251t\351\r\n"
	  "Subject: =\077utf-8\077q\077x\077= \351\r\n"
	  "\r\n"
	  "x", 0,
	  "(\"text\" \"plain\" (\"name\" {2}\r\n"
	  "\303\251 \"charset\" \"us-ascii\") NIL {4}\r\n"
	  "\303\251t\351 \"7bit\" 1 0 NIL NIL NIL NIL)",
	  "(NIL {15}\r\n"
	  "=\077utf-8\077q\077x\077= \351 NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "NUL", /* 21 bytes: the NULs end the C string */
	  "Subject: a\000b\r\n"
	  "\r\n"
	  "x\000y\r\n", 21,
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 1 NIL NIL NIL NIL)",
	  "(NIL {5}\r\n"
	  "a\357\277\275b NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "whitespace subject",
	  "Subject: \t a\tb  c \r\n"
	  " \r\n"
	  "\r\n"
	  "x", 0,
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL)",
	  "(NIL \"a b c\" NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "quotes",
	  "Subject: a\"b\\c\r\n"
	  "Content-Type: text/plain; a=\"1\\\"2\\\"3\\\"4\\\"5\"; b=\"1\\\"2\\\"3\\\"4\\\"5\\\"6\";"
	  " c=\"x\ty\"\r\n"
	  "\r\n"
	  "x", 0,
	  "(\"text\" \"plain\" (\"a\" \"1\\\"2\\\"3\\\"4\\\"5\" \"b\" {11}\r\n"
	  "1\"2\"3\"4\"5\"6 \"c\" \"x\ty\" \"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL N"
	  "IL NIL)",
	  "(NIL \"a\\\"b\\\\c\" NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "boundary ends header",
	  "Content-Type: multipart/mixed; boundary=a\r\n"
	  "\r\n"
	  "--a\r\n"
	  "Content-Type: text/html\r\n"
	  "--a\r\n"
	  "\r\n"
	  "b\r\n"
	  "--a--\r\n"
	  "epi\r\n"
	  "--a\r\n"
	  "\r\n"
	  "c\r\n", 0,
	  "((\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)(\"t"
	  "ext\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL) \"mixed"
	  "\" (\"boundary\" \"a\") NIL NIL NIL)",
	  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "preamble",
	  "Content-Type: multipart/mixed; boundary=a\r\n"
	  "\r\n"
	  "pre\r\n"
	  "--a\r\n"
	  "\r\n"
	  "b\r\n"
	  "--a--", 0,
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL) \""
	  "mixed\" (\"boundary\" \"a\") NIL NIL NIL)",
	  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "outer boundary ends inner",
	  "Content-Type: multipart/mixed; boundary=a\r\n"
	  "\r\n"
	  "--a\r\n"
	  "Content-Type: multipart/alternative; boundary=b\r\n"
	  "\r\n"
	  "--b\r\n"
	  "\r\n"
	  "x\r\n"
	  "--a\r\n"
	  "\r\n"
	  "y\r\n"
	  "--a--\r\n", 0,
	  "(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL) \""
	  "alternative\" (\"boundary\" \"b\") NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-asc"
	  "ii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"a\") NIL NIL NIL)",
	  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "longest boundary",
	  "Content-Type: multipart/mixed; boundary=\"ab\"\r\n"
	  "\r\n"
	  "--ab\r\n"
	  "Content-Type: multipart/mixed; boundary=\"a\"\r\n"
	  "\r\n"
	  "--a\r\n"
	  "Content-Type: text/plain\r\n"
	  "\r\n"
	  "body\r\n"
	  "--ab\r\n"
	  "Content-Type: text/html\r\n"
	  "\r\n"
	  "body2\r\n"
	  "--ab--\r\n", 0,
	  "(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 4 0 NIL NIL NIL NIL) \""
	  "mixed\" (\"boundary\" \"a\") NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"us-ascii\") N"
	  "IL NIL \"7bit\" 5 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"ab\") NIL NIL NIL)",
	  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "close delimiter CRLF",
	  "Content-Type: multipart/mixed; boundary=a\r\n"
	  "\r\n"
	  "--a\r\n"
	  "Content-Type: message/rfc822\r\n"
	  "\r\n"
	  "Content-Type: multipart/mixed; boundary=b\r\n"
	  "\r\n"
	  "--b\r\n"
	  "\r\n"
	  "x\r\n"
	  "--b--\r\n"
	  "--a--\r\n", 0,
	  "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 60 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NI"
	  "L) ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL)"
	  " \"mixed\" (\"boundary\" \"b\") NIL NIL NIL) 5 NIL NIL NIL NIL) \"mixed\" (\"boundary\" "
	  "\"a\") NIL NIL NIL)",
	  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "digest",
	  "Content-Type: multipart/digest; boundary=a\r\n"
	  "\r\n"
	  "--a\r\n"
	  "\r\n"
	  "Subject: s\r\n"
	  "\r\n"
	  "x\r\n"
	  "--a\r\n"
	  "Content-Type: text/plain\r\n"
	  "\r\n"
	  "y\r\n"
	  "--a--\r\n", 0,
	  "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 15 (NIL \"s\" NIL NIL NIL NIL NIL NIL NIL "
	  "NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL"
	  ") 2 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 "
	  "NIL NIL NIL NIL) \"digest\" (\"boundary\" \"a\") NIL NIL NIL)",
	  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "rfc822 multipart",
	  "Content-Type: message/rfc822\r\n"
	  "\r\n"
	  "Content-Type: multipart/mixed; boundary=z\r\n"
	  "\r\n"
	  "--z\r\n"
	  "\r\n"
	  "x\r\n"
	  "--z--\r\n", 0,
	  "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 62 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL"
	  ") ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL) "
	  "\"mixed\" (\"boundary\" \"z\") NIL NIL NIL) 6 NIL NIL NIL NIL)",
	  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "message/global",
	  "Content-Type: message/global\r\n"
	  "\r\n"
	  "Subject: x\r\n"
	  "\r\n"
	  "body", 0,
	  "(\"message\" \"global\" NIL NIL NIL \"7bit\" 18 (NIL \"x\" NIL NIL NIL NIL NIL NIL NIL N"
	  "IL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 4 0 NIL NIL NIL NIL)"
	  " 2 NIL NIL NIL NIL)",
	  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "no boundary",
	  "Content-Type: multipart/mixed\r\n"
	  "\r\n"
	  "x\r\n", 0,
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) \""
	  "mixed\" NIL NIL NIL NIL)",
	  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "empty boundary",
	  "Content-Type: multipart/mixed; boundary=\"\"\r\n"
	  "\r\n"
	  "--\r\n"
	  "\r\n"
	  "x\r\n"
	  "----\r\n", 0,
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL) \""
	  "mixed\" (\"boundary\" \"\") NIL NIL NIL)",
	  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "boundary prefix",
	  "Content-Type: multipart/mixed; boundary=a:b\r\n"
	  "\r\n"
	  "--a:b\r\n"
	  "\r\n"
	  "x\r\n"
	  "--a:b--\r\n", 0,
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL)(\""
	  "text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) \"mixe"
	  "d\" (\"boundary\" \"a\") NIL NIL NIL)",
	  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "truncated multipart",
	  "Content-Type: multipart/mixed; boundary=a\r\n"
	  "\r\n"
	  "--a\r\n"
	  "Content-Type: text/plain\r\n"
	  "\r\n"
	  "no end\r\n"
	  "--a\r\n"
	  "Content-Type: image/png\r\n"
	  "Content-Transfer-Encoding: base64\r\n"
	  "\r\n"
	  "iVBO", 0,
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 0 NIL NIL NIL NIL)(\""
	  "image\" \"png\" NIL NIL NIL \"base64\" 4 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"a\")"
	  " NIL NIL NIL)",
	  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "invalid type",
	  "Content-Type: text/\r\n"
	  "\r\n"
	  "x\r\n", 0,
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL NIL NIL NIL)",
	  "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "groups",
	  "To: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;\r\n"
	  "Cc: Undisclosed recipients:;\r\n"
	  "Bcc: g:a@b\r\n"
	  "\r\n"
	  "x", 0,
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL)",
	  "(NIL NIL NIL NIL NIL ((NIL NIL \"A Group\" NIL)(\"Ed Jones\" NIL \"c\" \"a.test\")(NIL N"
	  "IL \"joe\" \"where.test\")(\"John\" NIL \"jdoe\" \"one.test\")(NIL NIL NIL NIL)) ((NIL N"
	  "IL \"Undisclosed recipients\" NIL)(NIL NIL NIL NIL)) ((NIL NIL \"g\" NIL)(NIL NIL \"a\" "
	  "\"b\")(NIL NIL NIL NIL)) NIL NIL)" },
	{ "addresses",
	  "From: <@r1,@r2:u@d>, u@d (Name) (Other), <>, \"\" <a@b>\r\n"
	  "To: Whomever\r\n"
	  "Cc: joe bloggs\r\n"
	  "Bcc: \"Joe\"\r\n"
	  "Reply-To: Joe <u@d\r\n"
	  "Sender: <http://www.host.com/list/> (Web Archive)\r\n"
	  "\r\n"
	  "x", 0,
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL)",
	  "(NIL NIL ((NIL \"@r1,@r2\" \"u\" \"d\")(\"Other\" NIL \"u\" \"d\")(NIL NIL \"MISSING_MAI"
	  "LBOX\" \"MISSING_DOMAIN\")(NIL NIL \"a\" \"b\")) ((NIL NIL \"http\" \"SYNTAX_ERROR\")) ("
	  "(\"Joe\" NIL \"u\" \"SYNTAX_ERROR\")) ((NIL NIL \"Whomever\" \"MISSING_DOMAIN\")) ((\"jo"
	  "e bloggs\" NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")) ((\"Joe\" NIL \"MISSING_MAILBOX\""
	  " \"MISSING_DOMAIN\")) NIL NIL)" },
	{ "folded",
	  "Subject: a\r\n"
	  "\tb\r\n"
	  " c\r\n"
	  "From: \"A\r\n"
	  " B\" <a@b>\r\n"
	  "\r\n"
	  "x", 0,
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL)",
	  "(NIL \"a b c\" ((\"A B\" NIL \"a\" \"b\")) ((\"A B\" NIL \"a\" \"b\")) ((\"A B\" NIL \"a"
	  "\" \"b\")) NIL NIL NIL NIL NIL)" },
};

static void test_cases(void **state)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].input);
		struct mime_message *m = mime_parse(cases[i].input, len);
		char *bs = bodystructure(m, true), *env = envelope(m);
		if (strcmp(bs, cases[i].bodystructure) != 0)
			fail_msg("%s: BODYSTRUCTURE\n got: %s\nwant: %s", cases[i].name, bs,
				 cases[i].bodystructure);
		if (strcmp(env, cases[i].envelope) != 0)
			fail_msg("%s: ENVELOPE\n got: %s\nwant: %s", cases[i].name, env,
				 cases[i].envelope);
		free(bs);
		free(env);
		mime_message_free(&m);
		check_splits(cases[i].name, cases[i].input, len);
	}
}

/* The non-extended form drops the extension data. */
static void test_body_not_extended(void **state)
{
	struct mime_message *m = parse_str(
		"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"
		"Content-Type: text/plain; charset=utf-8\r\nContent-Disposition: inline\r\n\r\n"
		"x\r\n--a\r\nContent-Type: message/rfc822\r\n\r\nSubject: s\r\n\r\nbody\r\n--a--\r\n");
	char *body = bodystructure(m, false);
	assert_string_equal(body,
		"((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 1 0)"
		"(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 18 (NIL \"s\" NIL NIL NIL NIL NIL NIL NIL NIL) "
		"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 4 0) 2) \"mixed\")");
	free(body);
	mime_message_free(&m);
}

/* RFC 3501 page 56's example: offsets, line counts and part numbers. */
static const char RFC3501_P56[] =
	"Subject: RFC 3501\r\nContent-Type: multipart/mixed; boundary=top\r\n\r\n"
	"--top\r\nContent-Type: text/plain\r\n\r\nPart 1\r\n"
	"--top\r\nContent-Type: application/octet-stream\r\n\r\nPart 2\r\n"
	"--top\r\nContent-Type: message/rfc822\r\n\r\nSubject: Part 3\r\n"
	"Content-Type: multipart/mixed; boundary=p3\r\n\r\n"
	"--p3\r\nContent-Type: text/plain\r\n\r\nPart 3.1\r\n"
	"--p3\r\nContent-Type: application/octet-stream\r\n\r\nPart 3.2\r\n--p3--\r\n"
	"\r\n--top\r\nContent-Type: multipart/mixed; boundary=p4\r\n\r\n"
	"--p4\r\nContent-Type: image/gif\r\n\r\nPart 4.1\r\n"
	"--p4\r\nContent-Type: message/rfc822\r\n\r\nSubject: Part 4.2\r\n\r\nPart 4.2 body\r\n"
	"--p4--\r\n\r\n--top--\r\n";

static void test_part_numbers(void **state)
{
	struct mime_message *m = parse_str(RFC3501_P56);
	static const struct {
		const char *section, *type;
	} want[] = {
		{ "", "multipart/mixed" }, { "1", "text/plain" },
		{ "2", "application/octet-stream" }, { "3", "message/rfc822" },
		{ "3.1", "text/plain" }, { "3.2", "application/octet-stream" },
		{ "4", "multipart/mixed" }, { "4.1", "image/gif" }, { "4.2", "message/rfc822" },
		{ "4.2.1", "text/plain" },
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const struct mime_part *p = mime_find_part(m, want[i].section);
		if (p == NULL)
			fail_msg("no part %s", want[i].section);
		char *t = xasprintf("%s/%s", p->type, p->subtype);
		if (strcmp(t, want[i].type) != 0)
			fail_msg("part %s: %s, want %s", want[i].section, t, want[i].type);
		free(t);
	}
	static const char *const none[] = { "0", "5", "1.1", "3.3", "4.2.2", "01", "1.", ".1",
					    "1..1", "x", "3.TEXT", "99999999999999999999" };
	for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
		if (mime_find_part(m, none[i]) != NULL)
			fail_msg("part %s should not exist", none[i]);

	/* Byte ranges: part 1's body is "Part 1", without the CRLF that
	 * belongs to the next boundary. */
	const struct mime_part *p1 = mime_find_part(m, "1");
	assert_memory_equal(RFC3501_P56 + p1->body_start, "Part 1", 6);
	assert_int_equal(p1->body_end - p1->body_start, 6);
	assert_int_equal(p1->body_lines, 0);
	assert_memory_equal(RFC3501_P56 + p1->header_start, "Content-Type: text/plain\r\n\r\n",
			    p1->body_start - p1->header_start);
	assert_int_equal(p1->header_lines, 2);
	/* Part 3's body is the whole encapsulated message, up to the CRLF
	 * before "--top"; its inner message starts where that body does. */
	const struct mime_part *p3 = mime_find_part(m, "3");
	assert_non_null(p3->message);
	assert_int_equal(p3->message->root.header_start, p3->body_start);
	assert_memory_equal(RFC3501_P56 + p3->body_end - 8, "--p3--\r\n", 8);
	assert_string_equal(p3->message->subject, "Part 3");
	assert_int_equal(p3->body_lines, 12);
	/* A non-multipart encapsulated message: 4.2.1 is its body. */
	const struct mime_part *p421 = mime_find_part(m, "4.2.1");
	assert_ptr_equal(p421, &mime_find_part(m, "4.2")->message->root);
	assert_memory_equal(RFC3501_P56 + p421->body_start, "Part 4.2 body", 13);
	assert_int_equal(p421->body_end - p421->body_start, 13);
	/* The root's body runs to the end, epilogue and all. */
	assert_int_equal(m->root.body_end, strlen(RFC3501_P56));
	mime_message_free(&m);

	/* A non-multipart message has a part 1: its body. */
	m = parse_str("Subject: x\r\n\r\nbody\r\n");
	assert_ptr_equal(mime_find_part(m, "1"), &m->root);
	assert_ptr_equal(mime_find_part(m, ""), &m->root);
	assert_null(mime_find_part(m, "2"));
	assert_null(mime_find_part(m, "1.1"));
	mime_message_free(&m);
}

/* ---- limits ---- */

static size_t depth_of(const struct mime_part *p)
{
	size_t d = 0;
	for (size_t i = 0; i < p->n_children; i++) {
		size_t c = depth_of(&p->children[i]);
		if (c > d)
			d = c;
	}
	if (p->message != NULL) {
		size_t c = depth_of(&p->message->root);
		if (c > d)
			d = c;
	}
	return d + 1;
}

static void test_depth_limit(void **state)
{
	struct buf msg = BUF_INIT;
	for (int i = 0; i < 200; i++)
		buf_appendf(&msg, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i);
	buf_append_str(&msg, "Content-Type: message/rfc822\r\n\r\n");
	for (int i = 0; i < 200; i++)
		buf_append_str(&msg, "Content-Type: message/rfc822\r\n\r\n");
	buf_append_str(&msg, "Subject: deep\r\n\r\nleaf\r\n");
	struct mime_message *m = mime_parse(msg.data, msg.len);
	assert_true(m->truncated);
	assert_int_equal(depth_of(&m->root), MIME_DEFAULT_MAX_DEPTH + 1);
	/* Still a valid BODYSTRUCTURE: the part past the limit is opaque. */
	char *bs = bodystructure(m, true);
	assert_non_null(strstr(bs, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0"));
	free(bs);
	mime_message_free(&m);
	check_splits("deep", msg.data, msg.len);

	/* A smaller limit of our own; message/rfc822 nests too. */
	struct mime_limits lim = { .max_depth = 3 };
	struct mime_parser *p = mime_parser_new(&lim);
	mime_parser_feed(p, msg.data, msg.len);
	m = mime_parser_finish(&p);
	assert_int_equal(depth_of(&m->root), 4);
	mime_message_free(&m);

	buf_clear(&msg);
	for (int i = 0; i < 5; i++)
		buf_append_str(&msg, "Content-Type: message/rfc822\r\n\r\n");
	buf_append_str(&msg, "Subject: five\r\n\r\nx");
	p = mime_parser_new(&lim);
	mime_parser_feed(p, msg.data, msg.len);
	m = mime_parser_finish(&p);
	assert_true(m->truncated);
	bs = bodystructure(m, false);
	/* depth 3: three messages, the fourth message/rfc822 is opaque */
	assert_non_null(strstr(bs, "(\"application\" \"octet-stream\" NIL NIL NIL \"7bit\""));
	free(bs);
	mime_message_free(&m);
	buf_free(&msg);
}

static void test_parts_limit(void **state)
{
	struct buf msg = BUF_INIT;
	buf_append_str(&msg, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
	for (int i = 0; i < 5000; i++)
		buf_appendf(&msg, "--b\r\nContent-Type: text/plain\r\n\r\npart %d\r\n", i);
	buf_append_str(&msg, "--b--\r\n");
	struct mime_message *m = mime_parse(msg.data, msg.len);
	assert_true(m->truncated);
	/* the root and 4095 parts; the last one holds the rest */
	assert_int_equal(m->root.n_children, MIME_DEFAULT_MAX_PARTS - 1);
	const struct mime_part *last = &m->root.children[m->root.n_children - 1];
	assert_int_equal(last->body_end, msg.len);
	mime_message_free(&m);

	struct mime_limits lim = { .max_parts = 10 };
	struct mime_parser *p = mime_parser_new(&lim);
	mime_parser_feed(p, msg.data, msg.len);
	m = mime_parser_finish(&p);
	assert_int_equal(m->root.n_children, 9);
	mime_message_free(&m);
	buf_free(&msg);
}

/* Header lines of 100 KB: a known field is kept up to max_header_line, an
 * unknown one costs nothing; the fields after them still count. */
static void test_long_header_lines(void **state)
{
	struct buf msg = BUF_INIT;
	buf_append_str(&msg, "X-Long: ");
	for (int i = 0; i < 100 * 1024; i++)
		buf_putc(&msg, 'x');
	buf_append_str(&msg, "\r\nSubject: ");
	for (int i = 0; i < 100 * 1024; i++)
		buf_putc(&msg, 'a' + i % 26);
	buf_append_str(&msg, "\r\nContent-Type: text/html; charset=utf-8\r\n\r\nbody\r\n");
	struct mime_message *m = mime_parse(msg.data, msg.len);
	assert_string_equal(m->root.type, "text");
	assert_string_equal(m->root.subtype, "html");
	assert_non_null(m->subject);
	/* the line is kept up to the limit, "Subject: " included */
	assert_int_equal(strlen(m->subject), MIME_DEFAULT_MAX_HEADER_LINE - strlen("Subject: "));
	assert_true(m->truncated);
	assert_int_equal(m->root.body_end - m->root.body_start, 6);
	mime_message_free(&m);
	check_splits("long header", msg.data, msg.len);
	buf_free(&msg);
}

/* 200,000 To: lines: their lists are joined up to max_header_line, in
 * linear time; a subject full of "=?" decodes in linear time too. */
static void test_many_header_fields(void **state)
{
	struct buf msg = BUF_INIT;
	for (int i = 0; i < 200000; i++)
		buf_append_str(&msg, "To: a@b\r\n");
	buf_append_str(&msg, "Subject: ");
	for (int i = 0; i < 10000; i++)
		buf_append_str(&msg, "=?a?q?");
	buf_append_str(&msg, "\r\n\r\nbody");
	struct mime_message *m = mime_parse(msg.data, msg.len);
	assert_non_null(m->to);
	assert_true(strlen(m->to) <= MIME_DEFAULT_MAX_HEADER_LINE);
	assert_true(strlen(m->to) > MIME_DEFAULT_MAX_HEADER_LINE - 8);
	struct buf h = BUF_INIT, b = BUF_INIT;
	mime_extract_text(m, msg.data, msg.len, &h, &b);
	assert_string_equal(buf_cstr(&b), "body");
	char *env = envelope(m);
	assert_non_null(strstr(env, "((NIL NIL \"a\" \"b\")(NIL NIL \"a\" \"b\")"));
	free(env);
	buf_free(&h);
	buf_free(&b);
	mime_message_free(&m);
	buf_free(&msg);
}

/* 10 MB bodies fed in chunks: the parser's own memory stays small, and
 * the sizes and line counts are right. */
static void test_big_body_bounded(void **state)
{
	static const char head[] =
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n";
	static const char mid[] = "\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\n";
	static const char tail[] = "\r\n--b--\r\n";
	char chunk[65536];
	struct mime_parser *p = mime_parser_new(NULL);
	mime_parser_feed(p, head, strlen(head));
	uint64_t total = strlen(head);
	size_t max_buffered = 0;
	/* part 1: 10 MB of 64-byte lines */
	for (size_t i = 0; i < sizeof chunk; i++)
		chunk[i] = (i % 64 == 63) ? '\n' : 'x';
	for (int i = 0; i < 160; i++) {
		mime_parser_feed(p, chunk, sizeof chunk);
		size_t b = mime_parser_buffered(p);
		if (b > max_buffered)
			max_buffered = b;
	}
	total += 160 * sizeof chunk;
	mime_parser_feed(p, mid, strlen(mid));
	uint64_t part2_start = total + strlen(mid);
	total += strlen(mid);
	/* part 2: 10 MB without a single line break */
	memset(chunk, 'y', sizeof chunk);
	for (int i = 0; i < 160; i++) {
		mime_parser_feed(p, chunk, sizeof chunk);
		size_t b = mime_parser_buffered(p);
		if (b > max_buffered)
			max_buffered = b;
	}
	total += 160 * sizeof chunk;
	mime_parser_feed(p, tail, strlen(tail));
	total += strlen(tail);
	struct mime_message *m = mime_parser_finish(&p);
	assert_true(max_buffered < 256 * 1024);
	assert_int_equal(m->root.n_children, 2);
	const struct mime_part *p1 = &m->root.children[0], *p2 = &m->root.children[1];
	/* the CRLF before "--b" belongs to the boundary, not to part 1 */
	assert_int_equal(p1->body_end - p1->body_start, 160 * sizeof chunk);
	assert_int_equal(p1->body_lines, 160 * sizeof chunk / 64);
	assert_int_equal(p2->body_start, part2_start);
	assert_int_equal(p2->body_end - p2->body_start, 160 * sizeof chunk);
	assert_int_equal(m->root.body_end, total);
	assert_false(m->truncated);
	mime_message_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_body_not_extended),
		cmocka_unit_test(test_part_numbers),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_parts_limit),
		cmocka_unit_test(test_long_header_lines),
		cmocka_unit_test(test_many_header_fields),
		cmocka_unit_test(test_big_body_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
