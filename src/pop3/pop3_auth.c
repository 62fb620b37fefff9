/* POP3 USER/PASS (RFC 1939 7) and AUTH (RFC 5034), with the SASL mechanisms
 * of sasl.h, checked by the auth service (auth.h). Response codes: RFC 2449
 * (SYS/TEMP, SYS/PERM) and RFC 3206 (AUTH).
 *
 *   USER name
 *   PASS string                      ; the rest of the line: may hold spaces
 *   auth-command  = "AUTH" SP sasl-mech [SP initial-response]
 *                   *(CRLF [base64]) [CRLF cancel-response] CRLF
 *   initial-response = base64 / "="
 *   "AUTH" alone lists the mechanisms, one a line (what clients that predate
 *   CAPA send; the list is CAPA's "SASL" line).
 *
 * All of them are refused before TLS, USER included, so that a client is
 * stopped before it sends the password.
 *
 * Replies:
 *   +OK Logged in                                    TRANSACTION state, once the
 *                                                    maildrop is locked (pop3_maildrop.c)
 *   -ERR [IN-USE] ... / [LOGIN-DELAY] ...            see pop3_maildrop.c
 *   + <base64 challenge>                             the exchange goes on
 *   -ERR [SYS/PERM] Authentication requires TLS: use STLS first
 *   -ERR [AUTH] Authentication failed
 *   -ERR [SYS/TEMP] Too many failed attempts, try later          locked out
 *   -ERR [SYS/TEMP] Temporary authentication failure, try later
 *   -ERR Unsupported authentication mechanism
 *   -ERR Authentication cancelled                    "*"
 *   -ERR Invalid authentication response: WHY        bad base64, bad fields, NUL
 *
 * While the credentials are checked the session reads no further command;
 * a session that goes away cancels the check. */
#include "pop3/pop3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account/auth.h"
#include "account/directory.h"
#include "account/sasl.h"
#include "core/buf.h"
#include "core/xmalloc.h"

bool pop3_login_allowed(const struct session *s)
{
	return session_password_allowed(s);
}

static void forget_user_arg(struct pop3_state *st)
{
	if (st->user_arg != NULL)
		secure_zero(st->user_arg, strlen(st->user_arg));
	xfree(&st->user_arg);
}

void pop3_auth_abort(struct pop3_state *st)
{
	sasl_free(&st->sasl);
	auth_cancel(&st->pending);
	forget_user_arg(st);
}

static void verified(enum auth_result result, const struct account_info *account, void *arg)
{
	struct session *s = arg;
	struct pop3_state *st = s->data;
	st->pending = NULL;
	if (result == AUTH_OK) {
		/* Input stays paused while the maildrop is locked and read. */
		pop3_maildrop_open(s, account);
		return;
	}
	session_resume_input(s);
	switch (result) {
	case AUTH_OK:
		break;
	case AUTH_FAILED:
		session_printf(s, "-ERR [AUTH] Authentication failed\r\n");
		break;
	case AUTH_LOCKED:
		session_printf(s, "-ERR [SYS/TEMP] Too many failed attempts, try later\r\n");
		break;
	case AUTH_TEMPFAIL:
		session_printf(s, "-ERR [SYS/TEMP] Temporary authentication failure, try later\r\n");
		break;
	}
}

/* Hand the credentials to the auth service; no command is dispatched until
 * the answer. */
static void verify(struct session *s, struct pop3_state *st, const char *user, const char *pass)
{
	if (s->auth == NULL) {
		session_printf(s, "-ERR [SYS/TEMP] Temporary authentication failure, try later\r\n");
		return;
	}
	struct auth_request req = {
		.protocol = "pop3",
		.username = user,
		.password = pass,
		.remote_ip = s->remote_ip,
		.session_id = s->id,
	};
	session_pause_input(s);
	st->pending = auth_verify(s->auth, &req, verified, s);
}

static bool may_login(struct session *s)
{
	if (pop3_login_allowed(s))
		return true;
	session_printf(s, "-ERR [SYS/PERM] Authentication requires TLS: use STLS first\r\n");
	return false;
}

