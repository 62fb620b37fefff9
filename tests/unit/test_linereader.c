/* The line reader, fed whole, one byte at a time and in odd chunks: every
 * way of feeding must give the same transcript. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "core/buf.h"
#include "server/linereader.h"

/* A transcript line per item: "L<len>:<bytes>", "T", "R<len>:<bytes>" (raw
 * chunks of one raw run are merged, since chunking depends on feeding). A
 * line "RAW n" asks for n raw bytes, as IMAP does after a literal. */
struct run {
	struct linereader lr;
	struct evbuffer *in;
	struct buf out;
	struct buf raw;
	struct buf data;
};

static void drain_items(struct run *r)
{
	for (;;) {
		const char *data;
		size_t len;
		enum linereader_result res = linereader_next(&r->lr, r->in, &data, &len);
		switch (res) {
		case LINEREADER_MORE:
			return;
		case LINEREADER_LINE:
			assert_non_null(data);
			assert_int_equal(data[len], '\0');
			assert_true(len <= r->lr.max);
			buf_appendf(&r->out, "L%zu:", len);
			buf_append(&r->out, data, len);
			buf_putc(&r->out, '\n');
			if (len > 4 && memcmp(data, "RAW ", 4) == 0)
				linereader_set_raw(&r->lr, strtoull(data + 4, NULL, 10));
			if (len == 4 && memcmp(data, "DATA", 4) == 0)
				linereader_set_data(&r->lr);
			break;
		case LINEREADER_DATA:
			/* Items may hold several lines; merged, since how many
			 * depends on the feeding. */
			assert_true(len > 0 && len <= 2 * r->lr.max + 2);
			assert_int_equal(data[len], '\0');
			buf_append(&r->data, data, len);
			break;
		case LINEREADER_DATA_END: {
			const struct linereader_data_stats *st = linereader_data_stats(&r->lr);
			assert_int_equal(st->bytes, r->data.len);
			buf_appendf(&r->out, "D%zu:", r->data.len);
			buf_append(&r->out, r->data.data, r->data.len);
			buf_appendf(&r->out, "\nE lf=%llu cr=%llu long=%llu\n",
				    (unsigned long long)st->bare_lf, (unsigned long long)st->bare_cr,
				    (unsigned long long)st->long_lines);
			buf_clear(&r->data);
			break;
		}
		case LINEREADER_TOO_LONG:
			buf_append_str(&r->out, "T\n");
			break;
		case LINEREADER_RAW:
			assert_true(len > 0 && len <= LINEREADER_RAW_CHUNK);
			buf_append(&r->raw, data, len);
			if (linereader_raw_left(&r->lr) == 0) {
				buf_appendf(&r->out, "R%zu:", r->raw.len);
				buf_append(&r->out, r->raw.data, r->raw.len);
				buf_putc(&r->out, '\n');
				buf_clear(&r->raw);
			}
			break;
		}
	}
}

/* Feed input in pieces of `chunk` bytes (0: whole); returns the transcript
 * and how many bytes were left unconsumed in the buffer. */
static char *transcript(const char *input, size_t len, size_t max, size_t chunk, size_t *left_r,
			size_t *out_len_r)
{
	struct run r;
	linereader_init(&r.lr, max);
	r.in = evbuffer_new();
	buf_init(&r.out);
	buf_init(&r.raw);
	buf_init(&r.data);
	if (chunk == 0)
		chunk = len > 0 ? len : 1;
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		evbuffer_add(r.in, input + off, n);
		drain_items(&r);
	}
	drain_items(&r);
	if (left_r != NULL)
		*left_r = evbuffer_get_length(r.in);
	evbuffer_free(r.in);
	linereader_free(&r.lr);
	buf_free(&r.raw);
	buf_free(&r.data);
	*out_len_r = r.out.len;
	return buf_steal(&r.out);
}

static void check_all_feedings(const char *input, size_t len, size_t max, const char *expect,
			       size_t expect_len)
{
	static const size_t chunks[] = { 0, 1, 2, 3, 7, 4096 };
	for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
		size_t got_len;
		char *got = transcript(input, len, max, chunks[i], NULL, &got_len);
		bool same = got_len == expect_len && memcmp(got, expect, expect_len) == 0;
		if (!same)
			print_error("chunk %zu: got\n%.*s\nwant\n%.*s\n", chunks[i], (int)got_len, got,
				    (int)expect_len, expect);
		free(got);
		assert_true(same);
	}
}

