/* The IMAP front door (RFC 9051 IMAP4rev2, RFC 3501 IMAP4rev1).
 *
 *   command        = tag SP (command-any / command-auth / command-nonauth /
 *                    command-select) CRLF
 *   tag            = 1*<any ASTRING-CHAR except "+">
 *   ASTRING-CHAR   = ATOM-CHAR / resp-specials
 *   ATOM-CHAR      = <any CHAR except atom-specials>
 *   atom-specials  = "(" / ")" / "{" / SP / CTL / list-wildcards /
 *                    quoted-specials / resp-specials
 *   list-wildcards = "%" / "*"
 *   quoted-specials = DQUOTE / "\"
 *   resp-specials  = "]"
 *   CHAR           = %x01-7F
 *
 * Command names are case-insensitive. Commands are dispatched from a table
 * that says in which states each is valid; LOGIN and AUTHENTICATE are in
 * imap_auth.c. */
#include "imap/imap_session.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "account/sasl.h"
#include "core/xmalloc.h"
#include "imap/imap_int.h"

/* The states a command is valid in (RFC 9051 section 6). */
#define IN_NOTAUTH (1u << IMAP_NOT_AUTHENTICATED)
#define IN_AUTH    (1u << IMAP_AUTHENTICATED)
#define IN_ANY     (IN_NOTAUTH | IN_AUTH)

typedef void imap_command_fn(struct session *s, struct imap_state *st, const char *tag,
			     const char *args);

static imap_command_fn cmd_capability, cmd_noop, cmd_logout, cmd_starttls;

/* Every IMAP command we know (RFC 9051, RFC 3501 and the common extensions).
 * fn NULL: valid, to be implemented by the IMAP engine. */
static const struct imap_command {
	const char *name;
	unsigned states;
	imap_command_fn *fn;
} commands[] = {
	{ "CAPABILITY", IN_ANY, cmd_capability },
	{ "NOOP", IN_ANY, cmd_noop },
	{ "LOGOUT", IN_ANY, cmd_logout },
	{ "ID", IN_ANY, NULL },
	{ "STARTTLS", IN_NOTAUTH, cmd_starttls },
	{ "LOGIN", IN_NOTAUTH, imap_cmd_login },
	{ "AUTHENTICATE", IN_NOTAUTH, imap_cmd_authenticate },
	{ "ENABLE", IN_AUTH, NULL }, { "SELECT", IN_AUTH, NULL }, { "EXAMINE", IN_AUTH, NULL },
	{ "CREATE", IN_AUTH, NULL }, { "DELETE", IN_AUTH, NULL }, { "RENAME", IN_AUTH, NULL },
	{ "SUBSCRIBE", IN_AUTH, NULL }, { "UNSUBSCRIBE", IN_AUTH, NULL }, { "LIST", IN_AUTH, NULL },
	{ "LSUB", IN_AUTH, NULL }, { "NAMESPACE", IN_AUTH, NULL }, { "STATUS", IN_AUTH, NULL },
	{ "APPEND", IN_AUTH, NULL }, { "IDLE", IN_AUTH, NULL }, { "GETQUOTA", IN_AUTH, NULL },
	{ "GETQUOTAROOT", IN_AUTH, NULL }, { "SETQUOTA", IN_AUTH, NULL },
	{ "COMPRESS", IN_AUTH, NULL }, { "GETMETADATA", IN_AUTH, NULL },
	{ "SETMETADATA", IN_AUTH, NULL },
	/* The selected state comes with the engine; until then these count as
	 * authenticated-state commands. */
	{ "CHECK", IN_AUTH, NULL }, { "CLOSE", IN_AUTH, NULL }, { "UNSELECT", IN_AUTH, NULL },
	{ "EXPUNGE", IN_AUTH, NULL }, { "SEARCH", IN_AUTH, NULL }, { "FETCH", IN_AUTH, NULL },
	{ "STORE", IN_AUTH, NULL }, { "COPY", IN_AUTH, NULL }, { "MOVE", IN_AUTH, NULL },
	{ "UID", IN_AUTH, NULL }, { "SORT", IN_AUTH, NULL }, { "THREAD", IN_AUTH, NULL },
	{ "ESEARCH", IN_AUTH, NULL },
};

static bool is_tag_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)      /* CTL, SP, not CHAR */
		return false;
	return strchr("(){%*\"\\+", c) == NULL;   /* "]" is allowed in astring */
}

void imap_capabilities(const struct session *s, struct buf *out)
{
	const struct imap_state *st = s->data;
	buf_set(out, "IMAP4rev1 IMAP4rev2", strlen("IMAP4rev1 IMAP4rev2"));
	if (st != NULL && st->state != IMAP_NOT_AUTHENTICATED)
		return;
	if (session_can_starttls(s))
		buf_append_str(out, " STARTTLS");
	if (!imap_login_allowed(s)) {
		buf_append_str(out, " LOGINDISABLED");
		return;
	}
	/* "PLAIN LOGIN" -> " AUTH=PLAIN AUTH=LOGIN" */
	const char *m = sasl_mechanisms();
	while (*m != '\0') {
		size_t n = strcspn(m, " ");
		buf_appendf(out, " AUTH=%.*s", (int)n, m);
		m += n;
		while (*m == ' ')
			m++;
	}
	buf_append_str(out, " SASL-IR");
}

static void on_connect(struct session *s)
{
	s->data = xcalloc(1, sizeof(struct imap_state));
	struct buf caps = BUF_INIT;
	imap_capabilities(s, &caps);
	session_printf(s, "* OK [CAPABILITY %s] Surel ready\r\n", buf_cstr(&caps));
	buf_free(&caps);
}

