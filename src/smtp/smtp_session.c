/* The SMTP server engine's session: greeting, command dispatch, EHLO/HELO
 * and the session commands (RFC 5321, PIPELINING RFC 2920, STARTTLS
 * RFC 3207, enhanced status codes RFC 3463 / RFC 2034). The mail
 * transaction is in smtp_txn.c and smtp_data.c, AUTH in smtp_auth.c.
 *
 *   ehlo = "EHLO" SP ( Domain / address-literal ) CRLF
 *   helo = "HELO" SP Domain CRLF
 *   lhlo = "LHLO" SP Domain CRLF        (RFC 2033 4.1: LMTP only, instead
 *                                        of EHLO and HELO)
 *   rset = "RSET" CRLF
 *   vrfy = "VRFY" SP String CRLF
 *   help = "HELP" [ SP String ] CRLF
 *   noop = "NOOP" [ SP String ] CRLF
 *   quit = "QUIT" CRLF
 *
 * Commands are case-insensitive; a command line ends at CRLF (a bare LF is
 * accepted on command lines: the session layer cuts lines; inside DATA the
 * rule is stricter, see smtp_data.c). Pipelined commands are answered in
 * order: a command whose answer needs the directory or the spool pauses
 * the session's input until it is answered. */
#include "smtp/smtp_session.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "account/sasl.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/xmalloc.h"
#include "server/listen.h"
#include "smtp/smtp_int.h"

/* Longest command line (without CRLF), AUTH and its responses excepted. */
#define SMTP_COMMAND_MAX 998
/* RFC 4954 4: an AUTH command or response line may have 12288 octets. */
#define SMTP_LINE_MAX 12288

const char *smtp_hostname(const struct session *s)
{
	return config_hostname(s->cfg);
}

bool smtp_is_submission(const struct session *s)
{
	return strcmp(s->listener->name, "submission") == 0 ||
	       strcmp(s->listener->name, "smtps") == 0;
}

bool smtp_is_lmtp(const struct session *s)
{
	return strcmp(s->listener->name, "lmtp") == 0;
}

void smtp_reply(struct session *s, const char *fmt, ...)
{
	struct smtp_state *st = s->data;
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vappendf(&b, fmt, ap);
	va_end(ap);
	if (b.len > 0 && (b.data[0] == '4' || b.data[0] == '5'))
		st->errors++;
	buf_append_str(&b, "\r\n");
	session_write(s, b.data, b.len);
	buf_free(&b);
}

void smtp_check_errors(struct session *s)
{
	struct smtp_state *st = s->data;
	/* Not on LMTP: its client is a trusted MTA, and refused recipients
	 * are not its mistakes. */
	if (st->errors < (unsigned long long)s->cfg->smtp_max_errors || session_is_closing(s) ||
	    smtp_is_lmtp(s))
		return;
	log_msg(LOGL_INFO, "smtp", s->id, "event=too_many_errors errors=%u", st->errors);
	session_printf(s, "421 4.7.0 %s Too many errors, closing connection\r\n", smtp_hostname(s));
	session_close_after_flush(s);
}

static void forget_session(struct smtp_state *st)
{
	smtp_txn_reset(st);
	xfree(&st->helo);
	st->greeted = false;
	st->esmtp = false;
}

static void send_capabilities(struct session *s);

static void cmd_ehlo(struct session *s, struct smtp_state *st, const char *arg, size_t len)
{
	if (smtp_is_lmtp(s)) {
		smtp_reply(s, "500 5.5.1 This is LMTP: use LHLO");
		return;
	}
	if (arg == NULL || *arg == '\0') {
		smtp_reply(s, "501 5.5.4 Syntax: EHLO hostname");
		return;
	}
	smtp_txn_reset(st);   /* RFC 5321 4.1.4: EHLO resets like RSET */
	free(st->helo);
	st->helo = xstrdup(arg);
	st->greeted = true;
	st->esmtp = true;
	send_capabilities(s);
}

/* ehlo-ok-rsp: the greeting line, then one keyword a line; the last line
 * has a space after the code. */
