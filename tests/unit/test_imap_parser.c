/* The IMAP command parser: one table row per case, the bytes as the client
 * sent them (lines ending in CRLF, each literal's bytes after its line) and
 * the outcome as one canonical string: the literals announced, then the
 * tree, e.g.
 *
 *   {5 d0 i1} a LOGIN: ATOM(alice) LITERAL("hello")
 *   BAD a "Unexpected space"
 *
 * Every row runs twice, giving the literals whole and one byte at a time,
 * on one parser reset between rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/imap_parser.h"

/* ---- the canonical string ---- */

static void print_string(struct buf *b, const char *s, size_t len)
{
	buf_putc(b, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			buf_appendf(b, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			buf_appendf(b, "\\x%02x", c);
		else
			buf_putc(b, (char)c);
	}
	buf_putc(b, '"');
}

static void print_args(struct buf *b, const struct imap_arg *args, size_t count);

static void print_arg(struct buf *b, const struct imap_arg *a)
{
	switch (a->type) {
	case IMAP_ARG_ATOM:
		buf_appendf(b, "ATOM(%s)", a->str);
		break;
	case IMAP_ARG_NIL:
		buf_append_str(b, "NIL");
		break;
	case IMAP_ARG_STRING:
		buf_append_str(b, a->literal8 ? "LITERAL8(" : a->literal ? "LITERAL(" : "STRING(");
		print_string(b, a->str, a->len);
		buf_putc(b, ')');
		assert_int_equal(a->str[a->len], '\0');
		break;
	case IMAP_ARG_LIST:
		buf_append_str(b, "LIST(");
		print_args(b, a->list, a->count);
		buf_putc(b, ')');
		break;
	case IMAP_ARG_EXTERNAL:
		buf_appendf(b, "EXTERNAL(%llu)", (unsigned long long)a->ext_size);
		break;
	}
}

static void print_args(struct buf *b, const struct imap_arg *args, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (i > 0)
			buf_putc(b, ' ');
		print_arg(b, &args[i]);
	}
}

static void print_result(struct buf *b, struct imap_parser *p, enum imap_parse_result r)
{
	if (r == IMAP_PARSE_COMMAND) {
		const struct imap_command *cmd = imap_parser_command(p);
		assert_non_null(cmd);
		assert_null(imap_parser_error(p));
		buf_appendf(b, "%s %s:", cmd->tag, cmd->name);
		if (cmd->count > 0)
			buf_putc(b, ' ');
		print_args(b, cmd->args, cmd->count);
		return;
	}
	if (r != IMAP_PARSE_BAD) {
		buf_append_str(b, "INCOMPLETE");
		return;
	}
	const struct imap_parse_error *e = imap_parser_error(p);
	assert_non_null(e);
	assert_null(imap_parser_command(p));
	buf_appendf(b, "BAD %s \"%s\"", e->tag != NULL ? e->tag : "-", e->reason);
	if (e->too_big)
		buf_append_str(b, " TOOBIG");
	if (e->skip_literal > 0)
		buf_appendf(b, " skip=%llu%s", (unsigned long long)e->skip_literal,
			    e->skip_sync ? "" : "+");
}

/* ---- feeding a stream ---- */

static void print_literal(struct buf *b, const struct imap_literal *lit)
{
	buf_appendf(b, "%s{%llu%s d%u i%zu} ", lit->literal8 ? "~" : "",
		    (unsigned long long)lit->size, lit->sync ? "" : "+", lit->depth, lit->index);
}

/* Feed the literal's bytes from in[*pos..len): whole or one at a time. */
static enum imap_parse_result feed_literal(struct imap_parser *p, const char *in, size_t len,
					   size_t *pos, bool bytewise)
{
	const struct imap_literal *lit = imap_parser_literal(p);
	assert_non_null(lit);
	assert_true(lit->size <= len - *pos);
	size_t size = (size_t)lit->size;
	enum imap_parse_result r = IMAP_PARSE_LITERAL;
	if (!bytewise) {
		r = imap_parser_literal_data(p, in + *pos, size);
	} else {
		for (size_t i = 0; i < size; i++)
			if (imap_parser_literal_data(p, in + *pos + i, 1) == IMAP_PARSE_BAD)
				r = IMAP_PARSE_BAD;
	}
	*pos += size;
	return r;
}

/* The whole stream, up to the end of a command or a BAD; the outcome goes
 * into out. */
static void run_stream(struct imap_parser *p, const char *in, size_t len, bool bytewise,
		       struct buf *out)
{
	struct buf line = BUF_INIT;
	size_t pos = 0;
	enum imap_parse_result r = IMAP_PARSE_LITERAL;
	while (r == IMAP_PARSE_LITERAL && pos <= len) {
		const char *crlf = memmem(in + pos, len - pos, "\r\n", 2);
		size_t end = crlf != NULL ? (size_t)(crlf - in) : len;
		buf_set(&line, in + pos, end - pos);
		pos = crlf != NULL ? end + 2 : len + 1;
		r = imap_parser_line(p, buf_cstr(&line), line.len);
		if (r != IMAP_PARSE_LITERAL)
			break;
		print_literal(out, imap_parser_literal(p));
		r = feed_literal(p, in, len, &pos, bytewise);
	}
	print_result(out, p, r);
	buf_free(&line);
}

/* ---- the table ---- */

static const struct imap_parser_limits small = {
	.max_depth = 2, .max_args = 5, .max_literal = 10, .max_command = 100,
};

static const struct imap_parser_limits tight = {
	.max_literal = 10, .max_command = 100,
};

