/* Recipient and sender policy on the directory (surel.db).
 *
 * RCPT, in this order:
 *   - a domain that is not one of ours: on the smtp listener (mail from the
 *     world) "554 5.7.1 <a>: Relay access denied" - never an open relay; on
 *     submission and smtps (always authenticated) a remote recipient;
 *   - an account (local parts are case-insensitive, addr.h): its mailbox;
 *     a disabled one "550 5.2.1";
 *   - an alias with that exact source: its targets, expanded again when
 *     they are ours (at most SMTP_ALIAS_DEPTH levels; a loop or too deep
 *     a chain "550 5.4.6");
 *   - plus-addressing: user+tag@domain (smtp.recipient_delimiter) as
 *     user@domain, account or alias;
 *   - the domain's catch-all;
 *   - else "550 5.1.1 ... User unknown".
 *   RCPT TO:<Postmaster> (no domain, RFC 5321 4.1.1.3) is
 *   postmaster@server.hostname.
 *   Over quota: "452 4.2.2" (quota_allows()).
 * The resolution itself is src/account/resolve.c, shared with local
 * delivery (src/queue/deliver.c).
 *
 * MAIL on submission and smtps: the sender must be the authenticated
 * account, a plus-address of it, or an alias whose expansion reaches it;
 * else "553 5.7.1". The null sender <> is refused there.
 *
 * The directory is read on the worker's thread pool (each pool thread has
 * its own SQLite handle) while the session's input is paused, so that a
 * pipelined command sees the outcome of the ones before it. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "account/addr.h"
#include "account/directory.h"
#include "account/resolve.h"
#include "core/config.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/xmalloc.h"
#include "smtp/smtp_int.h"
#include "store/store.h"

enum lookup_kind { LOOKUP_RCPT, LOOKUP_SENDER, LOOKUP_FROM };

struct smtp_lookup {
	struct session *s;            /* NULL once cancelled */
	smtp_lookup_done *done;
	enum lookup_kind kind;
	/* the query, copied: the pool thread touches nothing else */
	char *address;
	bool null, postmaster, quoted, literal;
	char **from;                  /* LOOKUP_FROM: the From header's addresses */
	size_t nfrom;
	char *user;                   /* authenticated account, or NULL */
	bool relay_ok;
	char *delimiter;
	char *hostname;
	char *data_dir;
	struct smtp_lookup_result result;
};

void smtp_targets_free(struct smtp_target *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(t[i].address);
	free(t);
}

void smtp_lookup_result_clear(struct smtp_lookup_result *r)
{
	xfree(&r->reply);
	smtp_targets_free(r->targets, r->ntargets);
	r->targets = NULL;
	r->ntargets = 0;
}


/* ---- quota (the store's usage) ---- */

/* A store handle per pool thread, for the quota hook. */
static pthread_key_t thread_store_key;
static pthread_once_t thread_store_once = PTHREAD_ONCE_INIT;

static void thread_store_free(void *p)
{
	struct store *s = p;
	store_close(&s);
}

static void thread_store_key_init(void)
{
	if (pthread_key_create(&thread_store_key, thread_store_free) != 0)
		abort();
}

/* Whether the account can take more mail: "452 4.2.2 Mailbox full" when its
 * usage is at or over its quota. The size of the message is not known at
 * RCPT (SIZE= is only a hint); the store refuses an append past the quota
 * at delivery, and the message then waits in the spool. A store error lets
 * the recipient through (delivery checks again). */
struct store *smtp_thread_store(const char *data_dir, char **error_r)
{
	pthread_once(&thread_store_once, thread_store_key_init);
	struct store *s = pthread_getspecific(thread_store_key);
	if (s == NULL) {
		if (store_open(data_dir, &s, error_r) < 0)
			return NULL;
		pthread_setspecific(thread_store_key, s);
	}
	return s;
}

static bool quota_allows(void *ctx, const struct account_info *a)
{
	const char *data_dir = ctx;
	if (a->quota_bytes <= 0)
		return true;
	char *err = NULL;
	struct store *s = smtp_thread_store(data_dir, &err);
	if (s == NULL) {
		log_warn("smtp", "event=quota_check account=%s error=\"%s\"", a->address, err);
		free(err);
		return true;
	}
	struct store_user *u = NULL;
	struct store_quota q = { 0 };
	bool ok = true;
	if (store_user_open(s, a->id, &u, &err) < 0 || store_quota_usage(u, &q, &err) < 0) {
		log_warn("smtp", "event=quota_check account=%s error=\"%s\"", a->address, err);
		free(err);
	} else {
		ok = q.bytes < (uint64_t)a->quota_bytes;
	}
	store_user_close(&u);
	return ok;
}

