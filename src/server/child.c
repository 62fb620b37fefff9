#include "server/child.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "account/directory.h"
#include "core/config.h"
#include "core/log.h"
#include "core/privs.h"
#include "core/xmalloc.h"

void signals_block_all(sigset_t *old_r)
{
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, old_r);
}

void signals_restore(const sigset_t *old)
{
	sigprocmask(SIG_SETMASK, old, NULL);
}

void child_unblock_signals(void)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void child_fail(const char *what, const char *error)
{
	log_error("server", "event=child_failed step=%s error=\"%s\"", what, error);
	exit(1);
}

void child_setup(struct child_args *args, const char *name)
{
	log_set_process(name);
	char comm[16];
	snprintf(comm, sizeof comm, "surel-%s", name);
	prctl(PR_SET_NAME, comm, 0, 0, 0);

	/* The master coordinates: a Ctrl-C or a hang-up that reaches the whole
	 * process group is the master's to handle. */
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	/* No handler of the master's survives into the child. */
	signal(SIGTERM, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);

	struct config *cfg = args->cfg;
	if (chdir(cfg->server_data_dir) < 0) {
		char *e = xasprintf("%s: %s", cfg->server_data_dir, strerror(errno));
		child_fail("chdir", e);
	}
	free(cfg->server_data_dir);
	cfg->server_data_dir = xstrdup(".");
	/* SQLite would reopen "./surel.db" by its absolute path, whose parents
	 * server.user may not be allowed to search. */
	if (directory_use_relative_paths() < 0)
		child_fail("sqlite_vfs", "cannot register the relative-path VFS");

	char *error = NULL;
	if (privs_drop(cfg, &error) < 0)
		child_fail("privs_drop", error);
	/* Set after dropping privileges: changing credentials clears it. */
	prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
	if (getppid() != args->master)
		exit(0);   /* the master is already gone */
}
