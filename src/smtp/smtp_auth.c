/* SMTP AUTH (RFC 4954) with the SASL mechanisms of sasl.h, checked by the
 * auth service (auth.h).
 *
 *   auth-command       = "AUTH" SP sasl-mech [SP initial-response]
 *                        *(CRLF [base64]) [CRLF cancel-response] CRLF
 *   initial-response   = base64 / "="
 *   cancel-response    = "*"
 *   continue-req       = "334" SP [base64] CRLF
 *
 * AUTH is offered on the submission and smtps listeners, and only under TLS
 * (the mechanisms send the password in clear). On the smtp listener (port 25,
 * mail from the world) it is never offered.
 *
 * Replies:
 *   235 2.7.0 Authentication successful
 *   334 <base64 challenge>                 the exchange goes on
 *   454 4.7.0 Too many failed attempts, try later     IP or account locked out
 *   454 4.7.0 Temporary authentication failure        surel.db unreadable
 *   500 5.5.6 Authentication Exchange line is too long
 *   501 5.0.0 Authentication cancelled     the client sent "*"
 *   501 5.5.2 Invalid authentication response: WHY   bad base64, bad fields, NUL
 *   501 5.5.4 Syntax: AUTH mechanism [initial-response]
 *   503 5.5.1 AUTH not available on this port         smtp listener
 *   503 5.5.1 Send EHLO first
 *   503 5.5.1 Already authenticated
 *   504 5.5.4 Unrecognized authentication type
 *   530 5.7.0 Must issue a STARTTLS command first     submission before TLS
 *   535 5.7.8 Authentication credentials invalid
 *
 * While the credentials are checked the session reads no further command
 * (pipelined lines wait), and a session that goes away cancels the check. */
#include "smtp/smtp_int.h"

#include <stdlib.h>
#include <string.h>

#include "account/auth.h"
#include "account/directory.h"
#include "account/sasl.h"
#include "core/buf.h"
#include "core/xmalloc.h"
#include "server/listen.h"

/* The listeners for users' mail: submission and smtps, not smtp. */
static bool submission_listener(const struct session *s)
{
	return strcmp(s->listener->name, "submission") == 0 ||
	       strcmp(s->listener->name, "smtps") == 0;
}

bool smtp_auth_offered(const struct session *s)
{
	return s->tls && submission_listener(s);
}

void smtp_auth_reset(struct smtp_state *st)
{
	sasl_free(&st->sasl);
	auth_cancel(&st->pending);
	xfree(&st->user);
	st->mech = NULL;
}

static void verified(enum auth_result result, const struct account_info *account, void *arg)
{
	struct session *s = arg;
	struct smtp_state *st = s->data;
	st->pending = NULL;
	session_resume_input(s);
	switch (result) {
	case AUTH_OK:
		st->user = xstrdup(account->address);
		log_msg(LOGL_INFO, "smtp", s->id, "event=login user=%s method=sasl:%s", st->user,
			st->mech);
		session_printf(s, "235 2.7.0 Authentication successful\r\n");
		break;
	case AUTH_FAILED:
		session_printf(s, "535 5.7.8 Authentication credentials invalid\r\n");
		break;
	case AUTH_LOCKED:
		session_printf(s, "454 4.7.0 Too many failed attempts, try later\r\n");
		break;
	case AUTH_TEMPFAIL:
		session_printf(s, "454 4.7.0 Temporary authentication failure\r\n");
		break;
	}
	st->mech = NULL;
}

/* The exchange is over: check the credentials, or report how it ended. */
static void exchange_step(struct session *s, struct smtp_state *st, const char *response)
{
	struct buf challenge = BUF_INIT;
	char *error = NULL;
	enum sasl_status status = sasl_step(st->sasl, response, &challenge, &error);
	switch (status) {
	case SASL_CONTINUE:
		session_printf(s, "334 %s\r\n", buf_cstr(&challenge));
		break;
	case SASL_CANCELLED:
		sasl_free(&st->sasl);
		st->mech = NULL;
		session_printf(s, "501 5.0.0 Authentication cancelled\r\n");
		break;
	case SASL_MALFORMED:
		sasl_free(&st->sasl);
		log_msg(LOGL_INFO, "smtp", s->id, "event=auth_malformed mech=%s error=\"%s\"",
			st->mech, error);
		st->mech = NULL;
		session_printf(s, "501 5.5.2 Invalid authentication response: %s\r\n", error);
		break;
	case SASL_DONE: {
		if (s->auth == NULL) {
			sasl_free(&st->sasl);
			st->mech = NULL;
			session_printf(s, "454 4.7.0 Temporary authentication failure\r\n");
			break;
		}
		struct auth_request req = {
			.protocol = "smtp",
			.username = sasl_authcid(st->sasl),
			.password = sasl_password(st->sasl),
			.remote_ip = s->remote_ip,
			.session_id = s->id,
		};
		/* Nothing more is dispatched until the answer: a command
		 * pipelined behind AUTH must see its outcome. */
		session_pause_input(s);
		st->pending = auth_verify(s->auth, &req, verified, s);
		sasl_free(&st->sasl);   /* auth_verify copied (and will wipe) the password */
		break;
	}
	}
	free(error);
	buf_free(&challenge);
}

void smtp_cmd_auth(struct session *s, struct smtp_state *st, const char *arg)
{
	if (!submission_listener(s)) {
		session_printf(s, "503 5.5.1 AUTH not available on this port\r\n");
		return;
	}
	if (!s->tls) {   /* RFC 3207 */
		session_printf(s, "530 5.7.0 Must issue a STARTTLS command first\r\n");
		return;
	}
	if (!st->esmtp) {
		session_printf(s, "503 5.5.1 Send EHLO first\r\n");
		return;
	}
	if (st->user != NULL) {
		session_printf(s, "503 5.5.1 Already authenticated\r\n");
		return;
	}
	/* sasl-mech [SP initial-response], exactly one space between them */
	size_t mlen = arg != NULL ? strcspn(arg, " ") : 0;
	const char *initial = arg != NULL && arg[mlen] == ' ' ? arg + mlen + 1 : NULL;
	if (mlen == 0 || mlen > 20 || (initial != NULL && (*initial == '\0' ||
							 strchr(initial, ' ') != NULL))) {
		session_printf(s, "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n");
		return;
	}
	char mech[21];
	memcpy(mech, arg, mlen);
	mech[mlen] = '\0';
	st->sasl = sasl_new(mech);
	if (st->sasl == NULL) {
		session_printf(s, "504 5.5.4 Unrecognized authentication type\r\n");
		return;
	}
	st->mech = sasl_mech_name(st->sasl);
	exchange_step(s, st, initial);
}

void smtp_auth_response(struct session *s, struct smtp_state *st, const char *line, size_t len)
{
	/* sasl_step() takes a C string: a NUL would cut the response short. */
	if (memchr(line, '\0', len) != NULL) {
		sasl_free(&st->sasl);
		session_printf(s, "501 5.5.2 Invalid authentication response: NUL byte\r\n");
		return;
	}
	exchange_step(s, st, line);
}

void smtp_auth_response_too_long(struct session *s, struct smtp_state *st)
{
	sasl_free(&st->sasl);
	session_printf(s, "500 5.5.6 Authentication Exchange line is too long\r\n");
}
