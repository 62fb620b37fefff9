/* Content-Transfer-Encoding decoding (RFC 2045 6): base64, quoted-printable,
 * and the identity encodings. Decoders are lenient: bad input yields the
 * best bytes, never an error, as mail readers do. */
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"
#include "mime/mime_int.h"

int mime_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * RFC 2045 6.8: "Any characters outside of the base64 alphabet are to be
 * ignored in base64-encoded data." A "=" ends the quantum; decoding goes on
 * after it, so concatenated base64 blocks decode too.
 */
void mime_base64_decode(const void *in, size_t len, struct buf *out)
{
	const unsigned char *p = in;
	unsigned acc = 0, n = 0;
	mime_buf_ready(out, len / 4 * 3 + 3);
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '=') {
			if (n == 2) {
				buf_putc(out, (char)(acc >> 4));
			} else if (n == 3) {
				buf_putc(out, (char)(acc >> 10));
				buf_putc(out, (char)(acc >> 2));
			}
			acc = n = 0;
			continue;
		}
		int v = b64val(p[i]);
		if (v < 0)
			continue;
		acc = (acc << 6) | (unsigned)v;
		if (++n == 4) {
			char b[3] = { (char)(acc >> 16), (char)(acc >> 8), (char)acc };
			buf_append(out, b, 3);
			acc = n = 0;
		}
	}
	/* Missing padding at the end. */
	if (n == 2) {
		buf_putc(out, (char)(acc >> 4));
	} else if (n == 3) {
		buf_putc(out, (char)(acc >> 10));
		buf_putc(out, (char)(acc >> 2));
	}
}

/*
 * RFC 2045 6.7:
 *   quoted-printable := qp-line *(CRLF qp-line)
 *   qp-line := *(qp-segment transport-padding CRLF) qp-part transport-padding
 *   qp-segment := qp-section *(SPACE / TAB) "="
 *   transport-padding := *LWSP-char   ; MUST be deleted when decoding
 *   hex-octet := "=" 2(DIGIT / "A" / "B" / "C" / "D" / "E" / "F")
 * A "=" not followed by two hex digits or a line break is kept as it is
 * (rule 6.7 (1) note: "the decoder should leave it alone"). Lower-case hex
 * is accepted. RFC 2047 4.2: in "Q", "_" is SPACE.
 */
void mime_qp_decode(const void *in, size_t len, bool header, struct buf *out)
{
	const unsigned char *p = in;
	size_t i = 0;
	mime_buf_ready(out, len);
	while (i < len) {
		unsigned char c = p[i];
		if (c == '=') {
			int h1 = i + 1 < len ? mime_hexval(p[i + 1]) : -1;
			int h2 = i + 2 < len ? mime_hexval(p[i + 2]) : -1;
			if (h1 >= 0 && h2 >= 0) {
				buf_putc(out, (char)(h1 * 16 + h2));
				i += 3;
				continue;
			}
			if (!header) {
				/* Soft line break: "=", transport padding, CRLF or LF. */
				size_t j = i + 1;
				while (j < len && (p[j] == ' ' || p[j] == '\t'))
					j++;
				if (j < len && p[j] == '\r' && j + 1 < len && p[j + 1] == '\n') {
					i = j + 2;
					continue;
				}
				if (j < len && p[j] == '\n') {
					i = j + 1;
					continue;
				}
				if (j == len) {
					i = j;
					continue;
				}
			}
			buf_putc(out, '=');
			i++;
			continue;
		}
		if (header && c == '_') {
			buf_putc(out, ' ');
			i++;
			continue;
		}
		if (!header && (c == ' ' || c == '\t')) {
			/* Transport padding before a line break is deleted. */
			size_t j = i;
			while (j < len && (p[j] == ' ' || p[j] == '\t'))
				j++;
			if (j == len || p[j] == '\n' || (p[j] == '\r' && j + 1 < len && p[j + 1] == '\n')) {
				i = j;
				continue;
			}
			buf_append(out, p + i, j - i);
			i = j;
			continue;
		}
		buf_putc(out, (char)c);
		i++;
	}
}

/* The encoding name without surrounding whitespace and comments. */
static void encoding_name(const char *enc, char *name, size_t size)
{
	struct mime_lex lx;
	struct buf tok = BUF_INIT;
	mime_lex_init(&lx, enc, strlen(enc));
	mime_lex_skip_cfws(&lx, NULL);
	mime_lex_token(&lx, &tok);
	size_t n = tok.len < size - 1 ? tok.len : size - 1;
	if (n > 0)
		memcpy(name, tok.data, n);
	name[n] = '\0';
	buf_free(&tok);
}

int mime_decode_body(const struct mime_part *part, const void *data, size_t len,
		     struct buf *out, char **error_r)
{
	if (part->body_end > len || part->body_start > part->body_end) {
		*error_r = xstrdup("part is outside the message");
		return -1;
	}
	const char *body = (const char *)data + part->body_start;
	size_t blen = (size_t)(part->body_end - part->body_start);
	char name[64] = "";
	if (part->encoding != NULL)
		encoding_name(part->encoding, name, sizeof name);
	if (name[0] == '\0' || strcasecmp(name, "7bit") == 0 || strcasecmp(name, "8bit") == 0 ||
	    strcasecmp(name, "binary") == 0) {
		buf_append(out, body, blen);
		return 0;
	}
	if (strcasecmp(name, "base64") == 0) {
		mime_base64_decode(body, blen, out);
		return 0;
	}
	if (strcasecmp(name, "quoted-printable") == 0) {
		mime_qp_decode(body, blen, false, out);
		return 0;
	}
	*error_r = xasprintf("unknown Content-Transfer-Encoding '%s'", name);
	return -1;
}
