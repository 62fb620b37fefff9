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
 * Both are refused before TLS (LOGINDISABLED is advertised then). A literal
 * as LOGIN argument is answered BAD for now: literals come with the IMAP
 * engine's argument reader.
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
 *   TAG BAD Literals are not supported yet; use a quoted string
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
#include "imap/imap_args.h"

bool imap_login_allowed(const struct session *s)
{
	return s->tls;
}

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
	case AUTH_OK: {
		st->state = IMAP_AUTHENTICATED;
		st->user = xstrdup(account->address);
		log_msg(LOGL_INFO, "imap", s->id, "event=login user=%s method=%s", st->user,
			st->method);
		struct buf caps = BUF_INIT;
		imap_capabilities(s, &caps);
		session_printf(s, "%s OK [CAPABILITY %s] %s completed\r\n", st->tag,
			       buf_cstr(&caps), st->command);
		buf_free(&caps);
		break;
	}
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

static void wipe(struct buf *b)
{
	if (b->data != NULL)
		secure_zero(b->data, b->cap);
	buf_free(b);
}

void imap_cmd_login(struct session *s, struct imap_state *st, const char *tag, const char *args)
{
	if (!may_login(s, tag, "LOGIN"))
		return;
	if (args == NULL) {
		session_printf(s, "%s BAD Syntax: LOGIN userid password\r\n", tag);
		return;
	}
	size_t len = strlen(args), pos = 0;
	struct buf user = BUF_INIT, pass = BUF_INIT;
	const char *error = NULL;
	enum imap_arg_result r = imap_parse_astring(args, len, &pos, &user, &error);
	if (r == IMAP_ARG_OK) {
		if (pos < len && args[pos] == ' ') {
			pos++;
			r = imap_parse_astring(args, len, &pos, &pass, &error);
		} else {
			r = IMAP_ARG_BAD;
			error = "Syntax: LOGIN userid password";
		}
	}
	if (r == IMAP_ARG_OK && pos != len) {
		r = IMAP_ARG_BAD;
		error = "Syntax: LOGIN userid password";
	}
	if (r == IMAP_ARG_LITERAL) {
		session_printf(s, "%s BAD Literals are not supported yet; use a quoted string\r\n",
			       tag);
	} else if (r == IMAP_ARG_BAD) {
		session_printf(s, "%s BAD %s\r\n", tag, error);
	} else {
		st->tag = xstrdup(tag);
		st->command = "LOGIN";
		snprintf(st->method, sizeof st->method, "LOGIN");
		verify(s, st, buf_cstr(&user), buf_cstr(&pass));
	}
	wipe(&user);
	wipe(&pass);
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

void imap_cmd_authenticate(struct session *s, struct imap_state *st, const char *tag,
			   const char *args)
{
	if (!may_login(s, tag, "AUTHENTICATE"))
		return;
	/* auth-type [SP initial-resp], one space, nothing after */
	size_t mlen = args != NULL ? strcspn(args, " ") : 0;
	const char *initial = args != NULL && args[mlen] == ' ' ? args + mlen + 1 : NULL;
	if (mlen == 0 || mlen > 20 ||
	    (initial != NULL && (*initial == '\0' || strchr(initial, ' ') != NULL))) {
		session_printf(s, "%s BAD Syntax: AUTHENTICATE mechanism [initial-response]\r\n", tag);
		return;
	}
	char mech[21];
	memcpy(mech, args, mlen);
	mech[mlen] = '\0';
	st->sasl = sasl_new(mech);
	if (st->sasl == NULL) {
		session_printf(s, "%s NO Unsupported authentication mechanism\r\n", tag);
		return;
	}
	st->tag = xstrdup(tag);
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
