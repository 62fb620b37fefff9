/* POP3 command lines, message output (byte-stuffing, CRLF, TOP) and UIDLs:
 * one table row per case. The output is also produced with the message
 * given one byte at a time and in every split into two pieces: the result
 * must not change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "pop3/pop3_parse.h"

struct cmd_case {
	const char *line;
	enum pop3_parse_result result;
	enum pop3_cmd_id id;
	size_t n_params;
	uint32_t p0, p1;
	const char *rest_or_error;     /* OK with rest: the rest; BAD: the error */
};

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct cmd_case cmd_cases[] = {
	{ "STAT", POP3_PARSE_OK, POP3_CMD_STAT },
	{ "stat", POP3_PARSE_OK, POP3_CMD_STAT },
	{ "Capa", POP3_PARSE_OK, POP3_CMD_CAPA },
	{ "QUIT", POP3_PARSE_OK, POP3_CMD_QUIT },
	{ "QUIT now", POP3_PARSE_BAD, POP3_CMD_QUIT, 0, 0, 0, "QUIT takes no arguments" },
	{ "NOOP ", POP3_PARSE_BAD, POP3_CMD_NOOP, 0, 0, 0, "NOOP takes no arguments" },
	{ "LIST", POP3_PARSE_OK, POP3_CMD_LIST },
	{ "LIST 7", POP3_PARSE_OK, POP3_CMD_LIST, 1, 7 },
	{ "LIST 1 2", POP3_PARSE_BAD, POP3_CMD_LIST, 0, 0, 0, "Syntax: LIST [msg]" },
	{ "LIST ", POP3_PARSE_BAD, POP3_CMD_LIST, 0, 0, 0, "Syntax: LIST [msg]" },
	{ "UIDL 4294967295", POP3_PARSE_OK, POP3_CMD_UIDL, 1, 4294967295u },
	{ "UIDL 4294967296", POP3_PARSE_BAD, POP3_CMD_UIDL, 0, 0, 0, "Invalid message number" },
	{ "RETR 1", POP3_PARSE_OK, POP3_CMD_RETR, 1, 1 },
	{ "retr 0012", POP3_PARSE_OK, POP3_CMD_RETR, 1, 12 },
	{ "RETR", POP3_PARSE_BAD, POP3_CMD_RETR, 0, 0, 0, "Syntax: RETR msg" },
	{ "RETR 0", POP3_PARSE_BAD, POP3_CMD_RETR, 0, 0, 0, "Invalid message number" },
	{ "RETR -1", POP3_PARSE_BAD, POP3_CMD_RETR, 0, 0, 0, "Invalid message number" },
	{ "RETR +1", POP3_PARSE_BAD, POP3_CMD_RETR, 0, 0, 0, "Invalid message number" },
	{ "RETR 1x", POP3_PARSE_BAD, POP3_CMD_RETR, 0, 0, 0, "Invalid message number" },
	{ "RETR  1", POP3_PARSE_BAD, POP3_CMD_RETR, 0, 0, 0, "Syntax: RETR msg" },
	{ "RETR 1 ", POP3_PARSE_BAD, POP3_CMD_RETR, 0, 0, 0, "Syntax: RETR msg" },
	{ "DELE 3", POP3_PARSE_OK, POP3_CMD_DELE, 1, 3 },
	{ "DELE 99999999999", POP3_PARSE_BAD, POP3_CMD_DELE, 0, 0, 0, "Invalid message number" },
	{ "TOP 1 0", POP3_PARSE_OK, POP3_CMD_TOP, 2, 1, 0 },
	{ "TOP 2 10", POP3_PARSE_OK, POP3_CMD_TOP, 2, 2, 10 },
	{ "TOP 1", POP3_PARSE_BAD, POP3_CMD_TOP, 0, 0, 0, "Syntax: TOP msg n" },
	{ "TOP 1 2 3", POP3_PARSE_BAD, POP3_CMD_TOP, 0, 0, 0, "Syntax: TOP msg n" },
	{ "TOP 1 x", POP3_PARSE_BAD, POP3_CMD_TOP, 0, 0, 0, "Invalid number of lines" },
	{ "TOP 0 1", POP3_PARSE_BAD, POP3_CMD_TOP, 0, 0, 0, "Invalid message number" },
	{ "USER alice@example.org", POP3_PARSE_OK, POP3_CMD_USER, 0, 0, 0, "alice@example.org" },
	{ "PASS with spaces  in it", POP3_PARSE_OK, POP3_CMD_PASS, 0, 0, 0, "with spaces  in it" },
	{ "AUTH", POP3_PARSE_OK, POP3_CMD_AUTH },
	{ "AUTH PLAIN AGFsaWNl", POP3_PARSE_OK, POP3_CMD_AUTH, 0, 0, 0, "PLAIN AGFsaWNl" },
	{ "APOP a b", POP3_PARSE_OK, POP3_CMD_APOP, 0, 0, 0, "a b" },
	{ "XYZZ", POP3_PARSE_UNKNOWN },
	{ "RE", POP3_PARSE_UNKNOWN },
	{ "RETRX 1", POP3_PARSE_UNKNOWN },
	{ "", POP3_PARSE_UNKNOWN },
	{ " STAT", POP3_PARSE_UNKNOWN },
};

