/* Selecting a mailbox and leaving it (RFC 9051 6.3.2, 6.3.3, 6.4.2, 6.4.3,
 * RFC 3691 UNSELECT, RFC 4315 UID EXPUNGE, RFC 7162 CONDSTORE/QRESYNC):
 *
 *   select   = "SELECT" SP mailbox [select-params]
 *   examine  = "EXAMINE" SP mailbox [select-params]
 *   select-params = SP "(" select-param *(SP select-param) ")"
 *   select-param  = "CONDSTORE" / "QRESYNC" SP "(" uidvalidity SP mod-sequence-value
 *                   [SP known-uids] [SP seq-match-data] ")"
 *   close    = "CLOSE"
 *   unselect = "UNSELECT"
 *   expunge  = "EXPUNGE"
 *   uid-expunge = "UID" SP "EXPUNGE" SP sequence-set
 *
 * CLOSE expunges silently (no EXPUNGE responses) unless the mailbox is
 * read-only; UNSELECT never expunges. A failed SELECT leaves the session in
 * the authenticated state (RFC 9051 6.3.2). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"
#include "imap/imap_int.h"
#include "imap/imap_seqset.h"

struct qresync {
	uint32_t uidvalidity;
	uint64_t modseq;
	const struct imap_arg *known_uids;   /* may be NULL */
};

/* select-params; false after BAD. */
static bool parse_params(struct imap_cmd *c, const struct imap_arg *a, bool *condstore,
			 struct qresync *q, bool *has_q)
{
	if (a->type != IMAP_ARG_LIST) {
		imap_bad(c, "Syntax: %s mailbox [(CONDSTORE | QRESYNC (...))]", c->name);
		return false;
	}
	for (size_t i = 0; i < a->count; i++) {
		const char *p = imap_arg_atom(&a->list[i]);
		if (p != NULL && strcasecmp(p, "CONDSTORE") == 0) {
			*condstore = true;
			continue;
		}
		if (p == NULL || strcasecmp(p, "QRESYNC") != 0 || i + 1 >= a->count ||
		    a->list[i + 1].type != IMAP_ARG_LIST) {
			imap_bad(c, "Unknown SELECT parameter");
			return false;
		}
		if (!c->st->qresync) {
			imap_bad(c, "QRESYNC must be enabled first (RFC 7162 3.2.5)");
			return false;
		}
		const struct imap_arg *l = &a->list[++i];
		if (l->count < 2 || l->count > 4 || !imap_arg_number(&l->list[0], &q->uidvalidity) ||
		    !imap_arg_number64(&l->list[1], &q->modseq) || q->uidvalidity == 0 ||
		    q->modseq == 0) {
			imap_bad(c, "Syntax: QRESYNC (uidvalidity modseq [known-uids])");
			return false;
		}
		q->known_uids = l->count >= 3 ? &l->list[2] : NULL;
		*has_q = true;
	}
	return true;
}

struct vanished_ctx {
	struct imap_cmd *c;
	const struct store_uid_list *known;   /* NULL: all */
};

static int qresync_fetch(void *ctx, const struct store_message *m)
{
	struct vanished_ctx *v = ctx;
	struct imap_selected *sel = v->c->st->sel;
	uint32_t seq = imap_uid_to_seq(sel->uids.uids, sel->uids.count, m->uid);
	if (seq == 0)
		return 0;
	buf_appendf(&v->c->out, "* %" PRIu32 " FETCH (UID %" PRIu32 " FLAGS ", seq, m->uid);
	imap_write_flags(&v->c->out, m->flags, m->keywords, m->n_keywords,
			 imap_is_recent(v->c->st, m->uid));
	buf_appendf(&v->c->out, " MODSEQ (%" PRIu64 "))\r\n", m->modseq);
	return 0;
}

/* RFC 7162 3.2.5.2: what changed since the client's MODSEQ, as VANISHED
 * (EARLIER) and FETCH responses. */
static void qresync_report(struct imap_cmd *c, const struct qresync *q)
{
	struct imap_selected *sel = c->st->sel;
	if (q->uidvalidity != sel->uidvalidity)
		return;   /* the client must resync from scratch */
	struct store_uid_list vanished = { 0 };
	struct vanished_ctx v = { c, NULL };
	char *error = NULL;
	struct buf fetches = BUF_INIT;
	struct buf saved = c->out;
	c->out = fetches;
	int r = store_changes_since(sel->mb, q->modseq, qresync_fetch, &v, &vanished, &error);
	fetches = c->out;
	c->out = saved;
	if (r < 0) {
		log_msg(LOGL_ERROR, "imap", c->session_id, "event=qresync_failed error=\"%s\"", error);
		free(error);
		buf_free(&fetches);
		store_uid_list_free(&vanished);
		return;
	}
	if (vanished.count > 0) {
		buf_append_str(&c->out, "* VANISHED (EARLIER) ");
		imap_seqset_write(vanished.uids, vanished.count, &c->out);
		buf_append_str(&c->out, "\r\n");
	}
	buf_append(&c->out, fetches.data, fetches.len);
	buf_free(&fetches);
	store_uid_list_free(&vanished);
}

