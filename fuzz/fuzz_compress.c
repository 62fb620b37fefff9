/* libFuzzer target: the COMPRESS=DEFLATE decompressor (server/compress.h),
 * which reads what a client sends. The input is fed as compressed bytes in
 * pieces whose sizes come from its first byte, with a small output limit per
 * call: the decompressor must never append more than the limit, must make
 * progress or say why not, and once it fails must stay failed. The same
 * bytes are also compressed and decompressed again: that round trip must
 * give them back exactly. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "server/compress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_LIMIT 4096
#define MAX_OUT (4u << 20)   /* stop a bomb once it has proved the limit works */

static void inflate_pieces(const uint8_t *data, size_t size)
{
	size_t piece = size > 0 ? (size_t)(data[0] % 64) + 1 : 1;
	struct compress *c = compress_new();
	struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
	bool failed = false;
	size_t total = 0, drains = 0;
	for (size_t pos = 0; pos < size || compress_inflate_pending(c);) {
		if (pos == size && ++drains > 10000)
			abort();   /* pending output that never comes */
		size_t n = size - pos < piece ? size - pos : piece;
		evbuffer_add(src, data + pos, n);
		pos += n;
		for (int rounds = 0; rounds < 1000; rounds++) {
			size_t before = evbuffer_get_length(dst);
			enum compress_result r = compress_inflate(c, src, dst, OUT_LIMIT);
			size_t grown = evbuffer_get_length(dst) - before;
			if (grown > OUT_LIMIT)
				abort();
			if (failed && r != COMPRESS_ERROR)
				abort();   /* a failed stream stays failed */
			if (r == COMPRESS_ERROR) {
				if (compress_error(c) == NULL)
					abort();
				failed = true;
				break;
			}
			total += grown;
			evbuffer_drain(dst, evbuffer_get_length(dst));
			if (r == COMPRESS_MORE || total > MAX_OUT)
				break;
		}
		if (failed || total > MAX_OUT)
			break;
	}
	evbuffer_free(src);
	evbuffer_free(dst);
	compress_free(&c);
}

static void round_trip(const uint8_t *data, size_t size)
{
	struct compress *z = compress_new(), *u = compress_new();
	struct evbuffer *plain = evbuffer_new(), *wire = evbuffer_new(), *back = evbuffer_new();
	evbuffer_add(plain, data, size);
	if (compress_deflate(z, plain, wire, size, true) == COMPRESS_ERROR)
		abort();
	while (evbuffer_get_length(wire) > 0 || compress_inflate_pending(u)) {
		enum compress_result r = compress_inflate(u, wire, back, OUT_LIMIT);
		if (r == COMPRESS_ERROR)
			abort();
		if (r == COMPRESS_MORE)
			break;
	}
	if (evbuffer_get_length(back) != size ||
	    (size > 0 && memcmp(evbuffer_pullup(back, -1), data, size) != 0))
		abort();
	evbuffer_free(plain);
	evbuffer_free(wire);
	evbuffer_free(back);
	compress_free(&z);
	compress_free(&u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	inflate_pieces(data, size);
	round_trip(data, size);
	return 0;
}
