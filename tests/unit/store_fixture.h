/* Shared by the store's unit tests (test_store*.c): a temporary data
 * directory with a store and user 1 open, and helpers that fail the test on
 * any store error. Include after <cmocka.h>. */
#ifndef SUREL_TESTS_STORE_FIXTURE_H
#define SUREL_TESTS_STORE_FIXTURE_H

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "store/store.h"

struct fx {
	char dir[64];
	struct store *s;
	struct store_user *u;
};

static inline void ok(int rc, char **err)
{
	if (rc != 0)
		fail_msg("unexpected error: %s", *err != NULL ? *err : "(none)");
}

/* The call failed with this kind; the message is freed. */
static inline void fails(struct store_user *u, int rc, char **err, enum store_error kind)
{
	assert_int_equal(rc, -1);
	assert_non_null(*err);
	if (store_user_last_error(u) != kind)
		fail_msg("error kind %s, want %s (%s)", store_error_name(store_user_last_error(u)),
			 store_error_name(kind), *err);
	xfree(err);
}

static inline int fx_setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/surel-test-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	char *err = NULL;
	ok(store_open(f->dir, &f->s, &err), &err);
	ok(store_user_open(f->s, 1, &f->u, &err), &err);
	*state = f;
	return 0;
}

static inline int fx_teardown(void **state)
{
	struct fx *f = *state;
	store_user_close(&f->u);
	store_close(&f->s);
	char *cmd = xasprintf("rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f);
	return 0;
}

/* A committed blob holding text, written in small pieces (the streaming API). */
static inline struct store_blob *mkblob(struct store *s, const char *text)
{
	struct store_blob_writer *w;
	struct store_blob *b;
	char *err = NULL;
	size_t len = strlen(text);
	ok(store_blob_begin(s, &w, &err), &err);
	for (size_t off = 0; off < len; off += 7)
		ok(store_blob_write(w, text + off, len - off < 7 ? len - off : 7, &err), &err);
	ok(store_blob_commit(&w, &b, &err), &err);
	assert_null(w);
	return b;
}

/* A small message, different for each n. */
static inline char *mkmsg(int n)
{
	return xasprintf("From: Alice <alice@example.org>\r\n"
			 "To: bob@example.org\r\n"
			 "Subject: Message %d\r\n"
			 "Date: Mon, 2 Nov 2026 10:00:00 +0000\r\n"
			 "Message-ID: <m%d@example.org>\r\n"
			 "\r\n"
			 "Body of message %d.\r\n", n, n, n);
}

static inline struct store_mailbox *mbox(struct store_user *u, const char *name)
{
	struct store_mailbox *mb;
	char *err = NULL;
	ok(store_mailbox_open(u, name, &mb, &err), &err);
	return mb;
}

/* Append message text with flags; its UID. */
static inline uint32_t append_text(struct store *s, struct store_mailbox *mb, const char *text,
				   unsigned flags)
{
	struct store_blob *b = mkblob(s, text);
	struct store_append a = { .blob = b, .flags = flags, .internaldate = 1700000000 };
	uint32_t uid = 0;
	char *err = NULL;
	ok(store_append(mb, &a, 1, 0, &uid, &err), &err);
	store_blob_free(&b);
	return uid;
}

static inline uint32_t append_n(struct store *s, struct store_mailbox *mb, int n, unsigned flags)
{
	char *text = mkmsg(n);
	uint32_t uid = append_text(s, mb, text, flags);
	free(text);
	return uid;
}

static inline struct store_mailbox_info status(struct store_mailbox *mb)
{
	struct store_mailbox_info info;
	char *err = NULL;
	ok(store_mailbox_status(mb, &info, &err), &err);
	return info;
}

static inline uint32_t validity(struct store_mailbox *mb)
{
	struct store_mailbox_info info = status(mb);
	uint32_t v = info.uidvalidity;
	store_mailbox_info_clear(&info);
	return v;
}

/* One integer from an SQLite database under the data directory. */
static inline long long sql_int(const char *dir, const char *db_rel, const char *sql)
{
	char *path = xasprintf("%s/%s", dir, db_rel);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	long long v = -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(path);
	return v;
}

static inline void sql_exec(const char *dir, const char *db_rel, const char *sql)
{
	char *path = xasprintf("%s/%s", dir, db_rel);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
	free(path);
}

static inline struct store_uidset *uidset_of(struct store_uid_range *r, size_t n,
					     struct store_uidset *set)
{
	set->ranges = r;
	set->count = n;
	return set;
}

#endif