static void test_commands(void **state)
{
	for (size_t i = 0; i < sizeof cmd_cases / sizeof cmd_cases[0]; i++) {
		const struct cmd_case *c = &cmd_cases[i];
		struct pop3_command cmd;
		const char *error;
		enum pop3_parse_result r = pop3_parse_command(c->line, strlen(c->line), &cmd, &error);
		if (r != c->result)
			fail_msg("'%s': result %d, expected %d", c->line, r, c->result);
		assert_int_equal(cmd.id, c->id);
		if (r == POP3_PARSE_BAD) {
			assert_string_equal(error, c->rest_or_error);
			continue;
		}
		if (r != POP3_PARSE_OK)
			continue;
		assert_int_equal(cmd.n_params, c->n_params);
		if (c->n_params > 0)
			assert_int_equal(cmd.params[0], c->p0);
		if (c->n_params > 1)
			assert_int_equal(cmd.params[1], c->p1);
		if (c->rest_or_error != NULL) {
			assert_non_null(cmd.rest);
			assert_int_equal(cmd.rest_len, strlen(c->rest_or_error));
			assert_memory_equal(cmd.rest, c->rest_or_error, cmd.rest_len);
		} else {
			assert_null(cmd.rest);
		}
		assert_string_equal(cmd.keyword, pop3_cmd_name(cmd.id));
	}
}

static void test_limits(void **state)
{
	struct pop3_command cmd;
	const char *error;
	char line[600];
	/* 253 octets + CRLF = 255: the longest command (RFC 2449 4) */
	memset(line, '1', sizeof line);
	memcpy(line, "LIST ", 5);
	assert_int_equal(pop3_parse_command(line, 45, &cmd, &error), POP3_PARSE_BAD);
	assert_string_equal(error, "Invalid message number");   /* 40 octets, too big */
	assert_int_equal(pop3_parse_command(line, 46, &cmd, &error), POP3_PARSE_BAD);
	assert_string_equal(error, "Syntax: LIST [msg]");       /* a parameter of 41 octets */
	memcpy(line, "STAT", 4);
	memset(line + 4, ' ', 250);
	assert_int_equal(pop3_parse_command(line, 254, &cmd, &error), POP3_PARSE_BAD);
	assert_string_equal(error, "Line too long");
	/* PASS may be longer (a long password) */
	memcpy(line, "PASS ", 5);
	assert_int_equal(pop3_parse_command(line, sizeof line, &cmd, &error), POP3_PARSE_OK);
	assert_int_equal(cmd.rest_len, sizeof line - 5);
	/* NUL */
	assert_int_equal(pop3_parse_command("RETR \0" "1", 7, &cmd, &error), POP3_PARSE_BAD);
	assert_string_equal(error, "NUL byte in command");
}