struct parse_case {
	const char *name;
	const char *in;
	size_t len;                           /* 0: strlen(in) */
	const char *want;
	const struct imap_parser_limits *limits;   /* NULL: the defaults */
};

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct parse_case cases[] = {
	/* ---- tag and name ---- */
	{ "no arguments", "a NOOP", 0, "a NOOP:" },
	{ "name as written", "a001 uid fetch 1 flags", 0, "a001 uid: ATOM(fetch) ATOM(1) ATOM(flags)" },
	{ "tag with ]", "a] NOOP", 0, "a] NOOP:" },
	{ "tag of odd characters", "!#$&'-./:;<=>?@[]^_`|~ NOOP", 0, "!#$&'-./:;<=>?@[]^_`|~ NOOP:" },
	{ "name with - and .", "a X-FOO.2 1", 0, "a X-FOO.2: ATOM(1)" },
	{ "tag with +", "a+ NOOP", 0, "BAD - \"Invalid tag\"" },
	{ "tag +", "+ NOOP", 0, "BAD - \"Invalid tag\"" },
	{ "tag *", "* NOOP", 0, "BAD - \"Invalid tag\"" },
	{ "tag with %", "a%b NOOP", 0, "BAD - \"Invalid tag\"" },
	{ "tag with {", "a{ NOOP", 0, "BAD - \"Invalid tag\"" },
	{ "tag with 8-bit", "\xc3\xa4 NOOP", 0, "BAD - \"Invalid tag\"" },
	{ "space first", " a NOOP", 0, "BAD - \"Invalid tag\"" },
	{ "empty line", "", 0, "BAD - \"Empty command\"" },
	{ "tag alone", "abc", 0, "BAD abc \"Missing command\"" },
	{ "tag and space", "abc ", 0, "BAD abc \"Missing command\"" },
	{ "two spaces after the tag", "a  NOOP", 0, "BAD a \"Missing command\"" },
	{ "name with *", "a NO*OP", 0, "BAD a \"Invalid command name\"" },
	{ "name with (", "a FETCH(1)", 0, "BAD a \"Invalid command name\"" },
	{ "name of 8-bit", "a \xc3\xa4", 0, "BAD a \"Missing command\"" },
	/* ---- spaces ---- */
	{ "space after the name", "a NOOP ", 0, "BAD a \"Unexpected space at the end of the line\"" },
	{ "trailing space", "a X 1 ", 0, "BAD a \"Unexpected space at the end of the line\"" },
	{ "double space", "a FETCH  1", 0, "BAD a \"Unexpected space\"" },
	{ "double space later", "a FETCH 1  2", 0, "BAD a \"Unexpected space\"" },
	{ "space after (", "a X ( a)", 0, "BAD a \"Unexpected space\"" },
	{ "space before )", "a X (a )", 0, "BAD a \"Unexpected space\"" },
	{ "tab", "a X\t1", 0, "BAD a \"Invalid command name\"" },
	{ "tab between arguments", "a X 1\t2", 0, "BAD a \"Invalid character in atom\"" },
	/* ---- atoms and NIL ---- */
	{ "atoms", "a STORE 1:3,5,$ +FLAGS.SILENT (\\Seen \\Deleted $Junk)", 0,
	  "a STORE: ATOM(1:3,5,$) ATOM(+FLAGS.SILENT) LIST(ATOM(\\Seen) ATOM(\\Deleted) ATOM($Junk))" },
	{ "wildcards", "a LIST \"\" Foo*%", 0, "a LIST: STRING(\"\") ATOM(Foo*%)" },
	{ "]", "a X ]", 0, "a X: ATOM(])" },
	{ "~ alone", "a X ~ ~a", 0, "a X: ATOM(~) ATOM(~a)" },
	{ "NIL", "a X NIL nil Nil NILS", 0, "a X: NIL NIL NIL ATOM(NILS)" },
	{ "atom then (", "a X a(b)", 0, "BAD a \"Invalid character in atom\"" },
	{ "atom then quote", "a X a\"b\"", 0, "BAD a \"Invalid character in atom\"" },
	{ "atom then {", "a X a{5}", 0, "BAD a \"Invalid character in atom\" skip=5" },
	{ "atom then ~{", "a X a~{5}", 0, "BAD a \"Invalid character in atom\" skip=5" },
	{ "atom with CTL", "a X a\x01", 0, "BAD a \"Invalid character in atom\"" },
	{ "atom with DEL", "a X a\x7f", 0, "BAD a \"Invalid character in atom\"" },
	{ "atom with 8-bit", "a X caf\xc3\xa9", 0, "BAD a \"Invalid character in atom\"" },
	{ "8-bit argument", "a X \xc3\xa9", 0, "BAD a \"Invalid character in argument\"" },
	{ "CTL argument", "a X \x1b", 0, "BAD a \"Invalid character in argument\"" },
	/* ---- sections ---- */
	{ "section", "a FETCH 1 (BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100>)", 0,
	  "a FETCH: ATOM(1) LIST(ATOM(BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100>))" },
	{ "empty section", "a FETCH 1 BODY[]", 0, "a FETCH: ATOM(1) ATOM(BODY[])" },
	{ "section with ) and ]", "a X B[(a)]x", 0, "a X: ATOM(B[(a)]x)" },
	{ "nested brackets", "a X [a [b] c]", 0, "a X: ATOM([a [b] c])" },
	{ "two sections", "a X BINARY[1]<0.5>[2]", 0, "a X: ATOM(BINARY[1]<0.5>[2])" },
	{ "quoted ] in a section", "a X B[\"]\"]", 0, "a X: ATOM(B[\"]\"])" },
	{ "section at the end of a list", "a X (B[1])", 0, "a X: LIST(ATOM(B[1]))" },
	{ "unclosed section", "a X BODY[HEADER", 0, "BAD a \"Missing ]\"" },
	{ "unclosed nested section", "a X BODY[a[b]", 0, "BAD a \"Missing ]\"" },
	{ "literal in a section", "a X BODY[{5}]", 0, "BAD a \"Invalid character in section\"" },
	{ "8-bit in a section", "a X BODY[\xc3\xa9]", 0, "BAD a \"Invalid character in section\"" },
	{ "bad quoted in a section", "a X BODY[\"a\\b\"]", 0, "BAD a \"Invalid escape in quoted string\"" },
	{ "unterminated quoted in a section", "a X BODY[\"]", 0, "BAD a \"Unterminated quoted string\"" },
	{ "section then (", "a X BODY[1](", 0, "BAD a \"Invalid character in atom\"" },
	/* ---- quoted strings ---- */
	{ "quoted", "a LOGIN \"a b\" \"\"", 0, "a LOGIN: STRING(\"a b\") STRING(\"\")" },
	{ "quoted escapes", "a X \"a\\\"b\\\\c\"", 0, "a X: STRING(\"a\\\"b\\\\c\")" },
	{ "quoted specials", "a X \"(){%*]~[\"", 0, "a X: STRING(\"(){%*]~[\")" },
	{ "quoted CTL", "a X \"a\tb\"", 0, "a X: STRING(\"a\\x09b\")" },
	{ "quoted utf-8", "a X \"\xc3\xa4\xe2\x82\xac\xf0\x9f\x94\x91\"", 0,
	  "a X: STRING(\"\\xc3\\xa4\\xe2\\x82\\xac\\xf0\\x9f\\x94\\x91\")" },
	{ "quoted in a list", "a X (\"a\" \"b\")", 0, "a X: LIST(STRING(\"a\") STRING(\"b\"))" },
	{ "quoted then atom", "a X \"a\"b", 0, "BAD a \"Missing space after argument\"" },
	{ "quoted then (", "a X \"a\"(", 0, "BAD a \"Missing space after argument\"" },
	{ "bad escape", "a X \"a\\b\"", 0, "BAD a \"Invalid escape in quoted string\"" },
	{ "escape at the end", "a X \"a\\", 0, "BAD a \"Invalid escape in quoted string\"" },
	{ "unterminated", "a X \"abc", 0, "BAD a \"Unterminated quoted string\"" },
	{ "unterminated after \\\"", "a X \"a\\\"", 0, "BAD a \"Unterminated quoted string\"" },
	{ "quoted CR", "a X \"a\rb\"", 0, "BAD a \"Invalid character in quoted string\"" },
	{ "quoted LF", "a X \"a\nb\"", 0, "BAD a \"Invalid character in quoted string\"" },
	{ "bad utf-8", "a X \"\xff\"", 0, "BAD a \"Invalid UTF-8 in quoted string\"" },
	{ "continuation byte", "a X \"\x80\"", 0, "BAD a \"Invalid UTF-8 in quoted string\"" },
	{ "overlong 2", "a X \"\xc0\xaf\"", 0, "BAD a \"Invalid UTF-8 in quoted string\"" },
	{ "overlong 3", "a X \"\xe0\x80\xaf\"", 0, "BAD a \"Invalid UTF-8 in quoted string\"" },
	{ "overlong 4", "a X \"\xf0\x80\x80\xaf\"", 0, "BAD a \"Invalid UTF-8 in quoted string\"" },
	{ "surrogate", "a X \"\xed\xa0\x80\"", 0, "BAD a \"Invalid UTF-8 in quoted string\"" },
	{ "above U+10FFFF", "a X \"\xf4\x90\x80\x80\"", 0, "BAD a \"Invalid UTF-8 in quoted string\"" },
	{ "utf-8 cut short", "a X \"\xe2\x82\"", 0, "BAD a \"Invalid UTF-8 in quoted string\"" },
	{ "utf-8 cut by the line end", "a X \"\xe2\x82", 0, "BAD a \"Invalid UTF-8 in quoted string\"" },
	/* ---- NUL ---- */
	{ "NUL at the end", "a NOOP\0", 7, "BAD a \"NUL byte in command\"" },
	{ "NUL first", "\0a NOOP", 7, "BAD - \"NUL byte in command\"" },
	{ "NUL in a quoted string", "a X \"a\0b\"", 9, "BAD a \"NUL byte in command\"" },
	{ "NUL in an atom", "a X a\0b", 7, "BAD a \"NUL byte in command\"" },
	{ "NUL after a literal", "a X {1}\r\nz \0", 12, "{1 d0 i0} BAD a \"NUL byte in command\"" },
	{ "NUL in a literal", "a X {3}\r\na\0b\r\n", 14, "{3 d0 i0} BAD a \"NUL byte in literal\"" },
	{ "NUL in a literal8", "a X ~{3}\r\na\0b\r\n", 15, "~{3 d0 i0} a X: LITERAL8(\"a\\x00b\")" },
	/* ---- lists ---- */
	{ "empty list", "a X ()", 0, "a X: LIST()" },
	{ "nested empty lists", "a X (()) (() ())", 0, "a X: LIST(LIST()) LIST(LIST() LIST())" },
	{ "nested", "a X (a (b (c)) d) e", 0,
	  "a X: LIST(ATOM(a) LIST(ATOM(b) LIST(ATOM(c))) ATOM(d)) ATOM(e)" },
	{ "list then atom", "a X (a)b", 0, "BAD a \"Missing space after argument\"" },
	{ "list then list", "a X (a)(b)", 0, "BAD a \"Missing space after argument\"" },
	{ "list then quoted", "a X (a)\"b\"", 0, "BAD a \"Missing space after argument\"" },
	{ "unclosed", "a X (a", 0, "BAD a \"Missing )\"" },
	{ "unclosed nested", "a X ((a) b", 0, "BAD a \"Missing )\"" },
	{ "( alone", "a X (", 0, "BAD a \"Missing )\"" },
	{ "extra )", "a X a)", 0, "BAD a \"Unexpected )\"" },
	{ "extra ) after a list", "a X (a))", 0, "BAD a \"Unexpected )\"" },
	{ ") alone", "a X )", 0, "BAD a \"Unexpected space\"" },
	/* ---- literals ---- */
	{ "literal", "a LOGIN {5}\r\nalice {6}\r\nsecret\r\n", 0,
	  "{5 d0 i0} {6 d0 i1} a LOGIN: LITERAL(\"alice\") LITERAL(\"secret\")" },
	{ "non-synchronising literal", "a LOGIN alice {6+}\r\nsecret\r\n", 0,
	  "{6+ d0 i1} a LOGIN: ATOM(alice) LITERAL(\"secret\")" },
	{ "literal8", "a X ~{3}\r\nabc\r\n", 0, "~{3 d0 i0} a X: LITERAL8(\"abc\")" },
	{ "literal8 non-synchronising", "a X ~{3+}\r\nabc\r\n", 0, "~{3+ d0 i0} a X: LITERAL8(\"abc\")" },
	{ "empty literal", "a X {0}\r\n\r\n", 0, "{0 d0 i0} a X: LITERAL(\"\")" },
	{ "empty literal then more", "a X {0}\r\n y\r\n", 0, "{0 d0 i0} a X: LITERAL(\"\") ATOM(y)" },
	{ "literal with CRLF and 8-bit", "a X {4}\r\n\r\n\xff\x01\r\n", 0,
	  "{4 d0 i0} a X: LITERAL(\"\\x0d\\x0a\\xff\\x01\")" },
	{ "leading zeros", "a X {003}\r\nabc\r\n", 0, "{3 d0 i0} a X: LITERAL(\"abc\")" },
	{ "literal in a list", "a X (a {3}\r\nb c) d\r\n", 0,
	  "{3 d1 i1} a X: LIST(ATOM(a) LITERAL(\"b c\")) ATOM(d)" },
	{ "literal closing nested lists", "a X ((a {1}\r\nx))\r\n", 0,
	  "{1 d2 i1} a X: LIST(LIST(ATOM(a) LITERAL(\"x\")))" },
	{ "literal first in a list", "a X y ({1}\r\nx)\r\n", 0, "{1 d1 i0} a X: ATOM(y) LIST(LITERAL(\"x\"))" },
	{ "many literals", "a X ({1}\r\na (b {2+}\r\ncd ~{1}\r\ne) {1}\r\nf) g\r\n", 0,
	  "{1 d1 i0} {2+ d2 i1} ~{1 d2 i2} {1 d1 i2} "
	  "a X: LIST(LITERAL(\"a\") LIST(ATOM(b) LITERAL(\"cd\") LITERAL8(\"e\")) LITERAL(\"f\")) ATOM(g)" },
	{ "APPEND", "A003 APPEND saved-messages (\\Seen) {23}\r\nFrom: a\r\nSubject: b\r\n\r\n\r\n", 0,
	  "{23 d0 i2} A003 APPEND: ATOM(saved-messages) LIST(ATOM(\\Seen)) "
	  "LITERAL(\"From: a\\x0d\\x0aSubject: b\\x0d\\x0a\\x0d\\x0a\")" },
	{ "line after a literal without SP", "a X {1}\r\nzq\r\n", 0,
	  "{1 d0 i0} BAD a \"Missing space after argument\"" },
	{ "line after a literal with a space only", "a X {1}\r\nz \r\n", 0,
	  "{1 d0 i0} BAD a \"Unexpected space at the end of the line\"" },
	{ "line after a literal with two spaces", "a X {1}\r\nz  y\r\n", 0,
	  "{1 d0 i0} BAD a \"Unexpected space\"" },
	{ ") after a top-level literal", "a X {1}\r\nz)\r\n", 0, "{1 d0 i0} BAD a \"Unexpected )\"" },
	{ "list left open after a literal", "a X ({1}\r\nz\r\n", 0, "{1 d1 i0} BAD a \"Missing )\"" },
	{ "literal then a literal", "a X {1}\r\nz{1}\r\n", 0,
	  "{1 d0 i0} BAD a \"Missing space after argument\" skip=1" },
	{ "literal not at the end", "a X {3} x", 0, "BAD a \"Literal not at the end of the line\"" },
	{ "literal then text", "a X {3}x", 0, "BAD a \"Literal not at the end of the line\"" },
	{ "literal without digits", "a X {}", 0, "BAD a \"Invalid literal size\"" },
	{ "literal with +N", "a X {+3}", 0, "BAD a \"Invalid literal size\"" },
	{ "literal with -N", "a X {-1}", 0, "BAD a \"Invalid literal size\"" },
	{ "literal with space", "a X { 3}", 0, "BAD a \"Invalid literal size\"" },
	{ "literal unterminated", "a X {3", 0, "BAD a \"Invalid literal\"" },
	{ "literal with a letter", "a X {3x}", 0, "BAD a \"Invalid literal\"" },
	{ "literal with ++", "a X {3++}", 0, "BAD a \"Invalid literal\"" },
	{ "literal8 without digits", "a X ~{", 0, "BAD a \"Invalid literal size\"" },
	{ "literal over number64", "a X {9223372036854775808}", 0, "BAD a \"Invalid literal size\"" },
	{ "literal of 20 digits", "a X {99999999999999999999}", 0, "BAD a \"Invalid literal size\"" },
	{ "literal at number64's top", "a X {9223372036854775807}", 0,
	  "BAD a \"Literal too big\" TOOBIG skip=9223372036854775807" },
	{ "literal too big", "a X {65537}", 0, "BAD a \"Literal too big\" TOOBIG skip=65537" },
	{ "literal+ too big", "a X {65537+}", 0, "BAD a \"Literal too big\" TOOBIG skip=65537+" },
	{ "literal8 too big", "a X ~{65537+}", 0, "BAD a \"Literal too big\" TOOBIG skip=65537+" },
	/* ---- a refused line that announces a literal ---- */
	{ "skip after a syntax error", "a X (a  b) {5+}", 0, "BAD a \"Unexpected space\" skip=5+" },
	{ "skip, synchronising", "a X (a  b) {5}", 0, "BAD a \"Unexpected space\" skip=5" },
	{ "skip with a bad tag", "+ X {5}", 0, "BAD - \"Invalid tag\" skip=5" },
	{ "skip a literal8", "a X \"\xff\" ~{7+}", 0, "BAD a \"Invalid UTF-8 in quoted string\" skip=7+" },
	{ "no skip for a bad literal", "a X {5x}", 0, "BAD a \"Invalid literal\"" },
	/* ---- limits ---- */
	{ "depth at the limit", "a X ((a)) (b)", 0, "a X: LIST(LIST(ATOM(a))) LIST(ATOM(b))", &small },
	{ "too deep", "a X (((a)))", 0, "BAD a \"Too deeply nested lists\" TOOBIG", &small },
	{ "too deep by default", "a X (((((((((((((((((a)))))))))))))))))", 0,
	  "BAD a \"Too deeply nested lists\" TOOBIG" },
	{ "args at the limit", "a X 1 2 3 4 5", 0, "a X: ATOM(1) ATOM(2) ATOM(3) ATOM(4) ATOM(5)", &small },
	{ "too many args", "a X 1 2 3 4 5 6", 0, "BAD a \"Too many arguments\" TOOBIG", &small },
	{ "a list counts", "a X (1 2 3 4)", 0, "a X: LIST(ATOM(1) ATOM(2) ATOM(3) ATOM(4))", &small },
	{ "a list counts too many", "a X (1 2 3 4 5)", 0, "BAD a \"Too many arguments\" TOOBIG", &small },
	{ "empty lists count", "a X () () () () () ()", 0, "BAD a \"Too many arguments\" TOOBIG", &small },
	{ "NIL counts", "a X NIL NIL NIL NIL NIL NIL", 0, "BAD a \"Too many arguments\" TOOBIG", &small },
	{ "quoted counts", "a X 1 2 3 4 5 \"\"", 0, "BAD a \"Too many arguments\" TOOBIG", &small },
	{ "a literal counts", "a X 1 2 3 4 5 {1}", 0, "BAD a \"Too many arguments\" TOOBIG skip=1", &small },
	{ "args over lines", "a X 1 2 {1}\r\n3 4 5 {1+}\r\n6\r\n", 0,
	  "{1 d0 i2} BAD a \"Too many arguments\" TOOBIG skip=1+", &small },
	{ "literal at the limit", "a X {10}\r\n0123456789\r\n", 0,
	  "{10 d0 i0} a X: LITERAL(\"0123456789\")", &small },
	{ "literal over the limit", "a X {11+}", 0, "BAD a \"Literal too big\" TOOBIG skip=11+", &small },
	{ "line at the command limit",
	  "a X 012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345",
	  0, "a X: ATOM(012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345)",
	  &small },
	{ "line over the command limit",
	  "a X 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456",
	  0, "BAD a \"Command too long\" TOOBIG", &small },
	{ "literal over the command limit",
	  "a X 01234567890123456789012345678901234567890123456789012345678901234567890123456789001234 {10}",
	  0, "BAD a \"Command too long\" TOOBIG skip=10", &small },
	{ "literals and lines over the command limit",
	  "a X {10}\r\n0123456789 {10}\r\n0123456789 {10}\r\n0123456789 {10}\r\n0123456789 {10+}\r\n"
	  "0123456789 {10}\r\n0123456789 {10}\r\n0123456789\r\n",
	  0, "{10 d0 i0} {10 d0 i1} {10 d0 i2} {10 d0 i3} {10+ d0 i4} {10 d0 i5} "
	  "BAD a \"Command too long\" TOOBIG skip=10", &tight },
};