void pop3_cmd_user(struct session *s, struct pop3_state *st, const char *arg)
{
	if (!may_login(s))
		return;
	if (arg == NULL || *arg == '\0') {
		session_printf(s, "-ERR Syntax: USER name\r\n");
		return;
	}
	forget_user_arg(st);
	st->user_arg = xstrdup(arg);
	/* Whether the mailbox exists is not told (RFC 1939 allows +OK here). */
	session_printf(s, "+OK Send PASS\r\n");
}

void pop3_cmd_pass(struct session *s, struct pop3_state *st, const char *arg)
{
	if (!may_login(s))
		return;
	if (st->user_arg == NULL) {
		session_printf(s, "-ERR Send USER first\r\n");
		return;
	}
	if (arg == NULL || *arg == '\0') {
		session_printf(s, "-ERR Syntax: PASS password\r\n");
		return;
	}
	snprintf(st->method, sizeof st->method, "USER");
	verify(s, st, st->user_arg, arg);
	forget_user_arg(st);   /* RFC 1939: after a failed PASS, USER again */
}

static void exchange_step(struct session *s, struct pop3_state *st, const char *response)
{
	struct buf challenge = BUF_INIT;
	char *error = NULL;
	switch (sasl_step(st->sasl, response, &challenge, &error)) {
	case SASL_CONTINUE:
		session_printf(s, "+ %s\r\n", buf_cstr(&challenge));
		break;
	case SASL_CANCELLED:
		sasl_free(&st->sasl);
		session_printf(s, "-ERR Authentication cancelled\r\n");
		break;
	case SASL_MALFORMED:
		log_msg(LOGL_INFO, "pop3", s->id, "event=auth_malformed mech=%s error=\"%s\"",
			sasl_mech_name(st->sasl), error);
		sasl_free(&st->sasl);
		session_printf(s, "-ERR Invalid authentication response: %s\r\n", error);
		break;
	case SASL_DONE:
		verify(s, st, sasl_authcid(st->sasl), sasl_password(st->sasl));
		sasl_free(&st->sasl);   /* auth_verify copied (and will wipe) the password */
		break;
	}
	free(error);
	buf_free(&challenge);
}

/* "AUTH" alone: the mechanisms, one a line, as a multi-line reply. */
static void list_mechanisms(struct session *s)
{
	session_printf(s, "+OK Supported mechanisms follow\r\n");
	const char *m = sasl_mechanisms();
	while (*m != '\0') {
		size_t n = strcspn(m, " ");
		session_printf(s, "%.*s\r\n", (int)n, m);
		m += n;
		while (*m == ' ')
			m++;
	}
	session_printf(s, ".\r\n");
}

void pop3_cmd_auth(struct session *s, struct pop3_state *st, const char *arg)
{
	if (!may_login(s))
		return;
	if (arg == NULL) {
		list_mechanisms(s);
		return;
	}
	size_t mlen = strcspn(arg, " ");
	const char *initial = arg[mlen] == ' ' ? arg + mlen + 1 : NULL;
	if (mlen == 0 || mlen > 20 ||
	    (initial != NULL && (*initial == '\0' || strchr(initial, ' ') != NULL))) {
		session_printf(s, "-ERR Syntax: AUTH mechanism [initial-response]\r\n");
		return;
	}
	char mech[21];
	memcpy(mech, arg, mlen);
	mech[mlen] = '\0';
	st->sasl = sasl_new(mech);
	if (st->sasl == NULL) {
		session_printf(s, "-ERR Unsupported authentication mechanism\r\n");
		return;
	}
	forget_user_arg(st);
	snprintf(st->method, sizeof st->method, "sasl:%s", sasl_mech_name(st->sasl));
	exchange_step(s, st, initial);
}

void pop3_auth_response(struct session *s, struct pop3_state *st, const char *line, size_t len)
{
	/* sasl_step() takes a C string: a NUL would cut the response short. */
	if (memchr(line, '\0', len) != NULL) {
		sasl_free(&st->sasl);
		session_printf(s, "-ERR Invalid authentication response: NUL byte\r\n");
		return;
	}
	exchange_step(s, st, line);
}

void pop3_auth_response_too_long(struct session *s, struct pop3_state *st)
{
	sasl_free(&st->sasl);
	session_printf(s, "-ERR Authentication response too long\r\n");
}