struct stuff_case {
	const char *name;
	const char *in;
	int64_t top;
	const char *out;
};

static const struct stuff_case stuff_cases[] = {
	{ "plain", "a\r\nb\r\n", -1, "a\r\nb\r\n.\r\n" },
	{ "dot lines", ".a\r\n..b\r\n.\r\nc.\r\n", -1, "..a\r\n...b\r\n..\r\nc.\r\n.\r\n" },
	{ "first byte a dot", ".", -1, "..\r\n.\r\n" },
	{ "bare LF", "a\nb\n.c\n", -1, "a\r\nb\r\n..c\r\n.\r\n" },
	{ "no final line end", "a\r\nlast", -1, "a\r\nlast\r\n.\r\n" },
	{ "final CR only", "a\r", -1, "a\r\n.\r\n" },
	{ "bare CR kept", "a\rb\r\n", -1, "a\rb\r\n.\r\n" },
	{ "empty", "", -1, ".\r\n" },
	{ "TOP 0", "H: 1\r\nH: 2\r\n\r\nb1\r\nb2\r\n", 0, "H: 1\r\nH: 2\r\n\r\n.\r\n" },
	{ "TOP 1", "H: 1\r\n\r\n.b1\r\nb2\r\n", 1, "H: 1\r\n\r\n..b1\r\n.\r\n" },
	{ "TOP more than there is", "H: 1\r\n\r\nb1\r\n", 5, "H: 1\r\n\r\nb1\r\n.\r\n" },
	{ "TOP empty body lines count", "H\r\n\r\n\r\n\r\nx\r\n", 2, "H\r\n\r\n\r\n\r\n.\r\n" },
	{ "TOP without a body", "H: 1\r\nH: 2", 3, "H: 1\r\nH: 2\r\n.\r\n" },
	{ "TOP with LF lines", "H\n\nb1\nb2\n", 1, "H\r\n\r\nb1\r\n.\r\n" },
	{ "TOP header with a CR inside", "H\r\r\n\r\nb\r\n", 0, "H\r\r\n\r\n.\r\n" },
};

static void stuff_in_pieces(const struct stuff_case *c, size_t split, bool bytewise,
			    struct buf *out)
{
	struct pop3_stuffer st;
	pop3_stuffer_init(&st, c->top);
	size_t len = strlen(c->in);
	buf_clear(out);
	if (bytewise) {
		for (size_t i = 0; i < len; i++)
			pop3_stuff(&st, c->in + i, 1, out);
	} else {
		pop3_stuff(&st, c->in, split, out);
		pop3_stuff(&st, c->in + split, len - split, out);
	}
	pop3_stuff_finish(&st, out);
}

static void test_stuffing(void **state)
{
	struct buf out = BUF_INIT;
	for (size_t i = 0; i < sizeof stuff_cases / sizeof stuff_cases[0]; i++) {
		const struct stuff_case *c = &stuff_cases[i];
		for (size_t split = 0; split <= strlen(c->in); split++) {
			stuff_in_pieces(c, split, false, &out);
			if (!buf_eq_str(&out, c->out))
				fail_msg("%s (split at %zu): '%s'", c->name, split, buf_cstr(&out));
		}
		stuff_in_pieces(c, 0, true, &out);
		if (!buf_eq_str(&out, c->out))
			fail_msg("%s (byte by byte): '%s'", c->name, buf_cstr(&out));
	}
	buf_free(&out);
}

static void test_uidl(void **state)
{
	char id[17];
	pop3_uidl(1234567890, 7, id);
	assert_string_equal(id, "00000007499602D2");
	pop3_uidl(UINT32_MAX, UINT32_MAX, id);
	assert_string_equal(id, "FFFFFFFFFFFFFFFF");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_stuffing),
		cmocka_unit_test(test_uidl),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
