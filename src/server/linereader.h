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
 *   data  linereader_set_data(): SMTP DATA (RFC 5321 4.1.1.4, 4.5.2). The
 *         text is returned as DATA items, each holding one or more whole
 *         lines (or a piece of a line longer than `max`), with their
 *         terminators kept as sent and the leading dot of a line removed
 *         (dot-unstuffing); then one DATA_END item, and back to line mode.
 *         Only CRLF "." CRLF ends the data (the CRLF before the dot being
 *         the end of the previous line, or the end of the DATA command):
 *         "." ending in a bare LF, or after a line that ended in a bare LF,
 *         is text (the SMTP smuggling defence). The reader only reports
 *         what it saw (bare LF, bare CR, lines over 998 octets: see
 *         struct linereader_data_stats); the protocol decides.
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
	LINEREADER_DATA,      /* data mode: lines of text, unstuffed */
	LINEREADER_DATA_END,  /* data mode: the "." line was read */
};

enum linereader_mode {
	LINEREADER_MODE_LINE,
	LINEREADER_MODE_DISCARD,   /* skipping the rest of a too-long line */
	LINEREADER_MODE_RAW,
	LINEREADER_MODE_DATA,
};

/* What data mode saw since linereader_set_data(). */
struct linereader_data_stats {
	uint64_t bare_lf;      /* lines ended by an LF without a CR before it */
	uint64_t bare_cr;      /* CRs not followed by an LF */
	uint64_t long_lines;   /* lines of more than 998 octets before CRLF (RFC 5322 2.1.1) */
	uint64_t bytes;        /* octets returned (after unstuffing) */
};

struct linereader {
	size_t max;                 /* longest line, terminator excluded */
	enum linereader_mode mode;
	uint64_t raw_left;          /* raw mode: bytes still to return */
	size_t scanned;             /* line and data mode: input bytes known to hold no LF */
	struct buf item;            /* the last item returned */
	bool last_crlf;             /* line mode: the last line ended with CRLF */
	/* data mode */
	bool data_bol;              /* at the start of a line */
	bool data_prev_crlf;        /* the previous line ended with CRLF (or the command did) */
	bool data_end_pending;      /* "." seen: DATA_END is the next item */
	size_t data_line_len;       /* octets of the current line so far */
	struct linereader_data_stats stats;
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

/* Read SMTP DATA text (see "data" above) until the "." line, then go back
 * to line mode. Call between two items, from the handler of the DATA
 * command; resets the stats. */
void linereader_set_data(struct linereader *lr);

static inline const struct linereader_data_stats *linereader_data_stats(const struct linereader *lr)
{
	return &lr->stats;
}

/* Raw bytes still to come after the last RAW item (0: it was the last). */
static inline uint64_t linereader_raw_left(const struct linereader *lr)
{
	return lr->mode == LINEREADER_MODE_RAW ? lr->raw_left : 0;
}

/* Take the next item from `in` (consuming its bytes). For LINE, RAW and DATA,
 * *data_r and *len_r give the item; the bytes stay valid until the next call
 * and are followed by a NUL (the item itself may contain NULs). */
enum linereader_result linereader_next(struct linereader *lr, struct evbuffer *in,
				       const char **data_r, size_t *len_r);

#endif
