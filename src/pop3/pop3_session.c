/* The POP3 front door (RFC 1939, CAPA and response codes RFC 2449, STLS
 * RFC 2595).
 *
 *   command = keyword *(SP param) CRLF    ; keyword: 3 or 4 characters,
 *                                          ; case-insensitive
 *
 * The session is in the AUTHORIZATION state until the engine adds USER/PASS
 * and AUTH; the TRANSACTION commands are refused as such. */
#include "pop3/pop3_session.h"

#include <string.h>
#include <strings.h>

/* Valid in AUTHORIZATION, to be built with the POP3 engine. */
static const char *const not_implemented[] = { "USER", "PASS", "APOP", "AUTH", "UTF8", "LANG" };
/* Valid only in TRANSACTION (after a login). */
static const char *const transaction_only[] = {
	"NOOP", "STAT", "LIST", "RETR", "DELE", "RSET", "TOP", "UIDL",
};

static bool in_list(const char *kw, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(kw, list[i]) == 0)
			return true;
	return false;
}

static bool no_args(struct session *s, const char *kw, const char *arg)
{
	if (arg == NULL)
		return true;
	session_printf(s, "-ERR %s takes no arguments\r\n", kw);
	return false;
}

static void on_connect(struct session *s)
{
	session_printf(s, "+OK Surel ready\r\n");
}

static void cmd_capa(struct session *s)
{
	session_printf(s, "+OK Capability list follows\r\n");
	if (session_can_starttls(s))
		session_printf(s, "STLS\r\n");
	session_printf(s, "RESP-CODES\r\nIMPLEMENTATION Surel\r\n.\r\n");
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

static void on_line(struct session *s, const char *line, size_t len)
{
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
			cmd_capa(s);
	} else if (strcasecmp(kw, "QUIT") == 0) {
		if (no_args(s, kw, arg)) {
			session_printf(s, "+OK Surel signing off\r\n");
			session_close_after_flush(s);
		}
	} else if (strcasecmp(kw, "STLS") == 0) {
		if (no_args(s, kw, arg))
			cmd_stls(s);
	} else if (in_list(kw, transaction_only, sizeof transaction_only / sizeof transaction_only[0])) {
		session_printf(s, "-ERR Command not valid before login\r\n");
	} else if (in_list(kw, not_implemented, sizeof not_implemented / sizeof not_implemented[0])) {
		session_printf(s, "-ERR Command not implemented\r\n");
	} else {
		session_printf(s, "-ERR Unknown command\r\n");
	}
}

static void on_line_too_long(struct session *s)
{
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
	.on_close = NULL,
};