/* Returns false (and says why) when the outcome differs: every row is run
 * before the test fails. */
static bool run_case(struct imap_parser *p, const struct parse_case *c, bool bytewise)
{
	struct buf got = BUF_INIT;
	size_t len = c->len != 0 ? c->len : strlen(c->in);
	run_stream(p, c->in, len, bytewise, &got);
	bool ok = strcmp(buf_cstr(&got), c->want) == 0;
	if (!ok)
		print_error("%s (%s):\n got  %s\n want %s\n", c->name,
			    bytewise ? "bytewise" : "whole", buf_cstr(&got), c->want);
	buf_free(&got);
	return ok;
}

static void test_table(void **state)
{
	struct imap_parser *dflt = imap_parser_new(NULL), *lim = imap_parser_new(&small);
	struct imap_parser *tgt = imap_parser_new(&tight);
	int failed = 0;
	for (int bytewise = 0; bytewise <= 1; bytewise++) {
		for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
			struct imap_parser *p = cases[i].limits == &small ? lim :
						cases[i].limits == &tight ? tgt : dflt;
			failed += !run_case(p, &cases[i], bytewise);
			imap_parser_reset(p);
		}
	}
	imap_parser_free(&dflt);
	imap_parser_free(&lim);
	imap_parser_free(&tgt);
	assert_null(dflt);
	assert_int_equal(failed, 0);
}

