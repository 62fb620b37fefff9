/* A worker: client sessions on the inherited listening sockets.
 *
 * Each worker owns one thread pool (server.pool_threads) and one
 * authentication service on it, made after the fork (threads do not survive
 * fork()) and after privileges are dropped, and freed on exit once every
 * session has gone. Sessions reach the service as session->auth. */
#include "server/worker.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "account/auth.h"
#include "core/config.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/xmalloc.h"
#include "http/http_server.h"
#include "imap/imap_session.h"
#include "pop3/pop3_session.h"
#include "server/session.h"
#include "smtp/smtp_server.h"
#include "smtp/smtp_session.h"

/* One listening socket of this worker. */
struct binding {
	struct worker *w;
	struct session_listener sl;
	struct evconnlistener *lev;
	struct event *retry;      /* re-enable after an accept error (EMFILE) */
};

struct worker {
	struct child_args *args;
	struct event_base *base;
	struct session_server *sessions;
	struct pool *pool;              /* password hashing (auth service), POP3 store calls */
	struct auth_service *auth;
	struct http_server *http;
	struct binding *bindings;
	size_t n_bindings;
	struct event *sigterm, *sigquit, *retire_timer;
	struct event *trim_timer;       /* give freed heap back (heap_trim_cb) */
	unsigned trim_sessions;         /* sessions at the last trim check */
	bool retiring;
	bool stopping;
};

static const struct protocol *protocol_for(enum listener_proto proto)
{
	switch (proto) {
	case LISTENER_SMTP: return &smtp_protocol;
	case LISTENER_IMAP: return &imap_protocol;
	case LISTENER_POP3: return &pop3_protocol;
	case LISTENER_HTTP: break;
	}
	return NULL;
}

static long long timeout_for(const struct config *cfg, enum listener_proto proto)
{
	switch (proto) {
	case LISTENER_SMTP: return cfg->smtp_timeout;
	case LISTENER_IMAP: return cfg->imap_timeout;
	case LISTENER_POP3: return cfg->pop3_timeout;
	case LISTENER_HTTP: break;
	}
	return cfg->http_timeout;
}

static void accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct binding *b = arg;
	session_accept(b->w->sessions, &b->sl, fd, sa, (socklen_t)salen);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct binding *b = arg;
	if (b->lev != NULL)
		evconnlistener_enable(b->lev);
}

/* accept() failed for a reason that does not go away by itself (out of file
 * descriptors): pause this socket for a second instead of spinning. */
static void accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct binding *b = arg;
	int err = EVUTIL_SOCKET_ERROR();
	log_warn("server", "event=accept_error listener=%s error=\"%s\"", b->sl.type->name,
		 evutil_socket_error_to_string(err));
	evconnlistener_disable(lev);
	struct timeval tv = { 1, 0 };
	evtimer_add(b->retry, &tv);
}

static void start_accepting(struct worker *w)
{
	struct listener_set *ls = w->args->listeners;
	w->bindings = xcalloc(ls->n + 1, sizeof *w->bindings);
	int *http_fds = xcalloc(ls->n + 1, sizeof *http_fds);
	size_t n_http = 0;
	for (size_t i = 0; i < ls->n; i++) {
		struct listener *l = &ls->v[i];
		if (l->type->proto == LISTENER_HTTP) {
			http_fds[n_http++] = l->fd;
			continue;
		}
		struct binding *b = &w->bindings[w->n_bindings];
		b->w = w;
		b->sl.type = l->type;
		b->sl.proto = protocol_for(l->type->proto);
		b->sl.timeout = timeout_for(w->args->cfg, l->type->proto);
		b->sl.auth = w->auth;
		b->sl.pool = w->pool;
		b->retry = evtimer_new(w->base, retry_cb, b);
		b->lev = evconnlistener_new(w->base, accept_cb, b,
					    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, l->fd);
		if (b->lev == NULL) {
			log_error("server", "event=listen_failed listener=%s addr=%s", l->type->name,
				  l->addr.text);
			event_free(b->retry);
			continue;
		}
		evconnlistener_set_error_cb(b->lev, accept_error_cb);
		w->n_bindings++;
	}
	if (n_http > 0)
		w->http = http_server_new(w->base, w->args->cfg, http_fds, n_http);
	free(http_fds);
}

