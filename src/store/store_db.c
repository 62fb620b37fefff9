/* The store's SQLite databases: users/<id>/index.db (one per account) and
 * blobs.db (store-wide reference counts). Opened the way surel.db is
 * (src/account/db.c): WAL, synchronous=FULL, foreign keys, a busy timeout,
 * schema migrations counted by PRAGMA user_version, each step in one
 * transaction with its version bump. Append only: never edit a released step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "store/store_int.h"

static const char *const index_migrations[] = {
	/* 1: mailboxes, messages, flags, expunge log, search index.
	 *
	 * contents: what is cached of one message body (one blob) in this
	 * index, shared by every copy of it in the user's mailboxes; `refs`
	 * counts those copies. A user index holds one reference to each blob it
	 * has a contents row for (blobs.db counts the indexes, not the copies).
	 * fts rows have the contents row's id as rowid. */
	"CREATE TABLE meta ("
	"  key TEXT PRIMARY KEY,"
	"  value INTEGER NOT NULL"
	");"
	"INSERT INTO meta (key, value) VALUES"
	"  ('last_uidvalidity', 0), ('quota_bytes', 0), ('quota_messages', 0), ('initialized', 0);"
	"CREATE TABLE mailboxes ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE,"
	"  uidvalidity INTEGER NOT NULL,"
	"  uidnext INTEGER NOT NULL DEFAULT 1 CHECK (uidnext >= 1),"
	"  highestmodseq INTEGER NOT NULL DEFAULT 1,"
	"  special_use INTEGER NOT NULL DEFAULT 0,"
	"  created INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))"
	");"
	"CREATE TABLE subscriptions ("
	"  name TEXT PRIMARY KEY"
	");"
	"CREATE TABLE contents ("
	"  id INTEGER PRIMARY KEY,"
	"  blob TEXT NOT NULL UNIQUE,"
	"  size INTEGER NOT NULL,"
	"  refs INTEGER NOT NULL CHECK (refs >= 0),"
	"  envelope TEXT,"
	"  bodystructure TEXT,"
	"  body TEXT,"
	"  header BLOB,"
	"  hdr_from TEXT, hdr_to TEXT, hdr_cc TEXT, hdr_bcc TEXT, hdr_subject TEXT,"
	"  hdr_message_id TEXT,"
	"  sent_date INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE TABLE messages ("
	"  id INTEGER PRIMARY KEY,"
	"  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),"
	"  uid INTEGER NOT NULL,"
	"  content_id INTEGER NOT NULL REFERENCES contents(id),"
	"  flags INTEGER NOT NULL DEFAULT 0,"
	"  modseq INTEGER NOT NULL,"
	"  internaldate INTEGER NOT NULL,"
	"  savedate INTEGER NOT NULL,"
	"  UNIQUE (mailbox_id, uid)"
	");"
	"CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);"
	"CREATE INDEX messages_content ON messages(content_id);"
	"CREATE TABLE keywords ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE COLLATE NOCASE"
	");"
	"CREATE TABLE message_keywords ("
	"  message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
	"  keyword_id INTEGER NOT NULL REFERENCES keywords(id),"
	"  PRIMARY KEY (message_id, keyword_id)"
	") WITHOUT ROWID;"
	"CREATE TABLE expunged ("
	"  mailbox_id INTEGER NOT NULL,"
	"  uid INTEGER NOT NULL,"
	"  modseq INTEGER NOT NULL,"
	"  PRIMARY KEY (mailbox_id, uid)"
	") WITHOUT ROWID;"
	"CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);"
	"CREATE VIRTUAL TABLE fts USING fts5(headers, body,"
	"  tokenize = 'unicode61 remove_diacritics 2');",
	/* 2: a per-message header prefix (local delivery's Return-Path and
	 * Delivered-To): the message is prefix + blob, and everything cached
	 * in the row is of those bytes. One row per (blob, prefix); the index
	 * still holds one reference to each distinct blob. Rebuilt with
	 * foreign keys off (see migrate()); ids are kept (fts rowids). */
	"CREATE TABLE contents_new ("
	"  id INTEGER PRIMARY KEY,"
	"  blob TEXT NOT NULL,"
	"  prefix BLOB NOT NULL DEFAULT x'',"
	"  size INTEGER NOT NULL,"
	"  refs INTEGER NOT NULL CHECK (refs >= 0),"
	"  envelope TEXT,"
	"  bodystructure TEXT,"
	"  body TEXT,"
	"  header BLOB,"
	"  hdr_from TEXT, hdr_to TEXT, hdr_cc TEXT, hdr_bcc TEXT, hdr_subject TEXT,"
	"  hdr_message_id TEXT,"
	"  sent_date INTEGER NOT NULL DEFAULT 0,"
	"  UNIQUE (blob, prefix)"
	");"
	"INSERT INTO contents_new (id, blob, size, refs, envelope, bodystructure, body, header,"
	"  hdr_from, hdr_to, hdr_cc, hdr_bcc, hdr_subject, hdr_message_id, sent_date)"
	"  SELECT id, blob, size, refs, envelope, bodystructure, body, header,"
	"  hdr_from, hdr_to, hdr_cc, hdr_bcc, hdr_subject, hdr_message_id, sent_date FROM contents;"
	"DROP TABLE contents;"
	"ALTER TABLE contents_new RENAME TO contents;",
	/* 3: a mailbox's counts kept in its row (SELECT, STATUS and LIST read
	 * them instead of counting the messages) and the \Recent mark.
	 *
	 * messages, unseen (no \Seen, bit 1), deleted (\Deleted, bit 8) and
	 * size (sum of contents.size) are counted from the rows here, then kept
	 * exact by the triggers below, in the transaction of the statement that
	 * changes the messages, whatever that statement is. The code inserts
	 * messages, deletes them and updates their flags; the triggers for a
	 * message changing mailbox or contents row, and for a contents row
	 * changing size, cover what it does not do (yet). A contents row
	 * exists while a message uses it (foreign key), so the size is there
	 * when the triggers look it up. store check recounts and repairs.
	 *
	 * recent_uid: UIDs at or above it are \Recent for the next session to
	 * claim them (store_mailbox_recent). New mailboxes start at 1; existing
	 * ones at UIDNEXT, so that an upgrade does not make every message
	 * recent.
	 *
	 * messages_unseen: the first unseen message (SELECT's [UNSEEN n]) is the
	 * first entry of the mailbox in this index (see store_mailbox_first_unseen). */
	"ALTER TABLE mailboxes ADD COLUMN messages INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE mailboxes ADD COLUMN unseen INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE mailboxes ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE mailboxes ADD COLUMN size INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE mailboxes ADD COLUMN recent_uid INTEGER NOT NULL DEFAULT 1;"
	"UPDATE mailboxes SET recent_uid = uidnext, (messages, unseen, deleted, size) = ("
	"  SELECT COUNT(*), IFNULL(SUM((m.flags & 1) = 0), 0), IFNULL(SUM((m.flags & 8) != 0), 0),"
	"    IFNULL(SUM(c.size), 0)"
	"  FROM messages m JOIN contents c ON c.id = m.content_id"
	"  WHERE m.mailbox_id = mailboxes.id);"
	"CREATE INDEX messages_unseen ON messages(mailbox_id, uid) WHERE flags & 1 = 0;"
	"CREATE TRIGGER messages_count_insert AFTER INSERT ON messages BEGIN"
	"  UPDATE mailboxes SET messages = messages + 1,"
	"    unseen = unseen + ((new.flags & 1) = 0), deleted = deleted + ((new.flags & 8) != 0),"
	"    size = size + (SELECT size FROM contents WHERE id = new.content_id)"
	"  WHERE id = new.mailbox_id;"
	"END;"
	"CREATE TRIGGER messages_count_delete AFTER DELETE ON messages BEGIN"
	"  UPDATE mailboxes SET messages = messages - 1,"
	"    unseen = unseen - ((old.flags & 1) = 0), deleted = deleted - ((old.flags & 8) != 0),"
	"    size = size - (SELECT size FROM contents WHERE id = old.content_id)"
	"  WHERE id = old.mailbox_id;"
	"END;"
	"CREATE TRIGGER messages_count_flags AFTER UPDATE OF flags ON messages"
	"  WHEN (old.flags & 9) != (new.flags & 9)"
	"    AND old.mailbox_id = new.mailbox_id AND old.content_id = new.content_id BEGIN"
	"  UPDATE mailboxes SET"
	"    unseen = unseen + ((new.flags & 1) = 0) - ((old.flags & 1) = 0),"
	"    deleted = deleted + ((new.flags & 8) != 0) - ((old.flags & 8) != 0)"
	"  WHERE id = new.mailbox_id;"
	"END;"
	"CREATE TRIGGER messages_count_move AFTER UPDATE OF mailbox_id, content_id ON messages"
	"  WHEN old.mailbox_id != new.mailbox_id OR old.content_id != new.content_id BEGIN"
	"  UPDATE mailboxes SET messages = messages - 1,"
	"    unseen = unseen - ((old.flags & 1) = 0), deleted = deleted - ((old.flags & 8) != 0),"
	"    size = size - (SELECT size FROM contents WHERE id = old.content_id)"
	"  WHERE id = old.mailbox_id;"
	"  UPDATE mailboxes SET messages = messages + 1,"
	"    unseen = unseen + ((new.flags & 1) = 0), deleted = deleted + ((new.flags & 8) != 0),"
	"    size = size + (SELECT size FROM contents WHERE id = new.content_id)"
	"  WHERE id = new.mailbox_id;"
	"END;"
	"CREATE TRIGGER contents_count_size AFTER UPDATE OF size ON contents"
	"  WHEN old.size != new.size BEGIN"
	"  UPDATE mailboxes SET size = size + (new.size - old.size) *"
	"    (SELECT COUNT(*) FROM messages m WHERE m.content_id = new.id"
	"     AND m.mailbox_id = mailboxes.id)"
	"  WHERE id IN (SELECT mailbox_id FROM messages WHERE content_id = new.id);"
	"END;",
};

