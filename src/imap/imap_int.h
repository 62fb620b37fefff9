/* Inside the IMAP front door: the session state shared by imap_session.c
 * (dispatch, the any-state commands) and imap_auth.c (LOGIN, AUTHENTICATE).
 * Not for other parts. */
#ifndef SUREL_IMAP_IMAP_INT_H
#define SUREL_IMAP_IMAP_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "server/session.h"

struct auth_pending;
struct sasl;

/* RFC 9051 section 3. Selected and logout come with the IMAP engine. */
enum imap_conn_state {
	IMAP_NOT_AUTHENTICATED,
	IMAP_AUTHENTICATED,
};

struct imap_state {
	enum imap_conn_state state;
	char *user;                     /* the account's address once logged in */
	/* A LOGIN or AUTHENTICATE in progress: */
	char *tag;                      /* its tag, for the tagged reply */
	const char *command;            /* "LOGIN" or "AUTHENTICATE" */
	char method[32];                /* for the log: "LOGIN", "sasl:PLAIN" */
	struct sasl *sasl;              /* AUTHENTICATE: waiting for a client response */
	struct auth_pending *pending;   /* the credentials are being checked */
};

/* Whether LOGIN and AUTHENTICATE are allowed: only under TLS. */
bool imap_login_allowed(const struct session *s);
/* The capability list for the session's state, space-separated, into out. */
void imap_capabilities(const struct session *s, struct buf *out);

void imap_cmd_login(struct session *s, struct imap_state *st, const char *tag, const char *args);
void imap_cmd_authenticate(struct session *s, struct imap_state *st, const char *tag,
			   const char *args);
/* A line while AUTHENTICATE waits for the client (st->sasl != NULL). */
void imap_auth_response(struct session *s, struct imap_state *st, const char *line, size_t len);
/* That line was too long: end the exchange. */
void imap_auth_response_too_long(struct session *s, struct imap_state *st);
/* End any exchange or check in progress (on close). */
void imap_auth_abort(struct imap_state *st);

#endif
