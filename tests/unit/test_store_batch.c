/* db_batch (src/store/db_batch.h): group commit of small write transactions.
 * Table-driven single operations (success, failure, an operation that
 * leaves an error string and succeeds), then threads: many operations from
 * many threads and connections, every one applied exactly once, in fewer
 * transactions than operations; and a failing operation in a group that
 * fails alone while the others of its group commit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "account/db.h"
#include "core/xmalloc.h"
#include "store/db_batch.h"

struct dbfx {
	char dir[64];
	char *path;
};

static int dbfx_setup(void **state)
{
	struct dbfx *f = xcalloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/surel-test-batch-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->path = xasprintf("%s/t.db", f->dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode = WAL;"
				      "CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER NOT NULL);",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	*state = f;
	return 0;
}

static int dbfx_teardown(void **state)
{
	struct dbfx *f = *state;
	char *cmd = xasprintf("rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f->path);
	free(f);
	return 0;
}

/* A connection as the store opens one: WAL, FULL, the short busy handler. */
static sqlite3 *conn(const struct dbfx *f)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
					 NULL), SQLITE_OK);
	assert_int_equal(db_busy_timeout(db, 10000), 0);
	assert_int_equal(sqlite3_exec(db, "PRAGMA synchronous = FULL", NULL, NULL, NULL), SQLITE_OK);
	return db;
}

static long long value(sqlite3 *db, const char *sql)
{
	long long v = -1;
	char *err = NULL;
	int r = db_get_int(db, sql, DB_NO_ARGS, &v, &err);
	if (r < 0)
		fail_msg("%s: %s", sql, err);
	return r == 1 ? v : -1;
}

/* ---- operations ---- */

struct put {
	long long k, v;
	bool fail_after;    /* write, then fail: the write must be rolled back */
	bool warn;          /* succeed with an error string (freed by db_batch_run) */
};

static int put_run(sqlite3 *db, void *arg, char **error_r)
{
	struct put *p = arg;
	if (db_run(db, "INSERT INTO t (k, v) VALUES (?1, ?2) "
		   "ON CONFLICT (k) DO UPDATE SET v = v + ?2",
		   DB_ARGS(db_int(p->k), db_int(p->v)), NULL, error_r) < 0)
		return -1;
	if (p->warn)
		*error_r = xstrdup("a note, not an error");
	if (p->fail_after) {
		*error_r = xasprintf("put %lld refused", p->k);
		return -1;
	}
	return 0;
}

/* A constraint failure inside SQLite (v is NOT NULL). */
static int null_run(sqlite3 *db, void *arg, char **error_r)
{
	(void)arg;
	return db_run(db, "INSERT INTO t (k, v) VALUES (1000, NULL)", DB_NO_ARGS, NULL, error_r);
}

/* ---- one at a time ---- */

static void test_single(void **state)
{
	struct dbfx *f = *state;
	sqlite3 *db = conn(f);
	static const struct {
		struct put put;
		int rc;
		long long after;   /* v of k afterwards, -1: no row */
	} cases[] = {
		{ { 1, 5, false, false }, 0, 5 },
		{ { 1, 2, false, false }, 0, 7 },
		{ { 2, 1, true, false }, -1, -1 },   /* rolled back */
		{ { 1, 1, true, false }, -1, 7 },
		{ { 3, 4, false, true }, 0, 4 },     /* a note is not a failure */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct put p = cases[i].put;
		char *err = NULL;
		int rc = db_batch_run(db, put_run, &p, &err);
		assert_int_equal(rc, cases[i].rc);
		if (rc < 0) {
			assert_non_null(err);
			free(err);
		} else {
			assert_null(err);
		}
		char *sql = xasprintf("SELECT v FROM t WHERE k = %lld", p.k);
		assert_int_equal(value(db, sql), cases[i].after);
		free(sql);
		assert_true(sqlite3_get_autocommit(db));   /* no transaction left open */
	}
	char *err = NULL;
	assert_int_equal(db_batch_run(db, null_run, NULL, &err), -1);
	assert_non_null(strstr(err, "NOT NULL"));
	free(err);
	assert_int_equal(value(db, "SELECT COUNT(*) FROM t"), 2);
	sqlite3_close(db);
}

/* ---- threads ---- */

enum { THREADS = 8, OPS = 200 };

struct worker {
	const struct dbfx *f;
	int n;
	pthread_barrier_t *start;
	int failed;          /* operations refused as expected */
	int errors;          /* unexpected failures */
};

/* Each thread has its own connection (as each IMAP session has its own
 * store) and hands in OPS increments; every 10th operation of odd threads
 * fails after writing. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	sqlite3 *db = conn(w->f);
	pthread_barrier_wait(w->start);
	for (int i = 0; i < OPS; i++) {
		struct put p = { .k = i % 5, .v = 1, .fail_after = w->n % 2 == 1 && i % 10 == 0 };
		char *err = NULL;
		int rc = db_batch_run(db, put_run, &p, &err);
		if (rc < 0 && p.fail_after && err != NULL && strstr(err, "refused") != NULL)
			w->failed++;
		else if (rc < 0 || p.fail_after)
			w->errors++;
		free(err);
	}
	sqlite3_close(db);
	return NULL;
}

static void test_threads(void **state)
{
	struct dbfx *f = *state;
	pthread_t th[THREADS];
	struct worker w[THREADS];
	pthread_barrier_t start;
	unsigned long tx0, ops0, tx1, ops1;
	pthread_barrier_init(&start, NULL, THREADS);
	db_batch_stats(&tx0, &ops0);
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .f = f, .n = i, .start = &start };
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	int failed = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].errors, 0);
		failed += w[i].failed;
	}
	pthread_barrier_destroy(&start);
	db_batch_stats(&tx1, &ops1);
	/* Every operation applied once, the refused ones not at all. */
	int expected_failed = (THREADS / 2) * (OPS / 10);
	assert_int_equal(failed, expected_failed);
	sqlite3 *db = conn(f);
	assert_int_equal(value(db, "SELECT SUM(v) FROM t"), THREADS * OPS - expected_failed);
	assert_int_equal(value(db, "SELECT COUNT(*) FROM t"), 5);
	sqlite3_close(db);
	assert_int_equal(ops1 - ops0, THREADS * OPS);
	/* Grouped: fewer transactions than operations (8 threads contending
	 * for 1,600 commits group some, however the scheduler runs them). */
	print_message("%lu operations in %lu transactions\n", ops1 - ops0, tx1 - tx0);
	assert_true(tx1 - tx0 < ops1 - ops0);
}

