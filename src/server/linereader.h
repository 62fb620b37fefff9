/* The line reader: cuts a session's input (an evbuffer) into protocol items,
 * incrementally, with a hard limit on line length.
 *
 * It is a pull parser: the caller asks for the next item until it gets
 * LINEREADER_MORE, and may switch modes between two items (after a command
 * that announces a literal, say). Whatever arrives - a command split over many
 * reads, one byte at a time, or a megabyte at once - gives the same items.
 *
 * Modes:
 *   line  (the default) one item per line. A line ends at LF; a CR right
 *         before that LF is part of the terminator (CRLF or bare LF). A CR
 *         anywhere else and NUL bytes are content: the length is returned,
 *         and the protocol decides what to refuse.
 *   raw   linereader_set_raw(n): the next n bytes, in chunks of at most
 *         LINEREADER_RAW_CHUNK, whatever they hold (IMAP literals, SMTP BDAT);
 *         then back to line mode.
 *   Later modes slot in beside these: a dot-terminated mode for SMTP DATA
 *   (lines with the leading dot removed, then an end item at "."), which only
 *   needs a new enum value and one more branch in linereader_next().
 *
 * Limit: a line of more than `max` bytes (terminator excluded) is reported
 * once as LINEREADER_TOO_LONG as soon as that is certain (the reader never
 * holds more than max + 1 bytes of one line), and the rest of it, up to and
 * including the next LF, is skipped; then reading goes on with the next line. */
#ifndef SUREL_SERVER_LINEREADER_H
#define SUREL_SERVER_LINEREADER_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct evbuffer;

#define LINEREADER_RAW_CHUNK (64 * 1024)

enum linereader_result {
	LINEREADER_MORE,      /* nothing complete yet: wait for more input */
	LINEREADER_LINE,      /* one line, terminator stripped */
	LINEREADER_TOO_LONG,  /* a line over the limit (its bytes are skipped) */
	LINEREADER_RAW,       /* one chunk of raw data */
};

enum linereader_mode {
	LINEREADER_MODE_LINE,
	LINEREADER_MODE_DISCARD,   /* skipping the rest of a too-long line */
	LINEREADER_MODE_RAW,
};

struct linereader {
	size_t max;                 /* longest line, terminator excluded */
	enum linereader_mode mode;
	uint64_t raw_left;          /* raw mode: bytes still to return */
	size_t scanned;             /* line mode: input bytes known to hold no LF */
	struct buf item;            /* the last item returned */
};

void linereader_init(struct linereader *lr, size_t max);
void linereader_free(struct linereader *lr);

/* Back to line mode, forgetting any partial state (the caller has discarded
 * the input, e.g. at STARTTLS). */
void linereader_reset(struct linereader *lr);

/* Return the next n bytes as LINEREADER_RAW items, then go back to lines.
 * n == 0 changes nothing. Call it between two items, typically from the
 * handler of the line that announced the data. */
void linereader_set_raw(struct linereader *lr, uint64_t n);

/* Raw bytes still to come after the last RAW item (0: it was the last). */
static inline uint64_t linereader_raw_left(const struct linereader *lr)
{
	return lr->mode == LINEREADER_MODE_RAW ? lr->raw_left : 0;
}

/* Take the next item from `in` (consuming its bytes). For LINE and RAW,
 * *data_r and *len_r give the item; the bytes stay valid until the next call
 * and are followed by a NUL (the item itself may contain NULs). */
enum linereader_result linereader_next(struct linereader *lr, struct evbuffer *in,
				       const char **data_r, size_t *len_r);

#endif
