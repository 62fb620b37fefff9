/* Mail address and domain syntax (RFC 5321, RFC 5322 dot-atom, RFC 6531 UTF-8
 * local parts, IDNA2008 domains) and the normalised form Surel stores:
 *
 *   - the local part with its ASCII letters lower-cased: local parts are
 *     case-insensitive in Surel (Alice@ and alice@ are one mailbox), although
 *     RFC 5321 lets a server treat them as case-sensitive. Non-ASCII
 *     characters are kept byte for byte (no Unicode case folding or NFC);
 *   - the domain as lower-case A-labels ("xn--bcher-kva.example" for
 *     "bücher.example").
 *
 * Inputs are (pointer, length) so that a NUL byte inside a protocol argument
 * is seen and refused. Every function returns 0 with a malloc'd result, or -1
 * with *error_r set to one line (malloc'd, caller frees), e.g.
 * "invalid domain 'a..example': empty label". */
#ifndef SUREL_ACCOUNT_ADDR_H
#define SUREL_ACCOUNT_ADDR_H

#include <stddef.h>

/* RFC 5321 4.5.3.1 limits, in octets of the normalised form. A domain's
 * 255 octets there are those of the DNS wire form (RFC 1035 3.1: a length
 * byte per label and the root), that is 253 characters written out; libidn2
 * enforces the same. */
#define ADDR_LOCAL_MAX  64
#define ADDR_DOMAIN_MAX 253
#define ADDR_LABEL_MAX  63
#define ADDR_PATH_MAX   254   /* whole address (RFC 5321 path 256 minus "<>") */

/* A domain (U-labels or A-labels, any case) to its lower-case A-label form. */
int addr_domain_normalize(const char *domain, size_t len, char **ascii_r, char **error_r);

/* A mailbox "local@domain" to its normalised form. */
int addr_normalize(const char *address, size_t len, char **norm_r, char **error_r);

/* An alias source: a mailbox, or "@domain" for a catch-all of that domain. */
int addr_source_normalize(const char *source, size_t len, char **norm_r, char **error_r);

/* For display: a normalised domain with its A-labels turned into U-labels. */
int addr_domain_to_unicode(const char *ascii, char **unicode_r, char **error_r);
/* For display: a normalised address or "@domain" with a Unicode domain. */
int addr_to_unicode(const char *norm, char **unicode_r, char **error_r);

/* The domain of a normalised address or catch-all: what follows the last '@'
 * (the whole string when there is none). */
const char *addr_domain_of(const char *norm);

#endif
