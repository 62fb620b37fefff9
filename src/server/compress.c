/* Raw DEFLATE over evbuffers (see compress.h).
 *
 * RFC 4978 section 4: raw deflate, so deflateInit2() with windowBits -15
 * (-8 to -15 would do for the compressor) and inflateInit2() with -15, the
 * full 32 KiB window, whatever the client's compressor used. */
#include "server/compress.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <zlib.h>

#include "core/xmalloc.h"

#define COMPRESS_WINDOW_BITS (-15)
/* memLevel 8 (zlib's default): about 256 KiB for the compressor. */
#define COMPRESS_MEM_LEVEL 8
/* Output space asked for at a time. */
#define COMPRESS_OUT_STEP (16 * 1024)

struct compress {
	z_stream in;          /* inflate: the client's stream */
	z_stream out;         /* deflate: ours */
	bool in_pending;      /* inflate stopped at its limit */
	bool in_ended;        /* the client ended its deflate stream */
	const char *error;    /* inflate failed: why (static text) */
	bool error_reported;
	void (*on_error)(void *arg);
	void *on_error_arg;
	struct compress_stats stats;
};

/* zlib allocates through xmalloc: running out of memory is fatal, so the
 * only failures left are bugs. */
static voidpf zalloc_x(voidpf opaque, uInt items, uInt size)
{
	return xmalloc((size_t)items * size);
}

static void zfree_x(voidpf opaque, voidpf p)
{
	free(p);
}

struct compress *compress_new(void)
{
	struct compress *c = xcalloc(1, sizeof *c);
	c->in.zalloc = c->out.zalloc = zalloc_x;
	c->in.zfree = c->out.zfree = zfree_x;
	if (inflateInit2(&c->in, COMPRESS_WINDOW_BITS) != Z_OK ||
	    deflateInit2(&c->out, Z_DEFAULT_COMPRESSION, Z_DEFLATED, COMPRESS_WINDOW_BITS,
			 COMPRESS_MEM_LEVEL, Z_DEFAULT_STRATEGY) != Z_OK)
		abort();   /* a zlib that refuses its documented parameters */
	return c;
}

void compress_free(struct compress **cp)
{
	struct compress *c = *cp;
	if (c == NULL)
		return;
	inflateEnd(&c->in);
	deflateEnd(&c->out);
	free(c);
	*cp = NULL;
}

const char *compress_error(const struct compress *c)
{
	return c->error;
}

const struct compress_stats *compress_stats(const struct compress *c)
{
	return &c->stats;
}

bool compress_inflate_pending(const struct compress *c)
{
	return c->in_pending;
}

/* ---- inflate ---- */

static enum compress_result inflate_failed(struct compress *c, struct evbuffer *src,
					   const char *why)
{
	if (c->error == NULL)
		c->error = why;
	c->in_pending = false;
	evbuffer_drain(src, evbuffer_get_length(src));
	return COMPRESS_ERROR;
}

/* One inflate() call: from the first chunk of src into at most `room` bytes
 * at the end of dst. Returns zlib's result; *used and *made say what moved. */
static int inflate_step(struct compress *c, struct evbuffer *src, struct evbuffer *dst,
			size_t room, size_t *used, size_t *made)
{
	struct evbuffer_iovec in = { NULL, 0 }, out;
	evbuffer_peek(src, -1, NULL, &in, 1);
	size_t want = room < COMPRESS_OUT_STEP ? room : COMPRESS_OUT_STEP;
	if (evbuffer_reserve_space(dst, (ev_ssize_t)want, &out, 1) != 1)
		abort();   /* libevent could not allocate */
	uInt have_in = in.iov_len > UINT32_MAX ? UINT32_MAX : (uInt)in.iov_len;
	c->in.next_in = in.iov_base;
	c->in.avail_in = have_in;
	c->in.next_out = out.iov_base;
	c->in.avail_out = (uInt)want;
	int r = inflate(&c->in, Z_SYNC_FLUSH);
	*used = have_in - c->in.avail_in;
	*made = want - c->in.avail_out;
	out.iov_len = *made;
	evbuffer_commit_space(dst, &out, 1);
	evbuffer_drain(src, *used);
	c->stats.in_wire += *used;
	c->stats.in_plain += *made;
	return r;
}

