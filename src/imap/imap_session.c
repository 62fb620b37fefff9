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
 * Command names are case-insensitive. */
#include "imap/imap_session.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"

/* Valid IMAP commands (RFC 9051, RFC 3501 and the common extensions) that
 * the IMAP engine will implement. */
static const char *const not_implemented[] = {
	"LOGIN", "AUTHENTICATE", "ENABLE", "ID", "SELECT", "EXAMINE", "CREATE", "DELETE",
	"RENAME", "SUBSCRIBE", "UNSUBSCRIBE", "LIST", "LSUB", "NAMESPACE", "STATUS", "APPEND",
	"IDLE", "CHECK", "CLOSE", "UNSELECT", "EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY",
	"MOVE", "UID", "GETQUOTA", "GETQUOTAROOT", "SETQUOTA", "COMPRESS", "GETMETADATA",
	"SETMETADATA", "SORT", "THREAD", "ESEARCH",
};

static bool is_tag_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)      /* CTL, SP, not CHAR */
		return false;
	return strchr("(){%*\"\\+", c) == NULL;   /* "]" is allowed in astring */
}

static const char *capabilities(struct session *s)
{
	if (session_can_starttls(s))
		return "IMAP4rev1 IMAP4rev2 STARTTLS LOGINDISABLED";
	return "IMAP4rev1 IMAP4rev2";
}

static void on_connect(struct session *s)
{
	session_printf(s, "* OK [CAPABILITY %s] Surel ready\r\n", capabilities(s));
}

/* tag SP name [SP args]: a command that takes no arguments. */
static bool no_args(struct session *s, const char *tag, const char *name, const char *args)
{
	if (args == NULL)
		return true;
	session_printf(s, "%s BAD %s takes no arguments\r\n", tag, name);
	return false;
}

static void dispatch(struct session *s, const char *tag, const char *name, const char *args)
{
	log_msg(LOGL_DEBUG, "imap", s->id, "event=command tag=%s command=%s", tag, name);
	if (strcasecmp(name, "CAPABILITY") == 0) {
		if (no_args(s, tag, "CAPABILITY", args))
			session_printf(s, "* CAPABILITY %s\r\n%s OK CAPABILITY completed\r\n",
				       capabilities(s), tag);
	} else if (strcasecmp(name, "NOOP") == 0) {
		if (no_args(s, tag, "NOOP", args))
			session_printf(s, "%s OK NOOP completed\r\n", tag);
	} else if (strcasecmp(name, "LOGOUT") == 0) {
		if (no_args(s, tag, "LOGOUT", args)) {
			session_printf(s, "* BYE Surel logging out\r\n%s OK LOGOUT completed\r\n", tag);
			session_close_after_flush(s);
		}
	} else if (strcasecmp(name, "STARTTLS") == 0) {
		if (!no_args(s, tag, "STARTTLS", args))
			return;
		if (!session_can_starttls(s)) {
			session_printf(s, "%s BAD STARTTLS not available: TLS is already active\r\n", tag);
			return;
		}
		session_printf(s, "%s OK Begin TLS negotiation now\r\n", tag);
		session_starttls(s);
	} else {
		for (size_t i = 0; i < sizeof not_implemented / sizeof not_implemented[0]; i++) {
			if (strcasecmp(name, not_implemented[i]) == 0) {
				session_printf(s, "%s BAD Command not implemented\r\n", tag);
				return;
			}
		}
		session_printf(s, "%s BAD Unknown command\r\n", tag);
	}
}

static void on_line(struct session *s, const char *line, size_t len)
{
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
	.on_close = NULL,
};
