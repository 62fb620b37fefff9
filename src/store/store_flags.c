/* Flags and keywords with MODSEQ, expunge, and changes since a MODSEQ
 * (CONDSTORE, QRESYNC, JMAP). */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "store/store_int.h"

/* The target of a flag change, as it is before the change. */
struct target {
	long long id;
	uint32_t uid;
	unsigned flags;
	uint64_t modseq;
};

static int load_targets(struct store_mailbox *mb, const struct store_uidset *set,
			const char *extra_where, struct target **t_r, size_t *n_r, char **error_r)
{
	struct store_uid_range *ranges;
	size_t nr, n = 0;
	struct target *t = NULL;
	uidset_normalize(set, &ranges, &nr);
	char *sql = xasprintf("SELECT id, uid, flags, modseq FROM messages WHERE mailbox_id = ? "
			      "AND uid BETWEEN ? AND ? %s ORDER BY uid", extra_where);
	int r = 0;
	for (size_t i = 0; i < nr && r == 0; i++) {
		sqlite3_stmt *q;
		r = db_prepare(mb->user->db, sql, DB_ARGS(db_int(mb->id), db_int(ranges[i].lo),
							  db_int(ranges[i].hi)), &q, error_r);
		if (r < 0)
			break;
		while ((r = db_step(q, error_r)) == 1) {
			t = xrealloc(t, (n + 1) * sizeof *t);
			t[n++] = (struct target){
				.id = sqlite3_column_int64(q, 0),
				.uid = (uint32_t)sqlite3_column_int64(q, 1),
				.flags = (unsigned)sqlite3_column_int64(q, 2),
				.modseq = (uint64_t)sqlite3_column_int64(q, 3),
			};
		}
		sqlite3_finalize(q);
	}
	free(sql);
	free(ranges);
	*t_r = t;
	*n_r = n;
	return r;
}

/* 1 when the mailbox still exists, 0 not, -1 error. */
static int mailbox_exists(struct store_mailbox *mb, char **error_r)
{
	long long one;
	return db_get_int(mb->user->db, "SELECT 1 FROM mailboxes WHERE id = ?",
			  DB_ARGS(db_int(mb->id)), &one, error_r);
}

static int gone(struct store_user *u, char **error_r)
{
	return store_fail(u, STORE_ERR_EXPUNGED, error_r, "the mailbox has been deleted");
}

static int abort_tx(struct store_user *u, char **error_r)
{
	if (u->last_error == STORE_ERR_NONE)
		store_db_fail(u, error_r);
	db_rollback(u->db);
	return -1;
}

/* ---- flags ---- */

/* The keyword ids of a message, sorted. */
static int current_keywords(struct store_user *u, long long message_id, long long **ids_r,
			    size_t *n_r, char **error_r)
{
	sqlite3_stmt *q;
	*ids_r = NULL;
	*n_r = 0;
	if (db_prepare(u->db, "SELECT keyword_id FROM message_keywords WHERE message_id = ? "
		       "ORDER BY keyword_id", DB_ARGS(db_int(message_id)), &q, error_r) < 0)
		return -1;
	int r;
	while ((r = db_step(q, error_r)) == 1) {
		*ids_r = xrealloc(*ids_r, (*n_r + 1) * sizeof **ids_r);
		(*ids_r)[(*n_r)++] = sqlite3_column_int64(q, 0);
	}
	sqlite3_finalize(q);
	return r;
}