static void send_capabilities(struct session *s)
{
	struct buf kw[12];
	size_t n = 0;
	for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++)
		buf_init(&kw[i]);
	/* RFC 2033 5: an LMTP server must offer PIPELINING and
	 * ENHANCEDSTATUSCODES. */
	buf_append_str(&kw[n++], "PIPELINING");
	buf_appendf(&kw[n++], "SIZE %lld", s->cfg->smtp_max_message_size);
	buf_append_str(&kw[n++], "8BITMIME");
	buf_append_str(&kw[n++], "SMTPUTF8");
	buf_append_str(&kw[n++], "ENHANCEDSTATUSCODES");
	buf_append_str(&kw[n++], "DSN");
	buf_append_str(&kw[n++], "CHUNKING");
	if (session_can_starttls(s))
		buf_append_str(&kw[n++], "STARTTLS");
	if (smtp_auth_offered(s))
		buf_appendf(&kw[n++], "AUTH %s", sasl_mechanisms());
	session_printf(s, "250-%s\r\n", smtp_hostname(s));
	for (size_t i = 0; i < n; i++)
		session_printf(s, "250%c%s\r\n", i + 1 == n ? ' ' : '-', buf_cstr(&kw[i]));
	for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++)
		buf_free(&kw[i]);
}

/* LHLO: EHLO's reply (no STARTTLS or AUTH: the lmtp listener has neither). */
static void cmd_lhlo(struct session *s, struct smtp_state *st, const char *arg, size_t len)
{
	if (!smtp_is_lmtp(s)) {
		smtp_reply(s, "500 5.5.2 Command unrecognized");
		return;
	}
	if (arg == NULL || *arg == '\0') {
		smtp_reply(s, "501 5.5.4 Syntax: LHLO hostname");
		return;
	}
	smtp_txn_reset(st);
	free(st->helo);
	st->helo = xstrdup(arg);
	st->greeted = true;
	st->esmtp = true;
	send_capabilities(s);
}

static void cmd_helo(struct session *s, struct smtp_state *st, const char *arg, size_t len)
{
	if (smtp_is_lmtp(s)) {
		smtp_reply(s, "500 5.5.1 This is LMTP: use LHLO");
		return;
	}
	if (arg == NULL || *arg == '\0') {
		smtp_reply(s, "501 5.5.4 Syntax: HELO hostname");
		return;
	}
	smtp_txn_reset(st);
	free(st->helo);
	st->helo = xstrdup(arg);
	st->greeted = true;
	st->esmtp = false;
	session_printf(s, "250 %s\r\n", smtp_hostname(s));
}

static void cmd_starttls(struct session *s, struct smtp_state *st, const char *arg, size_t len)
{
	if (s->tls) {
		smtp_reply(s, "503 5.5.1 TLS already active");
	} else if (arg != NULL) {
		smtp_reply(s, "501 5.5.4 Syntax: STARTTLS");
	} else if (!session_can_starttls(s)) {
		smtp_reply(s, "454 4.7.0 TLS not available");
	} else {
		session_printf(s, "220 2.0.0 Ready to start TLS\r\n");
		/* RFC 3207 4.2: forget everything learnt before, EHLO again. */
		forget_session(st);
		smtp_auth_reset(st);
		session_starttls(s);
	}
}

static void cmd_auth(struct session *s, struct smtp_state *st, const char *arg, size_t len)
{
	if (st->in_mail) {   /* RFC 4954 4: not during a transaction */
		smtp_reply(s, "503 5.5.1 AUTH not allowed during a mail transaction");
		return;
	}
	smtp_cmd_auth(s, st, arg);
}

static void cmd_mail(struct session *s, struct smtp_state *st, const char *arg, size_t len)
{
	smtp_cmd_mail(s, st, arg, len);
}

static void cmd_rcpt(struct session *s, struct smtp_state *st, const char *arg, size_t len)
{
	smtp_cmd_rcpt(s, st, arg, len);
}

static void cmd_data(struct session *s, struct smtp_state *st, const char *arg, size_t len)
{
	smtp_cmd_data(s, st, arg);
}

static void cmd_bdat(struct session *s, struct smtp_state *st, const char *arg, size_t len)
{
	smtp_cmd_bdat(s, st, arg);
}

