/* Charset conversion to UTF-8 with iconv. Output is always valid UTF-8:
 * what cannot be converted becomes U+FFFD. */
#include <errno.h>
#include <iconv.h>
#include <string.h>
#include <strings.h>

#include "mime/mime_int.h"

static const char REPLACEMENT[] = "\xEF\xBF\xBD";    /* U+FFFD */

/* The length of the valid UTF-8 sequence at s (RFC 3629 4), 0 if none. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	size_t n;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4;
	else
		return 0;
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	/* Overlong forms, surrogates and code points past U+10FFFF. */
	if (c == 0xE0 && s[1] < 0xA0)
		return 0;
	if (c == 0xED && s[1] > 0x9F)
		return 0;
	if (c == 0xF0 && s[1] < 0x90)
		return 0;
	if (c == 0xF4 && s[1] > 0x8F)
		return 0;
	return n;
}

bool mime_utf8_valid(const void *s, size_t len)
{
	const unsigned char *p = s;
	size_t i = 0;
	while (i < len) {
		size_t n = utf8_seq(p + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/* Copy UTF-8, replacing each invalid byte with U+FFFD. */
static void append_utf8_lossy(struct buf *out, const unsigned char *p, size_t len)
{
	size_t i = 0;
	while (i < len) {
		size_t n = utf8_seq(p + i, len - i);
		if (n == 0) {
			buf_append(out, REPLACEMENT, 3);
			i++;
		} else {
			buf_append(out, p + i, n);
			i += n;
		}
	}
}

/* Names that iconv does not know or that mail means differently. WHATWG's
 * Encoding Standard reads ISO-8859-1 labels as windows-1252, which is what
 * the senders of such mail meant. 8-bit text labelled US-ASCII was written
 * in some other charset: UTF-8 when it is valid UTF-8, else windows-1252. */
static const struct {
	const char *label, *iconv_name;
} aliases[] = {
	{ "us-ascii", "GUESS" },
	{ "ascii", "GUESS" },
	{ "unknown-8bit", "GUESS" },
	{ "x-unknown", "GUESS" },
	{ "iso-8859-1", "WINDOWS-1252" },
	{ "iso8859-1", "WINDOWS-1252" },
	{ "latin1", "WINDOWS-1252" },
	{ "ks_c_5601-1987", "CP949" },
	{ "ks_c_5601", "CP949" },
	{ "gb2312", "GB18030" },
	{ "gbk", "GB18030" },
	{ "x-gbk", "GB18030" },
	{ "x-sjis", "SHIFT_JIS" },
	{ "x-mac-roman", "MACINTOSH" },
	{ "utf8", "UTF-8" },
};

static bool is_utf8_label(const char *cs)
{
	return strcasecmp(cs, "utf-8") == 0 || strcasecmp(cs, "utf8") == 0;
}

static void convert(iconv_t cd, const char *in, size_t len, struct buf *out)
{
	char *ip = (char *)in;
	size_t ileft = len;
	while (ileft > 0) {
		buf_reserve(out, ileft * 4 + 16);
		char *op = out->data + out->len;
		size_t oleft = out->cap - out->len - 1;
		size_t r = iconv(cd, &ip, &ileft, &op, &oleft);
		out->len = (size_t)(op - out->data);
		out->data[out->len] = '\0';
		if (r != (size_t)-1)
			break;
		if (errno == E2BIG)
			continue;
		/* EILSEQ: skip one byte; EINVAL: a truncated sequence at the end. */
		buf_append(out, REPLACEMENT, 3);
		if (errno == EINVAL)
			break;
		ip++;
		ileft--;
		iconv(cd, NULL, NULL, NULL, NULL);
	}
	/* Flush a stateful encoding's shift sequence. */
	buf_reserve(out, 16);
	char *op = out->data + out->len;
	size_t oleft = out->cap - out->len - 1;
	if (iconv(cd, NULL, NULL, &op, &oleft) != (size_t)-1)
		out->len = (size_t)(op - out->data);
	out->data[out->len] = '\0';
}

int mime_charset_to_utf8(const char *charset, const void *in, size_t len, struct buf *out)
{
	const unsigned char *p = in;
	if (len == 0) {
		mime_buf_ready(out, 0);
		return 0;
	}
	if (charset == NULL || *charset == '\0' || is_utf8_label(charset)) {
		append_utf8_lossy(out, p, len);
		return 0;
	}
	/* Mail labelled US-ASCII or Latin-1 that is in fact valid UTF-8 is
	 * common; so is 7-bit text under any label. */
	if (!mime_has_8bit(in, len) && strncasecmp(charset, "utf-16", 6) != 0 &&
	    strncasecmp(charset, "utf-32", 6) != 0 && strncasecmp(charset, "utf-7", 5) != 0 &&
	    strncasecmp(charset, "ucs", 3) != 0 && strncasecmp(charset, "iso-2022", 8) != 0 &&
	    strncasecmp(charset, "hz", 2) != 0) {
		buf_append(out, in, len);
		return 0;
	}
	const char *name = charset;
	for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
		if (strcasecmp(charset, aliases[i].label) == 0) {
			name = aliases[i].iconv_name;
			break;
		}
	}
	if (strcmp(name, "GUESS") == 0) {
		mime_append_text_guess(out, in, len);
		return 0;
	}
	if (strcmp(name, "UTF-8") == 0) {
		append_utf8_lossy(out, p, len);
		return 0;
	}
	iconv_t cd = iconv_open("UTF-8", name);
	if (cd == (iconv_t)-1) {
		mime_append_text_guess(out, in, len);
		return -1;
	}
	convert(cd, in, len, out);
	iconv_close(cd);
	return 0;
}

void mime_append_text_guess(struct buf *out, const void *s, size_t len)
{
	if (!mime_has_8bit(s, len) || mime_utf8_valid(s, len)) {
		buf_append(out, s, len);
		return;
	}
	iconv_t cd = iconv_open("UTF-8", "WINDOWS-1252");
	if (cd == (iconv_t)-1) {
		append_utf8_lossy(out, s, len);
		return;
	}
	convert(cd, s, len, out);
	iconv_close(cd);
}
