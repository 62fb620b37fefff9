/* Messages: append, copy, move, and the row-level helpers they share with
 * expunge and mailbox deletion. UID and MODSEQ rules: docs/storage.md. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "store/store_int.h"

/* ---- small helpers ---- */

void uid_list_push(struct store_uid_list *l, uint32_t uid)
{
	if (l->count == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->uids = xrealloc(l->uids, l->cap * sizeof *l->uids);
	}
	l->uids[l->count++] = uid;
}

void store_uid_list_free(struct store_uid_list *list)
{
	free(list->uids);
	memset(list, 0, sizeof *list);
}

void store_copy_result_free(struct store_copy_result *r)
{
	store_uid_list_free(&r->src_uids);
	store_uid_list_free(&r->dst_uids);
}

static int range_cmp(const void *a, const void *b)
{
	const struct store_uid_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

void uidset_normalize(const struct store_uidset *in, struct store_uid_range **ranges_r,
		      size_t *count_r)
{
	if (in == NULL) {
		*ranges_r = xmalloc(sizeof **ranges_r);
		(*ranges_r)[0] = (struct store_uid_range){ 1, UINT32_MAX };
		*count_r = 1;
		return;
	}
	struct store_uid_range *r = xmalloc((in->count ? in->count : 1) * sizeof *r);
	size_t n = 0;
	for (size_t i = 0; i < in->count; i++) {
		uint32_t lo = in->ranges[i].lo, hi = in->ranges[i].hi;
		if (lo > hi) {   /* IMAP allows "5:2" */
			uint32_t t = lo;
			lo = hi;
			hi = t;
		}
		r[n++] = (struct store_uid_range){ lo, hi };
	}
	qsort(r, n, sizeof *r, range_cmp);
	size_t out = 0;
	for (size_t i = 0; i < n; i++) {
		if (out > 0 && (r[i].lo <= r[out - 1].hi ||
				(r[out - 1].hi != UINT32_MAX && r[i].lo == r[out - 1].hi + 1))) {
			if (r[i].hi > r[out - 1].hi)
				r[out - 1].hi = r[i].hi;
		} else {
			r[out++] = r[i];
		}
	}
	*ranges_r = r;
	*count_r = out;
}

bool store_keyword_valid(const char *kw)
{
	size_t len = strlen(kw);
	if (len == 0 || len > 250 || kw[0] == '\\')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)kw[i];
		/* ATOM-CHAR: no atom-specials, no CTL, 7-bit */
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

int keywords_ids(struct store_user *u, const char *const *names, size_t n, long long **ids_r,
		 char **error_r)
{
	long long *ids = xcalloc(n ? n : 1, sizeof *ids);
	for (size_t i = 0; i < n; i++) {
		if (db_run(u->db, "INSERT OR IGNORE INTO keywords (name) VALUES (?)",
			   DB_ARGS(db_text(names[i])), NULL, error_r) < 0 ||
		    db_get_int(u->db, "SELECT id FROM keywords WHERE name = ?",
			       DB_ARGS(db_text(names[i])), &ids[i], error_r) != 1) {
			free(ids);
			return -1;
		}
	}
	*ids_r = ids;
	return 0;
}

static int check_flags(struct store_user *u, unsigned flags, const char *const *keywords,
		       size_t n, char **error_r)
{
	if ((flags & ~STORE_FLAGS_ALL) != 0)
		return store_fail(u, STORE_ERR_CANNOT, error_r, "unknown system flag");
	if (n > STORE_KEYWORDS_MAX)
		return store_fail(u, STORE_ERR_CANNOT, error_r, "more than %d keywords",
				  STORE_KEYWORDS_MAX);
	for (size_t i = 0; i < n; i++)
		if (!store_keyword_valid(keywords[i]))
			return store_fail(u, STORE_ERR_CANNOT, error_r, "invalid keyword '%s'",
					  keywords[i]);
	return 0;
}

int mailbox_next_modseq(struct store_mailbox *mb, uint64_t *modseq_r, char **error_r)
{
	long long v = 0;
	int r = db_get_int(mb->user->db,
			   "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = ? "
			   "RETURNING highestmodseq", DB_ARGS(db_int(mb->id)), &v, error_r);
	if (r == 0)
		return store_fail(mb->user, STORE_ERR_EXPUNGED, error_r,
				  "the mailbox has been deleted");
	if (r < 0)
		return -1;
	*modseq_r = (uint64_t)v;
	return 0;
}

static int mailbox_uidnext(struct store_mailbox *mb, uint32_t *uidnext_r, char **error_r)
{
	long long v = 0;
	int r = db_get_int(mb->user->db, "SELECT uidnext FROM mailboxes WHERE id = ?",
			   DB_ARGS(db_int(mb->id)), &v, error_r);
	if (r == 0)
		return store_fail(mb->user, STORE_ERR_EXPUNGED, error_r,
				  "the mailbox has been deleted");
	if (r < 0)
		return -1;
	*uidnext_r = (uint32_t)v;
	return 0;
}

static int quota_add(struct store_user *u, long long bytes, long long messages, char **error_r)
{
	if (db_run(u->db, "UPDATE meta SET value = value + ? WHERE key = 'quota_bytes'",
		   DB_ARGS(db_int(bytes)), NULL, error_r) < 0 ||
	    db_run(u->db, "UPDATE meta SET value = value + ? WHERE key = 'quota_messages'",
		   DB_ARGS(db_int(messages)), NULL, error_r) < 0)
		return -1;
	return 0;
}

static int quota_check(struct store_user *u, long long quota_bytes, uint64_t adding,
		       char **error_r)
{
	if (quota_bytes <= 0)
		return 0;
	long long used = 0;
	if (db_get_int(u->db, "SELECT value FROM meta WHERE key = 'quota_bytes'", DB_NO_ARGS,
		       &used, error_r) < 0)
		return -1;
	if ((uint64_t)used + adding > (uint64_t)quota_bytes)
		return store_fail(u, STORE_ERR_OVERQUOTA, error_r,
				  "quota exceeded (%lld of %lld bytes used, %llu more)", used,
				  quota_bytes, (unsigned long long)adding);
	return 0;
}

/* Roll back (classifying a database error first), then -1. */
static int abort_tx(struct store_user *u, char **error_r)
{
	if (u->last_error == STORE_ERR_NONE)
		store_db_fail(u, error_r);
	db_rollback(u->db);
	return -1;
}

/* ---- append ---- */

/* The contents row for (blob, prefix): one more reference to an existing
 * one, or a new row (with its search text, from meta: of prefix + blob).
 * *new_blob_r when this index had no row for the blob yet: it takes a
 * reference to it in blobs.db. */
static int content_get(struct store_user *u, const struct store_append *msg,
		       const struct store_meta *m, long long *id_r, bool *new_blob_r,
		       char **error_r)
{
	struct store_blob *b = msg->blob;
	const char *id = store_blob_id(b);
	const char *prefix = msg->prefix_len > 0 ? msg->prefix : "";
	sqlite3_stmt *st;
	*new_blob_r = false;
	if (db_prepare(u->db, "UPDATE contents SET refs = refs + 1 WHERE blob = ? AND prefix = ? "
		       "RETURNING id", DB_ARGS(db_text(id)), &st, error_r) < 0)
		return -1;
	int r = store_db_bind_blob(st, 2, prefix, msg->prefix_len, error_r);
	if (r == 0)
		r = db_step(st, error_r);
	if (r == 1)
		*id_r = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (r != 0)
		return r < 0 ? -1 : 0;
	long long others = 0;
	if (db_get_int(u->db, "SELECT COUNT(*) FROM contents WHERE blob = ?", DB_ARGS(db_text(id)),
		       &others, error_r) < 0)
		return -1;
	*new_blob_r = others == 0;
	if (db_prepare(u->db,
		       "INSERT INTO contents (blob, size, refs, envelope, bodystructure, body,"
		       "  hdr_from, hdr_to, hdr_cc, hdr_bcc, hdr_subject, hdr_message_id, sent_date,"
		       "  header, prefix) VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		       DB_ARGS(db_text(id),
			       db_int((long long)(store_blob_size(b) + msg->prefix_len)),
			       db_text(m->envelope), db_text(m->bodystructure), db_text(m->body),
			       db_text(m->from), db_text(m->to), db_text(m->cc), db_text(m->bcc),
			       db_text(m->subject), db_text(m->message_id),
			       db_int((long long)m->sent_date)),
		       &st, error_r) < 0)
		return -1;
	r = store_db_bind_blob(st, 13, m->header_cached ? (m->header.data ? m->header.data : "")
							: NULL,
			       m->header.len, error_r);
	if (r == 0)
		r = store_db_bind_blob(st, 14, prefix, msg->prefix_len, error_r);
	if (r == 0)
		r = db_step(st, error_r);
	sqlite3_finalize(st);
	if (r < 0)
		return -1;
	*id_r = sqlite3_last_insert_rowid(u->db);
	return fts_insert(u, *id_r, m, error_r);
}

