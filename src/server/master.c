/* The master: start-up, supervision of the children, reload, stop. */
#include "server/master.h"

#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "account/auth.h"
#include "cli/cli.h"
#include "core/config.h"
#include "core/log.h"
#include "core/privs.h"
#include "core/tls.h"
#include "core/xmalloc.h"
#include "server/child.h"
#include "server/limits.h"
#include "server/listen.h"
#include "server/worker.h"

#define BACKOFF_MAX 30        /* seconds between restarts of a crashing child */
#define RETIRE_GRACE 10       /* seconds past shutdown_timeout before SIGKILL (flush time) */

enum child_kind { CHILD_WORKER, CHILD_QUEUE };

struct child {
	enum child_kind kind;
	pid_t pid;                /* 0: not running, waiting for restart_at */
	unsigned index;           /* worker.N */
	int slot;                 /* limits slot of a worker, -1 when none */
	bool retiring;            /* of an older generation: not restarted */
	bool replace;             /* retiring queue runner: start the new one when it exits */
	double started;
	unsigned backoff;
	double restart_at;
	double kill_at;           /* retiring: SIGKILL from then on; 0 for never */
};

struct master {
	struct event_base *base;
	const char *config_path;
	struct config *cfg;
	SSL_CTX *ssl_ctx;
	struct listener_set listeners;
	struct child *children;
	size_t n_children;
	pid_t pid;
	bool stopping;
	bool killed;
	double stop_deadline;
	struct event *ev_chld, *ev_term, *ev_int, *ev_hup, *ev_tick;
};

static double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *child_name(const struct child *c, char *buf, size_t size)
{
	if (c->kind == CHILD_QUEUE)
		snprintf(buf, size, "queue");
	else
		snprintf(buf, size, "worker.%u", c->index);
	return buf;
}

static unsigned worker_count(const struct config *cfg)
{
	if (cfg->server_workers > 0)
		return (unsigned)cfg->server_workers;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

/* ---- children ---- */

/* In the child: forget the master's event loop without touching the
 * master's (shared) epoll set and signal pipe. */
static void forget_master_loop(struct master *m)
{
	event_reinit(m->base);
	event_free(m->ev_chld);
	event_free(m->ev_term);
	event_free(m->ev_int);
	event_free(m->ev_hup);
	event_free(m->ev_tick);
	event_base_free(m->base);
	m->base = NULL;
}

static void spawn(struct master *m, struct child *c)
{
	char name[32];
	child_name(c, name, sizeof name);
	c->restart_at = 0;
	if (c->kind == CHILD_WORKER && c->slot < 0) {
		c->slot = limits_slot_alloc();
		if (c->slot < 0) {
			log_error("server", "event=spawn_failed process=%s error=\"no free limits slot\"", name);
			c->restart_at = now_mono() + 1;
			return;
		}
	}
	sigset_t old;
	signals_block_all(&old);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		forget_master_loop(m);
		struct child_args args = {
			.cfg = m->cfg,
			.listeners = &m->listeners,
			.ssl_ctx = m->ssl_ctx,
			.index = c->index,
			.limits_slot = c->kind == CHILD_WORKER ? c->slot : -1,
			.master = m->pid,
		};
		int rc = c->kind == CHILD_WORKER ? worker_run(&args) : queue_runner_run(&args);
		exit(rc);
	}
	int err = errno;
	signals_restore(&old);
	if (pid < 0) {
		log_error("server", "event=spawn_failed process=%s error=\"fork: %s\"", name, strerror(err));
		c->restart_at = now_mono() + 1;
		return;
	}
	c->pid = pid;
	c->started = now_mono();
	log_info("server", "event=child_start process=%s pid=%d", name, (int)pid);
}

static struct child *add_child(struct master *m, enum child_kind kind, unsigned index)
{
	m->children = xrealloc(m->children, (m->n_children + 1) * sizeof m->children[0]);
	struct child *c = &m->children[m->n_children++];
	*c = (struct child){ .kind = kind, .index = index, .slot = -1 };
	return c;
}

static void remove_child(struct master *m, struct child *c)
{
	if (c->slot >= 0)
		limits_slot_release(c->slot);
	size_t i = (size_t)(c - m->children);
	m->children[i] = m->children[--m->n_children];
}

static size_t alive(const struct master *m)
{
	size_t n = 0;
	for (size_t i = 0; i < m->n_children; i++)
		if (m->children[i].pid > 0)
			n++;
	return n;
}

