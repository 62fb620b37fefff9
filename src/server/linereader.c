#include "server/linereader.h"

#include <stdbool.h>
#include <string.h>
#include <sys/types.h>

#include <event2/buffer.h>

void linereader_init(struct linereader *lr, size_t max)
{
	lr->max = max;
	lr->mode = LINEREADER_MODE_LINE;
	lr->raw_left = 0;
	lr->scanned = 0;
	lr->last_crlf = false;
	lr->data_end_pending = false;
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
	lr->data_end_pending = false;
	buf_clear(&lr->item);
}

void linereader_set_data(struct linereader *lr)
{
	lr->mode = LINEREADER_MODE_DATA;
	lr->scanned = 0;
	lr->data_bol = true;
	/* The DATA command's own terminator counts as the CRLF before a "."
	 * on the first line. */
	lr->data_prev_crlf = lr->last_crlf;
	lr->data_end_pending = false;
	lr->data_line_len = 0;
	memset(&lr->stats, 0, sizeof lr->stats);
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
	lr->last_crlf = n > 0 && last_is_cr(in, n);
	size_t content = lr->last_crlf ? n - 1 : n;
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

/* Bare CRs in p[0..n): every CR there is one, as none is followed by the
 * line's LF (the caller excludes a CR right before it). */
static uint64_t count_cr(const char *p, size_t n)
{
	uint64_t c = 0;
	for (const char *q = p; (q = memchr(q, '\r', n - (size_t)(q - p))) != NULL; q++)
		c++;
	return c;
}

/* Data mode: one whole line of n bytes (its LF included) at the front of
 * in. Returns true when it was the end "." line. */
static bool data_line(struct linereader *lr, struct evbuffer *in, size_t n)
{
	const char *p = (const char *)evbuffer_pullup(in, (ssize_t)n);
	size_t clen = n - 1;
	bool crlf = clen > 0 && p[clen - 1] == '\r';
	size_t text = crlf ? clen - 1 : clen;
	if (lr->data_bol && text == 1 && p[0] == '.' && crlf && lr->data_prev_crlf) {
		evbuffer_drain(in, n);
		return true;
	}
	if (!crlf)
		lr->stats.bare_lf++;
	lr->stats.bare_cr += count_cr(p, text);
	if (lr->data_line_len + text > 998)
		lr->stats.long_lines++;
	size_t skip = lr->data_bol && p[0] == '.' ? 1 : 0;   /* RFC 5321 4.5.2 */
	buf_append(&lr->item, p + skip, n - skip);
	lr->stats.bytes += n - skip;
	evbuffer_drain(in, n);
	lr->data_bol = true;
	lr->data_prev_crlf = crlf;
	lr->data_line_len = 0;
	return false;
}

/* Data mode: a piece of a line longer than max (no LF in it). A CR at its
 * end stays in the input: it may be the start of the line's CRLF. */
static void data_piece(struct linereader *lr, struct evbuffer *in, size_t n)
{
	const char *p = (const char *)evbuffer_pullup(in, (ssize_t)n);
	if (n > 1 && p[n - 1] == '\r')
		n--;
	lr->stats.bare_cr += count_cr(p, n);
	size_t skip = lr->data_bol && p[0] == '.' ? 1 : 0;
	buf_append(&lr->item, p + skip, n - skip);
	lr->stats.bytes += n - skip;
	evbuffer_drain(in, n);
	lr->scanned = lr->scanned > n ? lr->scanned - n : 0;
	lr->data_bol = false;
	lr->data_line_len += n;
}

static enum linereader_result next_data(struct linereader *lr, struct evbuffer *in,
					const char **data_r, size_t *len_r)
{
	if (lr->data_end_pending) {
		lr->data_end_pending = false;
		lr->mode = LINEREADER_MODE_LINE;
		buf_clear(&lr->item);
		return LINEREADER_DATA_END;
	}
	buf_clear(&lr->item);
	for (;;) {
		size_t avail = evbuffer_get_length(in);
		if (avail == 0)
			break;
		ssize_t lf = -1;
		if (lr->scanned < avail) {
			lf = find_lf(in, lr->scanned);
			if (lf < 0)
				lr->scanned = avail;
		}
		/* A line fits in one item when it has at most max octets
		 * before its CRLF; a longer one is returned in pieces. */
		if (lf >= 0 && (size_t)lf < lr->max + 2) {
			size_t n = (size_t)lf + 1;
			if (lr->item.len > 0 && lr->item.len + n > lr->max)
				break;
			lr->scanned = 0;
			if (data_line(lr, in, n)) {
				if (lr->item.len > 0) {
					lr->data_end_pending = true;
					break;
				}
				lr->mode = LINEREADER_MODE_LINE;
				return LINEREADER_DATA_END;
			}
			continue;
		}
		if ((lf < 0 && avail < lr->max + 2) || lr->item.len > 0)
			break;
		data_piece(lr, in, lr->max);
		break;
	}
	if (lr->item.len == 0)
		return LINEREADER_MORE;
	*data_r = buf_cstr(&lr->item);
	*len_r = lr->item.len;
	return LINEREADER_DATA;
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
		case LINEREADER_MODE_DATA:
			return next_data(lr, in, data_r, len_r);
		}
	}
}
