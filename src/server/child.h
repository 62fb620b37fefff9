/* What every child of the master (workers, the queue runner) does first.
 *
 * The master forks with every signal blocked, so that no signal is handled by
 * the master's handlers inside the child. The child installs its own signal
 * events and only then calls child_unblock_signals(). */
#ifndef SUREL_SERVER_CHILD_H
#define SUREL_SERVER_CHILD_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "server/listen.h"

struct config;

/* What the master hands a child. The child owns its copy (after fork). */
struct child_args {
	struct config *cfg;
	struct listener_set *listeners;   /* the worker's sockets; NULL for the queue */
	SSL_CTX *ssl_ctx;
	unsigned index;                   /* worker.N, 1-based */
	int limits_slot;                  /* -1 for the queue runner */
	pid_t master;
};

/* Name the process ("worker.1": logs and /proc/PID/comm), chdir into the
 * data directory while still root (so a data directory under a root-only
 * path stays reachable; cfg->server_data_dir becomes "."), drop privileges
 * to server.user, and die with the master. Exits the process on failure. */
void child_setup(struct child_args *args, const char *name);

/* Master, around fork(): block every signal, and restore the old mask. */
void signals_block_all(sigset_t *old_r);
void signals_restore(const sigset_t *old);
/* Child, once its signal events are in place: unblock every signal. */
void child_unblock_signals(void);

#endif