static void cmd_rset(struct session *s, struct smtp_state *st, const char *arg, size_t len)
{
	if (arg != NULL) {
		smtp_reply(s, "501 5.5.4 Syntax: RSET");
		return;
	}
	smtp_txn_reset(st);
	session_printf(s, "250 2.0.0 OK\r\n");
}

static void cmd_noop(struct session *s, struct smtp_state *st, const char *arg, size_t len)
{
	session_printf(s, "250 2.0.0 OK\r\n");
}

static void cmd_quit(struct session *s, struct smtp_state *st, const char *arg, size_t len)
{
	session_printf(s, "221 2.0.0 %s closing connection\r\n", smtp_hostname(s));
	session_close_after_flush(s);
}

static void cmd_help(struct session *s, struct smtp_state *st, const char *arg, size_t len)
{
	if (smtp_is_lmtp(s))
		session_printf(s, "214 2.0.0 Commands: LHLO MAIL RCPT DATA BDAT RSET NOOP VRFY HELP "
			       "QUIT\r\n");
	else
		session_printf(s, "214 2.0.0 Commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA BDAT "
			       "RSET NOOP VRFY HELP QUIT\r\n");
}

static void cmd_vrfy(struct session *s, struct smtp_state *st, const char *arg, size_t len)
{
	if (arg == NULL) {
		smtp_reply(s, "501 5.5.4 Syntax: VRFY address");
		return;
	}
	/* Never tell whether an address exists (RFC 5321 7.3). */
	session_printf(s, "252 2.5.0 Cannot VRFY user\r\n");
}

static void cmd_not_implemented(struct session *s, struct smtp_state *st, const char *arg,
				size_t len)
{
	smtp_reply(s, "502 5.5.1 Command not implemented");
}

/* The command table, as Postfix's smtpd_cmd_table. */
static const struct {
	const char *verb;
	void (*run)(struct session *s, struct smtp_state *st, const char *arg, size_t len);
} commands[] = {
	{ "EHLO", cmd_ehlo }, { "HELO", cmd_helo }, { "LHLO", cmd_lhlo },
	{ "STARTTLS", cmd_starttls },
	{ "AUTH", cmd_auth }, { "MAIL", cmd_mail }, { "RCPT", cmd_rcpt },
	{ "DATA", cmd_data }, { "BDAT", cmd_bdat }, { "RSET", cmd_rset },
	{ "NOOP", cmd_noop }, { "QUIT", cmd_quit }, { "HELP", cmd_help },
	{ "VRFY", cmd_vrfy }, { "EXPN", cmd_not_implemented }, { "ETRN", cmd_not_implemented },
	{ "TURN", cmd_not_implemented }, { "ATRN", cmd_not_implemented },
	{ "BURL", cmd_not_implemented },
};

static void refuse_pregreet(struct session *s, struct smtp_state *st)
{
	log_msg(LOGL_INFO, "smtp", s->id, "event=pregreet from=%s", s->remote_ip);
	if (st->greeting_timer != NULL)
		evtimer_del(st->greeting_timer);
	st->greeting_sent = true;
	session_printf(s, "554 5.5.0 %s Protocol error: pipelining before greeting\r\n",
		       smtp_hostname(s));
	session_close_after_flush(s);
}