/* Each row on a parser of its own as well: nothing depends on a reset. */
static void test_table_fresh(void **state)
{
	int failed = 0;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct imap_parser *p = imap_parser_new(cases[i].limits);
		failed += !run_case(p, &cases[i], false);
		imap_parser_free(&p);
	}
	assert_int_equal(failed, 0);
}

/* ---- literals in detail ---- */

static enum imap_parse_result line(struct imap_parser *p, const char *s)
{
	return imap_parser_line(p, s, strlen(s));
}

static void test_literal_so_far(void **state)
{
	struct imap_parser *p = imap_parser_new(NULL);
	assert_null(imap_parser_literal(p));
	assert_int_equal(line(p, "A1 APPEND INBOX (\\Seen) \"1-Jan-2020 00:00:00 +0000\" {5}"),
			 IMAP_PARSE_LITERAL);
	const struct imap_literal *lit = imap_parser_literal(p);
	assert_non_null(lit);
	assert_int_equal(lit->size, 5);
	assert_true(lit->sync);
	assert_false(lit->literal8);
	assert_int_equal(lit->depth, 0);
	assert_int_equal(lit->index, 3);
	assert_string_equal(lit->so_far->tag, "A1");
	assert_string_equal(lit->so_far->name, "APPEND");
	assert_int_equal(lit->so_far->count, 3);
	assert_string_equal(imap_arg_atom(&lit->so_far->args[0]), "INBOX");
	assert_int_equal(lit->so_far->args[1].type, IMAP_ARG_LIST);
	assert_string_equal(imap_arg_string(&lit->so_far->args[2]), "1-Jan-2020 00:00:00 +0000");
	assert_null(imap_parser_command(p));
	assert_null(imap_parser_error(p));
	/* in pieces */
	assert_int_equal(imap_parser_literal_data(p, "he", 2), IMAP_PARSE_LITERAL);
	assert_int_equal(imap_parser_literal_data(p, "", 0), IMAP_PARSE_LITERAL);
	assert_int_equal(imap_parser_literal_data(p, "llo", 3), IMAP_PARSE_LITERAL);
	assert_null(imap_parser_literal(p));
	assert_int_equal(line(p, ""), IMAP_PARSE_COMMAND);
	const struct imap_command *cmd = imap_parser_command(p);
	assert_int_equal(cmd->count, 4);
	assert_string_equal(imap_arg_string(&cmd->args[3]), "hello");
	assert_true(cmd->args[3].literal);
	/* after a reset: a new command */
	imap_parser_reset(p);
	assert_null(imap_parser_command(p));
	assert_int_equal(line(p, "b NOOP"), IMAP_PARSE_COMMAND);
	assert_string_equal(imap_parser_command(p)->tag, "b");
	imap_parser_reset(p);
	/* the top-level arguments so far, not the open list's */
	assert_int_equal(line(p, "c X a (b c {2+}"), IMAP_PARSE_LITERAL);
	lit = imap_parser_literal(p);
	assert_false(lit->sync);
	assert_int_equal(lit->depth, 1);
	assert_int_equal(lit->index, 2);
	assert_int_equal(lit->so_far->count, 1);
	imap_parser_free(&p);
}

