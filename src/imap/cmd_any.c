/* Commands valid in any state, and the small ones around them:
 *
 *   capability = "CAPABILITY"
 *   noop       = "NOOP"          (a sync point once a mailbox is selected)
 *   logout     = "LOGOUT"
 *   starttls   = "STARTTLS"      (RFC 9051 6.2.1)
 *   id         = "ID" SP id-params-list            (RFC 2971)
 *   id-params-list = "(" *(string SP nstring) ")" / nil
 *   enable     = "ENABLE" 1*(SP capability)        (RFC 5161)
 *   check      = "CHECK"         (RFC 3501 6.4.1; gone from IMAP4rev2: a NOOP)
 *
 * ENABLE knows IMAP4rev2, UTF8=ACCEPT (RFC 6855), CONDSTORE and QRESYNC
 * (RFC 7162; QRESYNC implies CONDSTORE). IMAP4rev2 also makes mailbox names
 * UTF-8 (RFC 9051 5.1). ENABLE is accepted in the selected state too. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"
#include "imap/imap_int.h"

static bool no_args(struct session *s, const struct imap_command *pc)
{
	if (pc->count == 0)
		return true;
	session_printf(s, "%s BAD %s takes no arguments\r\n", pc->tag, pc->name);
	return false;
}

static void cmd_capability(struct session *s, struct imap_state *st,
			   const struct imap_command *pc, bool uid)
{
	if (!no_args(s, pc))
		return;
	struct buf caps = BUF_INIT;
	imap_capabilities(s, &caps);
	session_printf(s, "* CAPABILITY %s\r\n%s OK CAPABILITY completed\r\n", buf_cstr(&caps),
		       pc->tag);
	buf_free(&caps);
}

static void cmd_noop_loop(struct session *s, struct imap_state *st, const struct imap_command *pc,
			  bool uid)
{
	if (no_args(s, pc))
		session_printf(s, "%s OK NOOP completed\r\n", pc->tag);
}

/* Logged in: NOOP and CHECK run on the pool, where the engine syncs after them. */
static void cmd_noop(struct imap_cmd *c)
{
	if (c->count != 0)
		imap_bad(c, "%s takes no arguments", c->name);
}

static void cmd_logout(struct session *s, struct imap_state *st, const struct imap_command *pc,
		       bool uid)
{
	if (!no_args(s, pc))
		return;
	st->state = IMAP_LOGOUT;
	session_printf(s, "* BYE Surel logging out\r\n%s OK LOGOUT completed\r\n", pc->tag);
	session_close_after_flush(s);
}

static void cmd_starttls(struct session *s, struct imap_state *st, const struct imap_command *pc,
			 bool uid)
{
	if (!no_args(s, pc))
		return;
	if (!session_can_starttls(s)) {
		session_printf(s, "%s BAD STARTTLS not available: TLS is already active\r\n",
			       pc->tag);
		return;
	}
	session_printf(s, "%s OK Begin TLS negotiation now\r\n", pc->tag);
	session_starttls(s);
}

/* RFC 2971 3.3: at most 30 pairs, names of at most 30 octets, values of at
 * most 1024; the client's values are logged. */
static const char *check_id(const struct imap_arg *a, struct buf *log)
{
	if (a->type == IMAP_ARG_NIL)
		return NULL;
	if (a->type != IMAP_ARG_LIST)
		return "Syntax: ID (name value ...) or ID NIL";
	if (a->count % 2 != 0 || a->count > 60)
		return "ID takes up to 30 name/value pairs";
	for (size_t i = 0; i < a->count; i += 2) {
		bool nil;
		const char *name = imap_arg_string(&a->list[i]);
		const char *value = imap_arg_nstring(&a->list[i + 1], &nil);
		if (name == NULL || value == NULL || a->list[i + 1].type == IMAP_ARG_ATOM)
			return "ID names and values are strings";
		if (strlen(name) > 30 || strlen(value) > 1024)
			return "ID name or value too long";
		for (const char *p = value; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == '"' || *p == '\\')
				return NULL;   /* valid, but not for the log */
		buf_appendf(log, " %s=\"%s\"", name, nil ? "" : value);
	}
	return NULL;
}

static void cmd_id(struct session *s, struct imap_state *st, const struct imap_command *pc,
		   bool uid)
{
	struct buf log = BUF_INIT;
	const char *error = pc->count != 1 ? "Syntax: ID (name value ...) or ID NIL"
					   : check_id(&pc->args[0], &log);
	if (error != NULL) {
		session_printf(s, "%s BAD %s\r\n", pc->tag, error);
	} else {
		if (log.len > 0)
			log_msg(LOGL_INFO, "imap", s->id, "event=client_id%s", buf_cstr(&log));
		session_printf(s, "* ID (\"name\" \"Surel\" \"vendor\" \"Surel\")\r\n"
				  "%s OK ID completed\r\n", pc->tag);
	}
	buf_free(&log);
}

static void cmd_enable(struct session *s, struct imap_state *st, const struct imap_command *pc,
		       bool uid)
{
	if (pc->count == 0) {
		session_printf(s, "%s BAD Syntax: ENABLE capability ...\r\n", pc->tag);
		return;
	}
	struct buf enabled = BUF_INIT;
	for (size_t i = 0; i < pc->count; i++) {
		const char *cap = imap_arg_atom(&pc->args[i]);
		if (cap == NULL) {
			session_printf(s, "%s BAD Syntax: ENABLE capability ...\r\n", pc->tag);
			buf_free(&enabled);
			return;
		}
		bool *flag = NULL;
		if (strcasecmp(cap, "IMAP4rev2") == 0)
			flag = &st->rev2;
		else if (strcasecmp(cap, "UTF8=ACCEPT") == 0)
			flag = &st->utf8;
		else if (strcasecmp(cap, "CONDSTORE") == 0)
			flag = &st->condstore;
		else if (strcasecmp(cap, "QRESYNC") == 0)
			flag = &st->qresync;
		if (flag == NULL || *flag)
			continue;   /* unknown or already on: not listed (RFC 5161 3.1) */
		*flag = true;
		buf_appendf(&enabled, " %s", cap);
	}
	if (st->rev2)
		st->utf8 = true;
	if (st->qresync)
		st->condstore = true;
	session_printf(s, "* ENABLED%s\r\n%s OK ENABLE completed\r\n", buf_cstr(&enabled), pc->tag);
	buf_free(&enabled);
}

const struct imap_command_def imap_cmds_any[] = {
	{ "CAPABILITY", IMAP_IN_ANY, 0, cmd_capability, NULL },
	{ "NOOP", IMAP_IN_ANY, IMAP_CMD_POOL_LOGGED, cmd_noop_loop, cmd_noop },
	{ "LOGOUT", IMAP_IN_ANY, 0, cmd_logout, NULL },
	{ "STARTTLS", IMAP_IN_NOTAUTH, 0, cmd_starttls, NULL },
	{ "ID", IMAP_IN_ANY, 0, cmd_id, NULL },
	{ "ENABLE", IMAP_IN_LOGGED, 0, cmd_enable, NULL },
	{ "CHECK", IMAP_IN_SELECTED, 0, NULL, cmd_noop },
	{ NULL, 0, 0, NULL, NULL },
};
