/* The selected mailbox as one session sees it (RFC 9051 2.3.1, 5.2, 7.4.1):
 * message sequence numbers over the UIDs, and the untagged responses that
 * tell the client what other sessions (and processes) changed.
 *
 * The view is brought up to date after every command, from the store's
 * change log (store_changes_since from the last MODSEQ seen):
 *
 *   new messages       -> "* n EXISTS"
 *   flag changes       -> "* n FETCH (FLAGS (...) [UID u] [MODSEQ (m)])", not for
 *                         this session's own STORE (it answered those itself)
 *   expunged messages  -> "* n EXPUNGE" (by descending n, so that the numbers
 *                         the client holds stay right), or "* VANISHED uids"
 *                         once QRESYNC is enabled (RFC 7162 3.2.10)
 *
 * EXPUNGE is never sent during FETCH, STORE and SEARCH (they refer to
 * messages by number): an expunged message stays numbered, and its FETCH
 * returns nothing, until a command that may send EXPUNGE ends (RFC 9051
 * 7.5.1; Surel does not return cached data for it). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/xmalloc.h"
#include "imap/imap_int.h"
#include "imap/imap_seqset.h"

static void uid_list_push(struct store_uid_list *l, uint32_t uid)
{
	if (l->count == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->uids = xrealloc(l->uids, l->cap * sizeof *l->uids);
	}
	l->uids[l->count++] = uid;
}

void imap_unselect(struct imap_state *st)
{
	struct imap_selected *sel = st->sel;
	if (sel == NULL)
		return;
	store_mailbox_close(&sel->mb);
	free(sel->name);
	store_uid_list_free(&sel->uids);
	store_uid_list_free(&sel->expunged);
	store_uid_list_free(&sel->saved);
	store_uid_list_free(&sel->recent);
	free(sel);
	st->sel = NULL;
	st->state = IMAP_AUTHENTICATED;
}

bool imap_is_recent(const struct imap_state *st, uint32_t uid)
{
	return !st->rev2 && st->sel != NULL && imap_uid_in(&st->sel->recent, uid);
}

/* \Recent (RFC 3501 2.3.2): a read-write session claims the messages no
 * session has seen yet; a read-only one sees them recent without claiming.
 * Returns whether the set changed. */
static bool claim_recent(struct imap_cmd *c)
{
	struct imap_selected *sel = c->st->sel;
	uint32_t first, next;
	char *error = NULL;
	if (store_mailbox_recent(sel->mb, !sel->readonly, &first, &next, &error) < 0) {
		log_msg(LOGL_ERROR, "imap", c->session_id, "event=recent_failed error=\"%s\"", error);
		free(error);
		return false;
	}
	size_t before = sel->recent.count;
	if (sel->readonly)
		sel->recent.count = 0;   /* the unclaimed range, seen afresh */
	/* the UIDs of the view in [first, next), ascending, after those held */
	size_t i = sel->uids.count;
	while (i > 0 && sel->uids.uids[i - 1] >= first)
		i--;
	uint32_t last = sel->recent.count > 0 ? sel->recent.uids[sel->recent.count - 1] : 0;
	for (; i < sel->uids.count && sel->uids.uids[i] < next; i++)
		if (sel->uids.uids[i] > last)
			uid_list_push(&sel->recent, sel->uids.uids[i]);
	return sel->recent.count != before || sel->readonly;
}

/* SELECT's [UNSEEN n] (IMAP4rev1): the first message without \Seen. */
static void write_unseen(struct imap_cmd *c)
{
	struct imap_selected *sel = c->st->sel;
	uint32_t uid = 0;
	char *error = NULL;
	if (store_mailbox_first_unseen(sel->mb, &uid, &error) < 0) {
		free(error);
		return;
	}
	uint32_t seq = uid != 0 ? imap_uid_to_seq(sel->uids.uids, sel->uids.count, uid) : 0;
	if (seq != 0)
		buf_appendf(&c->out, "* OK [UNSEEN %" PRIu32 "] First unseen\r\n", seq);
}

