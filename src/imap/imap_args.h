/* One astring inside a string that is already one token: the header field
 * names within a FETCH section ("BODY[HEADER.FIELDS (From "To")]", which the
 * command parser, imap_parser.h, hands over as one atom). A literal there
 * is refused (IMAP_ARG_LITERAL). Commands' own arguments come from
 * imap_parser.h. */
#ifndef SUREL_IMAP_IMAP_ARGS_H
#define SUREL_IMAP_IMAP_ARGS_H

#include <stddef.h>

#include "core/buf.h"

enum imap_arg_result {
	IMAP_ARG_OK,        /* the value is in out; *pos is after it */
	IMAP_ARG_LITERAL,   /* a literal "{N}" / "{N+}" ends the line: not supported yet */
	IMAP_ARG_BAD,       /* a syntax error; *error_r says what (a static string) */
};

/* One astring at line[*pos], line[0..len) (no CRLF):
 *
 *   astring       = 1*ASTRING-CHAR / string
 *   string        = quoted / literal
 *   quoted        = DQUOTE *QUOTED-CHAR DQUOTE
 *   QUOTED-CHAR   = <any TEXT-CHAR except quoted-specials> /
 *                   "\" quoted-specials / UTF8-2 / UTF8-3 / UTF8-4
 *   quoted-specials = DQUOTE / "\"
 *   TEXT-CHAR     = <any CHAR except CR and LF>
 *   literal       = "{" number64 ["+"] "}" CRLF *CHAR8
 *   ASTRING-CHAR  = ATOM-CHAR / resp-specials
 *
 * (RFC 9051; RFC 3501 has the same without UTF-8 in quoted strings.) out is
 * replaced with the value, unquoted; it is reserved once for the whole line
 * so that a password is never left behind by a reallocation. */
enum imap_arg_result imap_parse_astring(const char *line, size_t len, size_t *pos,
					struct buf *out, const char **error_r);

#endif
