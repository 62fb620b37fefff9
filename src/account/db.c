/* surel.db: connection set-up, schema migrations, statement helpers. */
#include "account/db.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/log.h"
#include "core/xmalloc.h"

/* The schema, one step per version. PRAGMA user_version holds the number of
 * steps applied; each step runs in one transaction with the version bump, so
 * a crash leaves the database at the old version or the new, never between.
 * Append only: never edit a step that has been released. */
static const char *const migrations[] = {
	/* 1: domains, accounts and aliases. Addresses are stored normalised
	 * (addr.h): ASCII lower-case local part, lower-case A-label domain.
	 * accounts.id is AUTOINCREMENT so that a deleted account's id (which
	 * names its mail store) is never given to a new account. */
	"CREATE TABLE domains ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  created INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))"
	");"
	"CREATE TABLE accounts ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  domain_id INTEGER NOT NULL REFERENCES domains(id),"
	"  address TEXT NOT NULL UNIQUE,"
	"  password_hash TEXT NOT NULL,"
	"  quota_bytes INTEGER NOT NULL DEFAULT 0 CHECK (quota_bytes >= 0),"
	"  enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),"
	"  created INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))"
	");"
	"CREATE TABLE aliases ("
	"  id INTEGER PRIMARY KEY,"
	"  domain_id INTEGER NOT NULL REFERENCES domains(id),"   /* the source's domain */
	"  source TEXT NOT NULL,"                                 /* address or '@domain' */
	"  target TEXT NOT NULL,"                                 /* address, local or remote */
	"  UNIQUE (source, target)"
	");",

	/* 2: indexes for the foreign-key checks on domain deletion, per-domain
	 * listings and look-ups of what points at an address. */
	"CREATE INDEX accounts_domain ON accounts(domain_id);"
	"CREATE INDEX aliases_domain ON aliases(domain_id);"
	"CREATE INDEX aliases_target ON aliases(target);",

	/* 3: per-account POP3 options (docs/pop3.md): 0 no, 1 yes, NULL the
	 * global pop3.delete_after_retr / pop3.deleted_to_trash. */
	"ALTER TABLE accounts ADD COLUMN pop3_delete_after_retr INTEGER"
	"  CHECK (pop3_delete_after_retr IN (0, 1));"
	"ALTER TABLE accounts ADD COLUMN pop3_deleted_to_trash INTEGER"
	"  CHECK (pop3_deleted_to_trash IN (0, 1));",
};

#define MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

int db_schema_latest(void)
{
	return MIGRATIONS;
}

static int db_fail(sqlite3 *db, const char *what, char **error_r)
{
	const char *file = sqlite3_db_filename(db, "main");
	*error_r = xasprintf("%s: %s: %s", file != NULL && *file != '\0' ? file : DB_FILE_NAME,
			     what, sqlite3_errmsg(db));
	return -1;
}

/* A statement without parameters, run with sqlite3_exec (our own constant SQL). */
static int db_exec(sqlite3 *db, const char *sql, const char *what, char **error_r)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, what, error_r);
	return 0;
}

int db_prepare(sqlite3 *db, const char *sql, const struct db_arg *args, size_t nargs,
	       sqlite3_stmt **st_r, char **error_r)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, "prepare", error_r);
	for (size_t i = 0; i < nargs; i++) {
		int idx = (int)i + 1, rc = SQLITE_MISUSE;
		switch (args[i].type) {
		case DB_ARG_TEXT:
			rc = sqlite3_bind_text(st, idx, args[i].text, -1, SQLITE_STATIC);
			break;
		case DB_ARG_INT:
			rc = sqlite3_bind_int64(st, idx, args[i].num);
			break;
		case DB_ARG_NULL:
			rc = sqlite3_bind_null(st, idx);
			break;
		}
		if (rc != SQLITE_OK) {
			db_fail(db, "bind", error_r);
			sqlite3_finalize(st);
			return -1;
		}
	}
	*st_r = st;
	return 0;
}

int db_step(sqlite3_stmt *st, char **error_r)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return db_fail(sqlite3_db_handle(st), "step", error_r);
}

