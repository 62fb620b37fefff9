/* IMAP command arguments: astring (atom, quoted string, literal), one table
 * row per case: the line, where the argument starts, and what comes out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_args.h"

struct astring_case {
	const char *name;
	const char *line;
	size_t len;                    /* 0: strlen(line) */
	size_t start;
	enum imap_arg_result result;
	const char *value;             /* OK: the value; BAD: the error */
	size_t end;                    /* OK: position after the argument */
	size_t value_len;              /* 0: strlen(value) */
};

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct astring_case cases[] = {
	/* ---- atoms ---- */
	{ "atom", "alice@example.org", 0, 0, IMAP_ARG_OK, "alice@example.org", 17 },
	{ "atom up to a space", "alice secret", 0, 0, IMAP_ARG_OK, "alice", 5 },
	{ "second atom", "alice secret", 0, 6, IMAP_ARG_OK, "secret", 12 },
	{ "atom with ]", "a]b", 0, 0, IMAP_ARG_OK, "a]b", 3 },
	{ "atom stops at (", "ab(c", 0, 0, IMAP_ARG_OK, "ab", 2 },
	{ "atom stops at a quote", "ab\"c\"", 0, 0, IMAP_ARG_OK, "ab", 2 },
	{ "atom with 8-bit byte", "p\xc3\xa4ss", 0, 0, IMAP_ARG_OK, "p", 1 },
	{ "atom-special first", "(x)", 0, 0, IMAP_ARG_BAD, "Invalid character in argument" },
	{ "wildcard first", "*", 0, 0, IMAP_ARG_BAD, "Invalid character in argument" },
	{ "space first", " x", 0, 0, IMAP_ARG_BAD, "Invalid character in argument" },
	{ "control character", "\x01x", 0, 0, IMAP_ARG_BAD, "Invalid character in argument" },
	{ "8-bit first", "\xc3\xa4", 0, 0, IMAP_ARG_BAD, "Invalid character in argument" },
	{ "nothing", "", 0, 0, IMAP_ARG_BAD, "Missing argument" },
	{ "nothing left", "alice ", 0, 6, IMAP_ARG_BAD, "Missing argument" },
	/* ---- quoted strings ---- */
	{ "quoted", "\"alice\"", 0, 0, IMAP_ARG_OK, "alice", 7 },
	{ "quoted empty", "\"\" x", 0, 0, IMAP_ARG_OK, "", 2 },
	{ "quoted with spaces", "\"a b c\" d", 0, 0, IMAP_ARG_OK, "a b c", 7 },
	{ "quoted escapes", "\"a\\\"b\\\\c\"", 0, 0, IMAP_ARG_OK, "a\"b\\c", 9 },
	{ "quoted specials need no escape", "\"(){%*]\"", 0, 0, IMAP_ARG_OK, "(){%*]", 8 },
	{ "quoted utf-8", "\"p\xc3\xa4ss w\xc3\xb6rd \xe2\x82\xac \xf0\x9f\x94\x91\"", 0, 0,
	  IMAP_ARG_OK, "p\xc3\xa4ss w\xc3\xb6rd \xe2\x82\xac \xf0\x9f\x94\x91", 22 },
	{ "quoted bad escape", "\"a\\b\"", 0, 0, IMAP_ARG_BAD, "Invalid escape in quoted string" },
	{ "quoted escape at the end", "\"a\\", 0, 0, IMAP_ARG_BAD, "Invalid escape in quoted string" },
	{ "unterminated", "\"alice", 0, 0, IMAP_ARG_BAD, "Unterminated quoted string" },
	{ "unterminated after escaped quote", "\"a\\\"", 0, 0, IMAP_ARG_BAD,
	  "Unterminated quoted string" },
	{ "quoted CR", "\"a\rb\"", 0, 0, IMAP_ARG_BAD, "Invalid character in quoted string" },
	{ "quoted NUL", "\"a\0b\"", 5, 0, IMAP_ARG_BAD, "Invalid character in quoted string" },
	{ "quoted bad utf-8", "\"a\xff\"", 0, 0, IMAP_ARG_BAD, "Invalid UTF-8 in quoted string" },
	{ "quoted overlong utf-8", "\"\xc0\xaf\"", 0, 0, IMAP_ARG_BAD, "Invalid UTF-8 in quoted string" },
	{ "quoted surrogate", "\"\xed\xa0\x80\"", 0, 0, IMAP_ARG_BAD, "Invalid UTF-8 in quoted string" },
	{ "quoted truncated utf-8", "\"\xe2\x82\"", 0, 0, IMAP_ARG_BAD, "Invalid UTF-8 in quoted string" },
	{ "quoted utf-8 cut by the line end", "\"\xe2\x82", 0, 0, IMAP_ARG_BAD,
	  "Invalid UTF-8 in quoted string" },
	/* ---- literals ---- */
	{ "literal", "{5}", 0, 0, IMAP_ARG_LITERAL },
	{ "non-synchronizing literal", "alice {12+}", 0, 6, IMAP_ARG_LITERAL },
	{ "literal not at the end", "{5} x", 0, 0, IMAP_ARG_BAD, "Invalid literal" },
	{ "literal without digits", "{}", 0, 0, IMAP_ARG_BAD, "Invalid literal" },
	{ "literal with a sign", "{-1}", 0, 0, IMAP_ARG_BAD, "Invalid literal" },
	{ "literal unterminated", "{5", 0, 0, IMAP_ARG_BAD, "Invalid literal" },
	{ "literal too long a number", "{12345678901234567890}", 0, 0, IMAP_ARG_BAD, "Invalid literal" },
};

static void run_case(const struct astring_case *c, struct buf *out)
{
	size_t len = c->len != 0 ? c->len : strlen(c->line);
	size_t pos = c->start;
	const char *error = NULL;
	enum imap_arg_result r = imap_parse_astring(c->line, len, &pos, out, &error);
	if (r != c->result)
		fail_msg("%s: result %d, want %d (%s)", c->name, r, c->result, error ? error : "");
	if (r == IMAP_ARG_OK) {
		size_t vlen = c->value_len != 0 ? c->value_len : strlen(c->value);
		if (out->len != vlen || memcmp(out->data, c->value, vlen) != 0)
			fail_msg("%s: value '%s', want '%s'", c->name, buf_cstr(out), c->value);
		if (pos != c->end)
			fail_msg("%s: ends at %zu, want %zu", c->name, pos, c->end);
	} else if (r == IMAP_ARG_BAD) {
		assert_non_null(error);
		if (strcmp(error, c->value) != 0)
			fail_msg("%s: error '%s', want '%s'", c->name, error, c->value);
		assert_int_equal(pos, c->start);
	} else {
		assert_int_equal(pos, c->start);
	}
}

static void test_table(void **state)
{
	struct buf out = BUF_INIT;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_case(&cases[i], &out);   /* one buffer for all: nothing carries over */
	buf_free(&out);
}

/* The value never needs a reallocation: a password is never left behind in
 * freed memory. */
static void test_reserved_for_the_line(void **state)
{
	struct buf out = BUF_INIT;
	const char *line = "\"a rather long password with \\\"quotes\\\" and more\"";
	size_t pos = 0;
	const char *error = NULL;
	assert_int_equal(imap_parse_astring(line, strlen(line), &pos, &out, &error), IMAP_ARG_OK);
	assert_true(out.cap > strlen(line));
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_reserved_for_the_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
