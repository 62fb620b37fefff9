/* IMAP FETCH body sections (RFC 9051 6.4.5 and 7.5.2, RFC 3501 6.4.5,
 * RFC 3516 BINARY): parsing the fetch-att atom that names one, writing its
 * name as the response shows it, and extracting its bytes from a message and
 * its MIME tree. Pure: no session, no store.
 *
 *   struct imap_section sec;
 *   if (!imap_section_parse(atom, len, &sec, &error))  -> BAD error
 *   imap_section_write_name(&sec, &reply);               "BODY[1.MIME]<0>"
 *   imap_section_fetch(&sec, m, msg, len, &bytes, &size, &unknown_cte, &err);
 *   imap_section_clear(&sec);
 */
#ifndef SUREL_IMAP_IMAP_SECTION_H
#define SUREL_IMAP_IMAP_SECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "mime/mime.h"

enum imap_fetch_kind {
	IMAP_FETCH_BODY,          /* BODY[...], BODY.PEEK[...] */
	IMAP_FETCH_BINARY,        /* BINARY[...], BINARY.PEEK[...] (RFC 3516) */
	IMAP_FETCH_BINARY_SIZE,   /* BINARY.SIZE[...] */
};

enum imap_section_text {
	IMAP_SECTION_ALL,                 /* [] or [1.2] */
	IMAP_SECTION_HEADER,
	IMAP_SECTION_HEADER_FIELDS,
	IMAP_SECTION_HEADER_FIELDS_NOT,
	IMAP_SECTION_TEXT,
	IMAP_SECTION_MIME,
};

struct imap_section {
	enum imap_fetch_kind kind;
	bool peek;                  /* BODY.PEEK / BINARY.PEEK: do not set \Seen */
	char *part;                 /* "1.2.3", or "" for the whole message */
	enum imap_section_text text;
	char **fields;              /* HEADER.FIELDS[.NOT] (...): the names, unquoted */
	size_t n_fields;
	bool partial;               /* <offset.length> was given */
	uint64_t offset, length;
};

/* Parse one fetch-att atom that starts with BODY[, BODY.PEEK[, BINARY[,
 * BINARY.PEEK[ or BINARY.SIZE[ (any case), given whole with its bracket part
 * and partial, e.g. `BODY.PEEK[HEADER.FIELDS (From "To")]<0.100>`. *sec is
 * overwritten. Returns false with *error_r (a static string) on a syntax
 * error, and then *sec holds nothing to free; on success imap_section_clear()
 * it. The grammar is quoted in imap_section.c. */
bool imap_section_parse(const char *atom, size_t len, struct imap_section *sec,
			const char **error_r);
void imap_section_clear(struct imap_section *sec);

/* Append the item's name as the FETCH response shows it (RFC 9051 7.5.2):
 * without .PEEK, keywords and header field names upper-cased (as Dovecot
 * does), a partial shown as its origin only: "BODY[HEADER.FIELDS (FROM)]<0>",
 * "BINARY.SIZE[1]". */
void imap_section_write_name(const struct imap_section *sec, struct buf *out);

/* Extract the section from the whole message msg[0..len) (a store prefix
 * included) whose MIME tree is m:
 *   BODY: the raw bytes of the section, then the partial. A section the
 *     message does not have (no such part, HEADER/TEXT of a part that is not
 *     message/rfc822) is the empty string, as in Dovecot and UW imapd.
 *   BINARY: the section after Content-Transfer-Encoding decoding, then the
 *     partial (of the decoded bytes).
 *   BINARY.SIZE: *size_r = the decoded size; out is not touched.
 * The bytes are appended to out and, for BODY and BINARY, *size_r (size_r
 * may then be NULL) is how many. Returns 0, or -1 with *error_r (allocated:
 * free it) for a BINARY of a part that does not exist or of an unknown
 * encoding; *unknown_cte is set for the latter (the reply is [UNKNOWN-CTE]). */
int imap_section_fetch(const struct imap_section *sec, const struct mime_message *m,
		       const char *msg, size_t len, struct buf *out, uint64_t *size_r,
		       bool *unknown_cte, char **error_r);

#endif
