/* surel store check: verify every user index against the blob store, and
 * with repair put right what a crash (or a disk) left behind. It holds the
 * reference-count window lock exclusively, so no delivery is between
 * counting a reference and committing its index while it counts. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "store/store_int.h"

struct check {
	struct store *s;
	bool repair;
	long grace;
	time_t now;
	sqlite3 *refs;           /* :memory: refs(id, n): user indexes per blob */
	struct store_check_report *r;
};

static int refs_add(struct check *c, const char *id, char **error_r)
{
	return db_run(c->refs, "INSERT INTO refs (id, n) VALUES (?, 1) "
		      "ON CONFLICT (id) DO UPDATE SET n = n + 1", DB_ARGS(db_text(id)), NULL,
		      error_r);
}

/* ---- one user index ---- */

/* Messages whose blob file is gone: the message cannot be read any more.
 * Repair expunges them (clients learn of it through VANISHED). */
static int check_missing_blobs(struct check *c, struct store_user *u, char **error_r)
{
	sqlite3_stmt *q;
	/* Only contents some message uses count (others go in check_derived). */
	/* Ordered by blob: the index holds one reference per distinct blob,
	 * whatever the number of its rows (one per prefix). */
	if (db_prepare(u->db, "SELECT id, blob FROM contents c WHERE EXISTS "
		       "(SELECT 1 FROM messages m WHERE m.content_id = c.id) ORDER BY blob",
		       DB_NO_ARGS, &q, error_r) < 0)
		return -1;
	long long *gone = NULL;
	size_t n = 0;
	int r;
	char *last = NULL;
	while ((r = db_step(q, error_r)) == 1) {
		const char *id = store_db_text(q, 1);
		bool again = last != NULL && strcmp(last, id) == 0;
		free(last);
		last = xstrdup(id);
		char *path = blob_path(c->s, id);
		struct stat st;
		if (stat(path, &st) < 0 && errno == ENOENT) {
			log_error("store", "event=check_missing_blob user=%lld blob=%s", u->id, id);
			gone = xrealloc(gone, (n + 1) * sizeof *gone);
			gone[n++] = sqlite3_column_int64(q, 0);
		} else if (!again && refs_add(c, id, error_r) < 0) {
			r = -1;
			free(path);
			break;
		}
		free(path);
	}
	free(last);
	sqlite3_finalize(q);
	for (size_t i = 0; r == 0 && i < n; i++) {
		long long count = 0;
		if (db_get_int(u->db, "SELECT COUNT(*) FROM messages WHERE content_id = ?",
			       DB_ARGS(db_int(gone[i])), &count, error_r) < 0) {
			r = -1;
			break;
		}
		c->r->missing_blobs += (size_t)count;
		if (!c->repair)
			continue;
		/* Expunge every message on that content, mailbox by mailbox. */
		sqlite3_stmt *m;
		if (db_prepare(u->db, "SELECT id, uid, mailbox_id FROM messages WHERE content_id = ?",
			       DB_ARGS(db_int(gone[i])), &m, error_r) < 0) {
			r = -1;
			break;
		}
		int step = 0;
		while (r == 0 && (step = db_step(m, error_r)) == 1) {
			long long id = sqlite3_column_int64(m, 0);
			uint32_t uid = (uint32_t)sqlite3_column_int64(m, 1);
			struct store_mailbox mb = { .user = u, .id = sqlite3_column_int64(m, 2) };
			uint64_t modseq;
			char **unref = NULL;
			size_t n_unref = 0;
			if (mailbox_next_modseq(&mb, &modseq, error_r) < 0 ||
			    messages_delete(&mb, &id, &uid, 1, modseq, &unref, &n_unref, error_r) < 0)
				r = -1;
			for (size_t k = 0; k < n_unref; k++)
				free(unref[k]);   /* no file, no reference to drop: the row is rebuilt */
			free(unref);
			sqlite3_reset(m);   /* the row is gone: start over */
		}
		if (step < 0)
			r = -1;
		sqlite3_finalize(m);
	}
	free(gone);
	return r;
}

/* A value the index keeps that can be recomputed: when `bad` finds rows,
 * count them and (repair) run `fix`. */
static int check_derived(struct check *c, struct store_user *u, const char *what,
			 const char *bad, const char *fix, char **error_r)
{
	long long n = 0;
	if (db_get_int(u->db, bad, DB_NO_ARGS, &n, error_r) < 0)
		return -1;
	if (n == 0)
		return 0;
	log_warn("store", "event=check_mismatch user=%lld what=%s count=%lld%s", u->id, what, n,
		 c->repair ? " repaired=yes" : "");
	c->r->index_fixed += (size_t)n;
	if (c->repair && sqlite3_exec(u->db, fix, NULL, NULL, NULL) != SQLITE_OK) {
		*error_r = xasprintf("user %lld: repair %s: %s", u->id, what, sqlite3_errmsg(u->db));
		return -1;
	}
	return 0;
}

