/* The SMTP server engine's protocol table, for the smtp, submission, smtps
 * and lmtp listeners: greeting, EHLO/HELO (LHLO on lmtp), STARTTLS, AUTH
 * (submission and smtps, under TLS), the session commands and the mail
 * transaction (smtp_int.h lists the files). */
#ifndef SUREL_SMTP_SMTP_SESSION_H
#define SUREL_SMTP_SMTP_SESSION_H

#include "server/session.h"

extern const struct protocol smtp_protocol;

#endif
