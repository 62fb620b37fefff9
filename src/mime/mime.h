/* The MIME parser: RFC 5322 messages with MIME (RFC 2045-2049), parsed as a
 * stream. It never refuses a message: malformed input gets the best structure
 * the parser can find, and the message bytes are stored as received.
 *
 * What it produces is what IMAP and the store need byte-exactly: the part
 * tree with the byte ranges of every part's header and body and their line
 * counts, ENVELOPE and BODY/BODYSTRUCTURE strings, and the decoded text for
 * the full-text index.
 *
 *   struct mime_parser *p = mime_parser_new(NULL);
 *   mime_parser_feed(p, chunk, len);     ... as the bytes arrive, any split
 *   struct mime_message *m = mime_parser_finish(&p);
 *   mime_write_envelope(m, &buf);  mime_write_bodystructure(m, true, &buf);
 *   mime_message_free(&m);
 */
#ifndef SUREL_MIME_MIME_H
#define SUREL_MIME_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct mime_limits {
	unsigned max_depth;        /* multipart / message nesting (default 32) */
	unsigned max_parts;        /* parts in one message (default 4096) */
	size_t max_header_line;    /* one unfolded header field kept (default 64 KiB) */
};

#define MIME_DEFAULT_MAX_DEPTH 32
#define MIME_DEFAULT_MAX_PARTS 4096
#define MIME_DEFAULT_MAX_HEADER_LINE (64 * 1024)
/* A boundary parameter longer than this is not used (RFC 2046 allows 70). */
#define MIME_MAX_BOUNDARY 256

struct mime_param {
	char *name;                /* lower-case, without the RFC 2231 "*N*" */
	char *value;               /* RFC 2231 continuations joined and decoded to UTF-8;
				    * raw RFC 2047 words in a value decoded too */
	/* As BODYSTRUCTURE shows them: the name as written, the value as
	 * written (unquoted); RFC 2231 sections joined under "name*" with the
	 * charset'language'%XX form kept, as Dovecot and UW imapd do. */
	char *bs_name, *bs_value;
};

struct mime_part {
	/* Byte offsets in the whole message. The header runs from header_start to
	 * body_start (including the blank line); the body to body_end. */
	uint64_t header_start, body_start, body_end;
	uint64_t header_lines, body_lines;     /* lines as IMAP counts them */
	char *type, *subtype;                  /* lower-case; "text"/"plain" by default
					        * (message/rfc822 in a multipart/digest) */
	char *bs_type, *bs_subtype;            /* as written, for BODYSTRUCTURE */
	struct mime_param *params;
	size_t n_params;
	/* The values below are unfolded, with leading whitespace removed, NUL
	 * bytes replaced by U+FFFD; NULL when absent or empty. When a field
	 * occurs twice, the first one counts (as in Dovecot). */
	char *id, *description;
	char *encoding;                        /* the Content-Transfer-Encoding token as written */
	char *md5;
	char *disposition;                     /* the disposition type as written ("" when missing) */
	char *language;                        /* the raw Content-Language list */
	char *location;
	struct mime_param *disp_params;
	size_t n_disp_params;
	struct mime_part *children;            /* multipart: the parts */
	size_t n_children;
	struct mime_message *message;          /* message/rfc822 and message/global: the inner
					        * message; NULL past the depth limit */
};

struct mime_message {
	struct mime_part root;
	/* Raw (undecoded, unfolded) values of the envelope header fields, NULL
	 * when absent. Leading whitespace is removed and NULs become U+FFFD.
	 * For a repeated field the last one counts, except the address fields
	 * (from ... bcc), whose repeated values are joined with a LF: their
	 * lists are concatenated, as in Dovecot. */
	char *date, *subject, *from, *sender, *reply_to, *to, *cc, *bcc, *in_reply_to, *message_id;
	char *references;                      /* for THREAD (RFC 5256) */
	bool truncated;                        /* a limit was hit; the rest is one opaque part */
};

/* One entry of an address list (RFC 5322 3.4) as IMAP ENVELOPE shows it
 * (RFC 9051 7.5.2): raw strings, name undecoded. A group starts with an
 * entry whose mailbox is the group name and domain NULL, and ends with one
 * that is all NULL. */
struct mime_address {
	char *name, *adl, *mailbox, *domain;
};

struct mime_parser *mime_parser_new(const struct mime_limits *limits /* NULL: defaults */);
void mime_parser_feed(struct mime_parser *p, const void *data, size_t len);
/* Bytes the parser holds besides the part tree (line and header buffers,
 * open parts): bounded by the limits, whatever the size of the input. */
size_t mime_parser_buffered(const struct mime_parser *p);
/* Ends the stream and returns the message (never NULL); frees the parser. */
struct mime_message *mime_parser_finish(struct mime_parser **p);
/* Convenience: the whole message at once. */
struct mime_message *mime_parse(const void *data, size_t len);
void mime_message_free(struct mime_message **m);

/* IMAP ENVELOPE (RFC 9051 7.5.2), as the parenthesised list that follows
 * "ENVELOPE ". */
void mime_write_envelope(const struct mime_message *m, struct buf *out);
/* IMAP BODY (extended=false) or BODYSTRUCTURE (extended=true). */
void mime_write_bodystructure(const struct mime_message *m, bool extended, struct buf *out);

/* The part named by an IMAP section part number ("1", "2.3", "" for the
 * whole message); NULL when there is none. */
const struct mime_part *mime_find_part(const struct mime_message *m, const char *section);

/* Decode a header field value: unfold, RFC 2047 encoded words, charsets to UTF-8. */
void mime_decode_header(const char *raw, size_t len, struct buf *out);

/* Parse an address list header value (see struct mime_address). Never
 * fails: broken input gives MISSING_MAILBOX / MISSING_DOMAIN / SYNTAX_ERROR
 * entries as Dovecot does, and the list ends at the first garbage. */
void mime_address_parse(const char *value, size_t len, struct mime_address **list_r, size_t *n_r);
void mime_address_list_free(struct mime_address **list, size_t *n);

/* The first parameter of that name (case-insensitive), decoded; NULL if none. */
const char *mime_param_get(const struct mime_param *params, size_t n, const char *name);

/* The charset of a text part (its "charset" parameter, else "us-ascii"). */
const char *mime_part_charset(const struct mime_part *part);

/* The decoded UTF-8 text of the message for the full-text index: header
 * values that matter for search (From, To, Cc, Bcc, Subject) and every part of type
 * "text" after transfer and charset decoding. `data` is the whole message. */
void mime_extract_text(const struct mime_message *m, const void *data, size_t len,
		       struct buf *headers_out, struct buf *body_out);

/* Transfer decoding of one part's body (base64, quoted-printable, 7bit, 8bit,
 * binary), for IMAP BINARY and text extraction. Returns -1 with *error_r for
 * an unknown encoding (IMAP answers [UNKNOWN-CTE]). */
int mime_decode_body(const struct mime_part *part, const void *data, size_t len,
		     struct buf *out, char **error_r);

#endif
