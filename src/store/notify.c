/* Change notification across processes: every commit writes the user's
 * changes file (store_notify); a watcher follows it with inotify on its
 * event loop.
 *
 * All the watches of one event loop share one inotify instance (a hub): the
 * kernel allows few instances per user (fs.inotify.max_user_instances, 128
 * by default) but many watches, and an IMAP worker holds one watch per
 * logged-in session. Watches of one user's file share the kernel's watch
 * descriptor; it is removed with the last of them. Where inotify is not
 * available (or runs out of watches) a watcher polls the file's modification
 * time twice a second instead. */
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

struct watch_hub;

struct store_watch {
	char *path;
	struct watch_hub *hub;     /* inotify, or NULL when polling */
	int wd;
	bool fired;                /* hub: an event for wd in this burst */
	struct event *ev;          /* polling */
	struct timespec mtime;     /* polling: last seen */
	off_t size;
	void (*cb)(void *ctx);
	void *ctx;
};

/* One inotify instance for the watches of one event loop. */
struct watch_hub {
	struct event_base *base;
	int fd;
	struct event *ev;
	struct store_watch **watches;   /* NULL slots while dispatching */
	size_t count, cap;
	unsigned dispatching;
	struct watch_hub *next;
};

/* The hubs of this thread (an event loop belongs to one thread). */
static _Thread_local struct watch_hub *hubs;

static void hub_free(struct watch_hub *hub)
{
	for (struct watch_hub **p = &hubs; *p != NULL; p = &(*p)->next) {
		if (*p == hub) {
			*p = hub->next;
			break;
		}
	}
	event_free(hub->ev);
	close(hub->fd);
	free(hub->watches);
	free(hub);
}

/* Drop the NULL slots left by watches freed during a dispatch. */
static void hub_compact(struct watch_hub *hub)
{
	size_t k = 0;
	for (size_t i = 0; i < hub->count; i++)
		if (hub->watches[i] != NULL)
			hub->watches[k++] = hub->watches[i];
	hub->count = k;
}

static void mark_fired(struct watch_hub *hub, int wd)
{
	for (size_t i = 0; i < hub->count; i++)
		if (hub->watches[i] != NULL && hub->watches[i]->wd == wd)
			hub->watches[i]->fired = true;
}

static void on_hub_read(evutil_socket_t fd, short what, void *arg)
{
	struct watch_hub *hub = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			mark_fired(hub, e->wd);
			p += sizeof *e + e->len;
		}
	}
	/* One callback per watch for a burst of events. A callback may free
	 * any watch (its slot becomes NULL) or add one (appended, not fired). */
	hub->dispatching++;
	for (size_t i = 0; i < hub->count; i++) {
		struct store_watch *w = hub->watches[i];
		if (w == NULL || !w->fired)
			continue;
		w->fired = false;
		w->cb(w->ctx);
	}
	hub->dispatching--;
	if (hub->dispatching == 0) {
		hub_compact(hub);
		if (hub->count == 0)
			hub_free(hub);
	}
}

static struct watch_hub *hub_for(struct event_base *base)
{
	for (struct watch_hub *h = hubs; h != NULL; h = h->next)
		if (h->base == base)
			return h;
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0) {
		log_warn("store", "event=inotify_unavailable error=\"%s\" fallback=poll",
			 strerror(errno));
		return NULL;
	}
	struct watch_hub *hub = xcalloc(1, sizeof *hub);
	hub->base = base;
	hub->fd = fd;
	hub->ev = event_new(base, fd, EV_READ | EV_PERSIST, on_hub_read, hub);
	if (hub->ev == NULL || event_add(hub->ev, NULL) < 0) {
		if (hub->ev != NULL)
			event_free(hub->ev);
		close(fd);
		free(hub);
		return NULL;
	}
	hub->next = hubs;
	hubs = hub;
	return hub;
}

static int hub_add(struct watch_hub *hub, struct store_watch *w)
{
	/* IN_MODIFY only: a process closing its changes file (every logout,
	 * every hibernating IMAP session) writes nothing and is no change. */
	w->wd = inotify_add_watch(hub->fd, w->path, IN_MODIFY);
	if (w->wd < 0) {
		log_warn("store", "event=inotify_unavailable path=%s error=\"%s\" fallback=poll",
			 w->path, strerror(errno));
		if (hub->count == 0)
			hub_free(hub);
		return -1;
	}
	if (hub->count == hub->cap) {
		hub->cap = hub->cap ? hub->cap * 2 : 16;
		hub->watches = xrealloc(hub->watches, hub->cap * sizeof *hub->watches);
	}
	hub->watches[hub->count++] = w;
	w->hub = hub;
	return 0;
}

static void hub_remove(struct store_watch *w)
{
	struct watch_hub *hub = w->hub;
	bool shared = false;
	size_t slot = hub->count;
	for (size_t i = 0; i < hub->count; i++) {
		if (hub->watches[i] == w)
			slot = i;
		else if (hub->watches[i] != NULL && hub->watches[i]->wd == w->wd)
			shared = true;
	}
	if (!shared)
		inotify_rm_watch(hub->fd, w->wd);
	if (slot == hub->count)
		return;
	if (hub->dispatching > 0) {
		hub->watches[slot] = NULL;
		return;
	}
	hub->watches[slot] = hub->watches[--hub->count];
	if (hub->count == 0)
		hub_free(hub);
}

/* ---- polling ---- */

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
	w->wd = -1;
	struct watch_hub *hub = hub_for(base);
	if ((hub == NULL || hub_add(hub, w) < 0) && start_polling(w, base, error_r) < 0) {
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
	if (w->hub != NULL)
		hub_remove(w);
	if (w->ev != NULL)
		event_free(w->ev);
	free(w->path);
	free(w);
	*wp = NULL;
}