/* A mailbox's counts (messages, unseen, deleted, size) recounted from its
 * messages, to compare with what the triggers kept in its row. */
#define MAILBOX_RECOUNT(mb) \
	"(SELECT COUNT(*), IFNULL(SUM((m.flags & 1) = 0), 0), IFNULL(SUM((m.flags & 8) != 0), 0)," \
	"   IFNULL(SUM(c.size), 0) FROM messages m JOIN contents c ON c.id = m.content_id" \
	"   WHERE m.mailbox_id = " mb ".id)"
#define MAILBOX_COUNTS "(messages, unseen, deleted, size)"

static const struct {
	const char *what, *bad, *fix;
} derived[] = {
	{ "contents_refs",
	  "SELECT COUNT(*) FROM contents c WHERE refs != "
	  "(SELECT COUNT(*) FROM messages m WHERE m.content_id = c.id)",
	  "UPDATE contents SET refs = (SELECT COUNT(*) FROM messages m WHERE m.content_id = contents.id)" },
	{ "unused_contents",
	  "SELECT COUNT(*) FROM contents c WHERE NOT EXISTS "
	  "(SELECT 1 FROM messages m WHERE m.content_id = c.id)",
	  "DELETE FROM fts WHERE rowid IN (SELECT id FROM contents c WHERE NOT EXISTS "
	  "(SELECT 1 FROM messages m WHERE m.content_id = c.id));"
	  "DELETE FROM contents WHERE NOT EXISTS "
	  "(SELECT 1 FROM messages m WHERE m.content_id = contents.id)" },
	{ "uidnext",
	  "SELECT COUNT(*) FROM mailboxes mb WHERE uidnext <= "
	  "MAX((SELECT IFNULL(MAX(uid), 0) FROM messages WHERE mailbox_id = mb.id),"
	  "    (SELECT IFNULL(MAX(uid), 0) FROM expunged WHERE mailbox_id = mb.id))",
	  "UPDATE mailboxes SET uidnext = 1 + "
	  "MAX((SELECT IFNULL(MAX(uid), 0) FROM messages WHERE mailbox_id = mailboxes.id),"
	  "    (SELECT IFNULL(MAX(uid), 0) FROM expunged WHERE mailbox_id = mailboxes.id)) "
	  "WHERE uidnext <= "
	  "MAX((SELECT IFNULL(MAX(uid), 0) FROM messages WHERE mailbox_id = mailboxes.id),"
	  "    (SELECT IFNULL(MAX(uid), 0) FROM expunged WHERE mailbox_id = mailboxes.id))" },
	/* After uidnext: the mark is never above it. */
	{ "recent_uid",
	  "SELECT COUNT(*) FROM mailboxes WHERE recent_uid NOT BETWEEN 1 AND uidnext",
	  "UPDATE mailboxes SET recent_uid = MIN(MAX(recent_uid, 1), uidnext) "
	  "WHERE recent_uid NOT BETWEEN 1 AND uidnext" },
	{ "mailbox_counts",
	  "SELECT COUNT(*) FROM mailboxes mb WHERE " MAILBOX_COUNTS " != " MAILBOX_RECOUNT("mb"),
	  "UPDATE mailboxes SET " MAILBOX_COUNTS " = " MAILBOX_RECOUNT("mailboxes") " "
	  "WHERE " MAILBOX_COUNTS " != " MAILBOX_RECOUNT("mailboxes") },
	{ "highestmodseq",
	  "SELECT COUNT(*) FROM mailboxes mb WHERE highestmodseq < "
	  "MAX((SELECT IFNULL(MAX(modseq), 0) FROM messages WHERE mailbox_id = mb.id),"
	  "    (SELECT IFNULL(MAX(modseq), 0) FROM expunged WHERE mailbox_id = mb.id))",
	  "UPDATE mailboxes SET highestmodseq = "
	  "MAX((SELECT IFNULL(MAX(modseq), 0) FROM messages WHERE mailbox_id = mailboxes.id),"
	  "    (SELECT IFNULL(MAX(modseq), 0) FROM expunged WHERE mailbox_id = mailboxes.id)) "
	  "WHERE highestmodseq < "
	  "MAX((SELECT IFNULL(MAX(modseq), 0) FROM messages WHERE mailbox_id = mailboxes.id),"
	  "    (SELECT IFNULL(MAX(modseq), 0) FROM expunged WHERE mailbox_id = mailboxes.id))" },
	{ "quota_bytes",
	  "SELECT COUNT(*) FROM meta WHERE key = 'quota_bytes' AND value != "
	  "(SELECT IFNULL(SUM(c.size), 0) FROM messages m JOIN contents c ON c.id = m.content_id)",
	  "UPDATE meta SET value = (SELECT IFNULL(SUM(c.size), 0) FROM messages m "
	  "JOIN contents c ON c.id = m.content_id) WHERE key = 'quota_bytes'" },
	{ "quota_messages",
	  "SELECT COUNT(*) FROM meta WHERE key = 'quota_messages' AND value != "
	  "(SELECT COUNT(*) FROM messages)",
	  "UPDATE meta SET value = (SELECT COUNT(*) FROM messages) WHERE key = 'quota_messages'" },
	{ "search_index_extra",
	  "SELECT COUNT(*) FROM fts WHERE rowid NOT IN (SELECT id FROM contents)",
	  "DELETE FROM fts WHERE rowid NOT IN (SELECT id FROM contents)" },
};