static void rcpt_work(struct smtp_lookup *l, struct directory *dir)
{
	struct smtp_lookup_result *res = &l->result;
	char *address = l->postmaster ? xasprintf("postmaster@%s", l->hostname) : xstrdup(l->address);
	const char *at = strrchr(address, '@');
	const char *domain = at != NULL ? at + 1 : "";
	char *ascii = NULL, *err = NULL;
	int ours = 0;
	if (!l->literal) {
		if (addr_domain_normalize(domain, strlen(domain), &ascii, &err) < 0) {
			res->reply = xstrdup("501 5.1.3 Bad recipient address syntax");
			goto out;
		}
		ours = directory_domain_exists(dir, ascii, &err);
	}
	if (ours < 0) {
		directory_thread_reset();
		res->reply = xasprintf("451 4.3.0 <%s>: Temporary lookup failure", l->address);
	} else if (ours == 0) {
		if (l->relay_ok) {
			res->targets = xcalloc(1, sizeof *res->targets);
			res->targets[0].address = xstrdup(l->address);
			res->ntargets = 1;
			res->reply = xstrdup("250 2.1.5 Ok");
		} else {
			res->reply = xasprintf("554 5.7.1 <%s>: Relay access denied", l->address);
		}
	} else {
		char *norm = NULL;
		struct resolver r;
		resolver_init(&r, dir, l->delimiter);
		r.quota_allows = quota_allows;
		r.quota_ctx = l->data_dir;
		enum resolve_status st = RESOLVE_UNKNOWN;
		/* No account of ours has a quoted local part. */
		if (!l->quoted && addr_normalize(address, strlen(address), &norm, &err) == 0)
			st = resolve_address(&r, norm);
		free(norm);
		switch (st) {
		case RESOLVE_OK:
			res->reply = xstrdup("250 2.1.5 Ok");
			res->targets = xcalloc(r.ntargets, sizeof *res->targets);
			res->ntargets = r.ntargets;
			for (size_t i = 0; i < r.ntargets; i++) {
				res->targets[i].address = xstrdup(r.targets[i].address);
				res->targets[i].local = r.targets[i].local;
			}
			break;
		case RESOLVE_UNKNOWN:
			res->reply = xasprintf("550 5.1.1 <%s>: Recipient address rejected: User unknown",
					       l->address);
			break;
		case RESOLVE_DISABLED:
			res->reply = xasprintf("550 5.2.1 <%s>: Recipient address rejected: Mailbox disabled",
					       l->address);
			break;
		case RESOLVE_LOOP:
			res->reply = xasprintf("550 5.4.6 <%s>: Recipient address rejected: Alias loop",
					       l->address);
			break;
		case RESOLVE_QUOTA:
			res->reply = xasprintf("452 4.2.2 <%s>: Mailbox full", l->address);
			break;
		case RESOLVE_TEMP:
			directory_thread_reset();
			res->reply = xasprintf("451 4.3.0 <%s>: Temporary lookup failure", l->address);
			break;
		}
		resolver_free(&r);
	}
out:
	free(err);
	free(ascii);
	free(address);
}

static void sender_work(struct smtp_lookup *l, struct directory *dir)
{
	struct smtp_lookup_result *res = &l->result;
	char *norm = NULL, *err = NULL;
	int owned = 0;
	if (!l->null && !l->quoted && !l->literal &&
	    addr_normalize(l->address, strlen(l->address), &norm, &err) == 0)
		owned = resolve_sender_owned(dir, l->delimiter, norm, l->user, &err);
	if (owned > 0)
		res->reply = xstrdup("250 2.1.0 Ok");
	else if (owned < 0)
		res->reply = xstrdup("451 4.3.0 Temporary lookup failure");
	else
		res->reply = xasprintf("553 5.7.1 <%s>: Sender address not owned by user %s",
				       l->address, l->user);
	if (owned < 0)
		directory_thread_reset();
	free(norm);
	free(err);
}

