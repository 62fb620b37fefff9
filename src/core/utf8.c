/* UTF-8 validation and decoding (RFC 3629 3 and 4). */
#include "core/utf8.h"

size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp_r)
{
	unsigned char b = s[0];
	size_t n;
	uint32_t c, min;
	if (b < 0x80) {
		n = 1, c = b, min = 0;
	} else if (b >= 0xc2 && b <= 0xdf) {
		n = 2, c = b & 0x1fu, min = 0x80;
	} else if (b >= 0xe0 && b <= 0xef) {
		n = 3, c = b & 0x0fu, min = 0x800;
	} else if (b >= 0xf0 && b <= 0xf4) {
		n = 4, c = b & 0x07u, min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3fu);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	if (cp_r != NULL)
		*cp_r = c;
	return n;
}

bool utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_decode(p + i, len - i, NULL);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}