#define S(lit) lit, sizeof(lit) - 1

static const struct {
	const char *name;
	const char *input;
	size_t input_len;
	size_t max;
	const char *expect;
	size_t expect_len;
} cases[] = {
	{ "crlf", S("a\r\nbc\r\n"), 64, S("L1:a\nL2:bc\n") },
	{ "bare lf", S("a\nbc\n"), 64, S("L1:a\nL2:bc\n") },
	{ "mixed terminators", S("a\r\nb\nc\r\n"), 64, S("L1:a\nL1:b\nL1:c\n") },
	{ "bare cr inside a line", S("a\rb\r\n"), 64, S("L3:a\rb\n") },
	{ "cr cr lf keeps one cr", S("a\r\r\n"), 64, S("L2:a\r\n") },
	{ "lone cr at the end is not a terminator", S("ab\r"), 64, S("") },
	{ "nul bytes are content", S("a\0b\r\n\0\n"), 64, S("L3:a\0b\nL1:\0\n") },
	{ "empty lines", S("\r\n\n"), 64, S("L0:\nL0:\n") },
	{ "incomplete line waits", S("abc"), 64, S("") },
	{ "exactly at the limit, crlf", S("12345678\r\nok\r\n"), 8, S("L8:12345678\nL2:ok\n") },
	{ "exactly at the limit, lf", S("12345678\nok\n"), 8, S("L8:12345678\nL2:ok\n") },
	{ "one over the limit, crlf", S("123456789\r\nok\r\n"), 8, S("T\nL2:ok\n") },
	{ "one over the limit, lf", S("123456789\nok\n"), 8, S("T\nL2:ok\n") },
	{ "one over, no terminator yet", S("123456789"), 8, S("T\n") },
	{ "far over the limit", S("12345678901234567890\r\nok\r\n"), 8, S("T\nL2:ok\n") },
	{ "over the limit twice", S("1234567890\r\n1234567890\r\nok\n"), 8, S("T\nT\nL2:ok\n") },
	{ "raw bytes", S("RAW 5\r\nab\r\ncREST\r\n"), 64, S("L5:RAW 5\nR5:ab\r\nc\nL4:REST\n") },
	{ "raw holds terminators and nuls", S("RAW 4\n\n\0\r\nx\n"), 64, S("L5:RAW 4\nR4:\n\0\r\n\nL1:x\n") },
	{ "raw zero is nothing", S("RAW 0\r\nx\r\n"), 64, S("L5:RAW 0\nL1:x\n") },
	{ "raw is not limited by the line limit", S("RAW 12\r\n123456789012ok\r\n"), 8,
	  S("L6:RAW 12\nR12:123456789012\nL2:ok\n") },
	/* ---- SMTP DATA ---- */
	{ "data", S("DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n"), 64,
	  S("L4:DATA\nD20:Subject: x\r\n\r\nbody\r\n\nE lf=0 cr=0 long=0\nL4:QUIT\n") },
	{ "data empty", S("DATA\r\n.\r\nNOOP\r\n"), 64,
	  S("L4:DATA\nD0:\nE lf=0 cr=0 long=0\nL4:NOOP\n") },
	{ "data dot-unstuffing", S("DATA\r\n..\r\n...x\r\n.y\r\na.b\r\n.\r\n"), 64,
	  S("L4:DATA\nD16:.\r\n..x\r\ny\r\na.b\r\n\nE lf=0 cr=0 long=0\n") },
	{ "data: only CRLF.CRLF ends it (LF.LF)", S("DATA\r\na\n.\nb\r\n.\r\n"), 64,
	  S("L4:DATA\nD6:a\n\nb\r\n\nE lf=2 cr=0 long=0\n") },
	{ "data: LF.CRLF is not the end (smuggling)", S("DATA\r\na\n.\r\nMAIL FROM:<x@y>\r\n.\r\n"), 64,
	  S("L4:DATA\nD21:a\n\r\nMAIL FROM:<x@y>\r\n\nE lf=1 cr=0 long=0\n") },
	{ "data: CR.CR is not the end", S("DATA\r\na\r.\rb\r\n.\r\n"), 64,
	  S("L4:DATA\nD7:a\r.\rb\r\n\nE lf=0 cr=2 long=0\n") },
	{ "data: .CRLF after a bare-LF DATA command is text", S("DATA\n.\r\n.\r\n"), 64,
	  S("L4:DATA\nD2:\r\n\nE lf=0 cr=0 long=0\n") },
	{ "data: a lone CR before CRLF", S("DATA\r\nab\r\r\n.\r\n"), 64,
	  S("L4:DATA\nD5:ab\r\r\n\nE lf=0 cr=1 long=0\n") },
	{ "data: nul bytes kept", S("DATA\r\na\0b\r\n.\r\n"), 64,
	  S("L4:DATA\nD5:a\0b\r\n\nE lf=0 cr=0 long=0\n") },
	{ "data: lines over max come in pieces", S("DATA\r\n.12345678901234567890\r\n.\r\n"), 8,
	  S("L4:DATA\nD22:12345678901234567890\r\n\nE lf=0 cr=0 long=0\n") },
	{ "data: a CR at a piece's end", S("DATA\r\n1234567\r\r\n.\r\n"), 8,
	  S("L4:DATA\nD10:1234567\r\r\n\nE lf=0 cr=1 long=0\n") },
	{ "data unterminated waits", S("DATA\r\nabc\r\n.\r"), 64, S("L4:DATA\n") },
};

