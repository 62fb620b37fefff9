/* The authentication service: throttle check on the loop, password check on
 * the pool, throttle update and delayed reply back on the loop. */
#include "account/auth.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "account/directory.h"
#include "account/password.h"
#include "account/throttle.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/xmalloc.h"

/* Checked when the user does not exist, so that an unknown user costs the
 * same time as a known one. Made by password_hash()'s own call
 * (crypt_gensalt "$y$" with libcrypt's default cost, "j9T"); test_auth checks
 * that the two still agree. No password matches it. */
#define AUTH_DUMMY_HASH "$y$j9T$7eUZPzrBO4nWdfKAIdadr.$SSRv71wtu3TB/bFRY3lSp..aDBMJg1mqCPSbGxGDYl6"

/* Longest user name written to the log. */
#define LOG_USER_MAX 256

struct auth_service {
	struct event_base *base;
	struct pool *pool;
	char *data_dir;
	struct throttle_policy policy;
	struct auth_pending *pending;   /* every request whose callback has not run */
};

enum pending_state {
	P_POOL,    /* submitted to the pool; done() has not run yet */
	P_REPLY,   /* waiting on the timer that delivers the result */
};

struct auth_pending {
	struct auth_service *svc;   /* NULL once the service is freed while in the pool */
	struct auth_pending *prev, *next;
	enum pending_state state;
	bool cancelled;
	struct event *timer;
	auth_callback *cb;
	void *arg;

	/* The request, copied. */
	char *protocol, *username, *password, *remote_ip, *session_id, *data_dir;
	char ip_key[THROTTLE_KEY_MAX], account_key[THROTTLE_KEY_MAX];

	/* The outcome, written by the pool thread. */
	enum auth_result result;
	const char *reason;          /* for the log */
	char *error;                 /* directory error for AUTH_TEMPFAIL */
	struct account_info account; /* for AUTH_OK */
};

int auth_throttle_init_shared(size_t slots)
{
	return throttle_init_shared(slots);
}

const char *auth_result_name(enum auth_result result)
{
	switch (result) {
	case AUTH_OK: return "ok";
	case AUTH_FAILED: return "failed";
	case AUTH_LOCKED: return "locked";
	case AUTH_TEMPFAIL: return "tempfail";
	}
	return "?";
}


/* ---- requests ---- */

static void wipe_free(char **s)
{
	if (*s != NULL)
		secure_zero(*s, strlen(*s));
	xfree(s);
}

static void pending_free(struct auth_pending *p)
{
	if (p->timer != NULL)
		event_free(p->timer);
	free(p->protocol);
	free(p->username);
	wipe_free(&p->password);
	free(p->remote_ip);
	free(p->session_id);
	free(p->data_dir);
	free(p->error);
	account_info_clear(&p->account);
	free(p);
}

static void pending_link(struct auth_service *svc, struct auth_pending *p)
{
	p->prev = NULL;
	p->next = svc->pending;
	if (svc->pending != NULL)
		svc->pending->prev = p;
	svc->pending = p;
}

static void pending_unlink(struct auth_service *svc, struct auth_pending *p)
{
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		svc->pending = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
}

/* ---- on a pool thread ---- */

static void check_work(void *arg)
{
	struct auth_pending *p = arg;
	char *err = NULL;
	struct directory *dir = directory_for_thread(p->data_dir, &err);
	int found = dir != NULL ? directory_find_account(dir, p->username, &p->account, &err) : -1;
	if (found < 0) {
		directory_thread_reset();
		p->result = AUTH_TEMPFAIL;
		p->reason = "tempfail";
		p->error = err;
		return;
	}
	if (found == 0) {
		(void)password_verify(p->password, AUTH_DUMMY_HASH);
		p->result = AUTH_FAILED;
		p->reason = "no-such-user";
	} else {
		/* The hash is computed for a disabled account too: same cost. */
		bool match = password_verify(p->password, p->account.password_hash);
		p->result = match && p->account.enabled ? AUTH_OK : AUTH_FAILED;
		p->reason = !p->account.enabled ? "disabled" : match ? "ok" : "bad-password";
	}
	xfree(&p->account.password_hash);
	wipe_free(&p->password);
}

/* ---- back on the loop ---- */

/* The user name as logged: at most LOG_USER_MAX bytes, cut on a UTF-8
 * boundary, spaces replaced so that it cannot pose as another field (log.h
 * replaces control characters). */
static void log_user(const char *user, struct buf *out)
{
	size_t n = strlen(user);
	if (n > LOG_USER_MAX) {
		n = LOG_USER_MAX;
		while (n > 0 && ((unsigned char)user[n] & 0xc0) == 0x80)
			n--;
	}
	buf_set(out, user, n);
	for (size_t i = 0; i < out->len; i++)
		if (out->data[i] == ' ')
			out->data[i] = '?';
}

static void log_attempt(const struct auth_pending *p, enum log_level level, const char *event,
			const struct throttle_verdict *v)
{
	struct buf user = BUF_INIT;
	log_user(p->username, &user);
	if (v != NULL)
		log_msg(level, "auth", p->session_id,
			"event=%s protocol=%s user=%s ip=%s reason=%s failures=%u delay=%llds",
			event, p->protocol, buf_cstr(&user), p->remote_ip, p->reason,
			v->failures, (long long)v->delay);
	else
		log_msg(level, "auth", p->session_id, "event=%s protocol=%s user=%s ip=%s",
			event, p->protocol, buf_cstr(&user), p->remote_ip);
	buf_free(&user);
}

