/* Raw DEFLATE over evbuffers (server/compress.h): round trips written in
 * batches of every size, a client's stream fed whole and one byte at a
 * time, the output limit against a zip bomb, invalid data, and the libevent
 * filter callbacks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "server/compress.h"

/* What Python's zlib.compressobj(6, DEFLATED, -15) sends for two commands,
 * each followed by flush(Z_SYNC_FLUSH); the second refers back into the
 * first (the window lives across flushes). */
static const char PY_STREAM[] =
	"\x4a\x34\x54\xf0\xf3\xf7\x0f\xe0\xe5\x02\x00\x00\x00\xff\xff"
	"\x4a\x34\x82\x32\x00\x00\x00\x00\xff\xff";
static const char PY_PLAIN[] = "a1 NOOP\r\na2 NOOP\r\n";
/* ... and "a3 LOGOUT\r\n" ended with flush(Z_FINISH). */
static const char PY_FINISHED[] = "\x4b\x34\x56\xf0\xf1\x77\xf7\x0f\x0d\xe1\xe5\x02\x00";

static const char SYNC_MARK[] = "\x00\x00\xff\xff";

/* A reproducible byte pattern: IMAP-like text (mode 0) or noise (mode 1). */
static void fill(struct buf *b, size_t n, int mode)
{
	static const char *const words[] = {
		"* ", "FETCH ", "(FLAGS ", "(\\Seen)) ", "UID ", "BODY[] ", "OK ", "\r\n",
	};
	uint32_t x = 12345;
	buf_clear(b);
	while (b->len < n) {
		x = x * 1103515245u + 12345u;
		if (mode == 0)
			buf_append_str(b, words[(x >> 16) % 8]);
		else
			buf_putc(b, (char)(x >> 16));
	}
	buf_truncate(b, n);
}

/* Everything in `in` inflated, with no limit to speak of. */
static void inflate_all(struct compress *z, struct evbuffer *in, struct buf *out)
{
	struct evbuffer *dst = evbuffer_new();
	enum compress_result r;
	do {
		r = compress_inflate(z, in, dst, 1u << 20);
		assert_int_not_equal(r, COMPRESS_ERROR);
	} while (r == COMPRESS_OK && (evbuffer_get_length(in) > 0 || compress_inflate_pending(z)));
	size_t n = evbuffer_get_length(dst);
	buf_append(out, evbuffer_pullup(dst, (ev_ssize_t)n), n);
	evbuffer_free(dst);
}

static bool ends_with_sync_mark(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	if (n < 4)
		return false;
	const unsigned char *p = evbuffer_pullup(b, (ev_ssize_t)n);
	return memcmp(p + n - 4, SYNC_MARK, 4) == 0;
}

/* ---- the client's stream ---- */

static void test_python_stream_whole_and_bytewise(void **state)
{
	for (int bytewise = 0; bytewise <= 1; bytewise++) {
		struct compress *z = compress_new();
		struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
		size_t n = sizeof PY_STREAM - 1;
		for (size_t i = 0; i < n; i++) {
			size_t step = bytewise ? 1 : n;
			evbuffer_add(src, PY_STREAM + i, step);
			assert_int_not_equal(compress_inflate(z, src, dst, 3), COMPRESS_ERROR);
			while (compress_inflate_pending(z) || evbuffer_get_length(src) > 0)
				if (compress_inflate(z, src, dst, 3) != COMPRESS_OK)
					break;
			i += step - 1;
		}
		assert_int_equal(evbuffer_get_length(dst), strlen(PY_PLAIN));
		assert_memory_equal(evbuffer_pullup(dst, -1), PY_PLAIN, strlen(PY_PLAIN));
		assert_null(compress_error(z));
		assert_int_equal(compress_stats(z)->in_wire, n);
		assert_int_equal(compress_stats(z)->in_plain, strlen(PY_PLAIN));
		evbuffer_free(src);
		evbuffer_free(dst);
		compress_free(&z);
		assert_null(z);
	}
}

/* ---- round trips ---- */

