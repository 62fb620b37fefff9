#include "server/linereader.h"

#include <stdbool.h>
#include <sys/types.h>

#include <event2/buffer.h>

void linereader_init(struct linereader *lr, size_t max)
{
	lr->max = max;
	lr->mode = LINEREADER_MODE_LINE;
	lr->raw_left = 0;
	lr->scanned = 0;
	buf_init(&lr->item);
}

void linereader_free(struct linereader *lr)
{
	buf_free(&lr->item);
}

void linereader_reset(struct linereader *lr)
{
	lr->mode = LINEREADER_MODE_LINE;
	lr->raw_left = 0;
	lr->scanned = 0;
	buf_clear(&lr->item);
}

void linereader_set_raw(struct linereader *lr, uint64_t n)
{
	if (n == 0)
		return;
	lr->mode = LINEREADER_MODE_RAW;
	lr->raw_left = n;
	lr->scanned = 0;
}

/* Offset of the first LF at or after `from`, or -1. */
static ssize_t find_lf(struct evbuffer *in, size_t from)
{
	struct evbuffer_ptr start;
	if (evbuffer_ptr_set(in, &start, from, EVBUFFER_PTR_SET) < 0)
		return -1;
	struct evbuffer_ptr found = evbuffer_search(in, "\n", 1, &start);
	return found.pos;
}

/* Copy the first n bytes of in into the item and drop `drop` bytes. */
static void take(struct linereader *lr, struct evbuffer *in, size_t n, size_t drop,
		 const char **data_r, size_t *len_r)
{
	const unsigned char *p = n > 0 ? evbuffer_pullup(in, (ssize_t)n) : NULL;
	buf_set(&lr->item, p, n);
	evbuffer_drain(in, drop);
	*data_r = buf_cstr(&lr->item);
	*len_r = lr->item.len;
}

/* Whether the byte before offset end (> 0) is a CR. */
static bool last_is_cr(struct evbuffer *in, size_t end)
{
	char c;
	struct evbuffer_ptr pos;
	if (evbuffer_ptr_set(in, &pos, end - 1, EVBUFFER_PTR_SET) < 0)
		return false;
	return evbuffer_copyout_from(in, &pos, &c, 1) == 1 && c == '\r';
}

static enum linereader_result next_line(struct linereader *lr, struct evbuffer *in,
					const char **data_r, size_t *len_r)
{
	size_t avail = evbuffer_get_length(in);
	ssize_t lf = -1;
	if (lr->scanned < avail) {
		lf = find_lf(in, lr->scanned);
		if (lf < 0)
			lr->scanned = avail;
	}
	if (lf < 0) {
		/* max content bytes, and a CR that may be the start of CRLF, can
		 * still end well; anything more cannot. */
		if (avail <= lr->max || (avail == lr->max + 1 && last_is_cr(in, avail)))
			return LINEREADER_MORE;
		evbuffer_drain(in, avail);
		lr->scanned = 0;
		lr->mode = LINEREADER_MODE_DISCARD;
		return LINEREADER_TOO_LONG;
	}
	size_t n = (size_t)lf;
	size_t content = n > 0 && last_is_cr(in, n) ? n - 1 : n;
	lr->scanned = 0;
	if (content > lr->max) {
		evbuffer_drain(in, n + 1);
		return LINEREADER_TOO_LONG;
	}
	take(lr, in, content, n + 1, data_r, len_r);
	return LINEREADER_LINE;
}

/* Skip up to and including the next LF; true when it was found. */
static bool discard(struct linereader *lr, struct evbuffer *in)
{
	ssize_t lf = find_lf(in, 0);
	if (lf < 0) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return false;
	}
	evbuffer_drain(in, (size_t)lf + 1);
	lr->mode = LINEREADER_MODE_LINE;
	return true;
}

enum linereader_result linereader_next(struct linereader *lr, struct evbuffer *in,
				       const char **data_r, size_t *len_r)
{
	*data_r = NULL;
	*len_r = 0;
	for (;;) {
		switch (lr->mode) {
		case LINEREADER_MODE_LINE:
			return next_line(lr, in, data_r, len_r);
		case LINEREADER_MODE_DISCARD:
			if (!discard(lr, in))
				return LINEREADER_MORE;
			continue;
		case LINEREADER_MODE_RAW: {
			size_t avail = evbuffer_get_length(in);
			if (avail == 0)
				return LINEREADER_MORE;
			size_t n = avail;
			if (n > LINEREADER_RAW_CHUNK)
				n = LINEREADER_RAW_CHUNK;
			if (n > lr->raw_left)
				n = (size_t)lr->raw_left;
			take(lr, in, n, n, data_r, len_r);
			lr->raw_left -= n;
			if (lr->raw_left == 0)
				lr->mode = LINEREADER_MODE_LINE;
			return LINEREADER_RAW;
		}
		}
	}
}
