/* Mailbox commands (RFC 9051 6.3.4-6.3.8, 6.3.10, 6.3.11; RFC 2342
 * NAMESPACE; RFC 6154 CREATE-SPECIAL-USE; RFC 8438 STATUS=SIZE; RFC 7889
 * APPENDLIMIT; RFC 7162 HIGHESTMODSEQ; RFC 9208 DELETED-STORAGE) and the
 * family's table. LIST and LSUB are in cmd_list.c.
 *
 *   create       = "CREATE" SP mailbox [create-params]
 *   create-params = SP "(" create-param *(SP create-param) ")"      (RFC 4466)
 *   create-param = "USE" SP "(" [use-attr *(SP use-attr)] ")"       (RFC 6154)
 *   delete       = "DELETE" SP mailbox
 *   rename       = "RENAME" SP mailbox SP mailbox
 *   subscribe    = "SUBSCRIBE" SP mailbox
 *   unsubscribe  = "UNSUBSCRIBE" SP mailbox
 *   namespace    = "NAMESPACE"
 *   status       = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"
 *   status-att   = "MESSAGES" / "UIDNEXT" / "UIDVALIDITY" / "UNSEEN" / "DELETED" /
 *                  "SIZE" / "RECENT" / "HIGHESTMODSEQ" / "APPENDLIMIT" /
 *                  "MAILBOXID" / "DELETED-STORAGE"
 *
 * The hierarchy separator is the store's "/", in one personal namespace ""
 * (RFC 2342). Names go through imap_mailbox_arg() (modified UTF-7 or UTF-8)
 * and come back through imap_write_mailbox().
 *
 * Choices:
 * - CREATE "foo/" creates "foo" (RFC 9051 6.3.4). CREATE INBOX is NO
 *   [ALREADYEXISTS]. One special use per mailbox; \All and \Flagged (virtual
 *   mailboxes in RFC 6154) and several at once are NO [USEATTR].
 * - DELETE INBOX is NO [CANNOT]; a mailbox with children NO [HASCHILDREN]
 *   (the store keeps no \Noselect parents, RFC 9051 6.3.5 allows refusing).
 *   Deleting the selected mailbox is allowed: the sync after the command
 *   finds it gone.
 * - RENAME of the selected mailbox (or of its parent) keeps it selected
 *   under its new name (the store's handle follows the rename).
 * - SUBSCRIBE does not check that the mailbox exists (RFC 9051 6.3.7 MAY).
 * - STATUS RECENT counts the messages no session has claimed as \Recent
 *   yet. STATUS MAILBOXID (RFC 8474) is "F" and the store's mailbox id,
 *   which follows renames and is never reused within the account.
 *   STATUS HIGHESTMODSEQ enables CONDSTORE (RFC 7162 3.1). STATUS of the
 *   selected mailbox is answered like any other (RFC 9051 6.3.11's SHOULD
 *   NOT is the client's). DELETED-STORAGE walks the mailbox's messages:
 *   the store keeps no sum of the \Deleted ones. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/xmalloc.h"
#include "imap/cmd_mailbox.h"
#include "imap/imap_int.h"

#define SEP IMAP_MAILBOX_SEP

/* NO with the store's response code; the store's reason is added when it is
 * about the client's request and plain ASCII (RFC 3501 resp-text). */
void imap_mailbox_failed(struct imap_cmd *c, const char *what, char *error)
{
	enum store_error e = store_user_last_error(c->st->su);
	bool tell = e != STORE_ERR_NONE && e != STORE_ERR_INTERNAL && e != STORE_ERR_TEMP &&
		    error != NULL;
	for (const char *p = error; tell && *p != '\0'; p++)
		tell = *p >= 0x20 && *p < 0x7f;
	if (!tell) {
		imap_no_store(c, what, error);
		return;
	}
	char *text = xasprintf("%s: %s", what, error);
	imap_no_store(c, text, error);
	free(text);
}

static bool is_inbox(const char *name)
{
	return strcasecmp(name, "INBOX") == 0;
}

/* ---- STATUS items ---- */