static const char *const blobs_migrations[] = {
	/* 1: one row per blob file: how many user indexes refer to it, and since
	 * when none does (NULL while some does). A row exists only while its
	 * file does (both are made, and removed, in one transaction). */
	"CREATE TABLE blobs ("
	"  id TEXT PRIMARY KEY,"
	"  size INTEGER NOT NULL,"
	"  refcount INTEGER NOT NULL CHECK (refcount >= 0),"
	"  zero_since INTEGER,"
	"  created INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))"
	") WITHOUT ROWID;"
	"CREATE INDEX blobs_unreferenced ON blobs(zero_since) WHERE refcount = 0;",
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static int exec_fail(sqlite3 *db, const char *what, char **error_r)
{
	*error_r = xasprintf("%s: %s: %s", sqlite3_db_filename(db, "main"), what,
			     sqlite3_errmsg(db));
	return -1;
}

static int exec(sqlite3 *db, const char *sql, const char *what, char **error_r)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return exec_fail(db, what, error_r);
	return 0;
}

static int migrate_steps(sqlite3 *db, const char *const *steps, int version, int count,
			 bool *created_r, char **error_r);

static int migrate(sqlite3 *db, const char *const *steps, int count, bool *created_r,
		   char **error_r)
{
	long long version = 0;
	if (db_get_int(db, "PRAGMA user_version", DB_NO_ARGS, &version, error_r) < 0)
		return -1;
	if (version > count) {
		*error_r = xasprintf("%s: schema version %lld is newer than this surel knows (%d); "
				     "run a newer surel", sqlite3_db_filename(db, "main"),
				     version, count);
		return -1;
	}
	if (created_r != NULL)
		*created_r = version == 0;
	if (version == count)
		return 0;
	/* A step may rebuild a table others refer to (SQLite's "generalized
	 * ALTER TABLE procedure"): foreign keys off while migrating (the pragma
	 * is a no-op inside a transaction), checked before each commit. */
	if (exec(db, "PRAGMA foreign_keys = OFF", "foreign_keys", error_r) < 0)
		return -1;
	int rc = migrate_steps(db, steps, (int)version, count, created_r, error_r);
	char *err = NULL;
	if (exec(db, "PRAGMA foreign_keys = ON", "foreign_keys", &err) < 0) {
		if (rc == 0)
			*error_r = err;
		else
			free(err);
		rc = -1;
	}
	return rc;
}