/* Contents without a search index row: index them again from the blob. */
static int check_fts(struct check *c, struct store_user *u, char **error_r)
{
	sqlite3_stmt *q;
	if (db_prepare(u->db, "SELECT id, blob, prefix FROM contents "
		       "WHERE id NOT IN (SELECT rowid FROM fts)", DB_NO_ARGS, &q, error_r) < 0)
		return -1;
	int r;
	while ((r = db_step(q, error_r)) == 1) {
		c->r->index_fixed++;
		log_warn("store", "event=check_mismatch user=%lld what=search_index_missing "
			 "blob=%s%s", u->id, store_db_text(q, 1), c->repair ? " repaired=yes" : "");
		if (!c->repair)
			continue;
		struct store_blob *b;
		const struct store_meta *m = NULL;
		struct store_meta own = { 0 };
		if (store_blob_open(c->s, store_db_text(q, 1), &b, error_r) < 0)
			break;
		r = store_message_meta(b, sqlite3_column_blob(q, 2),
				       (size_t)sqlite3_column_bytes(q, 2), &own, &m, error_r);
		if (r == 0)
			r = fts_insert(u, sqlite3_column_int64(q, 0), m, error_r);
		if (m == &own)
			store_meta_clear(&own);
		store_blob_free(&b);
		if (r < 0)
			break;
	}
	sqlite3_finalize(q);
	return r < 0 ? -1 : 0;
}

static int check_user(struct check *c, long long id, char **error_r)
{
	struct store_user *u;
	if (store_user_open(c->s, id, &u, error_r) < 0)
		return -1;
	c->r->users++;
	long long ok = 0;
	sqlite3_stmt *q;
	int rc = db_prepare(u->db, "PRAGMA quick_check", DB_NO_ARGS, &q, error_r);
	if (rc == 0) {
		rc = db_step(q, error_r) == 1 ? 0 : -1;
		ok = rc == 0 && strcmp(store_db_text(q, 0), "ok") == 0;
		if (rc == 0 && !ok)
			log_error("store", "event=check_corrupt user=%lld detail=\"%s\"", id,
				  store_db_text(q, 0));
		sqlite3_finalize(q);
	}
	if (rc == 0 && !ok) {
		*error_r = xasprintf("user %lld: index.db is corrupt (PRAGMA quick_check); "
				     "restore it from a backup", id);
		rc = -1;
	}
	bool changed = false;
	if (rc == 0 && (rc = db_begin(u->db, error_r)) == 0) {
		size_t before = c->r->missing_blobs + c->r->index_fixed;
		rc = check_missing_blobs(c, u, error_r);
		for (size_t i = 0; rc == 0 && i < sizeof derived / sizeof derived[0]; i++)
			rc = check_derived(c, u, derived[i].what, derived[i].bad, derived[i].fix,
					   error_r);
		if (rc == 0)
			rc = check_fts(c, u, error_r);
		changed = c->repair && c->r->missing_blobs + c->r->index_fixed != before;
		if (rc == 0 && c->repair)
			rc = db_commit(u->db, error_r);
		else
			db_rollback(u->db);
	}
	if (rc == 0 && changed)
		store_notify(u);
	store_user_close(&u);
	return rc;
}

