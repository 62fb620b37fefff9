/* Inside the SMTP front door: the session state shared by smtp_session.c
 * (commands) and smtp_auth.c (AUTH). Not for other parts. */
#ifndef SUREL_SMTP_SMTP_INT_H
#define SUREL_SMTP_SMTP_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "server/session.h"

struct auth_pending;
struct sasl;

struct smtp_state {
	bool greeted;      /* EHLO or HELO seen since the start or STARTTLS */
	bool esmtp;        /* ... and it was EHLO */
	char *user;        /* the account's address once AUTH succeeded, else NULL */
	struct sasl *sasl;              /* AUTH: waiting for the client's next response */
	struct auth_pending *pending;   /* AUTH: the credentials are being checked */
	const char *mech;               /* the mechanism of the AUTH in progress */
};

/* Whether AUTH is offered in this session: on submission and smtps, under
 * TLS; never on the smtp (port 25) listener. */
bool smtp_auth_offered(const struct session *s);
/* AUTH SP mechanism [SP initial-response] */
void smtp_cmd_auth(struct session *s, struct smtp_state *st, const char *arg);
/* A line while an AUTH exchange waits for the client (st->sasl != NULL). */
void smtp_auth_response(struct session *s, struct smtp_state *st, const char *line, size_t len);
/* The response line was too long: end the exchange with 500 5.5.6. */
void smtp_auth_response_too_long(struct session *s, struct smtp_state *st);
/* Forget the exchange, cancel a pending check, forget the login (on close
 * and STARTTLS). */
void smtp_auth_reset(struct smtp_state *st);

#endif