/* 0 when no row breaks a foreign key. */
static int fk_check(sqlite3 *db, const char *what, char **error_r)
{
	sqlite3_stmt *st;
	if (db_prepare(db, "PRAGMA foreign_key_check", DB_NO_ARGS, &st, error_r) < 0)
		return -1;
	int r = db_step(st, error_r);
	sqlite3_finalize(st);
	if (r == 1) {
		*error_r = xasprintf("%s: %s: foreign key check failed",
				     sqlite3_db_filename(db, "main"), what);
		return -1;
	}
	return r;
}

static int migrate_steps(sqlite3 *db, const char *const *steps, int version, int count,
			 bool *created_r, char **error_r)
{
	for (int step = version; step < count; step++) {
		long long now;
		if (db_begin(db, error_r) < 0)
			return -1;
		/* Another process may have applied it meanwhile. */
		if (db_get_int(db, "PRAGMA user_version", DB_NO_ARGS, &now, error_r) < 0)
			goto fail;
		if (now > step) {
			if (created_r != NULL)
				*created_r = false;
			if (db_commit(db, error_r) < 0)
				return -1;
			continue;
		}
		char what[64], pragma[64];
		snprintf(what, sizeof what, "schema migration to version %d", step + 1);
		snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", step + 1);
		if (exec(db, steps[step], what, error_r) < 0 || fk_check(db, what, error_r) < 0 ||
		    exec(db, pragma, what, error_r) < 0)
			goto fail;
		if (db_commit(db, error_r) < 0)
			return -1;
		log_debug("store", "event=migrate db=%s version=%d", sqlite3_db_filename(db, "main"),
			  step + 1);
	}
	return 0;
fail:
	db_rollback(db);
	return -1;
}