static int check_users(struct check *c, char **error_r)
{
	char *path = xasprintf("%s/" STORE_USERS_DIR, c->s->data_dir);
	DIR *d = opendir(path);
	if (d == NULL) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	struct dirent *de;
	int rc = 0;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		char *end;
		long long id = strtoll(de->d_name, &end, 10);
		if (*end != '\0' || id <= 0)
			continue;
		char *index = xasprintf("%s/%s/" STORE_INDEX_DB, path, de->d_name);
		bool exists = access(index, F_OK) == 0;
		free(index);
		if (exists)
			rc = check_user(c, id, error_r);
	}
	closedir(d);
	free(path);
	return rc;
}

/* ---- the blob store ---- */

/* Make blobs.db's counts those of the indexes. */
static int fix_refcounts(struct check *c, char **error_r)
{
	struct store *s = c->s;
	sqlite3_stmt *q;
	if (db_begin(s->blobs, error_r) < 0)
		return -1;
	/* Blobs.db rows against the counted references (blob ids in the
	 * index are checked to exist above, so no row means an unrecorded one). */
	if (db_prepare(c->refs, "SELECT id, n FROM refs", DB_NO_ARGS, &q, error_r) < 0)
		goto fail;
	int r;
	while ((r = db_step(q, error_r)) == 1) {
		const char *id = store_db_text(q, 0);
		long long n = sqlite3_column_int64(q, 1), have = -1;
		if (db_get_int(s->blobs, "SELECT refcount FROM blobs WHERE id = ?",
			       DB_ARGS(db_text(id)), &have, error_r) < 0) {
			r = -1;
			break;
		}
		if (have == n)
			continue;
		c->r->refcount_fixed++;
		log_warn("store", "event=check_refcount blob=%s recorded=%lld counted=%lld%s", id, have,
			 n, c->repair ? " repaired=yes" : "");
		char *path = blob_path(s, id);
		struct stat st;
		long long size = stat(path, &st) == 0 ? (long long)st.st_size : 0;
		free(path);
		if (c->repair &&
		    db_run(s->blobs, "INSERT INTO blobs (id, size, refcount) VALUES (?1, ?2, ?3) "
			   "ON CONFLICT (id) DO UPDATE SET refcount = ?3, zero_since = NULL",
			   DB_ARGS(db_text(id), db_int(size), db_int(n)), NULL, error_r) < 0) {
			r = -1;
			break;
		}
	}
	sqlite3_finalize(q);
	if (r < 0)
		goto fail;
	/* Rows with a count that no index accounts for: down to 0 (the grace
	 * period starts now). */
	if (db_prepare(s->blobs, "SELECT id, refcount FROM blobs WHERE refcount > 0", DB_NO_ARGS,
		       &q, error_r) < 0)
		goto fail;
	while ((r = db_step(q, error_r)) == 1) {
		const char *id = store_db_text(q, 0);
		long long n = 0;
		if (db_get_int(c->refs, "SELECT n FROM refs WHERE id = ?", DB_ARGS(db_text(id)), &n,
			       error_r) < 0) {
			r = -1;
			break;
		}
		if (n > 0)
			continue;
		c->r->refcount_fixed++;
		log_warn("store", "event=check_refcount blob=%s recorded=%lld counted=0%s", id,
			 (long long)sqlite3_column_int64(q, 1), c->repair ? " repaired=yes" : "");
		if (c->repair &&
		    db_run(s->blobs, "UPDATE blobs SET refcount = 0, zero_since = ? WHERE id = ?",
			   DB_ARGS(db_int((long long)c->now), db_text(id)), NULL, error_r) < 0) {
			r = -1;
			break;
		}
	}
	sqlite3_finalize(q);
	if (r < 0)
		goto fail;
	if (c->repair)
		return db_commit(s->blobs, error_r);
	db_rollback(s->blobs);
	return 0;
fail:
	db_rollback(s->blobs);
	return -1;
}

static bool old_enough(const struct check *c, const struct stat *st)
{
	return st->st_mtime <= c->now - c->grace;
}

/* Remove a blob file that has no row, in a blobs.db write transaction: a
 * writer installing the same content at this moment (blob.c, which
 * inserts the row and then looks for the file in one transaction) either
 * committed its row first, and the file stays, or finds the file gone and
 * puts its own in place. */
static int remove_orphan(struct check *c, const char *id, const char *path, char **error_r)
{
	long long one;
	if (db_begin(c->s->blobs, error_r) < 0)
		return -1;
	int r = db_get_int(c->s->blobs, "SELECT 1 FROM blobs WHERE id = ?", DB_ARGS(db_text(id)),
			   &one, error_r);
	if (r == 0 && unlink(path) == 0)
		c->r->collected++;
	if (r < 0) {
		db_rollback(c->s->blobs);
		return -1;
	}
	return db_commit(c->s->blobs, error_r);
}