static void start_workers(struct master *m)
{
	unsigned n = worker_count(m->cfg);
	for (unsigned i = 1; i <= n; i++)
		spawn(m, add_child(m, CHILD_WORKER, i));
}

static void child_exited(struct master *m, pid_t pid, int status)
{
	struct child *c = NULL;
	for (size_t i = 0; i < m->n_children; i++)
		if (m->children[i].pid == pid)
			c = &m->children[i];
	if (c == NULL)
		return;
	char name[32], how[64];
	child_name(c, name, sizeof name);
	bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (WIFSIGNALED(status))
		snprintf(how, sizeof how, "status=killed signal=%d", WTERMSIG(status));
	else
		snprintf(how, sizeof how, "status=exited code=%d", WEXITSTATUS(status));
	bool expected = m->stopping || c->retiring;
	log_msg(expected && clean ? LOGL_INFO : LOGL_WARN, "server", NULL,
		"event=child_exit process=%s pid=%d %s", name, (int)pid, how);
	c->pid = 0;
	if (c->slot >= 0) {
		/* Forget every session count the worker held. */
		limits_slot_release(c->slot);
		c->slot = -1;
	}
	if (m->stopping) {
		remove_child(m, c);
		return;
	}
	if (c->retiring) {
		if (!c->replace) {
			remove_child(m, c);
			return;
		}
		c->retiring = c->replace = false;
		c->kill_at = 0;
		c->backoff = 0;
		spawn(m, c);
		return;
	}
	double now = now_mono();
	if (now - c->started < 1.0)
		c->backoff = c->backoff == 0 ? 1 : (c->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : c->backoff * 2);
	else
		c->backoff = 0;
	if (c->backoff == 0) {
		spawn(m, c);
	} else {
		c->restart_at = now + c->backoff;
		log_warn("server", "event=child_restart_delayed process=%s delay=%us", name, c->backoff);
	}
}

static void kill_all(struct master *m, int sig)
{
	for (size_t i = 0; i < m->n_children; i++)
		if (m->children[i].pid > 0)
			kill(m->children[i].pid, sig);
}

/* ---- signals ---- */

static void sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
	struct master *m = arg;
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		child_exited(m, pid, status);
	if (m->stopping && alive(m) == 0)
		event_base_loopbreak(m->base);
}

static void stop_cb(evutil_socket_t sig, short what, void *arg)
{
	struct master *m = arg;
	if (m->stopping) {
		log_warn("server", "event=stop_now signal=%d children=%zu", (int)sig, alive(m));
		kill_all(m, SIGKILL);
		m->killed = true;
		return;
	}
	m->stopping = true;
	log_info("server", "event=stopping signal=%d children=%zu timeout=%llds", (int)sig, alive(m),
		 m->cfg->server_shutdown_timeout);
	listener_set_close(&m->listeners);
	/* Children waiting for a restart are not restarted. */
	for (size_t i = m->n_children; i-- > 0;)
		if (m->children[i].pid == 0)
			remove_child(m, &m->children[i]);
	kill_all(m, SIGTERM);
	m->stop_deadline = now_mono() + (double)m->cfg->server_shutdown_timeout;
	if (alive(m) == 0)
		event_base_loopbreak(m->base);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct master *m = arg;
	double now = now_mono();
	if (m->stopping) {
		if (!m->killed && now >= m->stop_deadline) {
			log_warn("server", "event=stop_timeout children=%zu action=kill", alive(m));
			kill_all(m, SIGKILL);
			m->killed = true;
		}
		return;
	}
	for (size_t i = 0; i < m->n_children; i++) {
		struct child *c = &m->children[i];
		if (c->pid == 0 && c->restart_at > 0 && now >= c->restart_at) {
			spawn(m, c);
		} else if (c->pid > 0 && c->retiring && c->kill_at > 0 && now >= c->kill_at) {
			char name[32];
			log_warn("server", "event=retire_timeout process=%s pid=%d action=kill",
				 child_name(c, name, sizeof name), (int)c->pid);
			kill(c->pid, SIGKILL);
			c->kill_at = 0;
		}
	}
}

/* ---- reload ---- */

static void reload_failed(const char *error)
{
	log_error("config", "event=reload result=error error=\"%s\" action=\"keeping the running configuration\"",
		  error);
}