struct claim_ctx {
	int claimed;
	size_t released;
	void *seen[4];
};

/* APPEND's message: depth 0, after the mailbox. */
static bool claim_append(const struct imap_literal *lit, void *ctx)
{
	struct claim_ctx *cc = ctx;
	bool append = lit->depth == 0 && lit->index >= 1 && strcmp(lit->so_far->name, "APPEND") == 0;
	cc->claimed += append;
	return append;
}

static void release(void *ext, void *ctx)
{
	struct claim_ctx *cc = ctx;
	cc->seen[cc->released++] = ext;
}

static void test_external(void **state)
{
	struct claim_ctx cc = { 0 };
	int blob1, blob2, blob3;
	struct imap_parser *p = imap_parser_new(NULL);
	/* without a claim, a message over max_literal is refused */
	assert_int_equal(line(p, "a APPEND INBOX {100000}"), IMAP_PARSE_BAD);
	assert_true(imap_parser_error(p)->too_big);
	assert_int_equal(imap_parser_error(p)->skip_literal, 100000);
	imap_parser_reset(p);

	imap_parser_set_claim(p, claim_append, &cc);
	assert_int_equal(line(p, "a APPEND INBOX (\\Seen) {100000}"), IMAP_PARSE_LITERAL);
	assert_int_equal(cc.claimed, 1);
	imap_parser_literal_external(p, &blob1);
	assert_int_equal(line(p, " {2000000+}"), IMAP_PARSE_LITERAL);   /* MULTIAPPEND */
	imap_parser_literal_external(p, &blob2);
	assert_int_equal(line(p, ""), IMAP_PARSE_COMMAND);
	const struct imap_command *cmd = imap_parser_command(p);
	assert_int_equal(cmd->count, 4);
	assert_int_equal(cmd->args[2].type, IMAP_ARG_EXTERNAL);
	assert_ptr_equal(cmd->args[2].ext, &blob1);
	assert_int_equal(cmd->args[2].ext_size, 100000);
	assert_ptr_equal(cmd->args[3].ext, &blob2);
	assert_true(cmd->args[3].literal);
	assert_null(imap_arg_astring(&cmd->args[2]));
	imap_parser_each_external(p, release, &cc);
	assert_int_equal(cc.released, 2);
	assert_ptr_equal(cc.seen[0], &blob1);
	assert_ptr_equal(cc.seen[1], &blob2);
	imap_parser_reset(p);
	imap_parser_each_external(p, release, &cc);
	assert_int_equal(cc.released, 2);   /* forgotten by the reset */

	/* an empty message, and a BAD after it: the external is still listed */
	assert_int_equal(line(p, "b APPEND INBOX {0}"), IMAP_PARSE_LITERAL);
	imap_parser_literal_external(p, &blob3);
	assert_int_equal(line(p, " ("), IMAP_PARSE_BAD);
	assert_string_equal(imap_parser_error(p)->reason, "Missing )");
	imap_parser_each_external(p, release, &cc);
	assert_int_equal(cc.released, 3);
	assert_ptr_equal(cc.seen[2], &blob3);
	imap_parser_reset(p);

	/* the claim does not take other literals out of the limits */
	assert_int_equal(line(p, "c LOGIN {100000}"), IMAP_PARSE_BAD);
	imap_parser_free(&p);
}