static int open_db(const char *path, const char *const *steps, int count, bool *created_r,
		   sqlite3 **db_r, char **error_r)
{
	sqlite3 *db = NULL;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
		*error_r = xasprintf("%s: cannot open: %s", path,
				     db != NULL ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return -1;
	}
	sqlite3_stmt *st = NULL;
	int rc = -1;
	if (db_busy_timeout(db, 10000) < 0 ||
	    exec(db, "PRAGMA foreign_keys = ON", "foreign_keys", error_r) < 0 ||
	    exec(db, "PRAGMA synchronous = FULL", "synchronous", error_r) < 0 ||
	    db_prepare(db, "PRAGMA journal_mode = WAL", DB_NO_ARGS, &st, error_r) < 0)
		goto out;
	if (db_step(st, error_r) != 1)
		goto out;
	const char *mode = (const char *)sqlite3_column_text(st, 0);
	if (mode == NULL || strcmp(mode, "wal") != 0) {
		*error_r = xasprintf("%s: cannot switch to WAL mode (got '%s')", path,
				     mode != NULL ? mode : "");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	rc = migrate(db, steps, count, created_r, error_r);
out:
	sqlite3_finalize(st);
	if (rc < 0)
		sqlite3_close(db);
	else
		*db_r = db;
	return rc;
}

int store_db_open_index(const char *path, sqlite3 **db_r, bool *created_r, char **error_r)
{
	return open_db(path, index_migrations, (int)N_ELEMS(index_migrations), created_r, db_r,
		       error_r);
}

int store_db_open_index_at(const char *path, int version, sqlite3 **db_r, char **error_r)
{
	if (version < 0 || version > (int)N_ELEMS(index_migrations)) {
		*error_r = xasprintf("%s: no schema version %d", path, version);
		return -1;
	}
	return open_db(path, index_migrations, version, NULL, db_r, error_r);
}

int store_db_open_blobs(const char *path, sqlite3 **db_r, char **error_r)
{
	return open_db(path, blobs_migrations, (int)N_ELEMS(blobs_migrations), NULL, db_r,
		       error_r);
}

int store_db_bind_blob(sqlite3_stmt *st, int idx, const void *p, size_t len, char **error_r)
{
	int rc = p == NULL ? sqlite3_bind_null(st, idx)
			   : sqlite3_bind_blob64(st, idx, p, len, SQLITE_STATIC);
	if (rc != SQLITE_OK)
		return exec_fail(sqlite3_db_handle(st), "bind", error_r);
	return 0;
}

const char *store_db_text(sqlite3_stmt *st, int col)
{
	const char *s = (const char *)sqlite3_column_text(st, col);
	return s != NULL ? s : "";
}
