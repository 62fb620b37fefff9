/* surel.db: the SQLite connection, its schema migrations and small helpers
 * for prepared statements. Private to src/account/ (and its unit tests);
 * the rest of Surel goes through directory.h. */
#ifndef SUREL_ACCOUNT_DB_H
#define SUREL_ACCOUNT_DB_H

#include <sqlite3.h>
#include <stddef.h>

#define DB_FILE_NAME "surel.db"

/* The schema version this program writes (PRAGMA user_version). */
int db_schema_latest(void);

/* Open (creating) path: WAL, synchronous=FULL, foreign_keys=ON, busy timeout
 * 5 s; then migrate to db_schema_latest(). */
int db_open(const char *path, sqlite3 **db_r, char **error_r);
/* Apply the migrations up to `target`, each in its own transaction
 * (exported so that a test can build an old version). */
int db_migrate(sqlite3 *db, int target, char **error_r);
int db_schema_version(sqlite3 *db, int *version_r, char **error_r);
void db_close(sqlite3 **db);

/* Wait up to timeout_ms for a lock another connection holds, in short
 * sleeps (50 us growing to 1 ms) instead of SQLite's default steps of 1 to
 * 100 ms. db_open() sets it; the store's databases use it too. */
int db_busy_timeout(sqlite3 *db, int timeout_ms);

/* Make SQLite open a relative file name as it is, instead of by the
 * absolute path it would build (see db.c), for every database the process
 * opens from now on. For a process that has chdir()ed into the data
 * directory and dropped privileges. Returns 0, or -1. */
int db_use_relative_paths(void);

/* A bound parameter: text, integer or NULL. */
enum db_arg_type { DB_ARG_TEXT, DB_ARG_INT, DB_ARG_NULL };
struct db_arg {
	enum db_arg_type type;
	const char *text;
	long long num;
};
static inline struct db_arg db_text(const char *s)
{
	return (struct db_arg){ .type = DB_ARG_TEXT, .text = s };
}
static inline struct db_arg db_int(long long v)
{
	return (struct db_arg){ .type = DB_ARG_INT, .num = v };
}
static inline struct db_arg db_null(void)
{
	return (struct db_arg){ .type = DB_ARG_NULL };
}
/* DB_ARGS(a, b) expands to the array and its length, for the calls below. */
#define DB_ARGS(...) (const struct db_arg[]){ __VA_ARGS__ }, \
	sizeof((const struct db_arg[]){ __VA_ARGS__ }) / sizeof(struct db_arg)
#define DB_NO_ARGS NULL, 0

/* Prepare sql and bind args (?1, ?2, ... in order). */
int db_prepare(sqlite3 *db, const char *sql, const struct db_arg *args, size_t nargs,
	       sqlite3_stmt **st_r, char **error_r);
/* One step: 1 a row, 0 done, -1 error. */
int db_step(sqlite3_stmt *st, char **error_r);
/* Run a statement to completion; *changes_r (may be NULL) = rows changed. */
int db_run(sqlite3 *db, const char *sql, const struct db_arg *args, size_t nargs,
	   int *changes_r, char **error_r);
/* First column of the first row: 1 found, 0 no row, -1 error. */
int db_get_int(sqlite3 *db, const char *sql, const struct db_arg *args, size_t nargs,
	       long long *value_r, char **error_r);

/* BEGIN IMMEDIATE (a check-then-write holds the write lock from the start),
 * COMMIT, ROLLBACK. */
int db_begin(sqlite3 *db, char **error_r);
int db_commit(sqlite3 *db, char **error_r);
void db_rollback(sqlite3 *db);

#endif
