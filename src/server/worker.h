/* The children of the master.
 *
 * A worker serves client sessions on every inherited listening socket, on
 * one libevent loop, as server.user. Signals from the master:
 *   SIGTERM  stop now: stop accepting, send every session the protocol's
 *            goodbye (SMTP 421, IMAP * BYE, POP3 -ERR), flush, exit.
 *   SIGQUIT  retire (after a reload): stop accepting, let sessions finish for
 *            up to server.shutdown_timeout, then as SIGTERM.
 *
 * The queue runner will own the spool and outbound delivery; for now it only
 * runs its loop and exits on SIGTERM (the spool comes with its own issue). */
#ifndef SUREL_SERVER_WORKER_H
#define SUREL_SERVER_WORKER_H

#include "server/child.h"

/* Run in the child right after fork(), with every signal blocked; returns
 * the exit status. */
int worker_run(struct child_args *args);
int queue_runner_run(struct child_args *args);

#endif
