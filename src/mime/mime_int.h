/* Internals shared by the files of src/mime/; not for other modules. */
#ifndef SUREL_MIME_MIME_INT_H
#define SUREL_MIME_MIME_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "mime/mime.h"

/* buf_reserve() on an empty buffer leaves it without its NUL; this one
 * makes sure the buffer is allocated and terminated. */
static inline void mime_buf_ready(struct buf *b, size_t extra)
{
	buf_reserve(b, extra);
	buf_append(b, "", 0);
}

/* ---- header.c: RFC 5322 lexical scanning of one header field value ---- */

/* A cursor over a header field body. Folding (CRLF or LF before WSP) counts
 * as whitespace, so a value can be scanned folded or unfolded. */
struct mime_lex {
	const char *p, *end;
};

static inline void mime_lex_init(struct mime_lex *lx, const char *s, size_t len)
{
	lx->p = s;
	lx->end = s + len;
}

static inline bool mime_lex_eof(const struct mime_lex *lx)
{
	return lx->p >= lx->end;
}

static inline bool mime_is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Skip CFWS. The text of comments goes to comments_out (when not NULL),
 * several comments separated by one space. */
void mime_lex_skip_cfws(struct mime_lex *lx, struct buf *comments_out);
bool mime_is_atext(unsigned char c);
/* atext run (RFC 5322 3.2.3, with 8-bit bytes as in RFC 6532). */
bool mime_lex_atom(struct mime_lex *lx, struct buf *out);
/* quoted-string: the content without the quotes and backslashes. An
 * unterminated string runs to the end of the value. */
bool mime_lex_quoted_string(struct mime_lex *lx, struct buf *out);
/* RFC 2045 token (8-bit bytes tolerated). */
bool mime_lex_token(struct mime_lex *lx, struct buf *out);
/* word = atom / quoted-string */
bool mime_lex_word(struct mime_lex *lx, struct buf *out);

/* Remove line breaks: CRLF/LF followed by WSP is folding (RFC 5322 2.2.3);
 * a line break followed by something else becomes one space. */
void mime_unfold(const char *s, size_t len, struct buf *out);
bool mime_has_8bit(const char *s, size_t len);

/* ---- charset.c ---- */

/* Convert `in` from `charset` to UTF-8, appending to out. Invalid input
 * sequences become U+FFFD. An unknown charset (returns -1) is read as UTF-8
 * when it is valid UTF-8 and as windows-1252 otherwise. */
int mime_charset_to_utf8(const char *charset, const void *in, size_t len, struct buf *out);
bool mime_utf8_valid(const void *s, size_t len);
/* Raw 8-bit text of unknown charset: UTF-8 when valid, else windows-1252. */
void mime_append_text_guess(struct buf *out, const void *s, size_t len);

/* ---- decode.c ---- */

/* Lenient base64 (RFC 2045 6.8): characters outside the alphabet are
 * skipped, padding ends a quantum. */
void mime_base64_decode(const void *in, size_t len, struct buf *out);
/* Quoted-printable (RFC 2045 6.7); header=true for the RFC 2047 "Q"
 * encoding ('_' is a space, no soft line breaks). */
void mime_qp_decode(const void *in, size_t len, bool header, struct buf *out);
int mime_hexval(unsigned char c);

/* ---- params.c ---- */

/* Content-Type: type, subtype (lower-case, NULL when not valid) and params. */
void mime_parse_content_type(const char *value, size_t len, char **type_r, char **subtype_r,
			     struct mime_param **params_r, size_t *n_params_r);
/* Content-Disposition: the disposition (as written) and its params. */
void mime_parse_disposition(const char *value, size_t len, char **disp_r,
			    struct mime_param **params_r, size_t *n_params_r);
void mime_params_free(struct mime_param **params, size_t *n);

/* ---- parser.c / part.c ---- */

void mime_part_clear(struct mime_part *part);
/* Header fields the parser keeps for a part, by index. */
enum mime_field {
	MF_CONTENT_TYPE,
	MF_CONTENT_TRANSFER_ENCODING,
	MF_CONTENT_ID,
	MF_CONTENT_DESCRIPTION,
	MF_CONTENT_MD5,
	MF_CONTENT_DISPOSITION,
	MF_CONTENT_LANGUAGE,
	MF_CONTENT_LOCATION,
	MF_DATE,
	MF_SUBJECT,
	MF_FROM,
	MF_SENDER,
	MF_REPLY_TO,
	MF_TO,
	MF_CC,
	MF_BCC,
	MF_IN_REPLY_TO,
	MF_MESSAGE_ID,
	MF_REFERENCES,
	MF_COUNT
};
/* The index of a field name we keep, or -1. */
int mime_field_lookup(const char *name, size_t len);
/* From, Sender, Reply-To, To, Cc, Bcc: repeated fields are joined. */
bool mime_field_is_address(int idx);
/* Envelope fields: a repeated field replaces the earlier one (Dovecot);
 * for Content-* fields the first one counts. */
bool mime_field_last_wins(int idx);
bool mime_part_is_multipart(const struct mime_part *part);
/* Fill a part's Content-* fields (and a message's envelope fields when msg
 * is not NULL) from the raw values of one header block. `digest` makes the
 * default type message/rfc822 (RFC 2046 5.1.5). */
void mime_part_from_fields(struct mime_part *part, struct mime_message *msg,
			   char *fields[MF_COUNT], const size_t lens[MF_COUNT], bool digest);

/* ---- imap_write.c ---- */

/* IMAP string (RFC 9051 4.3): quoted when it can be, else a literal. */
void mime_imap_string(struct buf *out, const char *s, size_t len);
void mime_imap_nstring(struct buf *out, const char *s);

#endif