static void test_allow_nul(void **state)
{
	struct imap_parser *p = imap_parser_new(NULL);
	imap_parser_allow_nul(p, true);
	assert_int_equal(line(p, "a APPEND INBOX {3}"), IMAP_PARSE_LITERAL);
	assert_int_equal(imap_parser_literal_data(p, "a\0b", 3), IMAP_PARSE_LITERAL);
	assert_int_equal(line(p, ""), IMAP_PARSE_COMMAND);
	const struct imap_arg *a = &imap_parser_command(p)->args[1];
	assert_int_equal(a->len, 3);
	assert_memory_equal(a->str, "a\0b", 4);
	assert_null(imap_arg_string(a));   /* a string holds no NUL */
	assert_null(imap_arg_astring(a));
	/* NUL is still refused in a line */
	imap_parser_reset(p);
	imap_parser_allow_nul(p, true);
	assert_int_equal(imap_parser_line(p, "a X \"\0\"", 7), IMAP_PARSE_BAD);
	/* the reset forgets it */
	imap_parser_reset(p);
	assert_int_equal(line(p, "a APPEND INBOX {3}"), IMAP_PARSE_LITERAL);
	assert_int_equal(imap_parser_literal_data(p, "a", 1), IMAP_PARSE_LITERAL);
	assert_int_equal(imap_parser_literal_data(p, "\0", 1), IMAP_PARSE_BAD);
	assert_string_equal(imap_parser_error(p)->reason, "NUL byte in literal");
	assert_int_equal(imap_parser_literal_data(p, "b", 1), IMAP_PARSE_BAD);   /* dropped */
	/* the rest of the refused command: BAD again, with its literals */
	assert_int_equal(line(p, " x {4+}"), IMAP_PARSE_BAD);
	assert_int_equal(imap_parser_error(p)->skip_literal, 4);
	assert_false(imap_parser_error(p)->skip_sync);
	assert_int_equal(line(p, ""), IMAP_PARSE_BAD);
	assert_int_equal(imap_parser_error(p)->skip_literal, 0);
	assert_string_equal(imap_parser_error(p)->reason, "NUL byte in literal");
	imap_parser_reset(p);
	assert_int_equal(line(p, "b NOOP"), IMAP_PARSE_COMMAND);
	imap_parser_free(&p);
}