struct trip {
	size_t size;
	int mode;        /* 0 text, 1 noise */
	size_t batch;    /* bytes per compress_deflate() call */
};

static const struct trip trips[] = {
	{ 1, 0, 1 },
	{ 100, 0, 1 },
	{ 100, 1, 7 },
	{ 5000, 0, 5000 },
	{ 200000, 0, 1000 },
	{ 200000, 1, 65536 },
	{ 1 << 20, 0, 1 << 20 },
	{ 1 << 20, 1, 300000 },
};

/* Each batch is flushed: everything written so far can be inflated from
 * what was sent so far (nothing is held back in the compressor). */
static void run_trip(const struct trip *t)
{
	struct compress *server = compress_new(), *client = compress_new();
	struct buf plain = BUF_INIT, got = BUF_INIT;
	fill(&plain, t->size, t->mode);
	struct evbuffer *pending = evbuffer_new(), *wire = evbuffer_new();
	for (size_t off = 0; off < t->size; off += t->batch) {
		size_t n = t->size - off < t->batch ? t->size - off : t->batch;
		evbuffer_add(pending, plain.data + off, n);
		assert_int_equal(compress_deflate(server, pending, wire, SIZE_MAX, false), COMPRESS_OK);
		assert_int_equal(evbuffer_get_length(pending), 0);
		assert_true(ends_with_sync_mark(wire));
		inflate_all(client, wire, &got);
		assert_int_equal(got.len, off + n);
	}
	assert_memory_equal(got.data, plain.data, plain.len);
	const struct compress_stats *st = compress_stats(server);
	assert_int_equal(st->out_plain, t->size);
	if (t->mode == 0 && t->batch >= 1000)
		assert_true(st->out_wire < t->size / 2);   /* text does compress */
	evbuffer_free(pending);
	evbuffer_free(wire);
	buf_free(&plain);
	buf_free(&got);
	compress_free(&server);
	compress_free(&client);
}

static void test_round_trips(void **state)
{
	for (size_t i = 0; i < sizeof trips / sizeof trips[0]; i++)
		run_trip(&trips[i]);
}

static void test_deflate_max_in(void **state)
{
	struct compress *z = compress_new();
	struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
	struct buf plain = BUF_INIT;
	fill(&plain, 10000, 0);
	evbuffer_add(src, plain.data, plain.len);
	assert_int_equal(compress_deflate(z, src, dst, 0, false), COMPRESS_MORE);
	assert_int_equal(compress_deflate(z, src, dst, 100, false), COMPRESS_OK);
	assert_int_equal(evbuffer_get_length(src), 9900);
	/* not flushed: the rest is still to come */
	assert_int_equal(compress_deflate(z, src, dst, 100, true), COMPRESS_OK);
	assert_true(ends_with_sync_mark(dst));
	assert_int_equal(compress_deflate(z, src, dst, SIZE_MAX, false), COMPRESS_OK);
	assert_int_equal(evbuffer_get_length(src), 0);
	assert_true(ends_with_sync_mark(dst));
	struct compress *client = compress_new();
	struct buf got = BUF_INIT;
	inflate_all(client, dst, &got);
	assert_int_equal(got.len, plain.len);
	assert_memory_equal(got.data, plain.data, plain.len);
	buf_free(&got);
	buf_free(&plain);
	evbuffer_free(src);
	evbuffer_free(dst);
	compress_free(&z);
	compress_free(&client);
}

/* ---- limits ---- */

/* 64 MiB of zeros deflate to about 64 KiB. With a limit of 4 KiB a call
 * never gives more than that, and leaves most compressed bytes unread. */
