/* The IMAP server (imap and imaps listeners): IMAP4rev2 and IMAP4rev1 on
 * the mail store. The protocol table the worker hands its IMAP sessions;
 * everything else is inside src/imap (imap_int.h, docs/imap.md). */
#ifndef SUREL_IMAP_IMAP_SESSION_H
#define SUREL_IMAP_IMAP_SESSION_H

#include "server/session.h"

extern const struct protocol imap_protocol;

#endif
