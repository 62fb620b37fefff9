/* The SMTP front door (RFC 5321, STARTTLS RFC 3207, enhanced status codes
 * RFC 3463 / RFC 2034). AUTH (RFC 4954) is in smtp_auth.c.
 *
 *   ehlo = "EHLO" SP ( Domain / address-literal ) CRLF
 *   helo = "HELO" SP Domain CRLF
 *
 * Commands are case-insensitive; a command ends at CRLF (a bare LF is
 * accepted on command lines: the session layer cuts lines). */
#include "smtp/smtp_session.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "account/sasl.h"
#include "core/config.h"
#include "core/xmalloc.h"
#include "server/listen.h"
#include "smtp/smtp_int.h"

/* Valid SMTP commands the mail transaction engine will implement. */
static const char *const not_implemented[] = {
	"MAIL", "RCPT", "DATA", "BDAT", "ETRN", "EXPN", "TURN", "ATRN", "BURL",
};

static const char *hostname(struct session *s)
{
	return config_hostname(s->cfg);
}

static void cmd_ehlo(struct session *s, struct smtp_state *st, const char *arg)
{
	if (arg == NULL || *arg == '\0') {
		session_printf(s, "501 5.5.4 Syntax: EHLO hostname\r\n");
		return;
	}
	st->greeted = true;
	st->esmtp = true;
	/* ehlo-ok-rsp: the greeting line, then one keyword a line; the last
	 * line has a space after the code. */
	const char *kw[4];
	size_t n = 0;
	kw[n++] = "PIPELINING";
	kw[n++] = "ENHANCEDSTATUSCODES";
	if (session_can_starttls(s))
		kw[n++] = "STARTTLS";
	bool auth = smtp_auth_offered(s);
	session_printf(s, "250-%s\r\n", hostname(s));
	for (size_t i = 0; i < n; i++)
		session_printf(s, "250%c%s\r\n", i + 1 == n && !auth ? ' ' : '-', kw[i]);
	if (auth)
		session_printf(s, "250 AUTH %s\r\n", sasl_mechanisms());
}

static void cmd_starttls(struct session *s, struct smtp_state *st, const char *arg)
{
	if (s->tls) {
		session_printf(s, "503 5.5.1 TLS already active\r\n");
	} else if (arg != NULL) {
		session_printf(s, "501 5.5.4 Syntax: STARTTLS\r\n");
	} else if (!session_can_starttls(s)) {
		session_printf(s, "454 4.7.0 TLS not available\r\n");
	} else {
		session_printf(s, "220 2.0.0 Ready to start TLS\r\n");
		/* RFC 3207 4.2: forget everything learnt before, EHLO again. */
		st->greeted = false;
		st->esmtp = false;
		smtp_auth_reset(st);
		session_starttls(s);
	}
}

static void on_line(struct session *s, const char *line, size_t len)
{
	struct smtp_state *st = s->data;
	if (st->sasl != NULL) {   /* a response in an AUTH exchange, not a command */
		smtp_auth_response(s, st, line, len);
		return;
	}
	if (memchr(line, '\0', len) != NULL) {
		session_printf(s, "500 5.5.2 Syntax error: NUL character in command\r\n");
		return;
	}
	/* verb [SP args] */
	size_t vlen = strcspn(line, " ");
	const char *arg = line[vlen] == ' ' ? line + vlen + 1 : NULL;
	char verb[16];
	if (vlen == 0 || vlen >= sizeof verb) {
		session_printf(s, "500 5.5.2 Command unrecognized\r\n");
		return;
	}
	memcpy(verb, line, vlen);
	verb[vlen] = '\0';
	log_msg(LOGL_DEBUG, "smtp", s->id, "event=command verb=%s", verb);

	if (strcasecmp(verb, "EHLO") == 0) {
		cmd_ehlo(s, st, arg);
	} else if (strcasecmp(verb, "HELO") == 0) {
		if (arg == NULL || *arg == '\0') {
			session_printf(s, "501 5.5.4 Syntax: HELO hostname\r\n");
		} else {
			st->greeted = true;
			st->esmtp = false;
			session_printf(s, "250 %s\r\n", hostname(s));
		}
	} else if (strcasecmp(verb, "STARTTLS") == 0) {
		cmd_starttls(s, st, arg);
	} else if (strcasecmp(verb, "AUTH") == 0) {
		smtp_cmd_auth(s, st, arg);
	} else if (strcasecmp(verb, "NOOP") == 0) {
		session_printf(s, "250 2.0.0 OK\r\n");
	} else if (strcasecmp(verb, "RSET") == 0) {
		if (arg != NULL)
			session_printf(s, "501 5.5.4 Syntax: RSET\r\n");
		else
			session_printf(s, "250 2.0.0 OK\r\n");
	} else if (strcasecmp(verb, "QUIT") == 0) {
		session_printf(s, "221 2.0.0 %s closing connection\r\n", hostname(s));
		session_close_after_flush(s);
	} else if (strcasecmp(verb, "HELP") == 0) {
		session_printf(s, "214 2.0.0 Commands: EHLO HELO STARTTLS AUTH NOOP RSET VRFY HELP QUIT\r\n");
	} else if (strcasecmp(verb, "VRFY") == 0) {
		/* Never tell whether an address exists (RFC 5321 7.3). */
		session_printf(s, "252 2.5.0 Cannot VRFY user\r\n");
	} else {
		for (size_t i = 0; i < sizeof not_implemented / sizeof not_implemented[0]; i++) {
			if (strcasecmp(verb, not_implemented[i]) == 0) {
				session_printf(s, "502 5.5.1 Command not implemented\r\n");
				return;
			}
		}
		session_printf(s, "500 5.5.2 Command unrecognized\r\n");
	}
}

static void on_connect(struct session *s)
{
	s->data = xcalloc(1, sizeof(struct smtp_state));
	session_printf(s, "220 %s ESMTP Surel\r\n", hostname(s));
}

static void on_line_too_long(struct session *s)
{
	struct smtp_state *st = s->data;
	if (st->sasl != NULL)
		smtp_auth_response_too_long(s, st);
	else
		session_printf(s, "500 5.5.6 Line too long\r\n");
}

static void on_timeout(struct session *s)
{
	session_printf(s, "421 4.4.2 %s Timeout, closing connection\r\n", hostname(s));
}

static void on_shutdown(struct session *s)
{
	session_printf(s, "421 4.3.2 %s Service shutting down\r\n", hostname(s));
}

static void on_busy(struct session *s)
{
	session_printf(s, "421 4.7.0 %s Too many connections, try later\r\n", hostname(s));
}

static void on_close(struct session *s)
{
	struct smtp_state *st = s->data;
	if (st != NULL)   /* NULL for a session refused with on_busy */
		smtp_auth_reset(st);
	xfree(&s->data);
}

const struct protocol smtp_protocol = {
	.name = "smtp",
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
