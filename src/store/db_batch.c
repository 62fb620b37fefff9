/* Group commit of small write transactions: see db_batch.h.
 *
 * Per database file, a queue of operations under a mutex. A thread that
 * hands one in while no group is running becomes the leader: it takes the
 * whole queue, runs it in one transaction on its own connection, marks
 * every operation done and wakes the others. Operations handed in while a
 * group runs wait for the next group, whose leader is the first of them
 * to wake. Nothing is started ahead of time and nobody waits for a group
 * to fill: under no contention a group is one operation, and costs what a
 * transaction of its own did. */
#include "store/db_batch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "account/db.h"
#include "core/xmalloc.h"

struct db_batch_op {
	db_batch_fn *fn;
	void *arg;
	int rc;
	char *error;
	bool done;
	struct db_batch_op *next;
};

/* One database file's queue. Groups live as long as the process: there is
 * one per file (the store has one blobs.db). */
struct db_batch_group {
	char *name;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct db_batch_op *head, **tail;
	bool running;
	struct db_batch_group *next;
};

static pthread_mutex_t groups_mu = PTHREAD_MUTEX_INITIALIZER;
static struct db_batch_group *groups;
static atomic_ulong n_transactions, n_operations;

static struct db_batch_group *group_get(const char *name)
{
	pthread_mutex_lock(&groups_mu);
	struct db_batch_group *g = groups;
	while (g != NULL && strcmp(g->name, name) != 0)
		g = g->next;
	if (g == NULL) {
		g = xcalloc(1, sizeof *g);
		g->name = xstrdup(name);
		pthread_mutex_init(&g->mu, NULL);
		pthread_cond_init(&g->cv, NULL);
		g->tail = &g->head;
		g->next = groups;
		groups = g;
	}
	pthread_mutex_unlock(&groups_mu);
	return g;
}

static int exec(sqlite3 *db, const char *sql, char **error_r)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	*error_r = xasprintf("%s: %s: %s", sqlite3_db_filename(db, "main"), sql,
			     sqlite3_errmsg(db));
	return -1;
}

/* Every operation not failed already (not run yet, or run but not
 * committed) fails with error. */
static void fail_rest(struct db_batch_op *ops, const char *error)
{
	for (struct db_batch_op *op = ops; op != NULL; op = op->next) {
		if (op->rc < 0)
			continue;
		op->rc = -1;
		op->error = xstrdup(error);
	}
}

/* The whole group in one transaction; each operation in a savepoint when
 * there is more than one. Sets every op->rc and op->error. */
static void run_group(sqlite3 *db, struct db_batch_op *ops)
{
	bool single = ops->next == NULL;
	size_t succeeded = 0;
	char *err = NULL;
	atomic_fetch_add(&n_transactions, 1);
	if (db_begin(db, &err) < 0)
		goto abort;
	for (struct db_batch_op *op = ops; op != NULL; op = op->next) {
		atomic_fetch_add(&n_operations, 1);
		if (!single && exec(db, "SAVEPOINT db_batch", &err) < 0)
			goto abort;
		op->rc = op->fn(db, op->arg, &op->error);
		if (op->rc == 0) {
			succeeded++;
			if (!single && exec(db, "RELEASE db_batch", &err) < 0)
				goto abort;
			continue;
		}
		op->rc = -1;
		if (op->error == NULL)
			op->error = xstrdup("database operation failed");
		/* Some errors (I/O, disk full) make SQLite roll the whole
		 * transaction back: nothing of the group is left to commit. */
		if (sqlite3_get_autocommit(db)) {
			err = xasprintf("transaction rolled back: %s", op->error);
			goto abort;
		}
		if (!single && (exec(db, "ROLLBACK TO db_batch", &err) < 0 ||
				exec(db, "RELEASE db_batch", &err) < 0))
			goto abort;
	}
	if (succeeded == 0) {
		db_rollback(db);
		return;
	}
	if (db_commit(db, &err) < 0)   /* rolls back */
		goto abort;
	return;
abort:
	db_rollback(db);
	fail_rest(ops, err != NULL ? err : "database transaction failed");
	free(err);
}

int db_batch_run(sqlite3 *db, db_batch_fn *fn, void *arg, char **error_r)
{
	struct db_batch_op op = { .fn = fn, .arg = arg };
	const char *name = sqlite3_db_filename(db, "main");
	if (name == NULL || *name == '\0') {
		/* A private (in-memory, temporary) database: no other
		 * connection can run its operations. */
		run_group(db, &op);
	} else {
		struct db_batch_group *g = group_get(name);
		pthread_mutex_lock(&g->mu);
		*g->tail = &op;
		g->tail = &op.next;
		while (!op.done && g->running)
			pthread_cond_wait(&g->cv, &g->mu);
		if (!op.done) {
			/* Lead: take everything queued, op included. */
			struct db_batch_op *ops = g->head;
			g->head = NULL;
			g->tail = &g->head;
			g->running = true;
			pthread_mutex_unlock(&g->mu);
			run_group(db, ops);
			pthread_mutex_lock(&g->mu);
			/* A follower's op lives on its stack: it may go as soon as
			 * done is set and the mutex is released. */
			for (struct db_batch_op *o = ops, *next; o != NULL; o = next) {
				next = o->next;
				o->done = true;
			}
			g->running = false;
			pthread_cond_broadcast(&g->cv);
		}
		pthread_mutex_unlock(&g->mu);
	}
	if (op.rc < 0) {
		*error_r = op.error;
		return -1;
	}
	free(op.error);   /* an operation that set an error and still succeeded */
	return 0;
}

void db_batch_stats(unsigned long *transactions_r, unsigned long *operations_r)
{
	*transactions_r = atomic_load(&n_transactions);
	*operations_r = atomic_load(&n_operations);
}