static void test_table(void **state)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		print_message("case: %s\n", cases[i].name);
		check_all_feedings(cases[i].input, cases[i].input_len, cases[i].max, cases[i].expect,
				   cases[i].expect_len);
	}
}

static void test_leftover_stays_in_buffer(void **state)
{
	size_t left, n;
	char *t = transcript(S("a\r\nbcd"), 64, 0, &left, &n);
	assert_string_equal(t, "L1:a\n");
	assert_int_equal(left, 3);
	free(t);
}

static char *big_line(size_t n, const char *tail)
{
	size_t tl = strlen(tail);
	char *p = malloc(n + tl + 1);
	for (size_t i = 0; i < n; i++)
		p[i] = (char)('a' + i % 26);
	memcpy(p + n, tail, tl + 1);
	return p;
}

/* A megabyte line over a 64 KiB limit: one TOO_LONG, then the next line.
 * The reader never holds more than the limit (plus a CR). */
static void test_megabyte_line_over_limit(void **state)
{
	size_t n = 1024 * 1024;
	char *input = big_line(n, "\r\nnext\r\n");
	static const size_t chunks[] = { 0, 1, 1000 };
	for (size_t i = 0; i < 3; i++) {
		struct linereader lr;
		linereader_init(&lr, 64 * 1024);
		struct evbuffer *in = evbuffer_new();
		size_t chunk = chunks[i] ? chunks[i] : n + 8;
		unsigned too_long = 0, lines = 0;
		for (size_t off = 0; off < n + 8; off += chunk) {
			evbuffer_add(in, input + off, off + chunk > n + 8 ? n + 8 - off : chunk);
			const char *d;
			size_t len;
			enum linereader_result r;
			while ((r = linereader_next(&lr, in, &d, &len)) != LINEREADER_MORE) {
				if (r == LINEREADER_TOO_LONG) {
					too_long++;
				} else {
					assert_int_equal(r, LINEREADER_LINE);
					assert_int_equal(len, 4);
					assert_memory_equal(d, "next", 4);
					lines++;
				}
			}
			assert_true(evbuffer_get_length(in) <= 64 * 1024 + 1);
		}
		assert_int_equal(too_long, 1);
		assert_int_equal(lines, 1);
		evbuffer_free(in);
		linereader_free(&lr);
	}
	free(input);
}

/* A megabyte line under a 2 MiB limit comes through whole and intact. */
static void test_megabyte_line_within_limit(void **state)
{
	size_t n = 1024 * 1024;
	char *input = big_line(n, "\r\n");
	static const size_t chunks[] = { 0, 4096, 65537 };
	for (size_t i = 0; i < 3; i++) {
		struct linereader lr;
		linereader_init(&lr, 2 * 1024 * 1024);
		struct evbuffer *in = evbuffer_new();
		size_t chunk = chunks[i] ? chunks[i] : n + 2;
		unsigned lines = 0;
		for (size_t off = 0; off < n + 2; off += chunk) {
			evbuffer_add(in, input + off, off + chunk > n + 2 ? n + 2 - off : chunk);
			const char *d;
			size_t len;
			enum linereader_result r;
			while ((r = linereader_next(&lr, in, &d, &len)) != LINEREADER_MORE) {
				assert_int_equal(r, LINEREADER_LINE);
				assert_int_equal(len, n);
				assert_memory_equal(d, input, n);
				lines++;
			}
		}
		assert_int_equal(lines, 1);
		evbuffer_free(in);
		linereader_free(&lr);
	}
	free(input);
}

