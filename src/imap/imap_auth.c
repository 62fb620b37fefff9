/* IMAP LOGIN and AUTHENTICATE (RFC 9051 6.2.2, 6.2.3; SASL-IR RFC 4959),
 * with the SASL mechanisms of sasl.h, checked by the auth service (auth.h).
 *
 *   login         = "LOGIN" SP userid SP password
 *   userid        = astring
 *   password      = astring
 *   authenticate  = "AUTHENTICATE" SP auth-type [SP initial-resp] *(CRLF base64)
 *   auth-type     = atom
 *   initial-resp  = (base64 / "=")
 *   continue-req  = "+" SP (resp-text / base64) CRLF
 *
 * Both are refused before TLS (LOGINDISABLED is advertised then). Once the
 * credentials are good the account's mail is opened (imap_login_complete)
 * before the tagged OK.
 *
 * Replies:
 *   TAG OK [CAPABILITY ...] LOGIN completed          (AUTHENTICATE completed)
 *   + <base64 challenge>                             the exchange goes on
 *   TAG NO [PRIVACYREQUIRED] ...                     before STARTTLS
 *   TAG NO [AUTHENTICATIONFAILED] Authentication failed
 *   TAG NO [UNAVAILABLE] Too many failed attempts, try later    locked out
 *   TAG NO [UNAVAILABLE] Temporary authentication failure, try later
 *   TAG NO Unsupported authentication mechanism
 *   TAG BAD Authentication cancelled                 "*" (RFC 9051 6.2.2)
 *   TAG BAD Invalid authentication response: WHY     bad base64, bad fields, NUL
 *   TAG BAD Already authenticated
 *
 * While the credentials are checked the session reads no further command;
 * a session that goes away cancels the check. */
#include "imap/imap_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account/auth.h"
#include "account/directory.h"
#include "account/sasl.h"
#include "core/xmalloc.h"

void imap_auth_abort(struct imap_state *st)
{
	sasl_free(&st->sasl);
	auth_cancel(&st->pending);
	xfree(&st->tag);
}

/* The exchange or check is over: the tagged reply was written. */
static void finish(struct imap_state *st)
{
	sasl_free(&st->sasl);
	xfree(&st->tag);
}

static void verified(enum auth_result result, const struct account_info *account, void *arg)
{
	struct session *s = arg;
	struct imap_state *st = s->data;
	st->pending = NULL;
	session_resume_input(s);
	switch (result) {
	case AUTH_OK:
		/* The tagged reply comes once the mail is open; st->tag stays. */
		sasl_free(&st->sasl);
		imap_login_complete(s, account->id, account->address, account->quota_bytes);
		return;
	case AUTH_FAILED:
		session_printf(s, "%s NO [AUTHENTICATIONFAILED] Authentication failed\r\n", st->tag);
		break;
	case AUTH_LOCKED:
		session_printf(s, "%s NO [UNAVAILABLE] Too many failed attempts, try later\r\n",
			       st->tag);
		break;
	case AUTH_TEMPFAIL:
		session_printf(s, "%s NO [UNAVAILABLE] Temporary authentication failure, try later\r\n",
			       st->tag);
		break;
	}
	finish(st);
}

/* Hand the credentials to the auth service; no command is dispatched until
 * the answer. st->tag, command and method are set. */
static void verify(struct session *s, struct imap_state *st, const char *user, const char *pass)
{
	if (s->auth == NULL) {
		session_printf(s, "%s NO [UNAVAILABLE] Temporary authentication failure, try later\r\n",
			       st->tag);
		finish(st);
		return;
	}
	struct auth_request req = {
		.protocol = "imap",
		.username = user,
		.password = pass,
		.remote_ip = s->remote_ip,
		.session_id = s->id,
	};
	session_pause_input(s);
	st->pending = auth_verify(s->auth, &req, verified, s);
}

/* Why a login cannot start here, after writing the tagged reply; or true. */
static bool may_login(struct session *s, const char *tag, const char *command)
{
	if (!imap_login_allowed(s)) {
		session_printf(s, "%s NO [PRIVACYREQUIRED] %s is disabled before STARTTLS\r\n",
			       tag, command);
		return false;
	}
	return true;
}