/* A group made by hand: a leader holds the queue (its operation blocks)
 * while others queue behind it; they run as one group, where one fails
 * and the others commit. */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool entered, open;
};

static int gated_run(sqlite3 *db, void *arg, char **error_r)
{
	struct gate *g = arg;
	pthread_mutex_lock(&g->mu);
	g->entered = true;
	pthread_cond_broadcast(&g->cv);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	return db_run(db, "INSERT INTO t (k, v) VALUES (100, 1)", DB_NO_ARGS, NULL, error_r);
}

struct follower {
	const struct dbfx *f;
	struct gate *gate;   /* the leader's */
	struct put put;
	int rc;
	char *err;
};

static void *gated_main(void *arg)
{
	struct follower *x = arg;
	sqlite3 *db = conn(x->f);
	x->rc = db_batch_run(db, gated_run, x->gate, &x->err);
	sqlite3_close(db);
	return NULL;
}

static void *follower_main(void *arg)
{
	struct follower *x = arg;
	sqlite3 *db = conn(x->f);
	x->rc = db_batch_run(db, put_run, &x->put, &x->err);
	sqlite3_close(db);
	return NULL;
}

static void test_group_failure(void **state)
{
	struct dbfx *f = *state;
	struct gate gate = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	struct follower lead = { .f = f, .gate = &gate };
	pthread_t lt, ft[3];
	assert_int_equal(pthread_create(&lt, NULL, gated_main, &lead), 0);
	pthread_mutex_lock(&gate.mu);
	while (!gate.entered)
		pthread_cond_wait(&gate.cv, &gate.mu);
	pthread_mutex_unlock(&gate.mu);
	/* The leader is inside its group: these three queue for the next. */
	struct follower fol[3] = {
		{ .f = f, .put = { .k = 200, .v = 1 } },
		{ .f = f, .put = { .k = 201, .v = 1, .fail_after = true } },
		{ .f = f, .put = { .k = 202, .v = 1 } },
	};
	unsigned long tx0, ops0, tx1, ops1;
	db_batch_stats(&tx0, &ops0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&ft[i], NULL, follower_main, &fol[i]), 0);
	usleep(500 * 1000);   /* let them queue */
	pthread_mutex_lock(&gate.mu);
	gate.open = true;
	pthread_cond_broadcast(&gate.cv);
	pthread_mutex_unlock(&gate.mu);
	pthread_join(lt, NULL);
	assert_int_equal(lead.rc, 0);
	for (int i = 0; i < 3; i++)
		pthread_join(ft[i], NULL);
	db_batch_stats(&tx1, &ops1);
	assert_int_equal(fol[0].rc, 0);
	assert_int_equal(fol[1].rc, -1);
	assert_non_null(strstr(fol[1].err, "put 201 refused"));
	assert_int_equal(fol[2].rc, 0);
	for (int i = 0; i < 3; i++)
		free(fol[i].err);
	assert_int_equal(ops1 - ops0, 3);
	assert_int_equal(tx1 - tx0, 1);   /* one group */
	sqlite3 *db = conn(f);
	assert_int_equal(value(db, "SELECT COUNT(*) FROM t WHERE k = 100"), 1);
	assert_int_equal(value(db, "SELECT COUNT(*) FROM t WHERE k IN (200, 202)"), 2);
	assert_int_equal(value(db, "SELECT COUNT(*) FROM t WHERE k = 201"), 0);
	sqlite3_close(db);
}

/* The whole transaction cannot begin (another connection holds the write
 * lock past the timeout): the operation fails with that error, nothing is
 * left open. */
static void test_busy(void **state)
{
	struct dbfx *f = *state;
	sqlite3 *holder = conn(f), *db = conn(f);
	assert_int_equal(db_busy_timeout(db, 20), 0);
	assert_int_equal(sqlite3_exec(holder, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	struct put p = { .k = 7, .v = 1 };
	char *err = NULL;
	assert_int_equal(db_batch_run(db, put_run, &p, &err), -1);
	assert_non_null(strstr(err, "locked"));
	free(err);
	assert_true(sqlite3_get_autocommit(db));
	assert_int_equal(sqlite3_exec(holder, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(db_batch_run(db, put_run, &p, &err), 0);
	assert_int_equal(value(db, "SELECT v FROM t WHERE k = 7"), 1);
	sqlite3_close(holder);
	sqlite3_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_single, dbfx_setup, dbfx_teardown),
		cmocka_unit_test_setup_teardown(test_threads, dbfx_setup, dbfx_teardown),
		cmocka_unit_test_setup_teardown(test_group_failure, dbfx_setup, dbfx_teardown),
		cmocka_unit_test_setup_teardown(test_busy, dbfx_setup, dbfx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