static void sighup_cb(evutil_socket_t sig, short what, void *arg)
{
	struct master *m = arg;
	if (m->stopping)
		return;
	log_info("config", "event=reload file=%s", m->config_path ? m->config_path : "(defaults)");
	char *error = NULL;
	struct config *cfg = m->config_path != NULL ? config_load(m->config_path, &error)
						    : config_defaults();
	if (cfg == NULL) {
		reload_failed(error);
		free(error);
		return;
	}
	SSL_CTX *ctx = NULL;
	struct listener_set ls = { NULL, 0 };
	if (privs_make_data_dir(cfg, &error) < 0 ||
	    (ctx = tls_server_ctx_new(cfg, &error)) == NULL ||
	    listener_set_open(&ls, cfg, &m->listeners, &error) < 0) {
		reload_failed(error);
		free(error);
		if (ctx != NULL)
			SSL_CTX_free(ctx);
		config_free(&cfg);
		return;
	}
	/* Commit: sockets not taken over by the new set are the removed ones. */
	listener_set_close(&m->listeners);
	m->listeners = ls;
	SSL_CTX_free(m->ssl_ctx);
	m->ssl_ctx = ctx;
	config_free(&m->cfg);
	m->cfg = cfg;
	log_setup(strcmp(cfg->log_target, "syslog") == 0 ? LOGT_SYSLOG : LOGT_STDERR,
		  (enum log_level)log_level_parse(cfg->log_level));
	limits_set_max((unsigned)cfg->limits_max_connections, (unsigned)cfg->limits_max_connections_per_ip);
	listener_set_log(&m->listeners);

	/* Retire the running generation; the new one starts at once. */
	double kill_at = now_mono() + (double)cfg->server_shutdown_timeout + RETIRE_GRACE;
	size_t old = m->n_children;
	for (size_t i = old; i-- > 0;) {
		struct child *c = &m->children[i];
		if (c->pid == 0) {
			if (c->kind == CHILD_WORKER)
				remove_child(m, c);
			continue;   /* a queue runner waiting for restart starts with the new config */
		}
		c->retiring = true;
		c->kill_at = kill_at;
		if (c->kind == CHILD_QUEUE) {
			/* Only one queue runner at a time: the new one starts when the old one is gone. */
			c->replace = true;
			kill(c->pid, SIGTERM);
		} else {
			kill(c->pid, SIGQUIT);
		}
	}
	start_workers(m);
	log_info("config", "event=reload result=ok workers=%u", worker_count(cfg));
}

/* ---- start-up ---- */

static void print_summary(const struct master *m)
{
	const struct config *cfg = m->cfg;
	printf("surel %s serving from %s with %u worker%s%s%s\n", SUREL_VERSION, cfg->server_data_dir,
	       worker_count(cfg), worker_count(cfg) == 1 ? "" : "s",
	       privs_are_root() ? " as user " : "", privs_are_root() ? cfg->server_user : "");
	for (size_t i = 0; i < m->listeners.n; i++) {
		const struct listener *l = &m->listeners.v[i];
		printf("  %-11s %-24s %s\n", l->type->name, l->addr.text,
		       l->type->tls == LISTENER_TLS_IMPLICIT ? "TLS"
		       : l->type->tls == LISTENER_TLS_STARTTLS ? "STARTTLS" : "");
	}
	const char *c = m->config_path;
	const char *prog = program_invocation_name;   /* as typed: build/src/surel, surel */
	printf("Add a first domain and user from another terminal:\n"
	       "  %s%s%s domain add example.org\n"
	       "  %s%s%s user add alice@example.org\n"
	       "Stop with Ctrl-C (or kill -TERM %d); reload the configuration with kill -HUP %d.\n",
	       prog, c ? " -c " : "", c ? c : "", prog, c ? " -c " : "", c ? c : "",
	       (int)m->pid, (int)m->pid);
	fflush(stdout);
}

static int start_error(const char *error)
{
	fprintf(stderr, "surel: %s\n", error);
	return EXIT_USAGE;
}

