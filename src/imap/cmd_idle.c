/* IDLE (RFC 2177, RFC 9051 6.3.13).
 *
 *   idle = "IDLE" CRLF "DONE"
 *
 * "+ idling", then untagged responses as the selected mailbox changes: the
 * store's change notification (inotify across processes) wakes the session,
 * which syncs on the thread pool within a second of the change. "DONE" (any
 * case) ends it with the tagged OK; any other line ends it with BAD.
 *
 * While it idles a session holds no store handle (imap_hibernate): an idle
 * session costs its TLS connection and its view of the selected mailbox,
 * a few dozen kilobytes, where an open SQLite index costs hundreds. The
 * handles come back for each update and for the next command. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"
#include "imap/imap_int.h"

static void cmd_idle(struct session *s, struct imap_state *st, const struct imap_command *pc,
		     bool uid)
{
	if (pc->count != 0) {
		session_printf(s, "%s BAD IDLE takes no arguments\r\n", pc->tag);
		return;
	}
	st->idle_tag = xstrdup(pc->tag);
	session_printf(s, "+ idling\r\n");
	imap_idle_start(s);
}

void imap_idle_line(struct session *s, struct imap_state *st, const char *line, size_t len)
{
	if (len == 4 && strncasecmp(line, "DONE", 4) == 0)
		session_printf(s, "%s OK IDLE terminated\r\n", st->idle_tag);
	else
		session_printf(s, "%s BAD Expected DONE to end IDLE\r\n", st->idle_tag);
	xfree(&st->idle_tag);
}

const struct imap_command_def imap_cmds_idle[] = {
	{ "IDLE", IMAP_IN_LOGGED, 0, cmd_idle, NULL },
	{ NULL, 0, 0, NULL, NULL },
};
