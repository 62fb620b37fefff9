/* Inside the POP3 front door: the session state shared by pop3_session.c
 * (dispatch, CAPA, STLS, QUIT) and pop3_auth.c (USER/PASS, AUTH). Not for
 * other parts. */
#ifndef SUREL_POP3_POP3_INT_H
#define SUREL_POP3_POP3_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "server/session.h"

struct auth_pending;
struct sasl;

/* RFC 1939 section 3 (UPDATE comes with the maildrop). */
enum pop3_conn_state {
	POP3_AUTHORIZATION,
	POP3_TRANSACTION,
};

struct pop3_state {
	enum pop3_conn_state state;
	char *user;                     /* the account's address once logged in */
	char *user_arg;                 /* USER's argument, waiting for PASS */
	char method[32];                /* of the login in progress, for the log */
	struct sasl *sasl;              /* AUTH: waiting for a client response */
	struct auth_pending *pending;   /* the credentials are being checked */
};

/* Whether USER, PASS and AUTH are allowed: only under TLS. */
bool pop3_login_allowed(const struct session *s);

void pop3_cmd_user(struct session *s, struct pop3_state *st, const char *arg);
void pop3_cmd_pass(struct session *s, struct pop3_state *st, const char *arg);
void pop3_cmd_auth(struct session *s, struct pop3_state *st, const char *arg);
/* A line while AUTH waits for the client (st->sasl != NULL). */
void pop3_auth_response(struct session *s, struct pop3_state *st, const char *line, size_t len);
/* That line was too long: end the exchange. */
void pop3_auth_response_too_long(struct session *s, struct pop3_state *st);
/* End any exchange or check in progress and forget USER (on close). */
void pop3_auth_abort(struct pop3_state *st);

#endif
