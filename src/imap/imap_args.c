/* Arguments of IMAP commands: astring (RFC 9051 section 9). */
#include "imap/imap_args.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/utf8.h"

/* atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards /
 *                 quoted-specials / resp-specials
 * ASTRING-CHAR  = ATOM-CHAR / resp-specials     (so "]" is allowed) */
static bool is_astring_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)   /* CTL, SP, not CHAR */
		return false;
	return strchr("(){%*\"\\", c) == NULL;
}

static enum imap_arg_result quoted(const char *line, size_t len, size_t *pos, struct buf *out,
				   const char **error_r)
{
	size_t i = *pos + 1;   /* after the opening DQUOTE */
	while (i < len) {
		unsigned char c = (unsigned char)line[i];
		if (c == '"') {
			*pos = i + 1;
			return IMAP_ARG_OK;
		}
		if (c == '\\') {
			if (i + 1 >= len || (line[i + 1] != '"' && line[i + 1] != '\\')) {
				*error_r = "Invalid escape in quoted string";
				return IMAP_ARG_BAD;
			}
			buf_putc(out, line[i + 1]);
			i += 2;
		} else if (c >= 0x80) {
			size_t n = utf8_decode((const unsigned char *)line + i, len - i, NULL);
			if (n == 0) {
				*error_r = "Invalid UTF-8 in quoted string";
				return IMAP_ARG_BAD;
			}
			buf_append(out, line + i, n);
			i += n;
		} else if (c == 0 || c == '\r' || c == '\n') {
			*error_r = "Invalid character in quoted string";
			return IMAP_ARG_BAD;
		} else {
			buf_putc(out, (char)c);
			i++;
		}
	}
	*error_r = "Unterminated quoted string";
	return IMAP_ARG_BAD;
}

/* "{" number64 ["+"] "}" at the end of the line. */
static enum imap_arg_result literal(const char *line, size_t len, size_t pos,
				    const char **error_r)
{
	size_t i = pos + 1, digits = 0;
	while (i < len && line[i] >= '0' && line[i] <= '9') {
		i++;
		digits++;
	}
	if (i < len && line[i] == '+')
		i++;
	if (digits == 0 || digits > 19 || i + 1 != len || line[i] != '}') {
		*error_r = "Invalid literal";
		return IMAP_ARG_BAD;
	}
	return IMAP_ARG_LITERAL;
}

enum imap_arg_result imap_parse_astring(const char *line, size_t len, size_t *pos,
					struct buf *out, const char **error_r)
{
	buf_clear(out);
	buf_reserve(out, len);
	if (*pos >= len) {
		*error_r = "Missing argument";
		return IMAP_ARG_BAD;
	}
	if (line[*pos] == '"')
		return quoted(line, len, pos, out, error_r);
	if (line[*pos] == '{')
		return literal(line, len, *pos, error_r);
	size_t i = *pos;
	while (i < len && is_astring_char((unsigned char)line[i]))
		i++;
	if (i == *pos) {
		*error_r = "Invalid character in argument";
		return IMAP_ARG_BAD;
	}
	buf_append(out, line + *pos, i - *pos);
	*pos = i;
	return IMAP_ARG_OK;
}