static void select_or_examine(struct imap_cmd *c, bool readonly)
{
	if (c->count < 1 || c->count > 2) {
		imap_bad(c, "Syntax: %s mailbox [(params)]", c->name);
		return;
	}
	bool condstore = false, has_q = false;
	struct qresync q = { 0 };
	if (c->count == 2 && !parse_params(c, &c->args[1], &condstore, &q, &has_q))
		return;
	char *name = imap_mailbox_arg(c, &c->args[0]);
	if (name == NULL)
		return;
	if (condstore)
		c->st->condstore = true;   /* RFC 7162 3.1.8: CONDSTORE enabled */
	if (imap_select(c, name, readonly) == 0) {
		if (has_q)
			qresync_report(c, &q);
		imap_ok(c, "[%s] %s completed", readonly ? "READ-ONLY" : "READ-WRITE", c->name);
	}
	c->no_sync = true;
	free(name);
}

static void cmd_select(struct imap_cmd *c)
{
	select_or_examine(c, false);
}

static void cmd_examine(struct imap_cmd *c)
{
	select_or_examine(c, true);
}

static void cmd_unselect(struct imap_cmd *c)
{
	if (c->count != 0) {
		imap_bad(c, "%s takes no arguments", c->name);
		return;
	}
	imap_unselect(c->st);
	c->no_sync = true;
}

static void cmd_close(struct imap_cmd *c)
{
	if (c->count != 0) {
		imap_bad(c, "CLOSE takes no arguments");
		return;
	}
	struct imap_selected *sel = c->st->sel;
	char *error = NULL;
	if (!sel->readonly && store_expunge(sel->mb, NULL, NULL, &error) < 0) {
		/* RFC 9051 6.4.1: CLOSE still closes; the expunge is lost. */
		log_msg(LOGL_ERROR, "imap", c->session_id, "event=close_expunge_failed error=\"%s\"",
			error);
		free(error);
	}
	imap_unselect(c->st);
	c->no_sync = true;
}

static void cmd_expunge(struct imap_cmd *c)
{
	struct imap_selected *sel = c->st->sel;
	struct store_uid_list set = { 0 };
	if (c->uid ? c->count != 1 : c->count != 0) {
		imap_bad(c, c->uid ? "Syntax: UID EXPUNGE sequence-set" : "EXPUNGE takes no arguments");
		return;
	}
	if (sel->readonly) {
		imap_no(c, "[READ-ONLY] The mailbox is read-only");
		return;
	}
	if (c->uid && !imap_cmd_uidset(c, &c->args[0], &set))
		return;
	size_t nr = 0;
	struct store_uid_range *ranges = c->uid ? imap_uid_list_ranges(set.uids, set.count, &nr)
						: NULL;
	struct store_uidset us = { ranges, nr };
	struct store_uid_list gone = { 0 };
	char *error = NULL;
	if (c->uid && set.count == 0) {
		/* nothing in the set: nothing to expunge */
	} else if (store_expunge(sel->mb, c->uid ? &us : NULL, &gone, &error) < 0) {
		imap_no_store(c, "Expunge failed", error);
	} else {
		/* Announce first whatever else was expunged, then ours. */
		if (imap_sync(c, true) == 0)
			imap_sync_expunged(c, &gone);
	}
	free(ranges);
	store_uid_list_free(&set);
	store_uid_list_free(&gone);
}

const struct imap_command_def imap_cmds_select[] = {
	{ "SELECT", IMAP_IN_LOGGED, 0, NULL, cmd_select },
	{ "EXAMINE", IMAP_IN_LOGGED, 0, NULL, cmd_examine },
	{ "UNSELECT", IMAP_IN_SELECTED, 0, NULL, cmd_unselect },
	{ "CLOSE", IMAP_IN_SELECTED, 0, NULL, cmd_close },
	{ "EXPUNGE", IMAP_IN_SELECTED, IMAP_CMD_UID, NULL, cmd_expunge },
	{ NULL, 0, 0, NULL, NULL },
};