/* Everything that can fail before a child exists. */
static int master_setup(struct master *m)
{
	char *error = NULL;
	int rc = 0;
	if (m->config_path != NULL)
		m->cfg = config_load(m->config_path, &error);
	else
		m->cfg = config_defaults();
	if (m->cfg == NULL) {
		rc = start_error(error);
		goto out;
	}
	log_setup(strcmp(m->cfg->log_target, "syslog") == 0 ? LOGT_SYSLOG : LOGT_STDERR,
		  (enum log_level)log_level_parse(m->cfg->log_level));
	uid_t uid;
	gid_t gid;
	if ((privs_are_root() && privs_lookup(m->cfg, &uid, &gid, &error) < 0) ||
	    privs_make_data_dir(m->cfg, &error) < 0 ||
	    listener_set_open(&m->listeners, m->cfg, NULL, &error) < 0) {
		rc = start_error(error);
		goto out;
	}
	m->ssl_ctx = tls_server_ctx_new(m->cfg, &error);
	if (m->ssl_ctx == NULL ||
	    limits_init((unsigned)m->cfg->limits_max_connections,
			(unsigned)m->cfg->limits_max_connections_per_ip, &error) < 0) {
		listener_set_close(&m->listeners);
		rc = start_error(error);
		goto out;
	}
	/* Failed logins are counted together by all workers. */
	if (auth_throttle_init_shared(4096) < 0) {
		error = xasprintf("cannot map the login throttle table: %s", strerror(errno));
		listener_set_close(&m->listeners);
		rc = start_error(error);
		goto out;
	}
out:
	free(error);
	return rc;
}

/* Every session holds its socket, and while it works up to six more
 * descriptors (its SQLite index and WAL, blobs.db and its WAL and lock, the
 * change file); an idle IMAP session gives those back. Take the whole open
 * files allowance (the children inherit it) and say when it looks short. */
static void raise_open_files(const struct config *cfg)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	unsigned long long want = 2ULL * (unsigned long long)cfg->limits_max_connections + 64;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
		log_warn("server", "event=open_files_low limit=%llu max_connections=%lld "
			 "hint=\"raise the hard open files limit (LimitNOFILE=) or lower "
			 "limits.max_connections\"",
			 (unsigned long long)rl.rlim_cur, cfg->limits_max_connections);
	else
		log_debug("server", "event=open_files limit=%llu", (unsigned long long)rl.rlim_cur);
}

int master_run(const char *config_path)
{
	/* The listeners accept connections as soon as they are bound, so a
	 * supervisor (or a test) may think the server is up and send SIGHUP or
	 * SIGTERM before the loop has its handlers: hold those signals until
	 * it does, instead of dying of their default action. */
	sigset_t held, old;
	sigemptyset(&held);
	sigaddset(&held, SIGHUP);
	sigaddset(&held, SIGTERM);
	sigaddset(&held, SIGINT);
	sigaddset(&held, SIGCHLD);
	sigprocmask(SIG_BLOCK, &held, &old);
	struct master m = { .config_path = config_path, .pid = getpid() };
	int rc = master_setup(&m);
	if (rc != 0) {
		if (m.ssl_ctx != NULL)
			SSL_CTX_free(m.ssl_ctx);
		config_free(&m.cfg);
		return rc;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_open_files(m.cfg);
	listener_set_log(&m.listeners);
	print_summary(&m);

	m.base = event_base_new();
	if (m.base == NULL) {
		fprintf(stderr, "surel: cannot create the event loop\n");
		return 1;
	}
	m.ev_chld = evsignal_new(m.base, SIGCHLD, sigchld_cb, &m);
	m.ev_term = evsignal_new(m.base, SIGTERM, stop_cb, &m);
	m.ev_int = evsignal_new(m.base, SIGINT, stop_cb, &m);
	m.ev_hup = evsignal_new(m.base, SIGHUP, sighup_cb, &m);
	m.ev_tick = event_new(m.base, -1, EV_PERSIST, tick_cb, &m);
	struct timeval second = { 1, 0 };
	evsignal_add(m.ev_chld, NULL);
	evsignal_add(m.ev_term, NULL);
	evsignal_add(m.ev_int, NULL);
	evsignal_add(m.ev_hup, NULL);
	event_add(m.ev_tick, &second);
	sigprocmask(SIG_SETMASK, &old, NULL);   /* anything held is handled now */

	start_workers(&m);
	spawn(&m, add_child(&m, CHILD_QUEUE, 0));
	event_base_dispatch(m.base);

	log_info("server", "event=stopped");
	event_free(m.ev_chld);
	event_free(m.ev_term);
	event_free(m.ev_int);
	event_free(m.ev_hup);
	event_free(m.ev_tick);
	event_base_free(m.base);
	listener_set_close(&m.listeners);
	free(m.children);
	SSL_CTX_free(m.ssl_ctx);
	limits_deinit();
	config_free(&m.cfg);
	return 0;
}
