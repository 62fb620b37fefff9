/* DEFLATE for a session's byte stream (RFC 4978 COMPRESS=DEFLATE): one
 * compressor for what the server sends and one decompressor for what the
 * client sends, both raw deflate (RFC 1951: zlib windowBits -15, no zlib
 * header or trailer), working on evbuffers.
 *
 * The functions are pure: bytes in, bytes out, no event loop. The filter
 * callbacks below adapt them to a libevent filter bufferevent
 * (bufferevent_filter_new), which is how session.c stacks the layer over
 * the socket or the TLS filter.
 *
 * Limits: decompression never appends more than the caller's limit per call
 * and leaves the compressed bytes it could not yet use in the source, so a
 * few kilobytes that inflate to gigabytes (a "zip bomb") produce data only
 * as fast as the reader takes it. When the limit stops it, the decompressor
 * may still hold output of input it already consumed (a match of up to 258
 * bytes, bits of the next symbols): compress_inflate_pending() says so, and
 * the caller must call again with an empty source once it has room. */
#ifndef SUREL_SERVER_COMPRESS_H
#define SUREL_SERVER_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/bufferevent.h>

struct evbuffer;
struct compress;

enum compress_result {
	COMPRESS_MORE,    /* no progress: more input (or room) is needed */
	COMPRESS_OK,      /* consumed or produced something */
	COMPRESS_ERROR,   /* the compressed input is invalid (compress_error) */
};

/* Without a limit from the caller, at most this much output per call. */
#define COMPRESS_INFLATE_STEP (64 * 1024)

struct compress *compress_new(void);
void compress_free(struct compress **c);

/* Decompress bytes from the front of src (consuming what was used) and
 * append at most `limit` bytes to dst. Once it failed (invalid data, or
 * data after the end of the deflate stream), it keeps failing and discards
 * whatever src holds. */
enum compress_result compress_inflate(struct compress *c, struct evbuffer *src,
				      struct evbuffer *dst, size_t limit);
/* The last compress_inflate() stopped at its limit: it may have output
 * left without any new input. */
bool compress_inflate_pending(const struct compress *c);

/* Compress up to max_in bytes from the front of src (consuming them) and
 * append the result to dst. When that takes all of src, or `flush` is set,
 * the output ends with a sync flush (Z_SYNC_FLUSH: the peer can decompress
 * everything sent so far), so nothing is held back inside the compressor
 * once src is empty. */
enum compress_result compress_deflate(struct compress *c, struct evbuffer *src,
				      struct evbuffer *dst, size_t max_in, bool flush);

/* Why decompression failed, or NULL. */
const char *compress_error(const struct compress *c);

/* Bytes seen on each side: compressed input read, decompressed input
 * produced, plain output taken, compressed output produced. */
struct compress_stats {
	uint64_t in_wire, in_plain, out_plain, out_wire;
};
const struct compress_stats *compress_stats(const struct compress *c);

/* ---- as a libevent filter (ctx: the struct compress) ---- */

/* Input (client to server): compress_inflate() within libevent's limit;
 * BEV_ERROR when the data is invalid, after calling the error callback once
 * (libevent ignores the filter's errors, so the owner must hear of it). */
enum bufferevent_filter_result compress_filter_in(struct evbuffer *src, struct evbuffer *dst,
						  ev_ssize_t limit,
						  enum bufferevent_flush_mode mode, void *ctx);
/* Output (server to client): compress_deflate() of at most `limit` bytes (the
 * room below the filter), flushed whenever that empties the filter's buffer
 * and on BEV_FLUSH / BEV_FINISHED. */
enum bufferevent_filter_result compress_filter_out(struct evbuffer *src, struct evbuffer *dst,
						   ev_ssize_t limit,
						   enum bufferevent_flush_mode mode, void *ctx);
/* free_context for bufferevent_filter_new(). */
void compress_filter_free(void *ctx);
/* Called (from inside libevent) when compress_filter_in() first fails;
 * cb NULL to stop. */
void compress_on_error(struct compress *c, void (*cb)(void *arg), void *arg);

#endif