enum compress_result compress_inflate(struct compress *c, struct evbuffer *src,
				      struct evbuffer *dst, size_t limit)
{
	if (c->error != NULL)
		return inflate_failed(c, src, c->error);
	if (c->in_ended && evbuffer_get_length(src) > 0)
		return inflate_failed(c, src, "data after the end of the compressed stream");
	if (limit == 0)
		return COMPRESS_MORE;   /* no room: whatever is pending stays so */
	size_t produced = 0;
	bool progress = false;
	c->in_pending = false;
	while (produced < limit && !c->in_ended) {
		size_t used, made;
		int r = inflate_step(c, src, dst, limit - produced, &used, &made);
		produced += made;
		progress = progress || used > 0 || made > 0;
		if (r == Z_STREAM_END) {
			c->in_ended = true;
		} else if (r == Z_BUF_ERROR) {
			break;   /* no progress possible: needs input */
		} else if (r != Z_OK) {
			/* Z_DATA_ERROR (zlib's msg is a static string) */
			return inflate_failed(c, src, c->in.msg != NULL ? c->in.msg
								  : "invalid compressed data");
		} else if (c->in.avail_out == 0) {
			c->in_pending = true;   /* may have more without new input */
		} else if (evbuffer_get_length(src) == 0) {
			break;   /* all used, all given out */
		}
	}
	if (c->in_pending && produced < limit)
		c->in_pending = false;
	if (c->in_ended && evbuffer_get_length(src) > 0)
		return inflate_failed(c, src, "data after the end of the compressed stream");
	return progress ? COMPRESS_OK : COMPRESS_MORE;
}

/* ---- deflate ---- */

/* Compress n bytes at p into dst with the given zlib flush mode. */
static void deflate_bytes(struct compress *c, const void *p, size_t n, struct evbuffer *dst,
			  int flush)
{
	c->out.next_in = (Bytef *)(uintptr_t)p;   /* zlib's API is not const */
	c->out.avail_in = (uInt)n;
	do {
		struct evbuffer_iovec out;
		if (evbuffer_reserve_space(dst, COMPRESS_OUT_STEP, &out, 1) != 1)
			abort();
		c->out.next_out = out.iov_base;
		c->out.avail_out = COMPRESS_OUT_STEP;
		int r = deflate(&c->out, flush);
		if (r != Z_OK && r != Z_BUF_ERROR)
			abort();   /* Z_STREAM_ERROR: a bug */
		out.iov_len = COMPRESS_OUT_STEP - c->out.avail_out;
		evbuffer_commit_space(dst, &out, 1);
		c->stats.out_wire += out.iov_len;
	} while (c->out.avail_out == 0 || c->out.avail_in > 0);
}

enum compress_result compress_deflate(struct compress *c, struct evbuffer *src,
				      struct evbuffer *dst, size_t max_in, bool flush)
{
	size_t avail = evbuffer_get_length(src);
	size_t take = avail < max_in ? avail : max_in;
	if (take == 0)
		return COMPRESS_MORE;
	bool sync = flush || take == avail;
	size_t done = 0;
	while (done < take) {
		struct evbuffer_iovec v;
		evbuffer_peek(src, -1, NULL, &v, 1);
		size_t n = take - done < v.iov_len ? take - done : v.iov_len;
		if (n > COMPRESS_OUT_STEP * 4)
			n = COMPRESS_OUT_STEP * 4;   /* keeps avail_in within uInt */
		bool last = done + n == take;
		deflate_bytes(c, v.iov_base, n, dst, last && sync ? Z_SYNC_FLUSH : Z_NO_FLUSH);
		evbuffer_drain(src, n);
		done += n;
	}
	c->stats.out_plain += take;
	return COMPRESS_OK;
}

/* ---- the libevent filter ---- */

enum bufferevent_filter_result compress_filter_in(struct evbuffer *src, struct evbuffer *dst,
						  ev_ssize_t limit,
						  enum bufferevent_flush_mode mode, void *ctx)
{
	struct compress *c = ctx;
	size_t room = limit < 0 ? COMPRESS_INFLATE_STEP : (size_t)limit;
	switch (compress_inflate(c, src, dst, room)) {
	case COMPRESS_OK:
		return BEV_OK;
	case COMPRESS_MORE:
		return BEV_NEED_MORE;
	case COMPRESS_ERROR:
		break;
	}
	if (!c->error_reported && c->on_error != NULL) {
		c->error_reported = true;
		c->on_error(c->on_error_arg);
	}
	return BEV_ERROR;
}

enum bufferevent_filter_result compress_filter_out(struct evbuffer *src, struct evbuffer *dst,
						   ev_ssize_t limit,
						   enum bufferevent_flush_mode mode, void *ctx)
{
	struct compress *c = ctx;
	size_t max_in = limit < 0 ? SIZE_MAX : (size_t)limit;
	bool flush = mode != BEV_NORMAL;
	return compress_deflate(c, src, dst, max_in, flush) == COMPRESS_OK ? BEV_OK : BEV_NEED_MORE;
}

void compress_filter_free(void *ctx)
{
	struct compress *c = ctx;
	compress_free(&c);
}

void compress_on_error(struct compress *c, void (*cb)(void *arg), void *arg)
{
	c->on_error = cb;
	c->on_error_arg = arg;
}