static void reply_cb(evutil_socket_t fd, short what, void *arg)
{
	struct auth_pending *p = arg;
	pending_unlink(p->svc, p);
	/* The callback may free the service or start another request: p is
	 * already out of the service's hands. */
	p->cb(p->result, p->result == AUTH_OK ? &p->account : NULL, p->arg);
	pending_free(p);
}

/* Deliver the result after `delay` seconds (0: on the next loop turn). */
static void schedule_reply(struct auth_pending *p, long long delay)
{
	p->state = P_REPLY;
	p->timer = evtimer_new(p->svc->base, reply_cb, p);
	struct timeval tv = { (time_t)delay, 0 };
	if (p->timer == NULL || evtimer_add(p->timer, &tv) < 0) {
		log_error("auth", "event=timer-failed");
		abort();
	}
}

static void check_done(void *arg)
{
	struct auth_pending *p = arg;
	struct auth_service *svc = p->svc;
	if (svc == NULL) {   /* the service is gone: nothing to record or answer */
		pending_free(p);
		return;
	}
	struct throttle_table *table = throttle_table_default();
	struct throttle_verdict v = { false, 0, 0 };
	/* Recorded even when the session has gone: hanging up after a wrong
	 * password must not dodge the throttle. */
	switch (p->result) {
	case AUTH_OK:
		throttle_success(table, p->account_key);
		log_attempt(p, LOGL_INFO, "ok", NULL);
		break;
	case AUTH_FAILED:
		throttle_fail(table, &svc->policy, p->ip_key, p->account_key, throttle_now(), &v);
		log_attempt(p, LOGL_INFO, "fail", &v);
		break;
	case AUTH_TEMPFAIL:
		log_msg(LOGL_ERROR, "auth", p->session_id, "event=directory-error error=\"%s\"",
			p->error != NULL ? p->error : "unknown");
		log_attempt(p, LOGL_WARN, "fail", &v);
		break;
	case AUTH_LOCKED:
		break;   /* decided before the pool */
	}
	if (p->cancelled) {
		pending_unlink(svc, p);
		pending_free(p);
		return;
	}
	schedule_reply(p, v.delay);
}

/* pool_free() ran before done(): drop the request. */
static void check_discard(void *arg)
{
	struct auth_pending *p = arg;
	if (p->svc != NULL)
		pending_unlink(p->svc, p);
	pending_free(p);
}

struct auth_pending *auth_verify(struct auth_service *svc, const struct auth_request *req,
				 auth_callback *cb, void *arg)
{
	struct auth_pending *p = xcalloc(1, sizeof *p);
	p->svc = svc;
	p->cb = cb;
	p->arg = arg;
	p->protocol = xstrdup(req->protocol);
	p->username = xstrdup(req->username);
	p->password = xstrdup(req->password);
	p->remote_ip = xstrdup(req->remote_ip != NULL ? req->remote_ip : "unknown");
	p->session_id = req->session_id != NULL ? xstrdup(req->session_id) : NULL;
	p->data_dir = xstrdup(svc->data_dir);
	throttle_ip_key(req->remote_ip, p->ip_key);
	throttle_account_key(req->username, p->account_key);
	pending_link(svc, p);

	struct throttle_verdict v;
	throttle_check(throttle_table_default(), &svc->policy, p->ip_key, p->account_key,
		       throttle_now(), &v);
	if (v.locked) {
		/* Refused without looking at the password: a locked-out attacker
		 * costs no hashing. The refusal is delayed like a failure. */
		wipe_free(&p->password);
		p->result = AUTH_LOCKED;
		p->reason = "locked";
		log_attempt(p, LOGL_WARN, "fail", &v);
		schedule_reply(p, v.delay);
		return p;
	}
	p->state = P_POOL;
	pool_submit_ex(svc->pool, check_work, check_done, check_discard, p);
	return p;
}

void auth_cancel(struct auth_pending **pending)
{
	struct auth_pending *p = *pending;
	if (p == NULL)
		return;
	*pending = NULL;
	if (p->state == P_POOL) {
		p->cancelled = true;   /* check_done() records the result and frees it */
		return;
	}
	pending_unlink(p->svc, p);
	pending_free(p);
}

/* ---- the service ---- */

struct auth_service *auth_service_new(struct event_base *base, struct pool *pool,
				      const struct config *cfg)
{
	struct auth_service *svc = xcalloc(1, sizeof *svc);
	svc->base = base;
	svc->pool = pool;
	svc->data_dir = xstrdup(cfg->server_data_dir);
	throttle_policy_from_config(&svc->policy, cfg);
	return svc;
}

void auth_service_free(struct auth_service **service)
{
	struct auth_service *svc = *service;
	if (svc == NULL)
		return;
	*service = NULL;
	while (svc->pending != NULL) {
		struct auth_pending *p = svc->pending;
		pending_unlink(svc, p);
		if (p->state == P_POOL)
			p->svc = NULL;   /* freed by check_done() or check_discard() */
		else
			pending_free(p);
	}
	free(svc->data_dir);
	free(svc);
}
