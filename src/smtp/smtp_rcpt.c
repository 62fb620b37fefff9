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
 *   Over quota ("452 4.2.2") needs the store's usage: see quota_allows().
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
#include "core/config.h"
#include "core/pool.h"
#include "core/xmalloc.h"
#include "smtp/smtp_int.h"

#define SMTP_ALIAS_DEPTH 8

enum lookup_kind { LOOKUP_RCPT, LOOKUP_SENDER };

struct smtp_lookup {
	struct session *s;            /* NULL once cancelled */
	smtp_lookup_done *done;
	enum lookup_kind kind;
	/* the query, copied: the pool thread touches nothing else */
	char *address;
	bool null, postmaster, quoted, literal;
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

/* ---- a directory per thread ---- */

struct thread_dir {
	char *data_dir;
	struct directory *dir;
};

static pthread_key_t thread_dir_key;
static pthread_once_t thread_dir_once = PTHREAD_ONCE_INIT;

static void thread_dir_free(void *p)
{
	struct thread_dir *td = p;
	directory_close(&td->dir);
	free(td->data_dir);
	free(td);
}

static void thread_dir_key_init(void)
{
	if (pthread_key_create(&thread_dir_key, thread_dir_free) != 0)
		abort();
}

static struct thread_dir *thread_dir_get(void)
{
	pthread_once(&thread_dir_once, thread_dir_key_init);
	struct thread_dir *td = pthread_getspecific(thread_dir_key);
	if (td == NULL) {
		td = xcalloc(1, sizeof *td);
		pthread_setspecific(thread_dir_key, td);
	}
	return td;
}

static struct directory *thread_directory(const char *data_dir, char **error_r)
{
	struct thread_dir *td = thread_dir_get();
	if (td->dir != NULL && strcmp(td->data_dir, data_dir) == 0)
		return td->dir;
	directory_close(&td->dir);
	xfree(&td->data_dir);
	if (directory_open(data_dir, &td->dir, error_r) < 0)
		return NULL;
	td->data_dir = xstrdup(data_dir);
	return td->dir;
}

/* After an error the handle may be broken: the next look-up opens another. */
static void thread_directory_reset(void)
{
	struct thread_dir *td = thread_dir_get();
	directory_close(&td->dir);
	xfree(&td->data_dir);
}

/* ---- resolving a recipient ---- */

enum res_status { RES_OK, RES_UNKNOWN, RES_LOOP, RES_DISABLED, RES_QUOTA, RES_TEMP };

struct resolver {
	struct directory *dir;
	const char *delimiter;
	struct smtp_target *targets;
	size_t ntargets;
	struct string_list seen;
	char *error;
};

static void add_target(struct resolver *r, const char *address, bool local)
{
	for (size_t i = 0; i < r->ntargets; i++)
		if (strcmp(r->targets[i].address, address) == 0)
			return;
	r->targets = xrealloc(r->targets, (r->ntargets + 1) * sizeof *r->targets);
	r->targets[r->ntargets].address = xstrdup(address);
	r->targets[r->ntargets].local = local;
	r->ntargets++;
}

static bool seen_before(struct resolver *r, const char *norm)
{
	for (size_t i = 0; i < r->seen.count; i++)
		if (strcmp(r->seen.items[i], norm) == 0)
			return true;
	r->seen.items = xrealloc(r->seen.items, (r->seen.count + 1) * sizeof *r->seen.items);
	r->seen.items[r->seen.count++] = xstrdup(norm);
	return false;
}

/* Hook for the store: whether the account can take a message of `size`
 * octets. TODO(store): 452 4.2.2 when its usage plus size exceeds
 * quota_bytes; the usage lives in the mail store, landing in parallel. */
static bool quota_allows(const struct account_info *a, long long size)
{
	(void)a;
	(void)size;
	return true;
}

/* The account `norm`: 1 handled (*st set), 0 no such account. */
static int try_account(struct resolver *r, const char *norm, enum res_status *st)
{
	struct account_info acc = { 0 };
	int found = directory_find_account(r->dir, norm, &acc, &r->error);
	if (found < 0) {
		*st = RES_TEMP;
		return 1;
	}
	if (found == 0)
		return 0;
	if (!acc.enabled)
		*st = RES_DISABLED;
	else if (!quota_allows(&acc, 0))
		*st = RES_QUOTA;
	else {
		add_target(r, acc.address, true);
		*st = RES_OK;
	}
	account_info_clear(&acc);
	return 1;
}

static enum res_status resolve_local(struct resolver *r, const char *norm, int depth);

/* Worst first: a temporary failure wins, so that the client tries again. */
static enum res_status worse(enum res_status a, enum res_status b)
{
	return a > b ? a : b;
}

static enum res_status expand(struct resolver *r, const struct alias_list *list, int depth)
{
	bool any = false;
	enum res_status err = RES_UNKNOWN;
	for (size_t i = 0; i < list->count; i++) {
		const char *t = list->items[i].target;
		int ours = directory_domain_exists(r->dir, addr_domain_of(t), &r->error);
		enum res_status st;
		if (ours < 0) {
			st = RES_TEMP;
		} else if (ours == 0) {
			add_target(r, t, false);
			st = RES_OK;
		} else {
			st = resolve_local(r, t, depth + 1);
		}
		if (st == RES_OK)
			any = true;
		else
			err = worse(err, st);
	}
	return any && err != RES_TEMP ? RES_OK : err;
}

/* The aliases of norm; *exact when they are for norm itself, not its
 * domain's catch-all. -1 error, 0 none, 1 found. */
static int aliases_of(struct resolver *r, const char *norm, struct alias_list *list, bool *exact)
{
	int rc = directory_alias_lookup(r->dir, norm, list, &r->error);
	*exact = rc > 0 && list->count > 0 && strcmp(list->items[0].source, norm) == 0;
	return rc;
}

/* user+tag@domain -> user@domain, or NULL when norm has no tag. */
static char *strip_tag(const char *norm, const char *delimiter)
{
	if (delimiter == NULL || *delimiter == '\0')
		return NULL;
	const char *at = strrchr(norm, '@');
	if (at == NULL)
		return NULL;
	const char *d = strstr(norm, delimiter);
	if (d == NULL || d == norm || d >= at)
		return NULL;
	return xasprintf("%.*s%s", (int)(d - norm), norm, at);
}

static enum res_status resolve_local(struct resolver *r, const char *norm, int depth)
{
	if (depth > SMTP_ALIAS_DEPTH || seen_before(r, norm))
		return RES_LOOP;
	enum res_status st;
	if (try_account(r, norm, &st))
		return st;
	struct alias_list list = { 0 };
	bool exact = false;
	int rc = aliases_of(r, norm, &list, &exact);
	if (rc < 0)
		return RES_TEMP;
	if (exact) {
		st = expand(r, &list, depth);
		alias_list_free(&list);
		return st;
	}
	char *base = strip_tag(norm, r->delimiter);
	if (base != NULL) {
		if (try_account(r, base, &st)) {
			free(base);
			alias_list_free(&list);
			return st;
		}
		struct alias_list blist = { 0 };
		bool bexact = false;
		int brc = aliases_of(r, base, &blist, &bexact);
		free(base);
		if (brc < 0 || bexact) {
			st = brc < 0 ? RES_TEMP : expand(r, &blist, depth);
			alias_list_free(&blist);
			alias_list_free(&list);
			return st;
		}
		alias_list_free(&blist);
	}
	st = rc > 0 ? expand(r, &list, depth) : RES_UNKNOWN;   /* the catch-all */
	alias_list_free(&list);
	return st;
}

static void resolver_free(struct resolver *r)
{
	smtp_targets_free(r->targets, r->ntargets);
	string_list_free(&r->seen);
	free(r->error);
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
		thread_directory_reset();
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
		struct resolver r = { .dir = dir, .delimiter = l->delimiter };
		enum res_status st = RES_UNKNOWN;
		/* No account of ours has a quoted local part. */
		if (!l->quoted && addr_normalize(address, strlen(address), &norm, &err) == 0)
			st = resolve_local(&r, norm, 0);
		free(norm);
		switch (st) {
		case RES_OK:
			res->reply = xstrdup("250 2.1.5 Ok");
			res->targets = r.targets;
			res->ntargets = r.ntargets;
			r.targets = NULL;
			r.ntargets = 0;
			break;
		case RES_UNKNOWN:
			res->reply = xasprintf("550 5.1.1 <%s>: Recipient address rejected: User unknown",
					       l->address);
			break;
		case RES_DISABLED:
			res->reply = xasprintf("550 5.2.1 <%s>: Recipient address rejected: Mailbox disabled",
					       l->address);
			break;
		case RES_LOOP:
			res->reply = xasprintf("550 5.4.6 <%s>: Recipient address rejected: Alias loop",
					       l->address);
			break;
		case RES_QUOTA:
			res->reply = xasprintf("452 4.2.2 <%s>: Mailbox full", l->address);
			break;
		case RES_TEMP:
			thread_directory_reset();
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
	bool owned = false, temp = false;
	if (!l->null && !l->quoted && !l->literal &&
	    addr_normalize(l->address, strlen(l->address), &norm, &err) == 0) {
		char *base = strip_tag(norm, l->delimiter);
		owned = strcmp(norm, l->user) == 0 || (base != NULL && strcmp(base, l->user) == 0);
		free(base);
		if (!owned) {
			struct resolver r = { .dir = dir, .delimiter = l->delimiter };
			struct alias_list list = { 0 };
			bool exact = false;
			int rc = aliases_of(&r, norm, &list, &exact);
			temp = rc < 0;
			if (exact) {
				(void)seen_before(&r, norm);
				temp = expand(&r, &list, 0) == RES_TEMP;
				for (size_t i = 0; i < r.ntargets; i++)
					if (r.targets[i].local && strcmp(r.targets[i].address, l->user) == 0)
						owned = true;
			}
			alias_list_free(&list);
			resolver_free(&r);
		}
	}
	if (owned)
		res->reply = xstrdup("250 2.1.0 Ok");
	else if (temp)
		res->reply = xstrdup("451 4.3.0 Temporary lookup failure");
	else
		res->reply = xasprintf("553 5.7.1 <%s>: Sender address not owned by user %s",
				       l->address, l->user);
	if (temp)
		thread_directory_reset();
	free(norm);
	free(err);
}

/* ---- on the pool ---- */

static void lookup_free(struct smtp_lookup *l)
{
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
	struct directory *dir = thread_directory(l->data_dir, &err);
	if (dir == NULL) {
		l->result.reply = xstrdup("451 4.3.0 Temporary lookup failure");
		free(err);
		return;
	}
	if (l->kind == LOOKUP_RCPT)
		rcpt_work(l, dir);
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

static void start(struct session *s, enum lookup_kind kind, const struct smtp_path *path,
		  smtp_lookup_done *done)
{
	struct smtp_state *st = s->data;
	struct smtp_lookup *l = xcalloc(1, sizeof *l);
	l->s = s;
	l->done = done;
	l->kind = kind;
	l->address = xstrdup(buf_cstr(&path->address));
	l->null = path->null;
	l->postmaster = path->postmaster;
	l->quoted = path->quoted;
	l->literal = path->literal;
	l->user = st->user != NULL ? xstrdup(st->user) : NULL;
	l->relay_ok = smtp_is_submission(s) && st->user != NULL;
	l->delimiter = xstrdup(s->cfg->smtp_recipient_delimiter);
	l->hostname = xstrdup(smtp_hostname(s));
	l->data_dir = xstrdup(s->cfg->server_data_dir);
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

void smtp_lookup_rcpt(struct session *s, const struct smtp_path *path, smtp_lookup_done *done)
{
	start(s, LOOKUP_RCPT, path, done);
}

void smtp_lookup_sender(struct session *s, const struct smtp_path *path, smtp_lookup_done *done)
{
	start(s, LOOKUP_SENDER, path, done);
}

void smtp_lookup_cancel(struct smtp_lookup **lookup)
{
	if (*lookup == NULL)
		return;
	(*lookup)->s = NULL;
	*lookup = NULL;
}