int imap_select(struct imap_cmd *c, const char *name, bool readonly)
{
	struct imap_state *st = c->st;
	if (st->sel != NULL) {
		imap_unselect(st);
		buf_append_str(&c->out, "* OK [CLOSED] Previous mailbox closed\r\n");
	}
	struct imap_selected *sel = xcalloc(1, sizeof *sel);
	struct store_mailbox_info info = { 0 };
	char *error = NULL;
	if (store_mailbox_open(st->su, name, &sel->mb, &error) < 0 ||
	    store_mailbox_status(sel->mb, &info, &error) < 0 ||
	    store_mailbox_uids(sel->mb, &sel->uids, &error) < 0) {
		store_mailbox_close(&sel->mb);
		store_uid_list_free(&sel->uids);
		store_mailbox_info_clear(&info);
		free(sel);
		if (store_user_last_error(st->su) == STORE_ERR_NONEXISTENT) {
			free(error);
			imap_no(c, "[NONEXISTENT] No such mailbox");
		} else {
			imap_no_store(c, "Cannot open the mailbox", error);
		}
		return -1;
	}
	sel->name = xstrdup(name);
	sel->readonly = readonly;
	sel->uidvalidity = info.uidvalidity;
	sel->modseq = info.highestmodseq;
	st->sel = sel;
	st->state = IMAP_SELECTED;

	struct buf *o = &c->out;
	buf_append_str(o, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n");
	if (readonly)
		buf_append_str(o, "* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n");
	else
		buf_append_str(o, "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen "
				  "\\Draft \\*)] Flags permitted\r\n");
	buf_appendf(o, "* %zu EXISTS\r\n", sel->uids.count);
	claim_recent(c);
	if (!st->rev2) {
		buf_appendf(o, "* %zu RECENT\r\n", sel->recent.count);
		write_unseen(c);
	}
	buf_appendf(o, "* OK [UIDVALIDITY %" PRIu32 "] UIDs valid\r\n", info.uidvalidity);
	buf_appendf(o, "* OK [UIDNEXT %" PRIu32 "] Predicted next UID\r\n", info.uidnext);
	buf_appendf(o, "* OK [HIGHESTMODSEQ %" PRIu64 "] Highest\r\n", info.highestmodseq);
	buf_appendf(o, "* OK [MAILBOXID (F%lld)] Ok\r\n", info.id);
	store_mailbox_info_clear(&info);
	return 0;
}

/* ---- hibernation ---- */

void imap_hibernate(struct imap_state *st)
{
	if (st->hibernating || st->su == NULL)
		return;
	if (st->sel != NULL)
		store_mailbox_close(&st->sel->mb);
	store_user_close(&st->su);
	store_close(&st->store);
	st->hibernating = true;
}

int imap_wake(struct imap_cmd *c)
{
	struct imap_state *st = c->st;
	char *error = NULL;
	if (store_open(c->cfg->server_data_dir, &st->store, &error) < 0 ||
	    store_user_open(st->store, st->account_id, &st->su, &error) < 0) {
		log_msg(LOGL_ERROR, "imap", c->session_id, "event=wake_failed error=\"%s\"", error);
		free(error);
		store_user_close(&st->su);
		store_close(&st->store);
		return -1;
	}
	st->hibernating = false;
	if (st->sel == NULL)
		return 0;
	struct store_mailbox_info info = { 0 };
	int r = 0;
	if (store_mailbox_open(st->su, st->sel->name, &st->sel->mb, &error) < 0 ||
	    store_mailbox_status(st->sel->mb, &info, &error) < 0 ||
	    info.uidvalidity != st->sel->uidvalidity) {
		/* deleted (or renamed) while the session slept */
		free(error);
		imap_unselect(st);
		r = -1;
	}
	store_mailbox_info_clear(&info);
	return r;
}

/* ---- sync ---- */

struct change {
	uint32_t uid;
	uint64_t modseq;
	unsigned flags;
	char **keywords;
	size_t n_keywords;
};

struct changes {
	struct change *items;
	size_t count, cap;
	uint64_t max_modseq;
};

static int collect(void *ctx, const struct store_message *m)
{
	struct changes *ch = ctx;
	if (ch->count == ch->cap) {
		ch->cap = ch->cap ? ch->cap * 2 : 32;
		ch->items = xrealloc(ch->items, ch->cap * sizeof *ch->items);
	}
	struct change *x = &ch->items[ch->count++];
	*x = (struct change){ .uid = m->uid, .modseq = m->modseq, .flags = m->flags,
			      .n_keywords = m->n_keywords };
	if (m->n_keywords > 0) {
		x->keywords = xcalloc(m->n_keywords, sizeof *x->keywords);
		for (size_t i = 0; i < m->n_keywords; i++)
			x->keywords[i] = xstrdup(m->keywords[i]);
	}
	if (m->modseq > ch->max_modseq)
		ch->max_modseq = m->modseq;
	return 0;
}

static void changes_free(struct changes *ch)
{
	for (size_t i = 0; i < ch->count; i++) {
		for (size_t k = 0; k < ch->items[i].n_keywords; k++)
			free(ch->items[i].keywords[k]);
		free(ch->items[i].keywords);
	}
	free(ch->items);
}

static int cmp_change(const void *a, const void *b)
{
	const struct change *x = a, *y = b;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static bool own_change(const struct imap_selected *sel, uint64_t modseq)
{
	for (size_t i = 0; i < sel->n_own; i++)
		if (sel->own_modseq[i] == modseq)
			return true;
	return false;
}

void imap_sync_own(struct imap_selected *sel, uint64_t modseq)
{
	if (sel->n_own < sizeof sel->own_modseq / sizeof sel->own_modseq[0])
		sel->own_modseq[sel->n_own++] = modseq;
}

/* Announce and forget the messages of uids (sorted) that are in the view. */
static void remove_expunged(struct imap_cmd *c, const uint32_t *uids, size_t n)
{
	struct imap_selected *sel = c->st->sel;
	struct store_uid_list gone = { 0 };
	/* Descending sequence numbers: each EXPUNGE leaves the lower ones valid. */
	for (size_t i = n; i-- > 0;) {
		uint32_t seq = imap_uid_to_seq(sel->uids.uids, sel->uids.count, uids[i]);
		if (seq == 0)
			continue;
		if (!c->st->qresync)
			buf_appendf(&c->out, "* %" PRIu32 " EXPUNGE\r\n", seq);
		uid_list_push(&gone, uids[i]);
		memmove(&sel->uids.uids[seq - 1], &sel->uids.uids[seq],
			(sel->uids.count - seq) * sizeof *sel->uids.uids);
		sel->uids.count--;
		uint32_t r = imap_uid_to_seq(sel->recent.uids, sel->recent.count, uids[i]);
		if (r != 0) {
			memmove(&sel->recent.uids[r - 1], &sel->recent.uids[r],
				(sel->recent.count - r) * sizeof *sel->recent.uids);
			sel->recent.count--;
		}
	}
	if (c->st->qresync && gone.count > 0) {
		/* gone is descending: reverse it for the set */
		for (size_t i = 0; i < gone.count / 2; i++) {
			uint32_t t = gone.uids[i];
			gone.uids[i] = gone.uids[gone.count - 1 - i];
			gone.uids[gone.count - 1 - i] = t;
		}
		buf_append_str(&c->out, "* VANISHED ");
		imap_seqset_write(gone.uids, gone.count, &c->out);
		buf_append_str(&c->out, "\r\n");
	}
	store_uid_list_free(&gone);
}

void imap_sync_expunged(struct imap_cmd *c, const struct store_uid_list *uids)
{
	remove_expunged(c, uids->uids, uids->count);
}

static int cmp_uid(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Remember expunges that cannot be announced yet (no duplicates). */
static void note_expunged(struct imap_selected *sel, const struct store_uid_list *vanished)
{
	for (size_t i = 0; i < vanished->count; i++) {
		uint32_t uid = vanished->uids[i];
		if (imap_uid_to_seq(sel->uids.uids, sel->uids.count, uid) == 0)
			continue;
		bool known = false;
		for (size_t k = 0; k < sel->expunged.count && !known; k++)
			known = sel->expunged.uids[k] == uid;
		if (!known)
			uid_list_push(&sel->expunged, uid);
	}
	if (sel->expunged.count > 1)
		qsort(sel->expunged.uids, sel->expunged.count, sizeof *sel->expunged.uids, cmp_uid);
}

static void write_flag_change(struct imap_cmd *c, uint32_t seq, const struct change *x)
{
	buf_appendf(&c->out, "* %" PRIu32 " FETCH (", seq);
	if (c->st->qresync || c->uid)
		buf_appendf(&c->out, "UID %" PRIu32 " ", x->uid);
	buf_append_str(&c->out, "FLAGS ");
	imap_write_flags(&c->out, x->flags, (const char *const *)x->keywords, x->n_keywords,
			 imap_is_recent(c->st, x->uid));
	if (c->st->condstore)
		buf_appendf(&c->out, " MODSEQ (%" PRIu64 ")", x->modseq);
	buf_append_str(&c->out, ")\r\n");
}

int imap_sync(struct imap_cmd *c, bool allow_expunge)
{
	struct imap_selected *sel = c->st->sel;
	struct changes ch = { 0 };
	struct store_uid_list vanished = { 0 };
	char *error = NULL;
	if (store_changes_since(sel->mb, sel->modseq, collect, &ch, &vanished, &error) < 0) {
		bool gone = store_user_last_error(c->st->su) == STORE_ERR_EXPUNGED;
		if (!gone)
			log_msg(LOGL_ERROR, "imap", c->session_id, "event=sync_failed error=\"%s\"",
				error);
		free(error);
		changes_free(&ch);
		store_uid_list_free(&vanished);
		return gone ? -1 : 0;
	}
	note_expunged(sel, &vanished);
	store_uid_list_free(&vanished);
	if (allow_expunge && sel->expunged.count > 0) {
		remove_expunged(c, sel->expunged.uids, sel->expunged.count);
		sel->expunged.count = 0;
	}
	if (ch.count > 1)
		qsort(ch.items, ch.count, sizeof *ch.items, cmp_change);
	uint32_t last = sel->uids.count > 0 ? sel->uids.uids[sel->uids.count - 1] : 0;
	size_t before = sel->uids.count;
	for (size_t i = 0; i < ch.count; i++) {
		const struct change *x = &ch.items[i];
		if (x->uid > last) {
			uid_list_push(&sel->uids, x->uid);
			last = x->uid;
			continue;
		}
		uint32_t seq = imap_uid_to_seq(sel->uids.uids, sel->uids.count, x->uid);
		if (seq != 0 && !own_change(sel, x->modseq))
			write_flag_change(c, seq, x);
	}
	if (sel->uids.count != before) {
		buf_appendf(&c->out, "* %zu EXISTS\r\n", sel->uids.count);
		if (claim_recent(c) && !c->st->rev2)
			buf_appendf(&c->out, "* %zu RECENT\r\n", sel->recent.count);
	}
	if (ch.max_modseq > sel->modseq)
		sel->modseq = ch.max_modseq;
	sel->n_own = 0;
	changes_free(&ch);
	return 0;
}

/* ---- sequence sets ---- */

bool imap_cmd_uidset(struct imap_cmd *c, const struct imap_arg *a, struct store_uid_list *out)
{
	struct imap_selected *sel = c->st->sel;
	const char *text = imap_arg_atom(a);
	struct imap_seqset set = { 0 };
	const char *why = NULL;
	memset(out, 0, sizeof *out);
	if (text == NULL || !imap_seqset_parse(text, strlen(text), &set, &why)) {
		imap_bad(c, "Invalid sequence set: %s", why != NULL ? why : "not an atom");
		return false;
	}
	if (set.dollar) {
		/* RFC 5182: the saved UIDs that are still in the mailbox */
		for (size_t i = 0; i < sel->saved.count; i++)
			if (imap_uid_to_seq(sel->uids.uids, sel->uids.count, sel->saved.uids[i]) != 0)
				uid_list_push(out, sel->saved.uids[i]);
		imap_seqset_free(&set);
		return true;
	}
	if (!c->uid) {
		for (size_t i = 0; i < set.count; i++) {
			const struct store_uid_range *r = &set.ranges[i];
			if ((r->lo != UINT32_MAX && r->lo > sel->uids.count) ||
			    (r->hi != UINT32_MAX && r->hi > sel->uids.count) ||
			    sel->uids.count == 0) {
				imap_seqset_free(&set);
				imap_bad(c, "Invalid sequence number: the mailbox has %zu messages",
					 sel->uids.count);
				return false;
			}
		}
		imap_seqset_to_uids(&set, sel->uids.uids, sel->uids.count, out);
	} else {
		imap_seqset_uids(&set, sel->uids.uids, sel->uids.count, out);
	}
	imap_seqset_free(&set);
	return true;
}
