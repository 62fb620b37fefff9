/* The POP3 front door (RFC 1939, CAPA and response codes RFC 2449, STLS
 * RFC 2595, AUTH RFC 5034, AUTH-RESP-CODE RFC 3206).
 *
 *   command = keyword *(SP param) CRLF    ; keyword: 3 or 4 characters,
 *                                          ; case-insensitive
 *
 * AUTHORIZATION: CAPA, STLS, USER, PASS, AUTH (pop3_auth.c), QUIT. After a
 * login the session is in the TRANSACTION state; the maildrop commands
 * (STAT, LIST, RETR, ...) need the mail store and answer
 * "-ERR Command not implemented" until the POP3 engine is built on it. */
#include "pop3/pop3_session.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "account/sasl.h"
#include "core/xmalloc.h"
#include "pop3/pop3_int.h"

/* Valid in AUTHORIZATION, not offered. */
static const char *const not_implemented[] = { "APOP", "UTF8", "LANG" };
/* Valid only in TRANSACTION, to be built with the POP3 engine on the store. */
static const char *const maildrop[] = { "STAT", "LIST", "RETR", "DELE", "RSET", "TOP", "UIDL" };
/* Valid only in AUTHORIZATION. */
static const char *const authorization_only[] = { "USER", "PASS", "AUTH", "APOP", "STLS" };

static bool in_list(const char *kw, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(kw, list[i]) == 0)
			return true;
	return false;
}

#define IN_LIST(kw, list) in_list(kw, list, sizeof list / sizeof list[0])

static bool no_args(struct session *s, const char *kw, const char *arg)
{
	if (arg == NULL)
		return true;
	session_printf(s, "-ERR %s takes no arguments\r\n", kw);
	return false;
}

static void on_connect(struct session *s)
{
	s->data = xcalloc(1, sizeof(struct pop3_state));
	session_printf(s, "+OK Surel ready\r\n");
}

static void cmd_capa(struct session *s, struct pop3_state *st)
{
	session_printf(s, "+OK Capability list follows\r\n");
	if (st->state == POP3_AUTHORIZATION) {
		if (session_can_starttls(s))
			session_printf(s, "STLS\r\n");
		if (pop3_login_allowed(s))
			session_printf(s, "USER\r\nSASL %s\r\n", sasl_mechanisms());
	}
	session_printf(s, "RESP-CODES\r\nAUTH-RESP-CODE\r\nIMPLEMENTATION Surel\r\n.\r\n");
}

static void cmd_stls(struct session *s)
{
	if (!session_can_starttls(s)) {
		session_printf(s, "-ERR Command not permitted when TLS active\r\n");
		return;
	}
	session_printf(s, "+OK Begin TLS negotiation\r\n");
	session_starttls(s);
}

static void authorization(struct session *s, struct pop3_state *st, const char *kw,
			  const char *arg)
{
	if (strcasecmp(kw, "STLS") == 0) {
		if (no_args(s, kw, arg))
			cmd_stls(s);
	} else if (strcasecmp(kw, "USER") == 0) {
		pop3_cmd_user(s, st, arg);
	} else if (strcasecmp(kw, "PASS") == 0) {
		pop3_cmd_pass(s, st, arg);
	} else if (strcasecmp(kw, "AUTH") == 0) {
		pop3_cmd_auth(s, st, arg);
	} else if (IN_LIST(kw, not_implemented)) {
		session_printf(s, "-ERR Command not implemented\r\n");
	} else if (IN_LIST(kw, maildrop) || strcasecmp(kw, "NOOP") == 0) {
		session_printf(s, "-ERR Command not valid before login\r\n");
	} else {
		session_printf(s, "-ERR Unknown command\r\n");
	}
}

static void transaction(struct session *s, struct pop3_state *st, const char *kw,
			const char *arg)
{
	if (strcasecmp(kw, "NOOP") == 0) {
		if (no_args(s, kw, arg))
			session_printf(s, "+OK\r\n");
	} else if (IN_LIST(kw, maildrop)) {
		session_printf(s, "-ERR Command not implemented\r\n");
	} else if (IN_LIST(kw, authorization_only)) {
		session_printf(s, "-ERR Already logged in\r\n");
	} else {
		session_printf(s, "-ERR Unknown command\r\n");
	}
}

static void on_line(struct session *s, const char *line, size_t len)
{
	struct pop3_state *st = s->data;
	if (st->sasl != NULL) {   /* a response in an AUTH exchange */
		pop3_auth_response(s, st, line, len);
		return;
	}
	if (memchr(line, '\0', len) != NULL) {
		session_printf(s, "-ERR NUL byte in command\r\n");
		return;
	}
	size_t klen = strcspn(line, " ");
	const char *arg = line[klen] == ' ' ? line + klen + 1 : NULL;
	char kw[8];
	if (klen < 3 || klen > 4) {
		session_printf(s, "-ERR Unknown command\r\n");
		return;
	}
	memcpy(kw, line, klen);
	kw[klen] = '\0';
	log_msg(LOGL_DEBUG, "pop3", s->id, "event=command keyword=%s", kw);
	if (strcasecmp(kw, "CAPA") == 0) {
		if (no_args(s, kw, arg))
			cmd_capa(s, st);
	} else if (strcasecmp(kw, "QUIT") == 0) {
		if (no_args(s, kw, arg)) {
			session_printf(s, "+OK Surel signing off\r\n");
			session_close_after_flush(s);
		}
	} else if (st->state == POP3_AUTHORIZATION) {
		authorization(s, st, kw, arg);
	} else {
		transaction(s, st, kw, arg);
	}
}

static void on_line_too_long(struct session *s)
{
	struct pop3_state *st = s->data;
	if (st->sasl != NULL)
		pop3_auth_response_too_long(s, st);
	else
		session_printf(s, "-ERR Line too long\r\n");
}

static void on_timeout(struct session *s)
{
	session_printf(s, "-ERR Idle for too long, closing connection\r\n");
}

static void on_shutdown(struct session *s)
{
	session_printf(s, "-ERR [SYS/TEMP] Server shutting down\r\n");
}

static void on_busy(struct session *s)
{
	session_printf(s, "-ERR [SYS/TEMP] Too many connections\r\n");
}

static void on_close(struct session *s)
{
	struct pop3_state *st = s->data;
	if (st == NULL)   /* refused with on_busy */
		return;
	pop3_auth_abort(st);
	free(st->user);
	xfree(&s->data);
}

const struct protocol pop3_protocol = {
	.name = "pop3",
	.line_max = 0,
	.on_connect = on_connect,
	.on_line = on_line,
	.on_line_too_long = on_line_too_long,
	.on_raw = NULL,
	.on_timeout = on_timeout,
	.on_shutdown = on_shutdown,
	.on_busy = on_busy,
	.on_close = on_close,
};