static void on_line(struct session *s, const char *line, size_t len)
{
	struct smtp_state *st = s->data;
	if (!st->greeting_sent) {
		refuse_pregreet(s, st);
		return;
	}
	if (st->sasl != NULL) {   /* a response in an AUTH exchange, not a command */
		smtp_auth_response(s, st, line, len);
		return;
	}
	if (++st->commands > (unsigned long long)s->cfg->smtp_max_commands) {
		log_msg(LOGL_INFO, "smtp", s->id, "event=too_many_commands");
		session_printf(s, "421 4.7.0 %s Too many commands, closing connection\r\n",
			       smtp_hostname(s));
		session_close_after_flush(s);
		return;
	}
	/* RFC 5321 4.5.3.1.4 / 4.5.3.1.6: a command line fits in 512 octets,
	 * more with extensions; we take up to the 1000 of a text line, and
	 * AUTH up to RFC 4954's 12288 (the session's line limit). */
	if (len > SMTP_COMMAND_MAX && strncasecmp(line, "AUTH ", 5) != 0) {
		smtp_reply(s, "500 5.5.6 Line too long");
		smtp_check_errors(s);
		return;
	}
	if (memchr(line, '\0', len) != NULL) {
		smtp_reply(s, "500 5.5.2 Syntax error: NUL character in command");
		smtp_check_errors(s);
		return;
	}
	/* verb [SP args] */
	size_t vlen = strcspn(line, " ");
	const char *arg = line[vlen] == ' ' ? line + vlen + 1 : NULL;
	size_t alen = arg != NULL ? len - vlen - 1 : 0;
	char verb[16];
	bool found = false;
	if (vlen > 0 && vlen < sizeof verb) {
		memcpy(verb, line, vlen);
		verb[vlen] = '\0';
		log_msg(LOGL_DEBUG, "smtp", s->id, "event=command verb=%s", verb);
		for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
			if (strcasecmp(verb, commands[i].verb) == 0) {
				commands[i].run(s, st, arg, alen);
				found = true;
				break;
			}
		}
	}
	if (!found)
		smtp_reply(s, "500 5.5.2 Command unrecognized");
	smtp_check_errors(s);
}

static void send_greeting(struct session *s)
{
	struct smtp_state *st = s->data;
	st->greeting_sent = true;
	session_printf(s, "220 %s %s Surel\r\n", smtp_hostname(s), smtp_is_lmtp(s) ? "LMTP" : "ESMTP");
}

static void greeting_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct smtp_state *st = s->data;
	if (!st->greeting_sent && !session_is_closing(s))
		send_greeting(s);
}

static void on_connect(struct session *s)
{
	struct smtp_state *st = xcalloc(1, sizeof *st);
	s->data = st;
	smtp_mail_args_clear(&st->mail);
	long long delay = s->cfg->smtp_greeting_delay;
	struct event_base *base = smtp_server_base();
	/* Only mail from the world waits: users' clients are known, and a
	 * TLS handshake has already shown a well-behaved client. */
	if (delay > 0 && base != NULL && strcmp(s->listener->name, "smtp") == 0) {
		st->greeting_timer = evtimer_new(base, greeting_timer_cb, s);
		struct timeval tv = { (time_t)(delay / 1000), (suseconds_t)(delay % 1000) * 1000 };
		evtimer_add(st->greeting_timer, &tv);
		return;
	}
	send_greeting(s);
}

static void on_line_too_long(struct session *s)
{
	struct smtp_state *st = s->data;
	if (!st->greeting_sent) {
		refuse_pregreet(s, st);
	} else if (st->sasl != NULL) {
		smtp_auth_response_too_long(s, st);
	} else {
		smtp_reply(s, "500 5.5.6 Line too long");
		smtp_check_errors(s);
	}
}

static void on_timeout(struct session *s)
{
	session_printf(s, "421 4.4.2 %s Timeout, closing connection\r\n", smtp_hostname(s));
}

static void on_shutdown(struct session *s)
{
	session_printf(s, "421 4.3.2 %s Service shutting down\r\n", smtp_hostname(s));
}

static void on_busy(struct session *s)
{
	session_printf(s, "421 4.7.0 %s Too many connections, try later\r\n", smtp_hostname(s));
}

static void on_close(struct session *s)
{
	struct smtp_state *st = s->data;
	if (st != NULL) {   /* NULL for a session refused with on_busy */
		if (st->greeting_timer != NULL)
			event_free(st->greeting_timer);
		smtp_auth_reset(st);
		smtp_txn_free(st);
		free(st->helo);
	}
	xfree(&s->data);
}

const struct protocol smtp_protocol = {
	.name = "smtp",
	.line_max = SMTP_LINE_MAX,
	.on_connect = on_connect,
	.on_line = on_line,
	.on_line_too_long = on_line_too_long,
	.on_raw = smtp_on_raw,
	.on_data = smtp_on_data,
	.on_timeout = on_timeout,
	.on_shutdown = on_shutdown,
	.on_busy = on_busy,
	.on_close = on_close,
};