enum status_item {
	ST_MESSAGES, ST_UIDNEXT, ST_UIDVALIDITY, ST_UNSEEN, ST_DELETED, ST_SIZE, ST_RECENT,
	ST_HIGHESTMODSEQ, ST_APPENDLIMIT, ST_MAILBOXID, ST_DELETED_STORAGE, ST_COUNT
};
static const char *const status_names[ST_COUNT] = {
	"MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT",
	"HIGHESTMODSEQ", "APPENDLIMIT", "MAILBOXID", "DELETED-STORAGE",
};
#define ST_BIT(i) (1u << (i))

bool imap_status_items_parse(struct imap_cmd *c, const struct imap_arg *a, unsigned *items_r)
{
	unsigned items = 0;
	if (a->type != IMAP_ARG_LIST || a->count == 0) {
		imap_bad(c, "Syntax: STATUS mailbox (item ...)");
		return false;
	}
	for (size_t i = 0; i < a->count; i++) {
		const char *name = imap_arg_atom(&a->list[i]);
		size_t k = 0;
		while (name != NULL && k < ST_COUNT && strcasecmp(name, status_names[k]) != 0)
			k++;
		if (name == NULL || k == ST_COUNT) {
			imap_bad(c, "Unknown STATUS item");
			return false;
		}
		items |= ST_BIT(k);
	}
	if (items & ST_BIT(ST_HIGHESTMODSEQ))
		c->st->condstore = true;   /* RFC 7162 3.1: a CONDSTORE enabling command */
	*items_r = items;
	return true;
}

struct deleted_sum {
	uint64_t bytes;
};

static int add_deleted(void *ctx, const struct store_message *m)
{
	struct deleted_sum *d = ctx;
	if (m->flags & STORE_FLAG_DELETED)
		d->bytes += m->size;
	return 0;
}

/* RFC 9208 DELETED-STORAGE: what EXPUNGE would free, in KiB rounded up. The
 * store keeps no sum of it: walk the messages. mb NULL: open name. */
static int deleted_storage(struct imap_cmd *c, struct store_mailbox *mb, const char *name,
			   uint64_t *kib_r, char **error_r)
{
	struct store_mailbox *own = NULL;
	if (mb == NULL) {
		if (store_mailbox_open(c->st->su, name, &own, error_r) < 0)
			return -1;
		mb = own;
	}
	struct deleted_sum d = { 0 };
	int rc = store_fetch(mb, NULL, 0, add_deleted, &d, error_r);
	store_mailbox_close(&own);
	*kib_r = (d.bytes + 1023) / 1024;
	return rc < 0 ? -1 : 0;
}

int imap_status_write(struct imap_cmd *c, struct store_mailbox *mb,
		      const struct store_mailbox_info *info, unsigned items)
{
	uint64_t deleted_kib = 0;
	char *error = NULL;
	if ((items & ST_BIT(ST_DELETED_STORAGE)) &&
	    deleted_storage(c, mb, info->name, &deleted_kib, &error) < 0) {
		imap_mailbox_failed(c, "Cannot read the mailbox", error);
		return -1;
	}
	buf_append_str(&c->out, "* STATUS ");
	imap_write_mailbox(&c->out, c->st, info->name);
	buf_append_str(&c->out, " (");
	const char *sp = "";
	for (unsigned k = 0; k < ST_COUNT; k++) {
		if (!(items & ST_BIT(k)))
			continue;
		if (k == ST_MAILBOXID) {
			buf_appendf(&c->out, "%sMAILBOXID (F%lld)", sp, info->id);
			sp = " ";
			continue;
		}
		uint64_t v = 0;
		switch ((enum status_item)k) {
		case ST_MESSAGES: v = info->messages; break;
		case ST_UIDNEXT: v = info->uidnext; break;
		case ST_UIDVALIDITY: v = info->uidvalidity; break;
		case ST_UNSEEN: v = info->unseen; break;
		case ST_DELETED: v = info->deleted; break;
		case ST_SIZE: v = info->size; break;
		case ST_RECENT: v = info->recent; break;
		case ST_HIGHESTMODSEQ: v = info->highestmodseq; break;
		case ST_APPENDLIMIT: v = (uint64_t)c->cfg->imap_max_message_size; break;
		case ST_DELETED_STORAGE: v = deleted_kib; break;
		case ST_MAILBOXID:
		case ST_COUNT: break;
		}
		buf_appendf(&c->out, "%s%s %" PRIu64, sp, status_names[k], v);
		sp = " ";
	}
	buf_append_str(&c->out, ")\r\n");
	return 0;
}

