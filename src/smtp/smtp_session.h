/* The SMTP front door (smtp, submission and smtps listeners): greeting,
 * EHLO/HELO, STARTTLS, AUTH (submission and smtps, under TLS) and the
 * session commands. Mail transactions (MAIL, RCPT, DATA, BDAT) and the rest
 * come with the SMTP server engine. */
#ifndef SUREL_SMTP_SMTP_SESSION_H
#define SUREL_SMTP_SMTP_SESSION_H

#include "server/session.h"

extern const struct protocol smtp_protocol;

#endif