/* A literal as large as allowed, byte by byte and whole. */
static void test_literal_limit(void **state)
{
	size_t n = IMAP_PARSER_DEFAULT_MAX_LITERAL;
	char *data = malloc(n);
	memset(data, 'x', n);
	struct imap_parser *p = imap_parser_new(NULL);
	for (int pass = 0; pass < 2; pass++) {
		assert_int_equal(line(p, "a X {65536}"), IMAP_PARSE_LITERAL);
		if (pass == 0) {
			assert_int_equal(imap_parser_literal_data(p, data, n), IMAP_PARSE_LITERAL);
		} else {
			for (size_t i = 0; i < n; i++)
				assert_int_equal(imap_parser_literal_data(p, data + i, 1), IMAP_PARSE_LITERAL);
		}
		assert_int_equal(line(p, ""), IMAP_PARSE_COMMAND);
		assert_int_equal(imap_parser_command(p)->args[0].len, n);
		imap_parser_reset(p);
	}
	/* fifteen of them and their lines fit in the command; the sixteenth is refused */
	assert_int_equal(line(p, "a X {65536}"), IMAP_PARSE_LITERAL);
	int i;
	for (i = 0; i < 20; i++) {
		assert_int_equal(imap_parser_literal_data(p, data, n), IMAP_PARSE_LITERAL);
		if (line(p, " {65536}") != IMAP_PARSE_LITERAL)
			break;
	}
	assert_int_equal(i, 14);
	assert_string_equal(imap_parser_error(p)->reason, "Command too long");
	assert_true(imap_parser_error(p)->too_big);
	imap_parser_free(&p);
	free(data);
}

/* Lists built over many lines keep their pointers: the vectors under them
 * grow between the lines. */
static void test_long_lists(void **state)
{
	struct imap_parser *p = imap_parser_new(NULL);
	struct buf l = BUF_INIT, want = BUF_INIT, got = BUF_INIT;
	buf_append_str(&l, "a X (");
	buf_append_str(&want, "a X: LIST(");
	for (int line_no = 0; line_no < 10; line_no++) {
		for (int i = 0; i < 100; i++) {
			buf_appendf(&l, "%s(%d \"q%d\")", i == 0 && line_no == 0 ? "" : " ", i, i);
			buf_appendf(&want, "%sLIST(ATOM(%d) STRING(\"q%d\"))",
				    i == 0 && line_no == 0 ? "" : " ", i, i);
		}
		buf_append_str(&l, " {1}");
		assert_int_equal(imap_parser_line(p, l.data, l.len), IMAP_PARSE_LITERAL);
		assert_int_equal(imap_parser_literal(p)->index, (size_t)line_no * 101 + 100);
		assert_int_equal(imap_parser_literal_data(p, "z", 1), IMAP_PARSE_LITERAL);
		buf_append_str(&want, " LITERAL(\"z\")");
		buf_clear(&l);
	}
	buf_append_str(&l, ") end");
	buf_append_str(&want, ") ATOM(end)");
	assert_int_equal(imap_parser_line(p, l.data, l.len), IMAP_PARSE_COMMAND);
	print_result(&got, p, IMAP_PARSE_COMMAND);
	assert_string_equal(buf_cstr(&got), buf_cstr(&want));
	buf_free(&l);
	buf_free(&want);
	buf_free(&got);
	imap_parser_free(&p);
}