/* tag SP name [SP args]: a command that takes no arguments. */
static bool no_args(struct session *s, const char *tag, const char *name, const char *args)
{
	if (args == NULL)
		return true;
	session_printf(s, "%s BAD %s takes no arguments\r\n", tag, name);
	return false;
}

static void cmd_capability(struct session *s, struct imap_state *st, const char *tag,
			   const char *args)
{
	if (!no_args(s, tag, "CAPABILITY", args))
		return;
	struct buf caps = BUF_INIT;
	imap_capabilities(s, &caps);
	session_printf(s, "* CAPABILITY %s\r\n%s OK CAPABILITY completed\r\n", buf_cstr(&caps), tag);
	buf_free(&caps);
}

static void cmd_noop(struct session *s, struct imap_state *st, const char *tag, const char *args)
{
	if (no_args(s, tag, "NOOP", args))
		session_printf(s, "%s OK NOOP completed\r\n", tag);
}

static void cmd_logout(struct session *s, struct imap_state *st, const char *tag,
		       const char *args)
{
	if (no_args(s, tag, "LOGOUT", args)) {
		session_printf(s, "* BYE Surel logging out\r\n%s OK LOGOUT completed\r\n", tag);
		session_close_after_flush(s);
	}
}

static void cmd_starttls(struct session *s, struct imap_state *st, const char *tag,
			 const char *args)
{
	if (!no_args(s, tag, "STARTTLS", args))
		return;
	if (!session_can_starttls(s)) {
		session_printf(s, "%s BAD STARTTLS not available: TLS is already active\r\n", tag);
		return;
	}
	session_printf(s, "%s OK Begin TLS negotiation now\r\n", tag);
	session_starttls(s);
}

static void dispatch(struct session *s, const char *tag, const char *name, const char *args)
{
	struct imap_state *st = s->data;
	log_msg(LOGL_DEBUG, "imap", s->id, "event=command tag=%s command=%s", tag, name);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		const struct imap_command *c = &commands[i];
		if (strcasecmp(name, c->name) != 0)
			continue;
		if (!(c->states & (1u << st->state))) {
			if (st->state == IMAP_NOT_AUTHENTICATED)
				session_printf(s, "%s BAD Command not valid before login\r\n", tag);
			else if (c->fn == imap_cmd_login || c->fn == imap_cmd_authenticate)
				session_printf(s, "%s BAD Already authenticated\r\n", tag);
			else
				session_printf(s, "%s BAD Command not valid after login\r\n", tag);
		} else if (c->fn == NULL) {
			session_printf(s, "%s BAD Command not implemented\r\n", tag);
		} else {
			c->fn(s, st, tag, args);
		}
		return;
	}
	session_printf(s, "%s BAD Unknown command\r\n", tag);
}

static void on_line(struct session *s, const char *line, size_t len)
{
	struct imap_state *st = s->data;
	if (st->sasl != NULL) {   /* a response in an AUTHENTICATE exchange */
		imap_auth_response(s, st, line, len);
		return;
	}
	size_t tlen = 0;
	while (tlen < len && is_tag_char((unsigned char)line[tlen]))
		tlen++;
	if (tlen == 0 || (tlen < len && line[tlen] != ' ')) {
		/* Without a well-formed tag there is nobody to answer but "*". */
		if (memchr(line, '\0', len) != NULL)
			session_printf(s, "* BAD NUL byte in command\r\n");
		else if (tlen == 0)
			session_printf(s, "* BAD Missing tag\r\n");
		else
			session_printf(s, "* BAD Invalid character in tag\r\n");
		return;
	}
	char *tag = xstrndup(line, tlen);
	const char *rest = tlen < len ? line + tlen + 1 : line + len;
	size_t rlen = len - (size_t)(rest - line);
	size_t nlen = 0;
	while (nlen < rlen && rest[nlen] != ' ' && rest[nlen] != '\0')
		nlen++;
	if (memchr(rest, '\0', rlen) != NULL) {
		session_printf(s, "%s BAD NUL byte in command\r\n", tag);
	} else if (nlen == 0) {
		session_printf(s, "%s BAD Missing command\r\n", tag);
	} else if (nlen > 32) {
		session_printf(s, "%s BAD Unknown command\r\n", tag);
	} else {
		char name[33];
		memcpy(name, rest, nlen);
		name[nlen] = '\0';
		dispatch(s, tag, name, nlen < rlen ? rest + nlen + 1 : NULL);
	}
	free(tag);
}

static void on_line_too_long(struct session *s)
{
	struct imap_state *st = s->data;
	if (st->sasl != NULL)
		imap_auth_response_too_long(s, st);
	else
		session_printf(s, "* BAD [TOOBIG] Line too long\r\n");
}

static void on_timeout(struct session *s)
{
	session_printf(s, "* BYE Autologout; idle for too long\r\n");
}

static void on_shutdown(struct session *s)
{
	session_printf(s, "* BYE Server shutting down\r\n");
}

static void on_busy(struct session *s)
{
	session_printf(s, "* BYE [UNAVAILABLE] Too many connections\r\n");
}

static void on_close(struct session *s)
{
	struct imap_state *st = s->data;
	if (st == NULL)   /* refused with on_busy */
		return;
	imap_auth_abort(st);
	free(st->user);
	xfree(&s->data);
}

const struct protocol imap_protocol = {
	.name = "imap",
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
