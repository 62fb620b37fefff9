/* Modified UTF-7 (RFC 3501 5.1.3): IMAP mailbox names for clients that have
 * not enabled UTF8=ACCEPT or IMAP4rev2, and Maildir++ folder names. */
#ifndef SUREL_CORE_MUTF7_H
#define SUREL_CORE_MUTF7_H

#include "core/buf.h"

/* Append the UTF-8 of in to out; -1 when in is not valid modified UTF-7
 * (bad base64, a non-canonical or empty shift, an unpaired surrogate, a
 * printable ASCII character encoded). */
int mutf7_decode(const char *in, struct buf *out);
/* Append the modified UTF-7 of the UTF-8 string utf8 to out: for a
 * Maildir++ folder name ('.' encoded too, it separates levels there) and
 * for IMAP. */
void mutf7_encode(const char *utf8, struct buf *out);
void mutf7_encode_imap(const char *utf8, struct buf *out);

#endif