static void test_bomb_is_paced_by_the_limit(void **state)
{
	const size_t total = 64u << 20, limit = 4096;
	struct compress *server = compress_new(), *client = compress_new();
	struct evbuffer *plain = evbuffer_new(), *wire = evbuffer_new(), *dst = evbuffer_new();
	char *zeros = xcalloc(1, 1 << 20);
	for (size_t i = 0; i < total >> 20; i++) {
		evbuffer_add(plain, zeros, 1 << 20);
		compress_deflate(server, plain, wire, SIZE_MAX, false);
	}
	free(zeros);
	size_t wire_len = evbuffer_get_length(wire);
	assert_true(wire_len < total / 500);

	assert_int_equal(compress_inflate(client, wire, dst, limit), COMPRESS_OK);
	assert_int_equal(evbuffer_get_length(dst), limit);
	assert_true(compress_inflate_pending(client));
	assert_true(evbuffer_get_length(wire) > wire_len * 9 / 10);
	/* no room: nothing */
	assert_int_equal(compress_inflate(client, wire, dst, 0), COMPRESS_MORE);
	assert_int_equal(evbuffer_get_length(dst), limit);

	size_t got = 0, calls = 0;
	for (;;) {
		got += evbuffer_get_length(dst);
		evbuffer_drain(dst, evbuffer_get_length(dst));
		if (evbuffer_get_length(wire) == 0 && !compress_inflate_pending(client))
			break;
		enum compress_result r = compress_inflate(client, wire, dst, limit);
		assert_int_not_equal(r, COMPRESS_ERROR);
		assert_true(evbuffer_get_length(dst) <= limit);
		calls++;
	}
	assert_int_equal(got, total);
	assert_true(calls >= total / limit - 1);
	evbuffer_free(plain);
	evbuffer_free(wire);
	evbuffer_free(dst);
	compress_free(&server);
	compress_free(&client);
}

/* All input consumed, output still inside the decompressor (a stream
 * that does not end with a sync flush's empty stored block, as with
 * Z_PARTIAL_FLUSH): an empty source gives the rest. */
static void test_pending_output_with_empty_source(void **state)
{
	struct compress *server = compress_new(), *client = compress_new();
	struct evbuffer *plain = evbuffer_new(), *wire = evbuffer_new(), *dst = evbuffer_new();
	struct buf text = BUF_INIT;
	for (int i = 0; i < 3000; i++)
		buf_putc(&text, 'a');   /* one literal, then matches of 258 */
	evbuffer_add(plain, text.data, text.len);
	compress_deflate(server, plain, wire, SIZE_MAX, false);
	assert_true(ends_with_sync_mark(wire));
	struct evbuffer *cut = evbuffer_new();
	evbuffer_remove_buffer(wire, cut, evbuffer_get_length(wire) - 4);
	evbuffer_free(wire);
	wire = cut;
	size_t got = 0;
	while (evbuffer_get_length(wire) > 0) {
		assert_int_equal(compress_inflate(client, wire, dst, 1), COMPRESS_OK);
		assert_true(evbuffer_get_length(dst) <= 1);
		got += evbuffer_get_length(dst);
		evbuffer_drain(dst, 1);
	}
	assert_true(got < text.len);
	assert_true(compress_inflate_pending(client));
	while (compress_inflate_pending(client)) {
		compress_inflate(client, wire, dst, 1);
		got += evbuffer_get_length(dst);
		evbuffer_drain(dst, 1);
	}
	assert_int_equal(got, text.len);
	buf_free(&text);
	evbuffer_free(plain);
	evbuffer_free(wire);
	evbuffer_free(dst);
	compress_free(&server);
	compress_free(&client);
}

/* ---- invalid input ---- */

struct bad_case {
	const char *data;
	size_t len;
};

static const struct bad_case bad_cases[] = {
	{ "\x07\x00\x00\x00", 4 },                      /* block type 3 */
	{ "\x00\x05\x00\x00\x00hello", 10 },           /* stored length != ~nlen */
	{ "\xff\xff\xff\xff\xff\xff\xff\xff", 8 },
	{ "a1 NOOP\r\n", 9 },                           /* a client that forgot to compress */
};