static void cmd_login(struct session *s, struct imap_state *st, const struct imap_command *pc,
		      bool uid)
{
	if (!may_login(s, pc->tag, "LOGIN"))
		return;
	const char *user = pc->count == 2 ? imap_arg_astring(&pc->args[0]) : NULL;
	const char *pass = pc->count == 2 ? imap_arg_astring(&pc->args[1]) : NULL;
	if (user == NULL || pass == NULL) {
		session_printf(s, "%s BAD Syntax: LOGIN userid password\r\n", pc->tag);
		return;
	}
	st->tag = xstrdup(pc->tag);
	st->command = "LOGIN";
	snprintf(st->method, sizeof st->method, "LOGIN");
	verify(s, st, user, pass);
}

static void exchange_step(struct session *s, struct imap_state *st, const char *response)
{
	struct buf challenge = BUF_INIT;
	char *error = NULL;
	switch (sasl_step(st->sasl, response, &challenge, &error)) {
	case SASL_CONTINUE:
		session_printf(s, "+ %s\r\n", buf_cstr(&challenge));
		break;
	case SASL_CANCELLED:
		session_printf(s, "%s BAD Authentication cancelled\r\n", st->tag);
		finish(st);
		break;
	case SASL_MALFORMED:
		log_msg(LOGL_INFO, "imap", s->id, "event=auth_malformed mech=%s error=\"%s\"",
			sasl_mech_name(st->sasl), error);
		session_printf(s, "%s BAD Invalid authentication response: %s\r\n", st->tag, error);
		finish(st);
		break;
	case SASL_DONE:
		verify(s, st, sasl_authcid(st->sasl), sasl_password(st->sasl));
		sasl_free(&st->sasl);   /* auth_verify copied (and will wipe) the password */
		break;
	}
	free(error);
	buf_free(&challenge);
}

static void cmd_authenticate(struct session *s, struct imap_state *st,
			     const struct imap_command *pc, bool uid)
{
	if (!may_login(s, pc->tag, "AUTHENTICATE"))
		return;
	/* auth-type [SP initial-resp] */
	const char *mech = pc->count >= 1 && pc->count <= 2 ? imap_arg_atom(&pc->args[0]) : NULL;
	const char *initial = pc->count == 2 ? imap_arg_atom(&pc->args[1]) : NULL;
	if (mech == NULL || strlen(mech) > 20 || (pc->count == 2 && initial == NULL)) {
		session_printf(s, "%s BAD Syntax: AUTHENTICATE mechanism [initial-response]\r\n",
			       pc->tag);
		return;
	}
	st->sasl = sasl_new(mech);
	if (st->sasl == NULL) {
		session_printf(s, "%s NO Unsupported authentication mechanism\r\n", pc->tag);
		return;
	}
	st->tag = xstrdup(pc->tag);
	st->command = "AUTHENTICATE";
	snprintf(st->method, sizeof st->method, "sasl:%s", sasl_mech_name(st->sasl));
	exchange_step(s, st, initial);
}

void imap_auth_response(struct session *s, struct imap_state *st, const char *line, size_t len)
{
	/* sasl_step() takes a C string: a NUL would cut the response short. */
	if (memchr(line, '\0', len) != NULL) {
		session_printf(s, "%s BAD Invalid authentication response: NUL byte\r\n", st->tag);
		finish(st);
		return;
	}
	exchange_step(s, st, line);
}

void imap_auth_response_too_long(struct session *s, struct imap_state *st)
{
	session_printf(s, "%s BAD [TOOBIG] Authentication response too long\r\n", st->tag);
	finish(st);
}

const struct imap_command_def imap_cmds_auth[] = {
	{ "LOGIN", IMAP_IN_NOTAUTH, 0, cmd_login, NULL },
	{ "AUTHENTICATE", IMAP_IN_NOTAUTH, 0, cmd_authenticate, NULL },
	{ NULL, 0, 0, NULL, NULL },
};