/* store_append.once: whether this account holds (blob, prefix) already,
 * in any mailbox. 1 yes, 0 no, -1 error. */
static int already_delivered(struct store_user *u, const struct store_append *msg,
			     char **error_r)
{
	sqlite3_stmt *st;
	if (db_prepare(u->db, "SELECT 1 FROM contents c WHERE c.blob = ? AND c.prefix = ? AND "
		       "EXISTS (SELECT 1 FROM messages m WHERE m.content_id = c.id)",
		       DB_ARGS(db_text(store_blob_id(msg->blob))), &st, error_r) < 0)
		return -1;
	int r = store_db_bind_blob(st, 2, msg->prefix_len > 0 ? msg->prefix : "", msg->prefix_len,
				   error_r);
	if (r == 0)
		r = db_step(st, error_r);
	sqlite3_finalize(st);
	return r;
}

static int insert_keywords(struct store_user *u, long long message_id,
			   const char *const *names, size_t n, char **error_r)
{
	long long *kw;
	if (n == 0)
		return 0;
	if (keywords_ids(u, names, n, &kw, error_r) < 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = db_run(u->db, "INSERT OR IGNORE INTO message_keywords (message_id, keyword_id) "
			    "VALUES (?, ?)", DB_ARGS(db_int(message_id), db_int(kw[i])), NULL,
			    error_r);
	free(kw);
	return rc;
}

/* One message row (write transaction open). */
static int append_one(struct store_mailbox *mb, const struct store_append_uid *a,
		      const struct store_meta *meta, uint64_t modseq, uint32_t *uidnext,
		      const char ***new_blobs, size_t *n_new, char **error_r)
{
	struct store_user *u = mb->user;
	const struct store_append *msg = a->msg;
	uint32_t uid = a->uid != 0 ? a->uid : *uidnext;
	if (uid < *uidnext)
		return store_fail(u, STORE_ERR_CANNOT, error_r, "UID %u is below UIDNEXT %u", uid,
				  *uidnext);
	if (uid == UINT32_MAX)
		return store_fail(u, STORE_ERR_CANNOT, error_r, "the mailbox has run out of UIDs");
	long long content_id;
	bool is_new;
	if (content_get(u, msg, meta, &content_id, &is_new, error_r) < 0)
		return -1;
	if (is_new) {
		*new_blobs = xrealloc(*new_blobs, (*n_new + 1) * sizeof **new_blobs);
		(*new_blobs)[(*n_new)++] = store_blob_id(msg->blob);
	}
	time_t now = time(NULL);
	if (db_run(u->db,
		   "INSERT INTO messages (mailbox_id, uid, content_id, flags, modseq, internaldate,"
		   "  savedate) VALUES (?, ?, ?, ?, ?, ?, ?)",
		   DB_ARGS(db_int(mb->id), db_int(uid), db_int(content_id), db_int(msg->flags),
			   db_int((long long)modseq),
			   db_int((long long)(msg->internaldate != 0 ? msg->internaldate : now)),
			   db_int((long long)now)), NULL, error_r) < 0 ||
	    insert_keywords(u, sqlite3_last_insert_rowid(u->db), msg->keywords, msg->n_keywords,
			    error_r) < 0 ||
	    quota_add(u, (long long)(store_blob_size(msg->blob) + msg->prefix_len), 1,
		      error_r) < 0)
		return -1;
	*uidnext = uid + 1;
	return 0;
}

int store_append_uids(struct store_mailbox *mb, const struct store_append_uid *msgs, size_t n,
		      long long quota_bytes, uint32_t *uids_r, char **error_r)
{
	struct store_user *u = mb->user;
	u->last_error = STORE_ERR_NONE;
	uint64_t total = 0;
	if (n == 0)
		return 0;
	/* Parsed before taking any lock: the blob's cached metadata, or that
	 * of prefix + blob in own[i]. */
	const struct store_meta **meta = xcalloc(n, sizeof *meta);
	struct store_meta *own = xcalloc(n, sizeof *own);
	const char **new_blobs = NULL;
	size_t n_new = 0;
	bool locked = false;
	int rc = -1;
	for (size_t i = 0; i < n; i++) {
		const struct store_append *m = msgs[i].msg;
		if (check_flags(u, m->flags, m->keywords, m->n_keywords, error_r) < 0)
			goto out;
		total += store_blob_size(m->blob) + m->prefix_len;
		if (store_message_meta(m->blob, m->prefix, m->prefix_len, &own[i], &meta[i],
				       error_r) < 0) {
			u->last_error = STORE_ERR_TEMP;   /* collected meanwhile: write it again */
			goto out;
		}
	}
	if (blob_refs_lock(u->store, false, error_r) < 0) {
		u->last_error = STORE_ERR_INTERNAL;
		goto out;
	}
	locked = true;
	uint64_t modseq;
	uint32_t uidnext = 0;
	if (db_begin(u->db, error_r) < 0) {
		store_db_fail(u, error_r);
		goto out;
	}
	/* A delivery retried after a crash: what is there already is skipped. */
	bool *skip = xcalloc(n, sizeof *skip);
	size_t n_skip = 0;
	for (size_t i = 0; i < n; i++) {
		if (!msgs[i].msg->once)
			continue;
		int r = already_delivered(u, msgs[i].msg, error_r);
		if (r < 0) {
			free(skip);
			goto rollback;
		}
		if (r == 1) {
			skip[i] = true;
			n_skip++;
			total -= store_blob_size(msgs[i].msg->blob) + msgs[i].msg->prefix_len;
		}
	}
	if (n_skip == n) {
		free(skip);
		db_rollback(u->db);
		if (uids_r != NULL)
			memset(uids_r, 0, n * sizeof *uids_r);
		log_debug("store", "event=append user=%lld mailbox=%lld messages=0 skipped=%zu",
			  u->id, mb->id, n_skip);
		rc = 0;
		goto out;
	}
	if (mailbox_uidnext(mb, &uidnext, error_r) < 0 ||
	    quota_check(u, quota_bytes, total, error_r) < 0 ||
	    mailbox_next_modseq(mb, &modseq, error_r) < 0) {
		free(skip);
		goto rollback;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t before = uidnext;
		if (skip[i]) {
			if (uids_r != NULL)
				uids_r[i] = 0;
			continue;
		}
		if (append_one(mb, &msgs[i], meta[i], modseq, &uidnext, &new_blobs, &n_new,
			       error_r) < 0) {
			free(skip);
			goto rollback;
		}
		if (uids_r != NULL)
			uids_r[i] = msgs[i].uid != 0 ? msgs[i].uid : before;
	}
	free(skip);
	if (db_run(u->db, "UPDATE mailboxes SET uidnext = ? WHERE id = ?",
		   DB_ARGS(db_int(uidnext), db_int(mb->id)), NULL, error_r) < 0)
		goto rollback;
	/* The blobs' reference counts go up before the index refers to them. */
	if (blob_ref(u->store, new_blobs, n_new, error_r) < 0) {
		u->last_error = STORE_ERR_TEMP;
		goto rollback;
	}
	store_fault_point("append-after-ref");
	if (db_commit(u->db, error_r) < 0) {
		char *err = NULL;
		if (blob_unref(u->store, new_blobs, n_new, &err) < 0)
			free(err);   /* too high a count: store check puts it right */
		u->last_error = STORE_ERR_TEMP;
		goto out;
	}
	store_fault_point("append-after-commit");
	store_notify(u);
	log_debug("store", "event=append user=%lld mailbox=%lld messages=%zu uidnext=%u", u->id,
		  mb->id, n, uidnext);
	rc = 0;
	goto out;
rollback:
	abort_tx(u, error_r);
out:
	if (locked)
		blob_refs_unlock(u->store);
	free(new_blobs);
	for (size_t i = 0; i < n; i++)
		if (meta[i] == &own[i])
			store_meta_clear(&own[i]);
	free(own);
	free(meta);
	return rc;
}

int store_append(struct store_mailbox *mb, const struct store_append *msgs, size_t n,
		 long long quota_bytes, uint32_t *uids_r, char **error_r)
{
	struct store_append_uid *a = xcalloc(n ? n : 1, sizeof *a);
	for (size_t i = 0; i < n; i++)
		a[i].msg = &msgs[i];
	int rc = store_append_uids(mb, a, n, quota_bytes, uids_r, error_r);
	free(a);
	return rc;
}

int mailbox_adopt_uidvalidity(struct store_mailbox *mb, uint32_t uidvalidity, char **error_r)
{
	struct store_user *u = mb->user;
	int changes = 0;
	if (uidvalidity == 0)
		return 1;
	if (db_run(u->db,
		   "UPDATE mailboxes SET uidvalidity = ?1 WHERE id = ?2 AND uidnext = 1 "
		   "AND NOT EXISTS (SELECT 1 FROM expunged WHERE mailbox_id = ?2)",
		   DB_ARGS(db_int(uidvalidity), db_int(mb->id)), &changes, error_r) < 0)
		return store_db_fail(u, error_r);
	if (changes == 0)
		return 1;
	mb->uidvalidity = uidvalidity;
	return 0;
}

int mailbox_raise_uidnext(struct store_mailbox *mb, uint32_t uidnext, char **error_r)
{
	if (db_run(mb->user->db, "UPDATE mailboxes SET uidnext = MAX(uidnext, ?) WHERE id = ?",
		   DB_ARGS(db_int(uidnext), db_int(mb->id)), NULL, error_r) < 0)
		return store_db_fail(mb->user, error_r);
	return 0;
}

/* ---- deleting rows (expunge, move, mailbox deletion) ---- */

int messages_delete(struct store_mailbox *mb, const long long *ids, const uint32_t *uids,
		    size_t n, uint64_t modseq, char ***unref, size_t *n_unref, char **error_r)
{
	struct store_user *u = mb->user;
	long long bytes = 0;
	for (size_t i = 0; i < n; i++) {
		long long content_id = 0, refs = 0, size = 0;
		if (db_get_int(u->db, "DELETE FROM messages WHERE id = ? RETURNING content_id",
			       DB_ARGS(db_int(ids[i])), &content_id, error_r) != 1)
			return -1;
		if (modseq != 0 &&
		    db_run(u->db, "INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq) "
			   "VALUES (?, ?, ?)", DB_ARGS(db_int(mb->id), db_int(uids[i]),
						       db_int((long long)modseq)), NULL, error_r) < 0)
			return -1;
		if (db_get_int(u->db, "UPDATE contents SET refs = refs - 1 WHERE id = ? "
			       "RETURNING refs", DB_ARGS(db_int(content_id)), &refs, error_r) != 1 ||
		    db_get_int(u->db, "SELECT size FROM contents WHERE id = ?",
			       DB_ARGS(db_int(content_id)), &size, error_r) != 1)
			return -1;
		bytes += size;
		if (refs > 0)
			continue;
		sqlite3_stmt *q;
		if (db_prepare(u->db, "DELETE FROM contents WHERE id = ? RETURNING blob",
			       DB_ARGS(db_int(content_id)), &q, error_r) < 0)
			return -1;
		int r = db_step(q, error_r);
		char *blob = r == 1 ? xstrdup(store_db_text(q, 0)) : NULL;
		sqlite3_finalize(q);
		/* The index holds the blob until its last row (any prefix) goes. */
		long long others = 0;
		if (r == 1 && db_get_int(u->db, "SELECT COUNT(*) FROM contents WHERE blob = ?",
					 DB_ARGS(db_text(blob)), &others, error_r) < 0)
			r = -1;
		if (r == 1 && others == 0) {
			*unref = xrealloc(*unref, (*n_unref + 1) * sizeof **unref);
			(*unref)[(*n_unref)++] = blob;
			blob = NULL;
		}
		free(blob);
		if (r != 1 || fts_delete(u, content_id, error_r) < 0)
			return -1;
	}
	return quota_add(u, -bytes, -(long long)n, error_r);
}

/* ---- copy and move ---- */

struct src_msg {
	long long id, content_id, flags, internaldate, size;
	uint32_t uid;
};

static int load_sources(struct store_mailbox *src, const struct store_uidset *set,
			struct src_msg **msgs_r, size_t *n_r, char **error_r)
{
	struct store_uid_range *ranges;
	size_t nr, n = 0;
	struct src_msg *msgs = NULL;
	uidset_normalize(set, &ranges, &nr);
	int r = 0;
	for (size_t i = 0; i < nr && r == 0; i++) {
		sqlite3_stmt *q;
		r = db_prepare(src->user->db,
			       "SELECT m.id, m.uid, m.content_id, m.flags, m.internaldate, c.size "
			       "FROM messages m JOIN contents c ON c.id = m.content_id "
			       "WHERE m.mailbox_id = ? AND m.uid BETWEEN ? AND ? ORDER BY m.uid",
			       DB_ARGS(db_int(src->id), db_int(ranges[i].lo), db_int(ranges[i].hi)),
			       &q, error_r);
		if (r < 0)
			break;
		while ((r = db_step(q, error_r)) == 1) {
			msgs = xrealloc(msgs, (n + 1) * sizeof *msgs);
			msgs[n++] = (struct src_msg){
				.id = sqlite3_column_int64(q, 0),
				.uid = (uint32_t)sqlite3_column_int64(q, 1),
				.content_id = sqlite3_column_int64(q, 2),
				.flags = sqlite3_column_int64(q, 3),
				.internaldate = sqlite3_column_int64(q, 4),
				.size = sqlite3_column_int64(q, 5),
			};
		}
		sqlite3_finalize(q);
	}
	free(ranges);
	*msgs_r = msgs;
	*n_r = n;
	return r;
}

static int copy_rows(struct store_mailbox *dst, const struct src_msg *msgs, size_t n,
		     struct store_copy_result *res, char **error_r)
{
	struct store_user *u = dst->user;
	uint32_t uidnext;
	uint64_t modseq;
	if (mailbox_uidnext(dst, &uidnext, error_r) < 0 ||
	    mailbox_next_modseq(dst, &modseq, error_r) < 0)
		return -1;
	if ((uint64_t)uidnext + n >= UINT32_MAX)
		return store_fail(u, STORE_ERR_CANNOT, error_r, "the mailbox has run out of UIDs");
	long long now = (long long)time(NULL), bytes = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t uid = uidnext++;
		if (db_run(u->db,
			   "INSERT INTO messages (mailbox_id, uid, content_id, flags, modseq,"
			   "  internaldate, savedate) VALUES (?, ?, ?, ?, ?, ?, ?)",
			   DB_ARGS(db_int(dst->id), db_int(uid), db_int(msgs[i].content_id),
				   db_int(msgs[i].flags), db_int((long long)modseq),
				   db_int(msgs[i].internaldate), db_int(now)), NULL, error_r) < 0 ||
		    db_run(u->db,
			   "INSERT INTO message_keywords (message_id, keyword_id) "
			   "SELECT ?, keyword_id FROM message_keywords WHERE message_id = ?",
			   DB_ARGS(db_int(sqlite3_last_insert_rowid(u->db)), db_int(msgs[i].id)),
			   NULL, error_r) < 0 ||
		    db_run(u->db, "UPDATE contents SET refs = refs + 1 WHERE id = ?",
			   DB_ARGS(db_int(msgs[i].content_id)), NULL, error_r) < 0)
			return -1;
		bytes += msgs[i].size;
		uid_list_push(&res->src_uids, msgs[i].uid);
		uid_list_push(&res->dst_uids, uid);
	}
	res->uidvalidity = dst->uidvalidity;
	if (db_run(u->db, "UPDATE mailboxes SET uidnext = ? WHERE id = ?",
		   DB_ARGS(db_int(uidnext), db_int(dst->id)), NULL, error_r) < 0)
		return -1;
	return quota_add(u, bytes, (long long)n, error_r);
}

