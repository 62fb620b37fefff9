/* Reading messages' metadata from the index (FETCH never opens a blob for
 * anything but body sections). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"
#include "store/store_int.h"

/* Above this many ranges, one query over the whole span filtered here. */
#define FETCH_RANGE_QUERIES 16

static bool uid_in(const struct store_uid_range *r, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (uid < r[mid].lo)
			hi = mid;
		else if (uid > r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static int kw_cmp(const void *a, const void *b)
{
	return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

static const char *opt_text(sqlite3_stmt *q, int col)
{
	return sqlite3_column_type(q, col) == SQLITE_NULL ? NULL : store_db_text(q, col);
}

/* Column layout of the fetch query; the contents columns (C_SIZE on) are
 * there only when needs_contents(). */
enum {
	C_UID, C_MODSEQ, C_FLAGS, C_INTERNALDATE, C_SAVEDATE, C_SIZE, C_BLOB, C_PREFIX,
	C_ENVELOPE, C_BODYSTRUCTURE, C_BODY, C_HEADER, C_FROM, C_TO, C_CC, C_BCC, C_SUBJECT,
	C_MESSAGE_ID, C_SENT_DATE,
};

#define FETCH_CACHED (STORE_FETCH_ENVELOPE | STORE_FETCH_BODYSTRUCTURE | STORE_FETCH_BODY | \
		      STORE_FETCH_HEADER | STORE_FETCH_SEARCH)

/* Whether the query joins contents: for size, blob id and prefix unless
 * the caller said it needs none of them, and for any cached field. The
 * contents rows are wide (the cached header and structures, often a page
 * each), so reading them is most of the cost of a FLAGS-only fetch. */
static bool needs_contents(unsigned what)
{
	return !(what & STORE_FETCH_NO_CONTENT) || (what & FETCH_CACHED) != 0;
}

static char *fetch_sql(unsigned what)
{
	if (!needs_contents(what))
		return xstrdup("SELECT m.uid, m.modseq, m.flags, m.internaldate, m.savedate "
			       "FROM messages m "
			       "WHERE m.mailbox_id = ?1 AND m.uid BETWEEN ?2 AND ?3 ORDER BY m.uid");
	return xasprintf(
		"SELECT m.uid, m.modseq, m.flags, m.internaldate, m.savedate, c.size, c.blob,"
		"  c.prefix, %s, %s, %s, %s, %s "
		"FROM messages m JOIN contents c ON c.id = m.content_id "
		"WHERE m.mailbox_id = ?1 AND m.uid BETWEEN ?2 AND ?3 ORDER BY m.uid",
		what & STORE_FETCH_ENVELOPE ? "c.envelope" : "NULL",
		what & STORE_FETCH_BODYSTRUCTURE ? "c.bodystructure" : "NULL",
		what & STORE_FETCH_BODY ? "c.body" : "NULL",
		what & STORE_FETCH_HEADER ? "c.header" : "NULL",
		what & STORE_FETCH_SEARCH
			? "c.hdr_from, c.hdr_to, c.hdr_cc, c.hdr_bcc, c.hdr_subject, c.hdr_message_id,"
			  " c.sent_date"
			: "NULL, NULL, NULL, NULL, NULL, NULL, 0");
}

/* ---- keywords: a second cursor over the same UIDs, merged by UID ----
 * One query per range, walked beside the messages (both by ascending UID),
 * instead of a subquery per message; none at all when the user has no
 * keyword on any message, which is the common case. */

#define KEYWORDS_SQL                                                          \
	"SELECT m.uid, k.name FROM messages m"                                \
	" JOIN message_keywords mk ON mk.message_id = m.id"                   \
	" JOIN keywords k ON k.id = mk.keyword_id"                            \
	" WHERE m.mailbox_id = ?1 AND m.uid BETWEEN ?2 AND ?3 ORDER BY m.uid"

struct kw_walk {
	bool probed;
	bool any;                /* the user has keywords on some message */
	sqlite3_stmt *q;
	int state;               /* of q: 1 on a row, 0 done */
	struct buf names;        /* the current message's, each NUL-ended */
};

static void kw_walk_free(struct kw_walk *w)
{
	sqlite3_finalize(w->q);
	w->q = NULL;
	buf_free(&w->names);
}

/* The statement q (prepared for ?1 ?2 ?3) reset to range r. */
static int rebind(sqlite3_stmt *q, const struct store_uid_range *r, char **error_r)
{
	sqlite3_reset(q);
	if (sqlite3_bind_int64(q, 2, r->lo) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 3, r->hi) != SQLITE_OK) {
		*error_r = xasprintf("bind: %s", sqlite3_errmsg(sqlite3_db_handle(q)));
		return -1;
	}
	return 0;
}

/* Position w at the start of range r. Called while the messages' query is
 * on its first row, so that w reads the same snapshot of the index. */
static int kw_walk_range(struct store_mailbox *mb, struct kw_walk *w,
			 const struct store_uid_range *r, char **error_r)
{
	if (!w->probed) {
		long long one;
		int found = db_get_int(mb->user->db, "SELECT 1 FROM message_keywords LIMIT 1",
				       DB_NO_ARGS, &one, error_r);
		if (found < 0)
			return -1;
		w->probed = true;
		w->any = found == 1;
	}
	if (!w->any)
		return 0;
	if (w->q == NULL) {
		if (db_prepare(mb->user->db, KEYWORDS_SQL,
			       DB_ARGS(db_int(mb->id), db_int(r->lo), db_int(r->hi)), &w->q,
			       error_r) < 0)
			return -1;
	} else if (rebind(w->q, r, error_r) < 0) {
		return -1;
	}
	w->state = db_step(w->q, error_r);
	return w->state < 0 ? -1 : 0;
}

/* The keywords of the message uid (sorted, at most STORE_KEYWORDS_MAX),
 * valid until the next call; passes over those of UIDs below it. */
static int kw_walk_get(struct kw_walk *w, uint32_t uid, const char **kw, size_t *n_r,
		       char **error_r)
{
	size_t offs[STORE_KEYWORDS_MAX], n = 0;
	*n_r = 0;
	if (!w->any)
		return 0;
	buf_clear(&w->names);
	while (w->state == 1) {
		uint32_t k_uid = (uint32_t)sqlite3_column_int64(w->q, 0);
		if (k_uid > uid)
			break;
		if (k_uid == uid && n < STORE_KEYWORDS_MAX) {
			const unsigned char *name = sqlite3_column_text(w->q, 1);
			offs[n++] = w->names.len;
			buf_append(&w->names, name != NULL ? (const char *)name : "",
				   (size_t)sqlite3_column_bytes(w->q, 1) + 1);   /* with its NUL */
		}
		w->state = db_step(w->q, error_r);
	}
	if (w->state < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		kw[i] = w->names.data + offs[i];
	if (n > 1)
		qsort(kw, n, sizeof *kw, kw_cmp);
	*n_r = n;
	return 0;
}

/* ---- the walk ---- */

static int emit_row(sqlite3_stmt *q, unsigned what, const char *const *kw, size_t n_kw,
		    int (*cb)(void *ctx, const struct store_message *m), void *ctx)
{
	struct store_message m = {
		.uid = (uint32_t)sqlite3_column_int64(q, C_UID),
		.modseq = (uint64_t)sqlite3_column_int64(q, C_MODSEQ),
		.flags = (unsigned)sqlite3_column_int64(q, C_FLAGS),
		.keywords = kw,
		.n_keywords = n_kw,
		.internaldate = (time_t)sqlite3_column_int64(q, C_INTERNALDATE),
		.savedate = (time_t)sqlite3_column_int64(q, C_SAVEDATE),
		.prefix = "",
	};
	if (needs_contents(what)) {
		m.size = (uint64_t)sqlite3_column_int64(q, C_SIZE);
		m.blob_id = store_db_text(q, C_BLOB);
		m.prefix = sqlite3_column_blob(q, C_PREFIX);
		m.prefix_len = (size_t)sqlite3_column_bytes(q, C_PREFIX);
		if (m.prefix == NULL)
			m.prefix = "";
		m.envelope = opt_text(q, C_ENVELOPE);
		m.bodystructure = opt_text(q, C_BODYSTRUCTURE);
		m.body = opt_text(q, C_BODY);
	}
	if ((what & STORE_FETCH_HEADER) && sqlite3_column_type(q, C_HEADER) != SQLITE_NULL) {
		m.header = sqlite3_column_blob(q, C_HEADER);
		m.header_len = (size_t)sqlite3_column_bytes(q, C_HEADER);
		if (m.header == NULL)
			m.header = "";
	}
	if (what & STORE_FETCH_SEARCH) {
		m.from = store_db_text(q, C_FROM);
		m.to = store_db_text(q, C_TO);
		m.cc = store_db_text(q, C_CC);
		m.bcc = store_db_text(q, C_BCC);
		m.subject = store_db_text(q, C_SUBJECT);
		m.message_id = store_db_text(q, C_MESSAGE_ID);
		m.sent_date = (time_t)sqlite3_column_int64(q, C_SENT_DATE);
	}
	return cb(ctx, &m);
}

/* The messages of range r (all of them, or those in ranges[0..nr) when
 * filter) through cb. q and w are prepared on the first call and rebound
 * after. Returns cb's non-zero value, 0, or -1 with *db_failed set. */
static int fetch_range(struct store_mailbox *mb, const char *sql, sqlite3_stmt **q,
		       struct kw_walk *w, const struct store_uid_range *r, bool filter,
		       const struct store_uid_range *ranges, size_t nr, unsigned what,
		       int (*cb)(void *ctx, const struct store_message *m), void *ctx,
		       bool *db_failed, char **error_r)
{
	*db_failed = true;
	if (*q == NULL ? db_prepare(mb->user->db, sql,
				    DB_ARGS(db_int(mb->id), db_int(r->lo), db_int(r->hi)), q,
				    error_r) < 0
		       : rebind(*q, r, error_r) < 0)
		return -1;
	int s = db_step(*q, error_r);
	if (s == 1 && kw_walk_range(mb, w, r, error_r) < 0)
		return -1;
	for (; s == 1; s = db_step(*q, error_r)) {
		uint32_t uid = (uint32_t)sqlite3_column_int64(*q, C_UID);
		if (filter && !uid_in(ranges, nr, uid))
			continue;
		const char *kw[STORE_KEYWORDS_MAX];
		size_t n_kw;
		if (kw_walk_get(w, uid, kw, &n_kw, error_r) < 0)
			return -1;
		int rc = emit_row(*q, what, kw, n_kw, cb, ctx);
		if (rc != 0) {
			*db_failed = false;
			return rc;
		}
	}
	if (s < 0)
		return -1;
	*db_failed = false;
	return 0;
}

/* Whether the ranges cover less than an eighth of their span. */
static bool sparse(const struct store_uid_range *r, size_t n)
{
	uint64_t covered = 0;
	for (size_t i = 0; i < n; i++)
		covered += (uint64_t)r[i].hi - r[i].lo + 1;
	uint64_t span = (uint64_t)r[n - 1].hi - r[0].lo + 1;
	return covered * 8 < span;
}

int store_fetch(struct store_mailbox *mb, const struct store_uidset *set, unsigned what,
		int (*cb)(void *ctx, const struct store_message *m), void *ctx, char **error_r)
{
	struct store_user *u = mb->user;
	struct store_uid_range *ranges;
	size_t nr;
	u->last_error = STORE_ERR_NONE;
	uidset_normalize(set, &ranges, &nr);
	if (nr == 0) {
		free(ranges);
		return 0;
	}
	/* Many small ranges close together: one query over their span,
	 * filtered. Sparse ones (SEARCH BODY's hits in a large mailbox) are
	 * cheaper one range at a time, the statement rebound for each. */
	bool filter = nr > FETCH_RANGE_QUERIES && !sparse(ranges, nr);
	struct store_uid_range span = { ranges[0].lo, ranges[nr - 1].hi };
	size_t queries = filter ? 1 : nr;
	struct kw_walk w = { 0 };
	char *sql = fetch_sql(what);
	sqlite3_stmt *q = NULL;
	bool db_failed = false;
	int rc = 0;
	for (size_t i = 0; i < queries && rc == 0; i++)
		rc = fetch_range(mb, sql, &q, &w, filter ? &span : &ranges[i], filter, ranges, nr,
				 what, cb, ctx, &db_failed, error_r);
	sqlite3_finalize(q);
	kw_walk_free(&w);
	free(sql);
	free(ranges);
	return db_failed ? store_db_fail(u, error_r) : rc;
}

/* surel_uids(uid), the aggregate store_mailbox_uids() runs: each UID goes
 * into the list that is its user data. Handing the UIDs over inside one
 * sqlite3_step, instead of a row at a time, takes a third off reading the
 * 100,000 UIDs of a large mailbox (SELECT). */
static void uids_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	uid_list_push(sqlite3_user_data(ctx), (uint32_t)sqlite3_value_int64(argv[0]));
}

static void uids_final(sqlite3_context *ctx)
{
	sqlite3_result_null(ctx);
}

static int uids_function(sqlite3 *db, struct store_uid_list *l, char **error_r)
{
	if (sqlite3_create_function_v2(db, "surel_uids", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY, l,
				       NULL, l != NULL ? uids_step : NULL,
				       l != NULL ? uids_final : NULL, NULL) != SQLITE_OK) {
		*error_r = xasprintf("surel_uids: %s", sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

static int uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int store_mailbox_uids(struct store_mailbox *mb, struct store_uid_list *uids_r, char **error_r)
{
	struct store_user *u = mb->user;
	memset(uids_r, 0, sizeof *uids_r);
	u->last_error = STORE_ERR_NONE;
	/* The count kept in the mailbox's row sizes the list at once. */
	long long count = 0;
	if (db_get_int(u->db, "SELECT messages FROM mailboxes WHERE id = ?",
		       DB_ARGS(db_int(mb->id)), &count, error_r) < 0)
		return store_db_fail(u, error_r);
	if (count > 0) {
		uids_r->cap = (size_t)count;
		uids_r->uids = xmalloc(uids_r->cap * sizeof *uids_r->uids);
	}
	if (uids_function(u->db, uids_r, error_r) < 0) {
		store_uid_list_free(uids_r);
		return store_db_fail(u, error_r);
	}
	/* The index on (mailbox_id, uid) gives the UIDs in order. */
	int r = db_run(u->db, "SELECT surel_uids(uid) FROM messages WHERE mailbox_id = ?",
		       DB_ARGS(db_int(mb->id)), NULL, error_r);
	char *ignored = NULL;
	uids_function(u->db, NULL, &ignored);   /* no pointer to uids_r left behind */
	free(ignored);
	if (r < 0) {
		store_uid_list_free(uids_r);
		return store_db_fail(u, error_r);
	}
	/* Ascending is the promise; an index scan keeps it, but a query plan
	 * is not a contract. */
	for (size_t i = 1; i < uids_r->count; i++) {
		if (uids_r->uids[i - 1] >= uids_r->uids[i]) {
			qsort(uids_r->uids, uids_r->count, sizeof *uids_r->uids, uid_cmp);
			break;
		}
	}
	return 0;
}
