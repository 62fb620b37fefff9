/* The POP3 engine (RFC 1939, CAPA and response codes RFC 2449, STLS
 * RFC 2595, AUTH RFC 5034, AUTH-RESP-CODE RFC 3206): dispatch by state,
 * CAPA, STLS, QUIT. The command line is parsed by pop3_parse.c; logins are
 * in pop3_auth.c, the maildrop (lock, snapshot, UPDATE) in pop3_maildrop.c,
 * the TRANSACTION commands in pop3_transaction.c.
 *
 *   AUTHORIZATION  CAPA STLS USER PASS AUTH QUIT        (APOP not offered)
 *   TRANSACTION    CAPA STAT LIST UIDL RETR TOP DELE RSET NOOP QUIT
 *   UPDATE         entered by QUIT in TRANSACTION; no command is read
 *
 * A command in the wrong state: "-ERR Command not valid before login" /
 * "-ERR Already logged in". Commands may be pipelined (CAPA PIPELINING):
 * they are answered in order, and none is read while a store call for the
 * one before runs on the pool. */
#include "pop3/pop3_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account/sasl.h"
#include "core/config.h"
#include "core/xmalloc.h"
#include "pop3/pop3_int.h"

enum {
	IN_AUTH = 1 << POP3_AUTHORIZATION,
	IN_TRANS = 1 << POP3_TRANSACTION,
	NOT_IMPLEMENTED = 1 << 7,
};

/* Where each command is valid (RFC 1939 and its extensions). */
static const unsigned cmd_states[POP3_CMD_COUNT] = {
	[POP3_CMD_CAPA] = IN_AUTH | IN_TRANS,
	[POP3_CMD_QUIT] = IN_AUTH | IN_TRANS,
	[POP3_CMD_STLS] = IN_AUTH,
	[POP3_CMD_USER] = IN_AUTH,
	[POP3_CMD_PASS] = IN_AUTH,
	[POP3_CMD_AUTH] = IN_AUTH,
	[POP3_CMD_APOP] = IN_AUTH | NOT_IMPLEMENTED,
	[POP3_CMD_UTF8] = IN_AUTH | NOT_IMPLEMENTED,
	[POP3_CMD_LANG] = IN_AUTH | IN_TRANS | NOT_IMPLEMENTED,
	[POP3_CMD_STAT] = IN_TRANS,
	[POP3_CMD_LIST] = IN_TRANS,
	[POP3_CMD_RETR] = IN_TRANS,
	[POP3_CMD_DELE] = IN_TRANS,
	[POP3_CMD_NOOP] = IN_TRANS,
	[POP3_CMD_RSET] = IN_TRANS,
	[POP3_CMD_TOP] = IN_TRANS,
	[POP3_CMD_UIDL] = IN_TRANS,
};

static void on_connect(struct session *s)
{
	s->data = xcalloc(1, sizeof(struct pop3_state));
	session_printf(s, "+OK Surel ready\r\n");
}

/* RFC 2449 6.7: EXPIRE's argument is the least number of days a message is
 * kept, or NEVER; 0 says the client may not leave mail on the server (here:
 * a message sent by RETR is deleted at QUIT). It may differ between users,
 * and "USER" after the value in the AUTHORIZATION state says so:
 *
 *   expire-capa = "EXPIRE" SP (1*DIGIT / "NEVER") [SP "USER"]   ; USER before login only
 *
 * Every account may override pop3.delete_after_retr (surel user set), so
 * before login the global value is given with " USER"; after login the
 * account's own value, which is what this session does. */
const char *pop3_expire_value(const struct session *s, char *buf, size_t size)
{
	const struct pop3_state *st = s->data;
	bool logged_in = st->state != POP3_AUTHORIZATION && st->md != NULL;
	bool delete_after_retr = logged_in ? st->md->delete_after_retr
					   : s->cfg->pop3_delete_after_retr;
	const char *v = s->cfg->pop3_expire;
	size_t n = strspn(v, "0123456789");
	if (delete_after_retr) {
		v = "0";
	} else if (strcmp(v, "NEVER") != 0 && !(n > 0 && n <= 5 && v[n] == '\0')) {
		log_msg(LOGL_WARN, "pop3", s->id, "event=bad_config key=pop3.expire value=\"%s\"", v);
		v = "NEVER";
	}
	snprintf(buf, size, "%s%s", v, logged_in ? "" : " USER");
	return buf;
}

static void cmd_capa(struct session *s, struct pop3_state *st)
{
	char expire[32];
	session_printf(s, "+OK Capability list follows\r\n");
	if (st->state == POP3_AUTHORIZATION) {
		if (session_can_starttls(s))
			session_printf(s, "STLS\r\n");
		if (pop3_login_allowed(s))
			session_printf(s, "USER\r\nSASL %s\r\n", sasl_mechanisms());
	}
	session_printf(s,
		       "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
		       "EXPIRE %s\r\nLOGIN-DELAY %lld\r\nIMPLEMENTATION Surel\r\n.\r\n",
		       pop3_expire_value(s, expire, sizeof expire), s->cfg->pop3_login_delay);
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

static void cmd_quit(struct session *s, struct pop3_state *st)
{
	if (st->state == POP3_TRANSACTION) {
		pop3_maildrop_update(s);   /* replies and closes */
		return;
	}
	session_printf(s, "+OK Surel signing off\r\n");
	session_close_after_flush(s);
}

static void dispatch(struct session *s, struct pop3_state *st, const struct pop3_command *cmd)
{
	unsigned allowed = cmd_states[cmd->id];
	if (!(allowed & (1u << st->state))) {
		session_printf(s, st->state == POP3_AUTHORIZATION
				  ? "-ERR Command not valid before login\r\n"
				  : "-ERR Already logged in\r\n");
		return;
	}
	if (allowed & NOT_IMPLEMENTED) {
		session_printf(s, "-ERR Command not implemented\r\n");
		return;
	}
	switch (cmd->id) {
	case POP3_CMD_CAPA: cmd_capa(s, st); break;
	case POP3_CMD_QUIT: cmd_quit(s, st); break;
	case POP3_CMD_STLS: cmd_stls(s); break;
	case POP3_CMD_USER: pop3_cmd_user(s, st, cmd->rest); break;
	case POP3_CMD_PASS: pop3_cmd_pass(s, st, cmd->rest); break;
	case POP3_CMD_AUTH: pop3_cmd_auth(s, st, cmd->rest); break;
	default: pop3_transaction_command(s, st, cmd); break;
	}
}

static void on_line(struct session *s, const char *line, size_t len)
{
	struct pop3_state *st = s->data;
	if (st->sasl != NULL) {   /* a response in an AUTH exchange */
		pop3_auth_response(s, st, line, len);
		return;
	}
	if (st->state == POP3_UPDATE)
		return;               /* closing after QUIT */
	if (memchr(line, '\0', len) != NULL) {
		session_printf(s, "-ERR NUL byte in command\r\n");
		return;
	}
	struct pop3_command cmd;
	const char *error;
	enum pop3_parse_result r = pop3_parse_command(line, len, &cmd, &error);
	log_msg(LOGL_DEBUG, "pop3", s->id, "event=command keyword=%s", cmd.keyword);
	switch (r) {
	case POP3_PARSE_UNKNOWN:
		session_printf(s, "-ERR Unknown command\r\n");
		break;
	case POP3_PARSE_BAD:
		session_printf(s, "-ERR %s\r\n", error);
		break;
	case POP3_PARSE_OK:
		dispatch(s, st, &cmd);
		break;
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
	pop3_maildrop_abandon(st);   /* deletions not committed by QUIT are dropped */
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