static bool id_in(const long long *ids, size_t n, long long id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* Apply the keyword part of change to one message; *changed_r when it did. */
static int apply_keywords(struct store_user *u, const struct target *t,
			  const struct store_flag_change *c, const long long *kw, size_t nkw,
			  bool *changed_r, char **error_r)
{
	long long *cur;
	size_t ncur;
	if (current_keywords(u, t->id, &cur, &ncur, error_r) < 0)
		return -1;
	int rc = 0;
	/* remove: REMOVE drops the listed, REPLACE the unlisted */
	for (size_t i = 0; i < ncur && rc == 0; i++) {
		bool listed = id_in(kw, nkw, cur[i]);
		if ((c->op == STORE_FLAGS_REMOVE && listed) ||
		    (c->op == STORE_FLAGS_REPLACE && !listed)) {
			*changed_r = true;
			rc = db_run(u->db, "DELETE FROM message_keywords WHERE message_id = ? AND "
				    "keyword_id = ?", DB_ARGS(db_int(t->id), db_int(cur[i])), NULL,
				    error_r);
		}
	}
	for (size_t i = 0; i < nkw && rc == 0 && c->op != STORE_FLAGS_REMOVE; i++) {
		if (id_in(cur, ncur, kw[i]))
			continue;
		*changed_r = true;
		rc = db_run(u->db, "INSERT OR IGNORE INTO message_keywords (message_id, keyword_id) "
			    "VALUES (?, ?)", DB_ARGS(db_int(t->id), db_int(kw[i])), NULL, error_r);
	}
	free(cur);
	return rc;
}

/* Keyword ids for a change: created for ADD/REPLACE, looked up for REMOVE
 * (removing an unknown keyword creates nothing). */
static int change_keywords(struct store_user *u, const struct store_flag_change *c,
			   long long **kw_r, size_t *n_r, char **error_r)
{
	if (c->op != STORE_FLAGS_REMOVE) {
		*n_r = c->n_keywords;
		return keywords_ids(u, c->keywords, c->n_keywords, kw_r, error_r);
	}
	long long *kw = xcalloc(c->n_keywords ? c->n_keywords : 1, sizeof *kw);
	size_t n = 0;
	for (size_t i = 0; i < c->n_keywords; i++) {
		int r = db_get_int(u->db, "SELECT id FROM keywords WHERE name = ?",
				   DB_ARGS(db_text(c->keywords[i])), &kw[n], error_r);
		if (r < 0) {
			free(kw);
			return -1;
		}
		n += (size_t)r;
	}
	*kw_r = kw;
	*n_r = n;
	return 0;
}

static int set_flags_tx(struct store_mailbox *mb, const struct store_uidset *set,
			const struct store_flag_change *c, struct store_uid_list *changed,
			struct store_uid_list *modified_r, char **error_r)
{
	struct store_user *u = mb->user;
	struct target *t = NULL;
	size_t n = 0, nkw = 0;
	long long *kw = NULL;
	uint64_t modseq = 0;
	int rc = mailbox_exists(mb, error_r);
	if (rc == 0)
		return gone(u, error_r);
	if (rc < 0 || change_keywords(u, c, &kw, &nkw, error_r) < 0 ||
	    load_targets(mb, set, "", &t, &n, error_r) < 0) {
		free(kw);
		return -1;
	}
	rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (c->unchangedsince != 0 && t[i].modseq > c->unchangedsince) {
			if (modified_r != NULL)
				uid_list_push(modified_r, t[i].uid);
			continue;
		}
		unsigned nf = c->op == STORE_FLAGS_ADD ? t[i].flags | c->flags
			    : c->op == STORE_FLAGS_REMOVE ? t[i].flags & ~c->flags : c->flags;
		bool ch = nf != t[i].flags;
		rc = apply_keywords(u, &t[i], c, kw, nkw, &ch, error_r);
		if (rc < 0 || !ch)
			continue;
		long long count = 0;
		if (nkw > 0 && c->op != STORE_FLAGS_REMOVE &&
		    db_get_int(u->db, "SELECT COUNT(*) FROM message_keywords WHERE message_id = ?",
			       DB_ARGS(db_int(t[i].id)), &count, error_r) < 0) {
			rc = -1;
			break;
		}
		if (count > STORE_KEYWORDS_MAX) {
			rc = store_fail(u, STORE_ERR_CANNOT, error_r,
					"a message would have more than %d keywords",
					STORE_KEYWORDS_MAX);
			break;
		}
		if (modseq == 0 && (rc = mailbox_next_modseq(mb, &modseq, error_r)) < 0)
			break;
		rc = db_run(u->db, "UPDATE messages SET flags = ?, modseq = ? WHERE id = ?",
			    DB_ARGS(db_int(nf), db_int((long long)modseq), db_int(t[i].id)), NULL,
			    error_r);
		uid_list_push(changed, t[i].uid);
	}
	free(kw);
	free(t);
	return rc;
}

int store_set_flags(struct store_mailbox *mb, const struct store_uidset *set,
		    const struct store_flag_change *change,
		    int (*changed_cb)(void *ctx, const struct store_message *m), void *ctx,
		    struct store_uid_list *modified_r, char **error_r)
{
	struct store_user *u = mb->user;
	u->last_error = STORE_ERR_NONE;
	if ((change->flags & ~STORE_FLAGS_ALL) != 0 || change->n_keywords > STORE_KEYWORDS_MAX)
		return store_fail(u, STORE_ERR_CANNOT, error_r, "invalid flags");
	for (size_t i = 0; i < change->n_keywords; i++)
		if (!store_keyword_valid(change->keywords[i]))
			return store_fail(u, STORE_ERR_CANNOT, error_r, "invalid keyword '%s'",
					  change->keywords[i]);
	struct store_uid_list changed = { 0 };
	if (db_begin(u->db, error_r) < 0)
		return store_db_fail(u, error_r);
	if (set_flags_tx(mb, set, change, &changed, modified_r, error_r) < 0) {
		store_uid_list_free(&changed);
		return abort_tx(u, error_r);
	}
	if (db_commit(u->db, error_r) < 0) {
		store_uid_list_free(&changed);
		u->last_error = STORE_ERR_TEMP;
		return -1;
	}
	int rc = 0;
	if (changed.count > 0) {
		store_notify(u);
		if (changed_cb != NULL) {
			struct store_uid_range *r = xmalloc(changed.count * sizeof *r);
			for (size_t i = 0; i < changed.count; i++)
				r[i] = (struct store_uid_range){ changed.uids[i], changed.uids[i] };
			struct store_uidset cs = { r, changed.count };
			rc = store_fetch(mb, &cs, 0, changed_cb, ctx, error_r);
			free(r);
		}
	}
	store_uid_list_free(&changed);
	return rc;
}

/* ---- expunge ---- */

