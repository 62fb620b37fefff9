/* The IMAP front door (imap and imaps listeners): greeting, CAPABILITY,
 * NOOP, LOGOUT, STARTTLS, and LOGIN / AUTHENTICATE (under TLS) into the
 * authenticated state. Mailboxes come with the IMAP engine; other valid
 * commands get "BAD Command not implemented" for now. */
#ifndef SUREL_IMAP_IMAP_SESSION_H
#define SUREL_IMAP_IMAP_SESSION_H

#include "server/session.h"

extern const struct protocol imap_protocol;

#endif
