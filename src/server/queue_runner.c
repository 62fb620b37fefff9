/* The queue runner: the one process that will own the spool, deliver
 * local mail and send outbound mail. The spool and delivery come with their
 * own issue; for now this process only runs its loop, so that the master's
 * supervision (restart, reload, shutdown) is already in place for it. */
#include <signal.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/log.h"
#include "server/listen.h"
#include "server/worker.h"

static void sigterm_cb(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopexit(arg, NULL);
}

int queue_runner_run(struct child_args *args)
{
	/* The queue serves no clients: close the inherited listening sockets so
	 * that a port closed by a reload is not kept open here. */
	if (args->listeners != NULL)
		listener_set_close(args->listeners);
	child_setup(args, "queue");

	struct event_base *base = event_base_new();
	if (base == NULL) {
		log_error("server", "event=child_failed step=event_base");
		return 1;
	}
	struct event *sigterm = evsignal_new(base, SIGTERM, sigterm_cb, base);
	struct event *sigquit = evsignal_new(base, SIGQUIT, sigterm_cb, base);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigquit, NULL);
	child_unblock_signals();
	log_debug("queue", "event=started pid=%d", (int)getpid());

	event_base_dispatch(base);

	/* Done: a late signal must not kill us half-way through cleaning up. */
	sigset_t old;
	signals_block_all(&old);
	event_free(sigterm);
	event_free(sigquit);
	event_base_free(base);
	log_debug("queue", "event=exit");
	return 0;
}