/* The defaults hold 10000 arguments and no more. */
static void test_max_args(void **state)
{
	struct imap_parser *p = imap_parser_new(NULL);
	struct buf l = BUF_INIT;
	buf_append_str(&l, "a X");
	for (int i = 0; i < IMAP_PARSER_DEFAULT_MAX_ARGS; i++)
		buf_append_str(&l, " 1");
	assert_int_equal(imap_parser_line(p, l.data, l.len), IMAP_PARSE_COMMAND);
	assert_int_equal(imap_parser_command(p)->count, IMAP_PARSER_DEFAULT_MAX_ARGS);
	imap_parser_reset(p);
	buf_append_str(&l, " 1");
	assert_int_equal(imap_parser_line(p, l.data, l.len), IMAP_PARSE_BAD);
	assert_string_equal(imap_parser_error(p)->reason, "Too many arguments");
	imap_parser_reset(p);
	assert_int_equal(line(p, "b NOOP"), IMAP_PARSE_COMMAND);   /* reset after a big one */
	buf_free(&l);
	imap_parser_free(&p);
}

/* ---- helpers ---- */

static struct imap_arg atom(const char *s)
{
	return (struct imap_arg){ .type = IMAP_ARG_ATOM, .str = (char *)s, .len = strlen(s) };
}

static struct imap_arg string(const char *s, size_t len)
{
	return (struct imap_arg){ .type = IMAP_ARG_STRING, .str = (char *)s, .len = len };
}

static void test_helpers(void **state)
{
	struct imap_arg a;
	struct imap_arg nil = { .type = IMAP_ARG_NIL, .str = "NIL", .len = 3 };
	struct imap_arg list = { .type = IMAP_ARG_LIST };
	bool is_nil = false;

	a = atom("alice");
	assert_string_equal(imap_arg_astring(&a), "alice");
	assert_string_equal(imap_arg_atom(&a), "alice");
	assert_null(imap_arg_string(&a));
	assert_null(imap_arg_nstring(&a, &is_nil));
	a = atom("a]b");
	assert_string_equal(imap_arg_astring(&a), "a]b");
	a = atom("a*");
	assert_null(imap_arg_astring(&a));
	assert_string_equal(imap_arg_atom(&a), "a*");
	a = atom("\\Seen");
	assert_null(imap_arg_astring(&a));
	a = atom("B[1 2]");
	assert_null(imap_arg_astring(&a));
	assert_string_equal(imap_arg_astring(&nil), "NIL");
	assert_string_equal(imap_arg_atom(&nil), "NIL");
	assert_string_equal(imap_arg_nstring(&nil, &is_nil), "");
	assert_true(is_nil);
	assert_null(imap_arg_string(&nil));

	a = string("a b", 3);
	assert_string_equal(imap_arg_astring(&a), "a b");
	assert_string_equal(imap_arg_string(&a), "a b");
	assert_string_equal(imap_arg_nstring(&a, &is_nil), "a b");
	assert_false(is_nil);
	assert_null(imap_arg_atom(&a));
	a = string("a\0b", 3);
	assert_null(imap_arg_string(&a));
	assert_null(imap_arg_astring(&a));
	assert_null(imap_arg_nstring(&a, NULL));

	assert_null(imap_arg_astring(&list));
	assert_null(imap_arg_string(&list));
	assert_null(imap_arg_atom(&list));
	assert_null(imap_arg_nstring(&list, &is_nil));

	static const struct {
		const char *s;
		bool ok32, ok64;
		uint64_t n;
	} numbers[] = {
		{ "0", true, true, 0 },
		{ "007", true, true, 7 },
		{ "4294967295", true, true, 4294967295u },
		{ "4294967296", false, true, 4294967296u },
		{ "9223372036854775807", false, true, 9223372036854775807u },
		{ "9223372036854775808", false, false, 0 },
		{ "99999999999999999999999", false, false, 0 },
		{ "12a", false, false, 0 },
		{ "-1", false, false, 0 },
		{ "+1", false, false, 0 },
		{ "", false, false, 0 },
	};
	for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
		uint32_t n32 = 0;
		uint64_t n64 = 0;
		a = atom(numbers[i].s);
		assert_int_equal(imap_arg_number(&a, &n32), numbers[i].ok32);
		assert_int_equal(imap_arg_number64(&a, &n64), numbers[i].ok64);
		if (numbers[i].ok32)
			assert_int_equal(n32, numbers[i].n);
		if (numbers[i].ok64)
			assert_int_equal(n64, numbers[i].n);
	}
	a = string("5", 1);
	uint32_t n;
	assert_false(imap_arg_number(&a, &n));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_table_fresh),
		cmocka_unit_test(test_literal_so_far),
		cmocka_unit_test(test_external),
		cmocka_unit_test(test_allow_nul),
		cmocka_unit_test(test_literal_limit),
		cmocka_unit_test(test_long_lists),
		cmocka_unit_test(test_max_args),
		cmocka_unit_test(test_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
