/* Group commit of small write transactions on one SQLite database, within
 * one process.
 *
 * Threads that each need a short write transaction on the same database
 * file (the store's blobs.db: a blob's row, a reference count) hand it in
 * as an operation. One of them, the leader, runs every operation waiting
 * at that moment in one BEGIN IMMEDIATE ... COMMIT on its own connection,
 * each operation inside its own SAVEPOINT, then gives each thread its own
 * result: one commit (one WAL fsync, one hold of the write lock) for the
 * whole group instead of one per operation, and no thread sleeping in
 * SQLite's busy handler for a lock another thread of the same process holds.
 *
 * An operation that fails is rolled back to its savepoint and fails alone;
 * the others commit. When the transaction itself cannot begin or commit,
 * every operation of the group fails with that error. db_batch_run()
 * returns only once the operation's transaction has committed (or failed),
 * so a caller's durability promise is the same as with its own transaction.
 *
 * Operations are grouped by database file name (sqlite3_db_filename), so
 * any connection of the process to that file may be passed: the leader
 * runs the group on its own connection. An operation therefore uses only
 * the connection it is given, never one of its own; it runs on another
 * thread than its caller's, while that caller waits. */
#ifndef SUREL_STORE_DB_BATCH_H
#define SUREL_STORE_DB_BATCH_H

#include <sqlite3.h>

/* One operation: 0, or -1 with *error_r set (malloc'd). It must not begin,
 * commit or roll back a transaction itself. */
typedef int db_batch_fn(sqlite3 *db, void *arg, char **error_r);

/* Run fn(db', arg) in a write transaction shared with the operations other
 * threads of this process hand in for the same database file at the same
 * moment; db' is db or another thread's connection to the same file. 0
 * once committed, or -1 with *error_r. Do not call it from inside an
 * operation, nor with a transaction open on db. */
int db_batch_run(sqlite3 *db, db_batch_fn *fn, void *arg, char **error_r);

/* Statistics since the start of the process, for the tests and benchmarks:
 * transactions committed or tried, and operations run. */
void db_batch_stats(unsigned long *transactions_r, unsigned long *operations_r);

#endif