static void cmd_status(struct imap_cmd *c)
{
	unsigned items;
	if (c->count != 2) {
		imap_bad(c, "Syntax: STATUS mailbox (item ...)");
		return;
	}
	if (!imap_status_items_parse(c, &c->args[1], &items))
		return;
	char *name = imap_mailbox_arg(c, &c->args[0]);
	if (name == NULL)
		return;
	struct store_mailbox *mb = NULL;
	struct store_mailbox_info info = { 0 };
	char *error = NULL;
	if (store_mailbox_open(c->st->su, name, &mb, &error) < 0 ||
	    store_mailbox_status(mb, &info, &error) < 0)
		imap_mailbox_failed(c, "Cannot get the mailbox status", error);
	else
		imap_status_write(c, mb, &info, items);
	store_mailbox_info_clear(&info);
	store_mailbox_close(&mb);
	free(name);
}

/* ---- CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, NAMESPACE ---- */

/* create-params with USE (RFC 6154 3); false after BAD or NO. */
static bool parse_create_params(struct imap_cmd *c, const struct imap_arg *a,
				enum store_special_use *use)
{
	if (a->type != IMAP_ARG_LIST) {
		imap_bad(c, "Syntax: CREATE mailbox [(USE (attr ...))]");
		return false;
	}
	for (size_t i = 0; i < a->count; i += 2) {
		const char *p = imap_arg_atom(&a->list[i]);
		if (p == NULL || strcasecmp(p, "USE") != 0 || i + 1 >= a->count ||
		    a->list[i + 1].type != IMAP_ARG_LIST) {
			imap_bad(c, "Unknown CREATE parameter");
			return false;
		}
		const struct imap_arg *l = &a->list[i + 1];
		for (size_t k = 0; k < l->count; k++) {
			const char *attr = imap_arg_atom(&l->list[k]);
			int u = attr != NULL ? store_special_use_parse(attr) : -1;
			if (attr == NULL || attr[0] != '\\') {
				imap_bad(c, "Invalid special-use attribute");
				return false;
			}
			if (u < 0 || u == STORE_SPECIAL_ALL || u == STORE_SPECIAL_FLAGGED) {
				imap_no(c, "[USEATTR] Unsupported special-use attribute %s", attr);
				return false;
			}
			if (*use != STORE_SPECIAL_NONE && *use != (enum store_special_use)u) {
				imap_no(c, "[USEATTR] A mailbox has at most one special use");
				return false;
			}
			*use = (enum store_special_use)u;
		}
	}
	return true;
}

/* RFC 8474 4.1: the new mailbox's MAILBOXID in the tagged OK. */
static void created_ok(struct imap_cmd *c, const char *name)
{
	struct store_mailbox *mb = NULL;
	struct store_mailbox_info info = { 0 };
	char *error = NULL;
	if (store_mailbox_open(c->st->su, name, &mb, &error) == 0 &&
	    store_mailbox_status(mb, &info, &error) == 0)
		imap_ok(c, "[MAILBOXID (F%lld)] CREATE completed", info.id);
	free(error);   /* created all the same: a plain OK */
	store_mailbox_info_clear(&info);
	store_mailbox_close(&mb);
}

static void cmd_create(struct imap_cmd *c)
{
	enum store_special_use use = STORE_SPECIAL_NONE;
	if (c->count < 1 || c->count > 2) {
		imap_bad(c, "Syntax: CREATE mailbox [(USE (attr ...))]");
		return;
	}
	if (c->count == 2 && !parse_create_params(c, &c->args[1], &use))
		return;
	char *name = imap_mailbox_arg(c, &c->args[0]);
	if (name == NULL)
		return;
	size_t len = strlen(name);
	if (len > 1 && name[len - 1] == SEP)   /* RFC 9051 6.3.4: "foo/" creates "foo" */
		name[len - 1] = '\0';
	char *error = NULL;
	if (is_inbox(name))
		imap_no(c, "[ALREADYEXISTS] INBOX always exists");
	else if (store_mailbox_create(c->st->su, name, use, &error) < 0)
		imap_mailbox_failed(c, "Cannot create the mailbox", error);
	else
		created_ok(c, name);
	free(name);
}

