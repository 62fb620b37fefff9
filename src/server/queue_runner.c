/* The queue runner: the one process that owns the spool. It delivers
 * local mail (src/queue/deliver.c); outbound SMTP comes with its own issue.
 *
 * It watches DATA_DIR/spool with inotify (an envelope renamed into place is
 * a new message) and walks the spool every QUEUE_RESCAN seconds as well, as
 * a safety net and for retries. A walk delivers at most QUEUE_BATCH entries
 * before it returns to the loop (and goes on at once), so that SIGTERM is
 * seen between batches. queue.local_delivery = no leaves the spool alone. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/config.h"
#include "core/log.h"
#include "queue/deliver.h"
#include "queue/spool.h"
#include "server/listen.h"
#include "server/worker.h"

#define QUEUE_RESCAN 3              /* seconds */
#define QUEUE_BATCH 64              /* entries per turn of the loop (delivered 8 at a time) */
#define QUEUE_LEFTOVER_AGE 86400    /* a .tmp this old is no session's */

struct runner {
	struct event_base *base;
	struct deliver *deliver;
	struct event *kick;             /* run a delivery pass */
	struct event *rescan;
	struct event *inotify;
	int inotify_fd;
};

static void sigterm_cb(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopexit(arg, NULL);
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct runner *r = arg;
	if (deliver_run(r->deliver, QUEUE_BATCH))
		event_active(r->kick, EV_TIMEOUT, 0);   /* more: after pending signals */
}

static void rescan_cb(evutil_socket_t fd, short what, void *arg)
{
	struct runner *r = arg;
	event_active(r->kick, EV_TIMEOUT, 0);
}

static void inotify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct runner *r = arg;
	char events[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool new_entry = false;
	for (;;) {
		ssize_t n = read(fd, events, sizeof events);
		if (n <= 0)
			break;
		for (char *p = events; p < events + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			size_t len = ev->len > 0 ? strlen(ev->name) : 0;
			if ((ev->mask & IN_Q_OVERFLOW) ||
			    (len > 4 && strcmp(ev->name + len - 4, ".env") == 0))
				new_entry = true;
			p += sizeof *ev + ev->len;
		}
	}
	if (new_entry)
		event_active(r->kick, EV_TIMEOUT, 0);
}

/* Watch the spool directory (made when missing). Without inotify the
 * rescan timer still delivers. */
static void watch_spool(struct runner *r)
{
	const char *dir = deliver_spool_dir(r->deliver);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		log_warn("queue", "event=spool_error dir=%s error=\"%s\"", dir, strerror(errno));
	r->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (r->inotify_fd < 0 ||
	    inotify_add_watch(r->inotify_fd, dir, IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
		log_warn("queue", "event=inotify_failed dir=%s error=\"%s\" fallback=rescan", dir,
			 strerror(errno));
		if (r->inotify_fd >= 0)
			close(r->inotify_fd);
		r->inotify_fd = -1;
		return;
	}
	r->inotify = event_new(r->base, r->inotify_fd, EV_READ | EV_PERSIST, inotify_cb, r);
	event_add(r->inotify, NULL);
}

static void runner_start(struct runner *r, struct child_args *args)
{
	char *error = NULL;
	if (deliver_new(args->cfg, &r->deliver, &error) < 0) {
		log_error("queue", "event=deliver_failed step=open error=\"%s\"", error);
		free(error);
		exit(1);   /* the master restarts us, with a back-off */
	}
	int cleaned = spool_clean_leftovers(deliver_spool_dir(r->deliver), QUEUE_LEFTOVER_AGE);
	if (cleaned > 0)
		log_info("queue", "event=spool_cleaned files=%d", cleaned);
	r->kick = event_new(r->base, -1, 0, kick_cb, r);
	r->rescan = event_new(r->base, -1, EV_PERSIST, rescan_cb, r);
	struct timeval every = { QUEUE_RESCAN, 0 };
	event_add(r->rescan, &every);
	watch_spool(r);
	event_active(r->kick, EV_TIMEOUT, 0);   /* what waited while we were down */
}

static void runner_stop(struct runner *r)
{
	if (r->inotify != NULL)
		event_free(r->inotify);
	if (r->inotify_fd >= 0)
		close(r->inotify_fd);
	if (r->rescan != NULL)
		event_free(r->rescan);
	if (r->kick != NULL)
		event_free(r->kick);
	deliver_free(&r->deliver);
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

	struct runner r = { .base = base, .inotify_fd = -1 };
	if (args->cfg->queue_local_delivery)
		runner_start(&r, args);
	else
		log_info("queue", "event=local_delivery_disabled");

	event_base_dispatch(base);

	/* Done: a late signal must not kill us half-way through cleaning up. */
	sigset_t old;
	signals_block_all(&old);
	runner_stop(&r);
	event_free(sigterm);
	event_free(sigquit);
	event_base_free(base);
	log_debug("queue", "event=exit");
	return 0;
}
