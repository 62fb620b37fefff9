/* Change notification across processes: every commit writes the user's
 * changes file (store_notify); a watcher follows it with inotify on its
 * event loop. Where inotify is not available (or runs out of watches) the
 * watcher polls the file's modification time twice a second instead. */
#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "store/store_int.h"

struct store_watch {
	char *path;
	int fd;                    /* inotify, or -1 when polling */
	struct event *ev;
	struct timespec mtime;     /* polling: last seen */
	off_t size;
	void (*cb)(void *ctx);
	void *ctx;
};

static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
	struct store_watch *w = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n <= 0)
			break;
		changed = true;   /* one callback for a burst of events */
	}
	if (changed)
		w->cb(w->ctx);
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct store_watch *w = arg;
	struct stat st;
	if (stat(w->path, &st) < 0)
		return;
	if (st.st_mtim.tv_sec != w->mtime.tv_sec || st.st_mtim.tv_nsec != w->mtime.tv_nsec ||
	    st.st_size != w->size) {
		w->mtime = st.st_mtim;
		w->size = st.st_size;
		w->cb(w->ctx);
	}
}

static int start_polling(struct store_watch *w, struct event_base *base, char **error_r)
{
	struct stat st;
	if (stat(w->path, &st) == 0) {
		w->mtime = st.st_mtim;
		w->size = st.st_size;
	}
	w->ev = event_new(base, -1, EV_PERSIST, on_poll, w);
	struct timeval half = { 0, 500000 };
	if (w->ev == NULL || event_add(w->ev, &half) < 0) {
		*error_r = xstrdup("cannot add a timer to the event loop");
		return -1;
	}
	return 0;
}

int store_user_watch(struct store_user *u, struct event_base *base, void (*cb)(void *ctx),
		     void *ctx, struct store_watch **w_r, char **error_r)
{
	struct store_watch *w = xcalloc(1, sizeof *w);
	w->path = xasprintf("%s/" STORE_CHANGES, u->dir);
	w->cb = cb;
	w->ctx = ctx;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd >= 0 && inotify_add_watch(w->fd, w->path, IN_MODIFY | IN_CLOSE_WRITE) < 0) {
		log_warn("store", "event=inotify_unavailable path=%s error=\"%s\" fallback=poll",
			 w->path, strerror(errno));
		close(w->fd);
		w->fd = -1;
	}
	int rc;
	if (w->fd < 0) {
		rc = start_polling(w, base, error_r);
	} else {
		w->ev = event_new(base, w->fd, EV_READ | EV_PERSIST, on_inotify, w);
		rc = w->ev != NULL && event_add(w->ev, NULL) == 0 ? 0 : -1;
		if (rc < 0)
			*error_r = xstrdup("cannot add the inotify descriptor to the event loop");
	}
	if (rc < 0) {
		store_watch_free(&w);
		return -1;
	}
	*w_r = w;
	return 0;
}

void store_watch_free(struct store_watch **wp)
{
	struct store_watch *w = *wp;
	if (w == NULL)
		return;
	if (w->ev != NULL)
		event_free(w->ev);
	if (w->fd >= 0)
		close(w->fd);
	free(w->path);
	free(w);
	*wp = NULL;
}