static void cmd_delete(struct imap_cmd *c)
{
	if (c->count != 1) {
		imap_bad(c, "Syntax: DELETE mailbox");
		return;
	}
	char *name = imap_mailbox_arg(c, &c->args[0]);
	if (name == NULL)
		return;
	char *error = NULL;
	if (is_inbox(name))
		imap_no(c, "[CANNOT] INBOX cannot be deleted");
	else if (store_mailbox_delete(c->st->su, name, &error) < 0)
		imap_mailbox_failed(c, "Cannot delete the mailbox", error);
	else if (c->st->sel != NULL && strcmp(c->st->sel->name, name) == 0) {
		/* This session deleted its own selected mailbox: back to the
		 * authenticated state (RFC 9051 7.1 CLOSED). Other sessions that
		 * had it selected get BYE at their next sync. */
		imap_unselect(c->st);
		buf_append_str(&c->out, "* OK [CLOSED] The selected mailbox was deleted\r\n");
	}
	free(name);
}

/* The selected mailbox was renamed (it or a parent of it): its store handle
 * followed; so does its name. */
static void rename_selected(struct imap_state *st, const char *from, const char *to)
{
	struct imap_selected *sel = st->sel;
	size_t flen = strlen(from);
	if (sel == NULL || sel->name == NULL || strncmp(sel->name, from, flen) != 0)
		return;
	if (sel->name[flen] == '\0' || (sel->name[flen] == SEP && strcmp(from, "INBOX") != 0)) {
		char *name = xasprintf("%s%s", to, sel->name + flen);
		free(sel->name);
		sel->name = name;
	}
}

static void cmd_rename(struct imap_cmd *c)
{
	if (c->count != 2) {
		imap_bad(c, "Syntax: RENAME mailbox newname");
		return;
	}
	char *from = imap_mailbox_arg(c, &c->args[0]);
	char *to = from != NULL ? imap_mailbox_arg(c, &c->args[1]) : NULL;
	char *error = NULL;
	if (to != NULL) {
		if (store_mailbox_rename(c->st->su, from, to, &error) < 0)
			imap_mailbox_failed(c, "Cannot rename the mailbox", error);
		else
			rename_selected(c->st, from, to);
	}
	free(from);
	free(to);
}

static void subscribe(struct imap_cmd *c, bool on)
{
	if (c->count != 1) {
		imap_bad(c, "Syntax: %s mailbox", c->name);
		return;
	}
	char *name = imap_mailbox_arg(c, &c->args[0]);
	if (name == NULL)
		return;
	char *error = NULL;
	if (store_mailbox_subscribe(c->st->su, name, on, &error) < 0)
		imap_mailbox_failed(c, on ? "Cannot subscribe" : "Cannot unsubscribe", error);
	free(name);
}

static void cmd_subscribe(struct imap_cmd *c)
{
	subscribe(c, true);
}

static void cmd_unsubscribe(struct imap_cmd *c)
{
	subscribe(c, false);
}

/* RFC 2342: one personal namespace, no other users' or shared ones. */
static void cmd_namespace(struct imap_cmd *c)
{
	if (c->count != 0) {
		imap_bad(c, "Syntax: NAMESPACE");
		return;
	}
	buf_appendf(&c->out, "* NAMESPACE ((\"\" \"%c\")) NIL NIL\r\n", SEP);
}

const struct imap_command_def imap_cmds_mailbox[] = {
	{ "CREATE", IMAP_IN_LOGGED, 0, NULL, cmd_create },
	{ "DELETE", IMAP_IN_LOGGED, 0, NULL, cmd_delete },
	{ "RENAME", IMAP_IN_LOGGED, 0, NULL, cmd_rename },
	{ "SUBSCRIBE", IMAP_IN_LOGGED, 0, NULL, cmd_subscribe },
	{ "UNSUBSCRIBE", IMAP_IN_LOGGED, 0, NULL, cmd_unsubscribe },
	{ "LIST", IMAP_IN_LOGGED, 0, NULL, imap_cmd_list },
	{ "LSUB", IMAP_IN_LOGGED, 0, NULL, imap_cmd_lsub },
	{ "NAMESPACE", IMAP_IN_LOGGED, 0, NULL, cmd_namespace },
	{ "STATUS", IMAP_IN_LOGGED, 0, NULL, cmd_status },
	{ NULL, 0, 0, NULL, NULL },
};