int db_run(sqlite3 *db, const char *sql, const struct db_arg *args, size_t nargs,
	   int *changes_r, char **error_r)
{
	sqlite3_stmt *st;
	if (db_prepare(db, sql, args, nargs, &st, error_r) < 0)
		return -1;
	int rc;
	while ((rc = db_step(st, error_r)) == 1)
		;
	sqlite3_finalize(st);
	if (rc < 0)
		return -1;
	if (changes_r != NULL)
		*changes_r = sqlite3_changes(db);
	return 0;
}

int db_get_int(sqlite3 *db, const char *sql, const struct db_arg *args, size_t nargs,
	       long long *value_r, char **error_r)
{
	sqlite3_stmt *st;
	if (db_prepare(db, sql, args, nargs, &st, error_r) < 0)
		return -1;
	int rc = db_step(st, error_r);
	if (rc == 1)
		*value_r = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc;
}

int db_begin(sqlite3 *db, char **error_r)
{
	return db_exec(db, "BEGIN IMMEDIATE", "begin transaction", error_r);
}

int db_commit(sqlite3 *db, char **error_r)
{
	if (db_exec(db, "COMMIT", "commit", error_r) < 0) {
		db_rollback(db);
		return -1;
	}
	return 0;
}

void db_rollback(sqlite3 *db)
{
	if (!sqlite3_get_autocommit(db))
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

int db_schema_version(sqlite3 *db, int *version_r, char **error_r)
{
	long long v = 0;
	if (db_get_int(db, "PRAGMA user_version", DB_NO_ARGS, &v, error_r) < 0)
		return -1;
	*version_r = (int)v;
	return 0;
}

/* Step `step` (0-based) in one transaction, unless another process has
 * applied it meanwhile. */
static int migrate_step(sqlite3 *db, int step, char **error_r)
{
	int version;
	if (db_begin(db, error_r) < 0)
		return -1;
	if (db_schema_version(db, &version, error_r) < 0)
		goto fail;
	if (version > step)
		return db_commit(db, error_r);
	char what[64];
	snprintf(what, sizeof what, "schema migration to version %d", step + 1);
	if (db_exec(db, migrations[step], what, error_r) < 0)
		goto fail;
	char pragma[64];
	snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", step + 1);
	if (db_exec(db, pragma, what, error_r) < 0 || db_commit(db, error_r) < 0)
		goto fail;
	log_debug("directory", "event=migrate version=%d", step + 1);
	return 0;
fail:
	db_rollback(db);
	return -1;
}

int db_migrate(sqlite3 *db, int target, char **error_r)
{
	int version;
	if (db_schema_version(db, &version, error_r) < 0)
		return -1;
	if (version > MIGRATIONS) {
		*error_r = xasprintf("%s: schema version %d is newer than this surel knows (%d); "
				     "run a newer surel", sqlite3_db_filename(db, "main"),
				     version, MIGRATIONS);
		return -1;
	}
	if (target > MIGRATIONS)
		target = MIGRATIONS;
	for (int step = version; step < target; step++)
		if (migrate_step(db, step, error_r) < 0)
			return -1;
	return 0;
}

/* The busy handler. SQLite's own (sqlite3_busy_timeout) sleeps 1, 2, 5,
 * 10, 15, 20, 25, 25, 25, 50, 50, 100 ms between tries: a writer that finds
 * the lock taken by a commit that lasts a millisecond or two sleeps longer
 * than the commit did, and concurrent writers spend their time asleep with
 * the lock free. This one sleeps 50 us, then twice as long each time up to
 * 1 ms, and keeps trying every millisecond until the timeout: what it waited
 * is known from the number of tries (count), without a clock. The timeout
 * in ms is the handler's argument. */
static long long busy_waited_us(int count)
{
	return count <= 5 ? 50LL * ((1LL << count) - 1) : 1550LL + 1000LL * (count - 5);
}

static int busy_sleep(void *arg, int count)
{
	long long timeout_us = 1000LL * (intptr_t)arg;
	if (busy_waited_us(count) >= timeout_us)
		return 0;   /* SQLITE_BUSY to the caller */
	long long delay_us = count < 5 ? 50LL << count : 1000;
	struct timespec ts = { .tv_sec = 0, .tv_nsec = delay_us * 1000 };
	while (nanosleep(&ts, &ts) < 0)
		;   /* EINTR: sleep the rest */
	return 1;
}

int db_busy_timeout(sqlite3 *db, int timeout_ms)
{
	return sqlite3_busy_handler(db, busy_sleep, (void *)(intptr_t)timeout_ms) == SQLITE_OK
	       ? 0 : -1;
}

static int set_pragmas(sqlite3 *db, char **error_r)
{
	if (db_busy_timeout(db, 5000) < 0 ||
	    db_exec(db, "PRAGMA foreign_keys = ON", "foreign_keys", error_r) < 0 ||
	    db_exec(db, "PRAGMA synchronous = FULL", "synchronous", error_r) < 0)
		return -1;
	sqlite3_stmt *st;
	if (db_prepare(db, "PRAGMA journal_mode = WAL", DB_NO_ARGS, &st, error_r) < 0)
		return -1;
	int rc = db_step(st, error_r);
	const char *mode = rc == 1 ? (const char *)sqlite3_column_text(st, 0) : NULL;
	if (rc == 1 && (mode == NULL || strcmp(mode, "wal") != 0)) {
		*error_r = xasprintf("%s: cannot switch to WAL mode (got '%s')",
				     sqlite3_db_filename(db, "main"), mode ? mode : "");
		rc = -1;
	}
	sqlite3_finalize(st);
	return rc == 1 ? 0 : -1;
}

int db_open(const char *path, sqlite3 **db_r, char **error_r)
{
	sqlite3 *db = NULL;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
		*error_r = xasprintf("%s: cannot open: %s", path,
				     db != NULL ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return -1;
	}
	if (set_pragmas(db, error_r) < 0 || db_migrate(db, MIGRATIONS, error_r) < 0) {
		sqlite3_close(db);
		return -1;
	}
	*db_r = db;
	return 0;
}

/* ---- relative paths ----
 *
 * SQLite turns a relative file name into an absolute one (getcwd(), then
 * lstat() of every component to resolve symbolic links) before it opens it.
 * A child of the master chdir()s into the data directory as root and then
 * drops privileges; when a parent of the data directory is not searchable by
 * server.user (/root/var, a pytest temporary directory) that absolute path
 * cannot be opened, although "./surel.db" can. This VFS is SQLite's default
 * one with a name resolution that keeps such a relative name as it is.
 *
 * It does so only when that is safe: no ".." component and no component that
 * is a symbolic link, so that the name means the same file as SQLite's
 * resolved one, and its -wal and -shm files are the same files as those of a
 * process that opens the database by its absolute path. Anything else is left
 * to SQLite. The process must not change its directory afterwards. */

static sqlite3_vfs *base_vfs;
static sqlite3_vfs relative_vfs;

static bool keep_relative(const char *path)
{
	if (path[0] == '/' || path[0] == '\0')
		return false;
	char buf[4096];
	size_t len = strlen(path);
	if (len >= sizeof buf)
		return false;
	memcpy(buf, path, len + 1);
	/* Each prefix ending before a '/', then the whole name. */
	for (size_t i = 0; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		size_t start = i;
		while (start > 0 && buf[start - 1] != '/')
			start--;
		if (i - start == 2 && buf[start] == '.' && buf[start + 1] == '.')
			return false;
		char c = buf[i];
		buf[i] = '\0';
		struct stat st;
		bool link = lstat(buf, &st) == 0 && S_ISLNK(st.st_mode);
		buf[i] = c;
		if (link)
			return false;
	}
	return true;
}

static int relative_full_pathname(sqlite3_vfs *vfs, const char *path, int n, char *out)
{
	if (!keep_relative(path))
		return base_vfs->xFullPathname(base_vfs, path, n, out);
	size_t len = strlen(path);
	if (n <= 0 || len >= (size_t)n)
		return SQLITE_CANTOPEN;
	memcpy(out, path, len + 1);
	return SQLITE_OK;
}

int db_use_relative_paths(void)
{
	if (base_vfs != NULL)
		return 0;
	sqlite3_vfs *vfs = sqlite3_vfs_find(NULL);
	if (vfs == NULL)
		return -1;
	relative_vfs = *vfs;
	relative_vfs.pNext = NULL;
	relative_vfs.zName = "surel-relative";
	relative_vfs.xFullPathname = relative_full_pathname;
	base_vfs = vfs;
	if (sqlite3_vfs_register(&relative_vfs, 1) != SQLITE_OK) {
		base_vfs = NULL;
		return -1;
	}
	return 0;
}

void db_close(sqlite3 **db)
{
	if (*db == NULL)
		return;
	sqlite3_close(*db);
	*db = NULL;
}
