/* Text helpers for SEARCH, SORT and THREAD: the case mapping used for every
 * comparison, header fields by name, calendar days, UTF-8 validity. */
#include <string.h>

#include "imap/imap_search_int.h"

#include "core/utf8.h"

/* ---- case mapping ----
 * The titlecase (for these scripts: upper case) of each letter, as
 * i;unicode-casemap (RFC 5051) maps before comparing. Only the simple,
 * one-to-one mappings of the blocks below; no decomposition, so "e" and
 * "é" stay apart, as do precomposed and decomposed forms. */

static uint32_t map_latin_ext_a(uint32_t c)
{
	if (c == 0x131)
		return 'I';                    /* dotless i */
	if (c == 0x17f)
		return 'S';                    /* long s */
	if (c == 0x138 || c == 0x149 || c == 0x130 || c == 0x178 || c == 0x179)
		return c;                      /* no lower case / already upper */
	/* Pairs upper, lower: even/odd in 0100-0137 and 014A-0177, odd/even
	 * in 0139-0148 and 0179-017E. */
	bool even_upper = (c <= 0x137) || (c >= 0x14a && c <= 0x177);
	bool is_lower = even_upper ? (c & 1u) != 0 : (c & 1u) == 0;
	return is_lower ? c - 1 : c;
}

static uint32_t map_greek(uint32_t c)
{
	if (c == 0x3ac)
		return 0x386;
	if (c >= 0x3ad && c <= 0x3af)
		return c - 0x25;
	if (c == 0x3c2)
		return 0x3a3;                  /* final sigma */
	if (c >= 0x3b1 && c <= 0x3cb)
		return c - 0x20;
	if (c == 0x3cc)
		return 0x38c;
	if (c == 0x3cd || c == 0x3ce)
		return c - 0x3f;
	return c;
}

static uint32_t casemap_char(uint32_t c)
{
	if (c >= 'a' && c <= 'z')
		return c - 0x20;
	if (c < 0xb5)
		return c;
	if (c == 0xb5)
		return 0x39c;                  /* micro sign: Greek MU */
	if (c >= 0xe0 && c <= 0xfe && c != 0xf7)
		return c - 0x20;
	if (c == 0xff)
		return 0x178;
	if (c >= 0x100 && c <= 0x17f)
		return map_latin_ext_a(c);
	if (c >= 0x3ac && c <= 0x3ce)
		return map_greek(c);
	if (c >= 0x430 && c <= 0x44f)
		return c - 0x20;
	if (c >= 0x450 && c <= 0x45f)
		return c - 0x50;
	return c;
}

static void utf8_encode(uint32_t c, struct buf *out)
{
	char b[4];
	size_t n;
	if (c < 0x80) {
		b[0] = (char)c, n = 1;
	} else if (c < 0x800) {
		b[0] = (char)(0xc0 | (c >> 6)), b[1] = (char)(0x80 | (c & 0x3f)), n = 2;
	} else if (c < 0x10000) {
		b[0] = (char)(0xe0 | (c >> 12)), b[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		b[2] = (char)(0x80 | (c & 0x3f)), n = 3;
	} else {
		b[0] = (char)(0xf0 | (c >> 18)), b[1] = (char)(0x80 | ((c >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((c >> 6) & 0x3f)), b[3] = (char)(0x80 | (c & 0x3f)), n = 4;
	}
	buf_append(out, b, n);
}

void imap_casemap(const char *s, size_t len, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	buf_reserve(out, len);
	for (size_t i = 0; i < len;) {
		uint32_t c;
		size_t n = utf8_decode(p + i, len - i, &c);
		if (n == 0) {
			buf_putc(out, (char)p[i]);     /* not UTF-8: the byte as it is */
			i++;
			continue;
		}
		if (n == 1) {
			buf_putc(out, (char)casemap_char(c));
		} else {
			utf8_encode(casemap_char(c), out);
		}
		i += n;
	}
}

bool imap_word_eq(const char *s, size_t len, const char *word)
{
	size_t wl = strlen(word);
	if (len != wl)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char a = (unsigned char)s[i], b = (unsigned char)word[i];
		if (a >= 'a' && a <= 'z')
			a = (unsigned char)(a - 0x20);
		if (b >= 'a' && b <= 'z')
			b = (unsigned char)(b - 0x20);
		if (a != b)
			return false;
	}
	return true;
}

/* ---- header fields ----
 *   field      = field-name ":" unstructured CRLF     (RFC 5322 2.2)
 *   obs-field  = field-name *WSP ":" ...              (RFC 5322 4.5)
 * A line that starts with WSP continues the field before it; the empty
 * line ends the header. LF alone is taken as CRLF. */

static size_t next_line(const char *hdr, size_t len, size_t p)
{
	const char *lf = memchr(hdr + p, '\n', len - p);
	return lf != NULL ? (size_t)(lf - hdr) + 1 : len;
}

static bool line_is_empty(const char *hdr, size_t len, size_t p)
{
	return hdr[p] == '\n' || (hdr[p] == '\r' && (p + 1 == len || hdr[p + 1] == '\n'));
}

static bool name_matches(const char *hdr, size_t start, size_t colon, const char *name)
{
	size_t end = colon;
	while (end > start && (hdr[end - 1] == ' ' || hdr[end - 1] == '\t'))
		end--;
	return imap_word_eq(hdr + start, end - start, name);
}

bool imap_header_find(const char *hdr, size_t len, size_t *pos, const char *name,
		      const char **value_r, size_t *vlen_r)
{
	size_t p = *pos;
	while (p < len && !line_is_empty(hdr, len, p)) {
		size_t end = next_line(hdr, len, p);
		while (end < len && (hdr[end] == ' ' || hdr[end] == '\t'))
			end = next_line(hdr, len, end);
		const char *colon = memchr(hdr + p, ':', end - p);
		bool starts_field = hdr[p] != ' ' && hdr[p] != '\t';
		if (starts_field && colon != NULL &&
		    name_matches(hdr, p, (size_t)(colon - hdr), name)) {
			size_t v = (size_t)(colon - hdr) + 1, vend = end;
			while (vend > v && (hdr[vend - 1] == '\n' || hdr[vend - 1] == '\r'))
				vend--;
			*value_r = hdr + v;
			*vlen_r = vend - v;
			*pos = end;
			return true;
		}
		p = end;
	}
	*pos = len;
	return false;
}

/* ---- calendar days (proleptic Gregorian, H. Hinnant's days_from_civil) ---- */

int64_t imap_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (int64_t)(m > 2 ? m - 3 : m + 9) + 2) / 5 + (int64_t)d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int64_t imap_time_day(time_t t)
{
	int64_t s = (int64_t)t;
	return s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
}