/* Each From address must be owned as MAIL FROM's is (resolve.c). */
static void from_work(struct smtp_lookup *l, struct directory *dir)
{
	struct smtp_lookup_result *res = &l->result;
	for (size_t i = 0; i < l->nfrom && res->reply == NULL; i++) {
		char *norm = NULL, *err = NULL;
		int owned = 0;
		if (addr_normalize(l->from[i], strlen(l->from[i]), &norm, &err) == 0)
			owned = resolve_sender_owned(dir, l->delimiter, norm, l->user, &err);
		if (owned < 0) {
			directory_thread_reset();
			res->reply = xstrdup("451 4.3.0 Temporary lookup failure");
		} else if (owned == 0) {
			res->reply = xasprintf("550 5.7.1 <%s>: From header address not owned by "
					       "user %s", l->from[i], l->user);
		}
		free(norm);
		free(err);
	}
	if (res->reply == NULL)
		res->reply = xstrdup("250 2.0.0 Ok");
}

/* ---- on the pool ---- */

static void lookup_free(struct smtp_lookup *l)
{
	for (size_t i = 0; i < l->nfrom; i++)
		free(l->from[i]);
	free(l->from);
	free(l->address);
	free(l->user);
	free(l->delimiter);
	free(l->hostname);
	free(l->data_dir);
	smtp_lookup_result_clear(&l->result);
	free(l);
}

static void lookup_work(void *arg)
{
	struct smtp_lookup *l = arg;
	char *err = NULL;
	struct directory *dir = directory_for_thread(l->data_dir, &err);
	if (dir == NULL) {
		l->result.reply = xstrdup("451 4.3.0 Temporary lookup failure");
		free(err);
		return;
	}
	if (l->kind == LOOKUP_RCPT)
		rcpt_work(l, dir);
	else if (l->kind == LOOKUP_FROM)
		from_work(l, dir);
	else
		sender_work(l, dir);
}

static void lookup_done(void *arg)
{
	struct smtp_lookup *l = arg;
	struct session *s = l->s;
	if (s != NULL) {
		struct smtp_state *st = s->data;
		st->lookup = NULL;
		session_resume_input(s);
		l->done(s, &l->result);
	}
	lookup_free(l);
}

static void lookup_discard(void *arg)
{
	lookup_free(arg);
}

static struct smtp_lookup *lookup_new(struct session *s, enum lookup_kind kind,
				       smtp_lookup_done *done)
{
	struct smtp_state *st = s->data;
	struct smtp_lookup *l = xcalloc(1, sizeof *l);
	l->s = s;
	l->done = done;
	l->kind = kind;
	l->user = st->user != NULL ? xstrdup(st->user) : NULL;
	l->relay_ok = smtp_is_submission(s) && st->user != NULL;
	l->delimiter = xstrdup(s->cfg->smtp_recipient_delimiter);
	l->hostname = xstrdup(smtp_hostname(s));
	l->data_dir = xstrdup(s->cfg->server_data_dir);
	return l;
}

static void start(struct session *s, struct smtp_lookup *l)
{
	struct smtp_state *st = s->data;
	struct pool *pool = smtp_server_pool();
	if (pool == NULL) {
		lookup_work(l);
		lookup_done(l);
		return;
	}
	st->lookup = l;
	session_pause_input(s);
	pool_submit_ex(pool, lookup_work, lookup_done, lookup_discard, l);
}

static void start_path(struct session *s, enum lookup_kind kind, const struct smtp_path *path,
		       smtp_lookup_done *done)
{
	struct smtp_lookup *l = lookup_new(s, kind, done);
	l->address = xstrdup(buf_cstr(&path->address));
	l->null = path->null;
	l->postmaster = path->postmaster;
	l->quoted = path->quoted;
	l->literal = path->literal;
	start(s, l);
}

void smtp_lookup_rcpt(struct session *s, const struct smtp_path *path, smtp_lookup_done *done)
{
	start_path(s, LOOKUP_RCPT, path, done);
}

void smtp_lookup_sender(struct session *s, const struct smtp_path *path, smtp_lookup_done *done)
{
	start_path(s, LOOKUP_SENDER, path, done);
}

void smtp_lookup_from(struct session *s, char *const *addresses, size_t n, smtp_lookup_done *done)
{
	struct smtp_lookup *l = lookup_new(s, LOOKUP_FROM, done);
	l->from = xcalloc(n, sizeof *l->from);
	for (size_t i = 0; i < n; i++)
		l->from[i] = xstrdup(addresses[i]);
	l->nfrom = n;
	start(s, l);
}

void smtp_lookup_cancel(struct smtp_lookup **lookup)
{
	if (*lookup == NULL)
		return;
	(*lookup)->s = NULL;
	*lookup = NULL;
}
