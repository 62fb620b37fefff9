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

/* Split "a b c" (keywords never hold spaces) into kw, in place. */
static size_t split_keywords(char *s, const char **kw, size_t max)
{
	size_t n = 0;
	char *save = NULL;
	for (char *tok = strtok_r(s, " ", &save); tok != NULL && n < max;
	     tok = strtok_r(NULL, " ", &save))
		kw[n++] = tok;
	qsort(kw, n, sizeof *kw, kw_cmp);
	return n;
}

static const char *opt_text(sqlite3_stmt *q, int col)
{
	return sqlite3_column_type(q, col) == SQLITE_NULL ? NULL : store_db_text(q, col);
}

/* Column layout of the fetch query. */
enum {
	C_UID, C_MODSEQ, C_FLAGS, C_INTERNALDATE, C_SAVEDATE, C_SIZE, C_BLOB, C_KEYWORDS,
	C_ENVELOPE, C_BODYSTRUCTURE, C_BODY, C_HEADER, C_FROM, C_TO, C_CC, C_BCC, C_SUBJECT,
	C_MESSAGE_ID, C_SENT_DATE, C_PREFIX,
};

static char *fetch_sql(unsigned what)
{
	return xasprintf(
		"SELECT m.uid, m.modseq, m.flags, m.internaldate, m.savedate, c.size, c.blob,"
		"  (SELECT group_concat(k.name, ' ') FROM message_keywords mk"
		"   JOIN keywords k ON k.id = mk.keyword_id WHERE mk.message_id = m.id),"
		"  %s, %s, %s, %s, %s "
		"FROM messages m JOIN contents c ON c.id = m.content_id "
		"WHERE m.mailbox_id = ?1 AND m.uid BETWEEN ?2 AND ?3 ORDER BY m.uid",
		what & STORE_FETCH_ENVELOPE ? "c.envelope" : "NULL",
		what & STORE_FETCH_BODYSTRUCTURE ? "c.bodystructure" : "NULL",
		what & STORE_FETCH_BODY ? "c.body" : "NULL",
		what & STORE_FETCH_HEADER ? "c.header" : "NULL",
		what & STORE_FETCH_SEARCH
			? "c.hdr_from, c.hdr_to, c.hdr_cc, c.hdr_bcc, c.hdr_subject, c.hdr_message_id,"
			  " c.sent_date, c.prefix"
			: "NULL, NULL, NULL, NULL, NULL, NULL, 0, c.prefix");
}

static int emit_row(sqlite3_stmt *q, unsigned what,
		    int (*cb)(void *ctx, const struct store_message *m), void *ctx)
{
	struct store_message m = {
		.uid = (uint32_t)sqlite3_column_int64(q, C_UID),
		.modseq = (uint64_t)sqlite3_column_int64(q, C_MODSEQ),
		.flags = (unsigned)sqlite3_column_int64(q, C_FLAGS),
		.internaldate = (time_t)sqlite3_column_int64(q, C_INTERNALDATE),
		.savedate = (time_t)sqlite3_column_int64(q, C_SAVEDATE),
		.size = (uint64_t)sqlite3_column_int64(q, C_SIZE),
		.blob_id = store_db_text(q, C_BLOB),
		.envelope = opt_text(q, C_ENVELOPE),
		.bodystructure = opt_text(q, C_BODYSTRUCTURE),
		.body = opt_text(q, C_BODY),
		.prefix = sqlite3_column_blob(q, C_PREFIX),
		.prefix_len = (size_t)sqlite3_column_bytes(q, C_PREFIX),
	};
	if (m.prefix == NULL)
		m.prefix = "";
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
	char *kwtext = xstrdup(store_db_text(q, C_KEYWORDS));
	const char *kw[STORE_KEYWORDS_MAX];
	m.n_keywords = split_keywords(kwtext, kw, STORE_KEYWORDS_MAX);
	m.keywords = kw;
	int rc = cb(ctx, &m);
	free(kwtext);
	return rc;
}

int store_fetch(struct store_mailbox *mb, const struct store_uidset *set, unsigned what,
		int (*cb)(void *ctx, const struct store_message *m), void *ctx, char **error_r)
{
	struct store_user *u = mb->user;
	struct store_uid_range *ranges;
	size_t nr;
	u->last_error = STORE_ERR_NONE;
	uidset_normalize(set, &ranges, &nr);
	/* Many small ranges: one query over their span, filtered. */
	bool filter = nr > FETCH_RANGE_QUERIES;
	struct store_uid_range span = { ranges[0].lo, ranges[nr ? nr - 1 : 0].hi };
	size_t queries = filter ? 1 : nr;
	char *sql = fetch_sql(what);
	int rc = 0;
	for (size_t i = 0; i < queries && rc == 0; i++) {
		const struct store_uid_range *r = filter ? &span : &ranges[i];
		sqlite3_stmt *q;
		if (db_prepare(u->db, sql, DB_ARGS(db_int(mb->id), db_int(r->lo), db_int(r->hi)), &q,
			       error_r) < 0) {
			rc = store_db_fail(u, error_r);
			break;
		}
		int s;
		while ((s = db_step(q, error_r)) == 1) {
			if (filter && !uid_in(ranges, nr,
					      (uint32_t)sqlite3_column_int64(q, C_UID)))
				continue;
			rc = emit_row(q, what, cb, ctx);
			if (rc != 0)
				break;
		}
		sqlite3_finalize(q);
		if (s < 0)
			rc = store_db_fail(u, error_r);
	}
	free(sql);
	free(ranges);
	return rc;
}

int store_mailbox_uids(struct store_mailbox *mb, struct store_uid_list *uids_r, char **error_r)
{
	struct store_user *u = mb->user;
	sqlite3_stmt *q;
	memset(uids_r, 0, sizeof *uids_r);
	u->last_error = STORE_ERR_NONE;
	if (db_prepare(u->db, "SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid",
		       DB_ARGS(db_int(mb->id)), &q, error_r) < 0)
		return store_db_fail(u, error_r);
	int r;
	while ((r = db_step(q, error_r)) == 1)
		uid_list_push(uids_r, (uint32_t)sqlite3_column_int64(q, 0));
	sqlite3_finalize(q);
	if (r < 0) {
		store_uid_list_free(uids_r);
		return store_db_fail(u, error_r);
	}
	return 0;
}