int store_expunge(struct store_mailbox *mb, const struct store_uidset *set,
		  struct store_uid_list *expunged_r, char **error_r)
{
	struct store_user *u = mb->user;
	struct target *t = NULL;
	size_t n = 0;
	char **unref = NULL;
	size_t n_unref = 0;
	u->last_error = STORE_ERR_NONE;
	if (blob_refs_lock(u->store, false, error_r) < 0) {
		u->last_error = STORE_ERR_INTERNAL;
		return -1;
	}
	int rc = -1;
	if (db_begin(u->db, error_r) < 0) {
		store_db_fail(u, error_r);
		goto out;
	}
	int exists = mailbox_exists(mb, error_r);
	if (exists == 0)
		gone(u, error_r);
	if (exists != 1 || load_targets(mb, set, "AND (flags & 8) != 0", &t, &n, error_r) < 0) {
		abort_tx(u, error_r);
		goto out;
	}
	if (n > 0) {
		long long *ids = xmalloc(n * sizeof *ids);
		uint32_t *uids = xmalloc(n * sizeof *uids);
		for (size_t i = 0; i < n; i++) {
			ids[i] = t[i].id;
			uids[i] = t[i].uid;
		}
		uint64_t modseq;
		rc = mailbox_next_modseq(mb, &modseq, error_r);
		if (rc == 0)
			rc = messages_delete(mb, ids, uids, n, modseq, &unref, &n_unref, error_r);
		free(ids);
		free(uids);
		if (rc < 0) {
			abort_tx(u, error_r);
			goto out;
		}
	}
	if (db_commit(u->db, error_r) < 0) {
		u->last_error = STORE_ERR_TEMP;
		rc = -1;
		goto out;
	}
	rc = 0;
	if (n > 0) {
		store_fault_point("expunge-after-commit");
		char *err = NULL;
		if (blob_unref(u->store, (const char *const *)unref, n_unref, &err) < 0) {
			/* The count stays too high until store check: nothing is lost. */
			log_warn("store", "event=unref_failed user=%lld error=\"%s\"", u->id, err);
			free(err);
		}
		store_notify(u);
		log_debug("store", "event=expunge user=%lld mailbox=%lld messages=%zu", u->id,
			  mb->id, n);
	}
	if (expunged_r != NULL)
		for (size_t i = 0; i < n; i++)
			uid_list_push(expunged_r, t[i].uid);
out:
	blob_refs_unlock(u->store);
	for (size_t i = 0; i < n_unref; i++)
		free(unref[i]);
	free(unref);
	free(t);
	return rc;
}

/* ---- changes since a MODSEQ ---- */

/* The UIDs sql (?1 mailbox, ?2 modseq) returns, pushed onto list. */
static int collect_uids(struct store_mailbox *mb, const char *sql, uint64_t modseq,
			struct store_uid_list *list, char **error_r)
{
	sqlite3_stmt *q;
	if (db_prepare(mb->user->db, sql, DB_ARGS(db_int(mb->id), db_int((long long)modseq)), &q,
		       error_r) < 0)
		return -1;
	int r;
	while ((r = db_step(q, error_r)) == 1)
		uid_list_push(list, (uint32_t)sqlite3_column_int64(q, 0));
	sqlite3_finalize(q);
	return r;
}

int store_changes_since(struct store_mailbox *mb, uint64_t modseq,
			int (*cb)(void *ctx, const struct store_message *m), void *ctx,
			struct store_uid_list *vanished_r, char **error_r)
{
	struct store_user *u = mb->user;
	struct store_uid_list changed = { 0 };
	u->last_error = STORE_ERR_NONE;
	/* One read transaction: the changed and the vanished from one snapshot. */
	if (db_run(u->db, "BEGIN", DB_NO_ARGS, NULL, error_r) < 0)
		return store_db_fail(u, error_r);
	int rc = mailbox_exists(mb, error_r);
	if (rc == 0)
		rc = gone(u, error_r);
	else if (rc == 1)
		rc = 0;
	if (rc == 0 && vanished_r != NULL)
		rc = collect_uids(mb, "SELECT uid FROM expunged WHERE mailbox_id = ?1 AND "
				  "modseq > ?2 ORDER BY uid", modseq, vanished_r, error_r);
	if (rc == 0)
		rc = collect_uids(mb, "SELECT uid FROM messages WHERE mailbox_id = ?1 AND "
				  "modseq > ?2 ORDER BY uid", modseq, &changed, error_r);
	if (rc == 0 && changed.count > 0 && cb != NULL) {
		struct store_uid_range *r = xmalloc(changed.count * sizeof *r);
		for (size_t i = 0; i < changed.count; i++)
			r[i] = (struct store_uid_range){ changed.uids[i], changed.uids[i] };
		struct store_uidset cs = { r, changed.count };
		rc = store_fetch(mb, &cs, 0, cb, ctx, error_r);
		free(r);
	}
	store_uid_list_free(&changed);
	if (rc < 0 && u->last_error == STORE_ERR_NONE)
		store_db_fail(u, error_r);
	db_rollback(u->db);   /* ends the read transaction */
	return rc;
}