/* Raw data larger than a chunk comes in chunks of at most RAW_CHUNK. */
static void test_large_raw(void **state)
{
	size_t n = 3 * LINEREADER_RAW_CHUNK + 123;
	struct buf cmd = BUF_INIT;
	buf_appendf(&cmd, "RAW %zu", n);
	struct buf input = BUF_INIT;
	buf_appendf(&input, "%s\r\n", cmd.data);
	size_t start = input.len;
	for (size_t i = 0; i < n; i++)
		buf_putc(&input, (char)(i % 251));
	buf_append_str(&input, "end\r\n");
	struct buf expect = BUF_INIT;
	buf_appendf(&expect, "L%zu:%s\nR%zu:", cmd.len, cmd.data, n);
	buf_append(&expect, input.data + start, n);
	buf_append_str(&expect, "\nL3:end\n");
	check_all_feedings(input.data, input.len, 64, expect.data, expect.len);
	buf_free(&cmd);
	buf_free(&input);
	buf_free(&expect);
}

/* After reset (STARTTLS discards input) a partial line is forgotten. */
static void test_reset_forgets_partial_state(void **state)
{
	struct linereader lr;
	linereader_init(&lr, 8);
	struct evbuffer *in = evbuffer_new();
	const char *d;
	size_t len;
	evbuffer_add(in, "1234567890", 10);
	assert_int_equal(linereader_next(&lr, in, &d, &len), LINEREADER_TOO_LONG);
	/* now skipping up to LF; a reset ends that */
	linereader_reset(&lr);
	evbuffer_add(in, "ok\n", 3);
	assert_int_equal(linereader_next(&lr, in, &d, &len), LINEREADER_LINE);
	assert_string_equal(d, "ok");
	evbuffer_add(in, "RAW", 3);
	linereader_set_raw(&lr, 100);
	linereader_reset(&lr);
	evbuffer_drain(in, 3);
	evbuffer_add(in, "x\n", 2);
	assert_int_equal(linereader_next(&lr, in, &d, &len), LINEREADER_LINE);
	assert_string_equal(d, "x");
	assert_int_equal(linereader_next(&lr, in, &d, &len), LINEREADER_MORE);
	evbuffer_free(in);
	linereader_free(&lr);
}

/* Lines over 998 octets are counted (and kept whole); one of 1 MB too. */
static void test_data_long_lines(void **state)
{
	struct buf in = BUF_INIT;
	buf_append_str(&in, "DATA\r\n");
	char *l998 = big_line(998, "\r\n"), *l999 = big_line(999, "\r\n");
	char *l1m = big_line(1024 * 1024, "\r\n");
	buf_append_str(&in, l998);
	buf_append_str(&in, l999);
	buf_append_str(&in, l1m);
	buf_append_str(&in, ".\r\n");
	static const size_t chunks[] = { 0, 1, 4093 };
	for (size_t i = 0; i < 3; i++) {
		size_t n, left;
		char *t = transcript(in.data, in.len, 4096, chunks[i], &left, &n);
		assert_int_equal(left, 0);
		size_t body = 1000 + 1001 + 1024 * 1024 + 2;
		char head[64];
		snprintf(head, sizeof head, "L4:DATA\nD%zu:", body);
		assert_memory_equal(t, head, strlen(head));
		assert_memory_equal(t + strlen(head), l998, 1000);
		const char *tail = "\nE lf=0 cr=0 long=2\n";
		assert_string_equal(t + n - strlen(tail), tail);
		free(t);
	}
	free(l998);
	free(l999);
	free(l1m);
	buf_free(&in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_data_long_lines),
		cmocka_unit_test(test_leftover_stays_in_buffer),
		cmocka_unit_test(test_megabyte_line_over_limit),
		cmocka_unit_test(test_megabyte_line_within_limit),
		cmocka_unit_test(test_large_raw),
		cmocka_unit_test(test_reset_forgets_partial_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