static void test_invalid_data_fails_for_good(void **state)
{
	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		struct compress *z = compress_new();
		struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
		evbuffer_add(src, bad_cases[i].data, bad_cases[i].len);
		enum compress_result r = COMPRESS_OK;
		for (int n = 0; n < 4 && r != COMPRESS_ERROR; n++)
			r = compress_inflate(z, src, dst, 4096);
		assert_int_equal(r, COMPRESS_ERROR);
		assert_non_null(compress_error(z));
		assert_int_equal(evbuffer_get_length(src), 0);
		evbuffer_add(src, PY_STREAM, sizeof PY_STREAM - 1);
		assert_int_equal(compress_inflate(z, src, dst, 4096), COMPRESS_ERROR);
		assert_int_equal(evbuffer_get_length(src), 0);
		evbuffer_free(src);
		evbuffer_free(dst);
		compress_free(&z);
	}
}

static void test_data_after_the_end(void **state)
{
	struct compress *z = compress_new();
	struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
	evbuffer_add(src, PY_FINISHED, sizeof PY_FINISHED - 1);
	assert_int_equal(compress_inflate(z, src, dst, 4096), COMPRESS_OK);
	assert_int_equal(evbuffer_get_length(dst), strlen("a3 LOGOUT\r\n"));
	assert_null(compress_error(z));
	evbuffer_add(src, "x", 1);
	assert_int_equal(compress_inflate(z, src, dst, 4096), COMPRESS_ERROR);
	assert_non_null(compress_error(z));
	evbuffer_free(src);
	evbuffer_free(dst);
	compress_free(&z);
}

/* ---- as a libevent filter ---- */

static void count_error(void *arg)
{
	(*(int *)arg)++;
}

static void test_filter_callbacks(void **state)
{
	struct compress *server = compress_new(), *client = compress_new();
	struct evbuffer *out = evbuffer_new(), *wire = evbuffer_new(), *in = evbuffer_new();
	struct buf text = BUF_INIT;
	fill(&text, 20000, 0);
	evbuffer_add(out, text.data, text.len);
	/* output: libevent's limit is the room below the filter */
	assert_int_equal(compress_filter_out(out, wire, 0, BEV_NORMAL, server), BEV_NEED_MORE);
	assert_int_equal(compress_filter_out(out, wire, 1000, BEV_NORMAL, server), BEV_OK);
	assert_int_equal(evbuffer_get_length(out), 19000);
	assert_int_equal(compress_filter_out(out, wire, -1, BEV_NORMAL, server), BEV_OK);
	assert_int_equal(evbuffer_get_length(out), 0);
	assert_true(ends_with_sync_mark(wire));
	/* input: at most the limit; nothing to do is NEED_MORE */
	assert_int_equal(compress_filter_in(wire, in, 500, BEV_NORMAL, client), BEV_OK);
	assert_int_equal(evbuffer_get_length(in), 500);
	while (evbuffer_get_length(wire) > 0 || compress_inflate_pending(client))
		assert_int_equal(compress_filter_in(wire, in, -1, BEV_NORMAL, client), BEV_OK);
	assert_int_equal(compress_filter_in(wire, in, -1, BEV_NORMAL, client), BEV_NEED_MORE);
	assert_int_equal(evbuffer_get_length(in), text.len);
	assert_memory_equal(evbuffer_pullup(in, -1), text.data, text.len);
	/* invalid input: BEV_ERROR, the owner told once */
	int errors = 0;
	compress_on_error(client, count_error, &errors);
	evbuffer_add(wire, "\x07\x00", 2);
	assert_int_equal(compress_filter_in(wire, in, -1, BEV_NORMAL, client), BEV_ERROR);
	evbuffer_add(wire, "\x07\x00", 2);
	assert_int_equal(compress_filter_in(wire, in, -1, BEV_NORMAL, client), BEV_ERROR);
	assert_int_equal(errors, 1);
	buf_free(&text);
	evbuffer_free(out);
	evbuffer_free(wire);
	evbuffer_free(in);
	compress_free(&server);
	compress_filter_free(client);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_python_stream_whole_and_bytewise),
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_deflate_max_in),
		cmocka_unit_test(test_bomb_is_paced_by_the_limit),
		cmocka_unit_test(test_pending_output_with_empty_source),
		cmocka_unit_test(test_invalid_data_fails_for_good),
		cmocka_unit_test(test_data_after_the_end),
		cmocka_unit_test(test_filter_callbacks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
