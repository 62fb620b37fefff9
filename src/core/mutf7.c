/* Modified UTF-7 (RFC 3501 5.1.3), the encoding Dovecot and Courier use for
 * Maildir++ folder names: printable ASCII stands for itself except '&'
 * ("&-"); anything else is UTF-16BE in base64 with ',' for '/', between '&'
 * and '-'. */
#include <stdint.h>
#include <string.h>

#include "core/mutf7.h"

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64_value(char c)
{
	const char *p = c != '\0' ? strchr(b64, c) : NULL;
	return p != NULL ? (int)(p - b64) : -1;
}

static void put_utf8(struct buf *out, uint32_t cp)
{
	if (cp < 0x80) {
		buf_putc(out, (char)cp);
	} else if (cp < 0x800) {
		buf_putc(out, (char)(0xc0 | (cp >> 6)));
		buf_putc(out, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		buf_putc(out, (char)(0xe0 | (cp >> 12)));
		buf_putc(out, (char)(0x80 | ((cp >> 6) & 0x3f)));
		buf_putc(out, (char)(0x80 | (cp & 0x3f)));
	} else {
		buf_putc(out, (char)(0xf0 | (cp >> 18)));
		buf_putc(out, (char)(0x80 | ((cp >> 12) & 0x3f)));
		buf_putc(out, (char)(0x80 | ((cp >> 6) & 0x3f)));
		buf_putc(out, (char)(0x80 | (cp & 0x3f)));
	}
}

/* Decode the base64 run starting at *pp (after '&') up to '-'. */
static int decode_run(const char **pp, struct buf *out)
{
	const char *p = *pp;
	uint32_t bits = 0, high = 0;
	int nbits = 0;
	bool any = false;
	for (; *p != '-'; p++) {
		int v = b64_value(*p);
		if (v < 0)
			return -1;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		uint32_t unit = (bits >> nbits) & 0xffff;
		any = true;
		if (high != 0) {
			if (unit < 0xdc00 || unit > 0xdfff)
				return -1;
			put_utf8(out, 0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00));
			high = 0;
		} else if (unit >= 0xd800 && unit <= 0xdbff) {
			high = unit;
		} else if (unit >= 0xdc00 && unit <= 0xdfff) {
			return -1;
		} else {
			put_utf8(out, unit);
		}
	}
	/* leftover bits must be zero padding; no half surrogate */
	if (!any || high != 0 || nbits >= 6 || (bits & ((1u << nbits) - 1)) != 0)
		return -1;
	*pp = p + 1;
	return 0;
}

int mutf7_decode(const char *in, struct buf *out)
{
	for (const char *p = in; *p != '\0';) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c > 0x7e)
			return -1;
		if (c != '&') {
			buf_putc(out, (char)c);
			p++;
		} else if (p[1] == '-') {
			buf_putc(out, '&');
			p += 2;
		} else {
			p++;
			if (decode_run(&p, out) < 0)
				return -1;
		}
	}
	return 0;
}

/* The next code point of UTF-8 text (invalid bytes as U+FFFD). */
static uint32_t next_cp(const unsigned char **pp)
{
	const unsigned char *p = *pp;
	uint32_t cp;
	size_t n;
	if (p[0] < 0x80) {
		cp = p[0];
		n = 1;
	} else if ((p[0] & 0xe0) == 0xc0 && (p[1] & 0xc0) == 0x80) {
		cp = ((p[0] & 0x1fu) << 6) | (p[1] & 0x3fu);
		n = 2;
	} else if ((p[0] & 0xf0) == 0xe0 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80) {
		cp = ((p[0] & 0x0fu) << 12) | ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu);
		n = 3;
	} else if ((p[0] & 0xf8) == 0xf0 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80 &&
		   (p[3] & 0xc0) == 0x80) {
		cp = ((p[0] & 0x07u) << 18) | ((p[1] & 0x3fu) << 12) | ((p[2] & 0x3fu) << 6) |
		     (p[3] & 0x3fu);
		n = 4;
	} else {
		cp = 0xfffd;
		n = 1;
	}
	*pp = p + n;
	return cp;
}

/* Characters written as themselves; for Maildir++ '.' is encoded too,
 * since it is the hierarchy separator there. */
static bool direct(uint32_t cp, bool dot)
{
	return cp >= 0x20 && cp <= 0x7e && cp != '&' && (cp != '.' || !dot);
}

static void encode(const char *utf8, struct buf *out, bool dot)
{
	const unsigned char *p = (const unsigned char *)utf8;
	while (*p != '\0') {
		if (*p == '&') {
			buf_append_str(out, "&-");
			p++;
			continue;
		}
		const unsigned char *q = p;
		if (direct(next_cp(&q), dot)) {
			buf_putc(out, (char)*p);
			p = q;
			continue;
		}
		/* a run of characters that are not direct */
		buf_putc(out, '&');
		uint32_t bits = 0;
		int nbits = 0;
		while (*p != '\0') {
			q = p;
			uint32_t cp = next_cp(&q);
			if (direct(cp, dot) || cp == '&')
				break;
			p = q;
			uint32_t units[2];
			int nu = 1;
			if (cp >= 0x10000) {
				units[0] = 0xd800 + ((cp - 0x10000) >> 10);
				units[1] = 0xdc00 + ((cp - 0x10000) & 0x3ff);
				nu = 2;
			} else {
				units[0] = cp;
			}
			for (int i = 0; i < nu; i++) {
				bits = (bits << 16) | units[i];
				nbits += 16;
				while (nbits >= 6) {
					nbits -= 6;
					buf_putc(out, b64[(bits >> nbits) & 0x3f]);
				}
			}
		}
		if (nbits > 0)
			buf_putc(out, b64[(bits << (6 - nbits)) & 0x3f]);
		buf_putc(out, '-');
	}
}

void mutf7_encode(const char *utf8, struct buf *out)
{
	encode(utf8, out, true);
}

void mutf7_encode_imap(const char *utf8, struct buf *out)
{
	encode(utf8, out, false);
}