static void stop_accepting(struct worker *w)
{
	for (size_t i = 0; i < w->n_bindings; i++) {
		evconnlistener_free(w->bindings[i].lev);   /* closes our copy of the socket */
		w->bindings[i].lev = NULL;
		event_free(w->bindings[i].retry);
	}
	w->n_bindings = 0;
	xfree(&w->bindings);
	http_server_free(&w->http);
}

static void on_empty(void *arg)
{
	struct worker *w = arg;
	event_base_loopexit(w->base, NULL);
}

static void stop_now(struct worker *w)
{
	if (w->stopping)
		return;
	w->stopping = true;
	log_debug("server", "event=stopping sessions=%u", session_server_count(w->sessions));
	stop_accepting(w);
	session_server_shutdown(w->sessions);
	session_server_on_empty(w->sessions, on_empty, w);
}

static void sigterm_cb(evutil_socket_t sig, short what, void *arg)
{
	stop_now(arg);
}

static void retire_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	stop_now(arg);
}

static void sigquit_cb(evutil_socket_t sig, short what, void *arg)
{
	struct worker *w = arg;
	if (w->stopping || w->retiring)
		return;
	w->retiring = true;
	log_debug("server", "event=retiring sessions=%u", session_server_count(w->sessions));
	stop_accepting(w);
	struct timeval tv = { (time_t)w->args->cfg->server_shutdown_timeout, 0 };
	evtimer_add(w->retire_timer, &tv);
	session_server_on_empty(w->sessions, on_empty, w);
}

/* A burst of sessions (thousands of IMAP clients reconnecting) leaves the
 * allocator holding their memory after they are gone: glibc keeps freed
 * heap in its arenas (one per pool thread too). Every few seconds, when the
 * number of sessions has fallen, hand what is free back to the system. */
#define HEAP_TRIM_INTERVAL 10

static void heap_trim_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	unsigned now = session_server_count(w->sessions);
	if (now < w->trim_sessions)
		malloc_trim(0);
	w->trim_sessions = now;
}

int worker_run(struct child_args *args)
{
	char name[32];
	snprintf(name, sizeof name, "worker.%u", args->index);
	child_setup(args, name);

	struct worker w = { .args = args };
	w.base = event_base_new();
	if (w.base == NULL) {
		log_error("server", "event=child_failed step=event_base");
		return 1;
	}
	w.sigterm = evsignal_new(w.base, SIGTERM, sigterm_cb, &w);
	w.sigquit = evsignal_new(w.base, SIGQUIT, sigquit_cb, &w);
	w.retire_timer = evtimer_new(w.base, retire_timer_cb, &w);
	w.trim_timer = event_new(w.base, -1, EV_PERSIST, heap_trim_cb, &w);
	struct timeval trim_every = { HEAP_TRIM_INTERVAL, 0 };
	evtimer_add(w.trim_timer, &trim_every);
	evsignal_add(w.sigterm, NULL);
	evsignal_add(w.sigquit, NULL);
	/* Still with every signal blocked: the pool's threads inherit the mask,
	 * so that signals are taken by this thread's loop only. */
	w.pool = pool_new(w.base, (unsigned)args->cfg->server_pool_threads);
	w.auth = auth_service_new(w.base, w.pool, args->cfg);
	smtp_server_init(w.base, w.pool, args->cfg);
	child_unblock_signals();

	w.sessions = session_server_new(w.base, args->cfg, args->ssl_ctx, args->limits_slot);
	start_accepting(&w);
	log_debug("server", "event=started pid=%d", (int)getpid());
	event_base_dispatch(w.base);

	/* Done: a late signal must not kill us half-way through cleaning up. */
	sigset_t old;
	signals_block_all(&old);
	stop_accepting(&w);
	/* Sessions first (they cancel their pending logins), then the service
	 * (it drops what is left), then the pool (it waits for the password
	 * checks still running and discards their results). */
	session_server_free(&w.sessions);
	auth_service_free(&w.auth);
	pool_free(&w.pool);
	smtp_server_free();
	event_free(w.sigterm);
	event_free(w.sigquit);
	event_free(w.retire_timer);
	event_free(w.trim_timer);
	event_base_free(w.base);
	log_debug("server", "event=exit");
	return 0;
}
