/* UTF-8 as RFC 3629 defines it: no overlong forms, no surrogates, nothing
 * above U+10FFFF. The one check every parser of 8-bit input uses (IMAP
 * quoted strings and mailbox names, SEARCH strings). */
#ifndef SUREL_CORE_UTF8_H
#define SUREL_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length of the character at s[0..len) (1 for ASCII, 2 to 4 for a
 * well-formed sequence) with its code point in *cp_r (may be NULL), or 0
 * when it is not valid UTF-8 or is cut short. len >= 1. */
size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp_r);
/* Whether all of s[0..len) is valid UTF-8. */
bool utf8_valid(const char *s, size_t len);

#endif