/* Files under blobs/ab/cd/ without a blobs.db row (a crash between the
 * rename and the commit): orphans, removed once older than the grace. */
static int check_blob_dir(struct check *c, const char *dir, char **error_r)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0;
	struct dirent *de;
	int rc = 0;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (!blob_id_valid(de->d_name))
			continue;
		c->r->blobs++;
		long long one;
		int r = db_get_int(c->s->blobs, "SELECT 1 FROM blobs WHERE id = ?",
				   DB_ARGS(db_text(de->d_name)), &one, error_r);
		if (r < 0) {
			rc = -1;
			break;
		}
		char *path = xasprintf("%s/%s", dir, de->d_name);
		struct stat st;
		if (r == 0 && stat(path, &st) == 0 && old_enough(c, &st)) {
			c->r->orphans++;
			log_warn("store", "event=check_orphan blob=%s%s", de->d_name,
				 c->repair ? " removed=yes" : "");
			if (c->repair)
				rc = remove_orphan(c, de->d_name, path, error_r);
		}
		free(path);
	}
	closedir(d);
	return rc;
}

static bool is_hex2(const char *name)
{
	return strlen(name) == 2 && strspn(name, "0123456789abcdef") == 2;
}

static int check_blob_files(struct check *c, char **error_r)
{
	char *root = xasprintf("%s/" STORE_BLOBS_DIR, c->s->data_dir);
	DIR *d1 = opendir(root);
	int rc = 0;
	struct dirent *a;
	while (d1 != NULL && rc == 0 && (a = readdir(d1)) != NULL) {
		if (!is_hex2(a->d_name))
			continue;
		char *p1 = xasprintf("%s/%s", root, a->d_name);
		DIR *d2 = opendir(p1);
		struct dirent *b;
		while (d2 != NULL && rc == 0 && (b = readdir(d2)) != NULL) {
			if (!is_hex2(b->d_name))
				continue;
			char *p2 = xasprintf("%s/%s", p1, b->d_name);
			rc = check_blob_dir(c, p2, error_r);
			free(p2);
		}
		if (d2 != NULL)
			closedir(d2);
		free(p1);
	}
	if (d1 != NULL)
		closedir(d1);
	free(root);
	/* Temporary files of writers that never committed. */
	char *tmp = xasprintf("%s/" STORE_BLOBS_TMP, c->s->data_dir);
	DIR *dt = opendir(tmp);
	struct dirent *t;
	while (dt != NULL && (t = readdir(dt)) != NULL) {
		if (t->d_name[0] == '.')
			continue;
		char *path = xasprintf("%s/%s", tmp, t->d_name);
		struct stat st;
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && old_enough(c, &st)) {
			c->r->temp_files++;
			if (c->repair)
				(void)unlink(path);
		}
		free(path);
	}
	if (dt != NULL)
		closedir(dt);
	free(tmp);
	return rc;
}

int store_check(struct store *s, bool repair, long grace, struct store_check_report *report_r,
		char **error_r)
{
	memset(report_r, 0, sizeof *report_r);
	struct check c = { .s = s, .repair = repair, .grace = grace, .now = time(NULL),
			   .r = report_r };
	if (sqlite3_open(":memory:", &c.refs) != SQLITE_OK ||
	    db_run(c.refs, "CREATE TABLE refs (id TEXT PRIMARY KEY, n INTEGER NOT NULL)",
		   DB_NO_ARGS, NULL, error_r) < 0) {
		if (c.refs != NULL && *error_r == NULL)
			*error_r = xstrdup("cannot open a temporary database");
		sqlite3_close(c.refs);
		return -1;
	}
	if (blob_refs_lock(s, true, error_r) < 0) {
		sqlite3_close(c.refs);
		return -1;
	}
	int rc = check_users(&c, error_r);
	if (rc == 0)
		rc = fix_refcounts(&c, error_r);
	if (rc == 0)
		rc = check_blob_files(&c, error_r);
	size_t collected = 0;
	if (rc == 0 && repair && (rc = store_gc(s, grace, &collected, error_r)) == 0)
		report_r->collected += collected;
	blob_refs_unlock(s);
	sqlite3_close(c.refs);
	log_info("store", "event=check repair=%s users=%zu blobs=%zu missing_blobs=%zu "
		 "refcount_fixed=%zu orphans=%zu temp_files=%zu index_fixed=%zu collected=%zu",
		 repair ? "yes" : "no", report_r->users, report_r->blobs, report_r->missing_blobs,
		 report_r->refcount_fixed, report_r->orphans, report_r->temp_files,
		 report_r->index_fixed, report_r->collected);
	return rc;
}