static int copy_or_move(struct store_mailbox *src, const struct store_uidset *set,
			struct store_mailbox *dst, long long quota_bytes, bool move,
			struct store_copy_result *res, char **error_r)
{
	struct store_user *u = src->user;
	memset(res, 0, sizeof *res);
	res->uidvalidity = dst->uidvalidity;
	u->last_error = STORE_ERR_NONE;
	if (dst->user != u)
		return store_fail(u, STORE_ERR_CANNOT, error_r, "copy between users");
	struct src_msg *msgs = NULL;
	size_t n = 0;
	char **unref = NULL;
	size_t n_unref = 0;
	if (db_begin(u->db, error_r) < 0)
		return store_db_fail(u, error_r);
	uint64_t total = 0, modseq;
	int rc = load_sources(src, set, &msgs, &n, error_r);
	for (size_t i = 0; i < n; i++)
		total += (uint64_t)msgs[i].size;
	if (rc < 0 || (!move && quota_check(u, quota_bytes, total, error_r) < 0))
		goto fail;
	if (n == 0) {
		/* Nothing to do; still tell a vanished source apart. */
		long long exists = 0;
		if (db_get_int(u->db, "SELECT COUNT(*) FROM mailboxes WHERE id IN (?, ?)",
			       DB_ARGS(db_int(src->id), db_int(dst->id)), &exists, error_r) < 0)
			goto fail;
		db_rollback(u->db);
		free(msgs);
		if (exists < (src->id == dst->id ? 1 : 2))
			return store_fail(u, STORE_ERR_EXPUNGED, error_r, "the mailbox has been deleted");
		return 0;
	}
	if (copy_rows(dst, msgs, n, res, error_r) < 0)
		goto fail;
	if (move) {
		long long *ids = xmalloc(n * sizeof *ids);
		uint32_t *uids = xmalloc(n * sizeof *uids);
		for (size_t i = 0; i < n; i++) {
			ids[i] = msgs[i].id;
			uids[i] = msgs[i].uid;
		}
		rc = mailbox_next_modseq(src, &modseq, error_r);
		if (rc == 0)
			rc = messages_delete(src, ids, uids, n, modseq, &unref, &n_unref, error_r);
		free(ids);
		free(uids);
		if (rc < 0)
			goto fail;
	}
	free(msgs);
	if (db_commit(u->db, error_r) < 0) {
		store_copy_result_free(res);
		u->last_error = STORE_ERR_TEMP;
		return -1;
	}
	/* A move adds a reference before it drops one: nothing to unref. */
	for (size_t i = 0; i < n_unref; i++)
		free(unref[i]);
	free(unref);
	store_notify(u);
	return 0;
fail:
	abort_tx(u, error_r);
	free(msgs);
	for (size_t i = 0; i < n_unref; i++)
		free(unref[i]);
	free(unref);
	store_copy_result_free(res);
	return -1;
}

int store_copy(struct store_mailbox *src, const struct store_uidset *set,
	       struct store_mailbox *dst, long long quota_bytes,
	       struct store_copy_result *result_r, char **error_r)
{
	return copy_or_move(src, set, dst, quota_bytes, false, result_r, error_r);
}

int store_move(struct store_mailbox *src, const struct store_uidset *set,
	       struct store_mailbox *dst, struct store_copy_result *result_r, char **error_r)
{
	return copy_or_move(src, set, dst, 0, true, result_r, error_r);
}
