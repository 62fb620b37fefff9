/* Local delivery from the spool into the store: see deliver.h. */
#include "queue/deliver.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "account/addr.h"
#include "account/directory.h"
#include "account/resolve.h"
#include "core/buf.h"
#include "core/fileio.h"
#include "core/config.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "queue/spool.h"
#include "store/store.h"

#define RETRY_FIRST 30       /* seconds */
#define RETRY_MAX   3600

/* What the runner remembers of an entry between passes. */
struct entry_state {
	char id[SPOOL_ID_LEN + 1];
	time_t next_attempt;     /* not before */
	unsigned attempts;
	bool remote_only;        /* nothing local left: outbound mail's */
	bool seen;               /* still in the spool at the last walk */
};

struct deliver {
	char *data_dir;
	char *spool_dir;
	char *delimiter;
	struct directory *dir;
	struct store *store;
	struct entry_state *entries;
	size_t nentries;
};

int deliver_new(const struct config *cfg, struct deliver **d_r, char **error_r)
{
	struct deliver *d = xcalloc(1, sizeof *d);
	d->data_dir = xstrdup(cfg->server_data_dir);
	d->spool_dir = xasprintf("%s/%s", cfg->server_data_dir, SPOOL_DIR);
	d->delimiter = xstrdup(cfg->smtp_recipient_delimiter);
	if (directory_open(cfg->server_data_dir, &d->dir, error_r) < 0 ||
	    store_open(cfg->server_data_dir, &d->store, error_r) < 0) {
		deliver_free(&d);
		return -1;
	}
	*d_r = d;
	return 0;
}

void deliver_free(struct deliver **dp)
{
	struct deliver *d = *dp;
	if (d == NULL)
		return;
	directory_close(&d->dir);
	store_close(&d->store);
	free(d->data_dir);
	free(d->spool_dir);
	free(d->delimiter);
	free(d->entries);
	free(d);
	*dp = NULL;
}

const char *deliver_spool_dir(const struct deliver *d)
{
	return d->spool_dir;
}

static struct entry_state *entry_state(struct deliver *d, const char *id)
{
	for (size_t i = 0; i < d->nentries; i++)
		if (strcmp(d->entries[i].id, id) == 0)
			return &d->entries[i];
	d->entries = xrealloc(d->entries, (d->nentries + 1) * sizeof *d->entries);
	struct entry_state *e = &d->entries[d->nentries++];
	memset(e, 0, sizeof *e);
	memcpy(e->id, id, sizeof e->id);
	return e;
}

/* ---- the message file and its header ---- */

static int read_message(struct deliver *d, const char *id, struct buf *out, char **error_r)
{
	int fd = spool_open_message(d->spool_dir, id, error_r);
	if (fd < 0)
		return -1;
	char *name = xasprintf("%s/%s.msg", d->spool_dir, id);
	int r = fileio_read_fd(fd, name, out, error_r);
	free(name);
	close(fd);
	return r;
}

bool deliver_has_delivered_to(const char *msg, size_t msg_len, const char *address)
{
	static const char field[] = "delivered-to:";
	const char *p = msg != NULL ? msg : "", *end = p + msg_len;
	size_t alen = strlen(address);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl != NULL ? nl : end;
		size_t len = (size_t)(eol - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (len == 0)
			return false;   /* the end of the header */
		if (len > sizeof field - 1 && strncasecmp(p, field, sizeof field - 1) == 0) {
			const char *v = p + sizeof field - 1, *ve = p + len;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			if (ve - v >= 2 && *v == '<' && ve[-1] == '>') {
				v++;
				ve--;
			}
			if ((size_t)(ve - v) == alen && strncasecmp(v, address, alen) == 0)
				return true;
		}
		p = nl != NULL ? nl + 1 : end;
	}
	return false;
}

/* ---- progress (ID.dlv) ---- */

static char *progress_path(struct deliver *d, const char *id)
{
	return xasprintf("%s/%s%s", d->spool_dir, id, SPOOL_PROGRESS_SUFFIX);
}

static void progress_read(struct deliver *d, const char *id, struct string_list *done)
{
	char *path = progress_path(d, id);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return;
	struct buf text = BUF_INIT;
	char chunk[4096];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		buf_append(&text, chunk, (size_t)n);
	close(fd);
	const char *p = buf_cstr(&text);
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		if (nl == NULL)
			break;   /* a torn last line: not committed */
		if (nl > p) {
			done->items = xrealloc(done->items, (done->count + 1) * sizeof *done->items);
			done->items[done->count++] = xstrndup(p, (size_t)(nl - p));
		}
		p = nl + 1;
	}
	buf_free(&text);
}

static int progress_add(struct deliver *d, const char *id, const char *address, char **error_r)
{
	char *path = progress_path(d, id);
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	int rc = -1;
	if (fd < 0) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	char *line = xasprintf("%s\n", address);
	size_t len = strlen(line);
	if (write(fd, line, len) != (ssize_t)len || fdatasync(fd) < 0)
		*error_r = xasprintf("%s: write: %s", path, strerror(errno));
	else
		rc = 0;
	free(line);
	close(fd);
	free(path);
	return rc;
}

static bool in_list(const struct string_list *l, const char *s)
{
	for (size_t i = 0; i < l->count; i++)
		if (strcmp(l->items[i], s) == 0)
			return true;
	return false;
}

static void list_add(struct string_list *l, const char *s)
{
	l->items = xrealloc(l->items, (l->count + 1) * sizeof *l->items);
	l->items[l->count++] = xstrdup(s);
}

/* ---- one entry ---- */

struct job {
	struct deliver *d;
	const char *id;
	struct spool_envelope env;
	struct buf msg;
	struct store_blob *blob;
	struct string_list done;      /* accounts delivered (ID.dlv and this pass) */
	struct spool_rcpt *keep;      /* recipients left in the spool (remote) */
	size_t nkeep;
	struct spool_rcpt *held;      /* recipients for spool/hold/ */
	size_t nheld;
	struct string_list owned;     /* strings of keep/held made here */
	bool retry;
};

static void push_rcpt(struct spool_rcpt **list, size_t *n, const struct spool_rcpt *r)
{
	*list = xrealloc(*list, (*n + 1) * sizeof **list);
	(*list)[(*n)++] = *r;
}

/* A remote target found by resolving again (an alias changed since
 * acceptance): it joins the recipients left for outbound mail. */
static void keep_remote(struct job *j, const struct spool_rcpt *from, const char *address)
{
	for (size_t i = 0; i < j->nkeep; i++)
		if (strcmp(j->keep[i].address, address) == 0)
			return;
	list_add(&j->owned, address);
	struct spool_rcpt r = *from;
	r.address = j->owned.items[j->owned.count - 1];
	r.original = from->original != NULL ? from->original : from->address;
	r.local = false;
	push_rcpt(&j->keep, &j->nkeep, &r);
}

static int blob_of_message(struct job *j, char **error_r)
{
	if (j->blob != NULL)
		return 0;
	struct store_blob_writer *w;
	if (store_blob_begin(j->d->store, &w, error_r) < 0)
		return -1;
	if (store_blob_write(w, j->msg.data != NULL ? j->msg.data : "", j->msg.len, error_r) < 0) {
		store_blob_abort(&w);
		return -1;
	}
	return store_blob_commit(&w, &j->blob, error_r);
}

enum deliver_result deliver_append_inbox(struct store *store, struct store_blob *blob,
					 const char *sender, const struct resolve_target *t,
					 time_t received, uint32_t *uid_r, char **error_r)
{
	struct buf prefix = BUF_INIT;
	buf_appendf(&prefix, "Return-Path: <%s>\r\nDelivered-To: %s\r\n", sender, t->address);
	struct store_append a = {
		.blob = blob,
		.internaldate = received,
		.prefix = prefix.data,
		.prefix_len = prefix.len,
		.once = true,
	};
	struct store_user *u = NULL;
	struct store_mailbox *mb = NULL;
	enum deliver_result rc = DELIVER_OK;
	*uid_r = 0;
	if (store_user_open(store, t->account_id, &u, error_r) < 0) {
		rc = DELIVER_TEMP;
	} else if (store_mailbox_open(u, "INBOX", &mb, error_r) < 0 ||
		   store_append(mb, &a, 1, t->quota_bytes, uid_r, error_r) < 0) {
		rc = store_user_last_error(u) == STORE_ERR_OVERQUOTA ? DELIVER_OVERQUOTA
								   : DELIVER_TEMP;
	}
	store_mailbox_close(&mb);
	store_user_close(&u);
	buf_free(&prefix);
	return rc;
}

/* Append to one account's INBOX. 0 done, 1 retry later. */
static int deliver_account(struct job *j, const struct resolve_target *t)
{
	struct deliver *d = j->d;
	char *error = NULL;
	if (blob_of_message(j, &error) < 0) {
		log_error("queue", "event=deliver_failed id=%s to=<%s> step=blob error=\"%s\"", j->id,
			  t->address, error);
		free(error);
		return 1;
	}
	uint32_t uid = 0;
	int rc = 1;
	switch (deliver_append_inbox(d->store, j->blob, j->env.sender, t, (time_t)j->env.received,
				     &uid, &error)) {
	case DELIVER_OK:
		rc = 0;
		log_info("queue", "event=delivered id=%s to=<%s> mailbox=INBOX uid=%u%s", j->id,
			 t->address, uid, uid == 0 ? " already=yes" : "");
		break;
	case DELIVER_OVERQUOTA:
		log_warn("queue", "event=deliver_deferred id=%s to=<%s> reason=over_quota "
			 "error=\"%s\"", j->id, t->address, error);
		break;
	case DELIVER_TEMP:
		log_error("queue", "event=deliver_failed id=%s to=<%s> error=\"%s\"", j->id,
			  t->address, error);
		break;
	}
	free(error);
	error = NULL;
	if (rc == 0 && progress_add(d, j->id, t->address, &error) < 0) {
		/* Delivered; the store's once check covers the missing line. */
		log_warn("queue", "event=progress_failed id=%s error=\"%s\"", j->id, error);
		free(error);
	}
	if (rc == 0)
		list_add(&j->done, t->address);
	return rc;
}

/* One local recipient of the envelope: resolve it again, deliver to each
 * of its accounts. */
static void deliver_rcpt(struct job *j, const struct spool_rcpt *r)
{
	struct deliver *d = j->d;
	char *norm = NULL, *error = NULL;
	if (d->dir == NULL && directory_open(d->data_dir, &d->dir, &error) < 0) {
		log_error("queue", "event=deliver_deferred id=%s to=<%s> reason=directory "
			  "error=\"%s\"", j->id, r->address, error);
		free(error);
		j->retry = true;
		return;
	}
	struct resolver res;
	resolver_init(&res, d->dir, d->delimiter);
	enum resolve_status st = RESOLVE_UNKNOWN;
	if (addr_normalize(r->address, strlen(r->address), &norm, &error) == 0)
		st = resolve_address(&res, norm);
	free(error);
	free(norm);
	if (st == RESOLVE_TEMP) {
		log_error("queue", "event=deliver_deferred id=%s to=<%s> reason=lookup error=\"%s\"",
			  j->id, r->address, res.error != NULL ? res.error : "");
		directory_close(&d->dir);   /* may be broken: reopened below */
		char *e = NULL;
		if (directory_open(d->data_dir, &d->dir, &e) < 0) {
			log_error("queue", "event=directory_error error=\"%s\"", e);
			free(e);
		}
		j->retry = true;
	} else if (st != RESOLVE_OK) {
		log_warn("queue", "event=deliver_held id=%s to=<%s> reason=%s", j->id, r->address,
			 st == RESOLVE_DISABLED ? "disabled" : st == RESOLVE_LOOP ? "alias_loop"
			 : "unknown");
		push_rcpt(&j->held, &j->nheld, r);
	}
	for (size_t i = 0; st == RESOLVE_OK && i < res.ntargets; i++) {
		const struct resolve_target *t = &res.targets[i];
		if (!t->local) {
			keep_remote(j, r, t->address);
			continue;
		}
		if (in_list(&j->done, t->address))
			continue;   /* delivered (an account reached twice gets one copy) */
		if (deliver_has_delivered_to(j->msg.data, j->msg.len, t->address)) {
			log_warn("queue", "event=deliver_held id=%s to=<%s> reason=loop "
				 "detail=\"Delivered-To already present\"", j->id, t->address);
			struct spool_rcpt h = *r;
			list_add(&j->owned, t->address);
			h.address = j->owned.items[j->owned.count - 1];
			push_rcpt(&j->held, &j->nheld, &h);
			list_add(&j->done, t->address);   /* not twice in hold */
			continue;
		}
		if (deliver_account(j, t) != 0)
			j->retry = true;
	}
	resolver_free(&res);
}

static void envelope_with(const struct spool_envelope *env, struct spool_rcpt *rcpts, size_t n,
			  struct buf *out)
{
	struct spool_envelope sub = *env;
	sub.rcpts = rcpts;
	sub.nrcpts = n;
	buf_clear(out);
	spool_envelope_format(&sub, out);
}

/* Every local recipient is done: hold what must be held, leave the remote
 * recipients, or remove the entry. 0, or -1 (retry). */
static int finish(struct job *j)
{
	struct deliver *d = j->d;
	struct buf text = BUF_INIT;
	char *error = NULL;
	int rc = 0;
	if (j->nheld > 0) {
		envelope_with(&j->env, j->held, j->nheld, &text);
		if (spool_hold(d->spool_dir, j->id, &text, &error) < 0) {
			log_error("queue", "event=hold_failed id=%s error=\"%s\"", j->id, error);
			rc = -1;
			goto out;
		}
		log_info("queue", "event=held id=%s rcpts=%zu", j->id, j->nheld);
	}
	if (j->nkeep > 0) {
		envelope_with(&j->env, j->keep, j->nkeep, &text);
		if (spool_replace_envelope(d->spool_dir, j->id, &text, &error) < 0) {
			log_error("queue", "event=spool_error id=%s error=\"%s\"", j->id, error);
			rc = -1;
			goto out;
		}
		char *progress = progress_path(d, j->id);
		unlink(progress);
		free(progress);
		log_info("queue", "event=local_done id=%s remote_left=%zu", j->id, j->nkeep);
	} else if (spool_remove(d->spool_dir, j->id, &error) < 0) {
		log_error("queue", "event=spool_error id=%s error=\"%s\"", j->id, error);
		rc = -1;
	} else {
		log_debug("queue", "event=removed id=%s", j->id);
	}
out:
	free(error);
	buf_free(&text);
	return rc;
}

static void job_clear(struct job *j)
{
	spool_envelope_clear(&j->env);
	buf_free(&j->msg);
	store_blob_free(&j->blob);
	string_list_free(&j->done);
	string_list_free(&j->owned);
	free(j->keep);
	free(j->held);
}

int deliver_entry(struct deliver *d, const char *id, char **error_r)
{
	struct job j = { .d = d, .id = id };
	struct entry_state *es = entry_state(d, id);
	int rc = -1;
	if (spool_read_envelope(d->spool_dir, id, &j.env, error_r) < 0)
		goto out;
	size_t local = 0;
	for (size_t i = 0; i < j.env.nrcpts; i++) {
		if (j.env.rcpts[i].local)
			local++;
		else
			push_rcpt(&j.keep, &j.nkeep, &j.env.rcpts[i]);
	}
	if (local == 0) {
		es->remote_only = true;
		rc = 0;
		goto out;
	}
	if (read_message(d, id, &j.msg, error_r) < 0)
		goto out;
	progress_read(d, id, &j.done);
	for (size_t i = 0; i < j.env.nrcpts; i++)
		if (j.env.rcpts[i].local)
			deliver_rcpt(&j, &j.env.rcpts[i]);
	if (!j.retry && finish(&j) < 0)
		j.retry = true;
	rc = j.retry ? 1 : 0;
	if (j.retry) {
		unsigned shift = es->attempts < 7 ? es->attempts : 7;
		long delay = (long)RETRY_FIRST << shift;
		if (delay > RETRY_MAX)
			delay = RETRY_MAX;
		es->attempts++;
		es->next_attempt = time(NULL) + delay;
		log_info("queue", "event=deferred id=%s attempts=%u retry_in=%lds", id, es->attempts,
			 delay);
	} else if (j.nkeep > 0) {
		es->remote_only = true;
	}
out:
	job_clear(&j);
	return rc;
}

/* ---- several entries at once ---- */

/* Entries delivered at the same time, each by its own thread with its own
 * store and directory handles, so that deliveries do not wait for one
 * another's fsyncs: one entry after another, a queue runner delivered ~150
 * messages/s (bench/smtp). Every entry is still delivered by one thread, and
 * its exactly-once bookkeeping (ID.dlv, the append's `once`) is unchanged. */
#define DELIVER_PARALLEL 8

static void deliver_one(struct deliver *d, const char *id)
{
	char *error = NULL;
	if (deliver_entry(d, id, &error) < 0) {
		if (error != NULL && strstr(error, "no such message") == NULL)
			log_error("queue", "event=deliver_failed id=%s error=\"%s\"", id, error);
		free(error);
	}
}

struct parallel {
	struct deliver *d;
	char **ids;
	size_t n, next;
	pthread_mutex_t lock;
};

static void *deliver_thread(void *arg)
{
	struct parallel *p = arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);   /* signals are the loop's */
	/* This thread's handles; the entry states are shared (each entry is
	 * only touched by the thread that delivers it; none is added now). */
	struct deliver t = { .data_dir = p->d->data_dir, .spool_dir = p->d->spool_dir,
			     .delimiter = p->d->delimiter, .entries = p->d->entries,
			     .nentries = p->d->nentries };
	char *error = NULL;
	if (store_open(t.data_dir, &t.store, &error) < 0) {
		log_error("queue", "event=deliver_failed step=open error=\"%s\"", error);
		free(error);
		return NULL;   /* its entries wait for the next walk */
	}
	for (;;) {
		pthread_mutex_lock(&p->lock);
		size_t i = p->next++;
		pthread_mutex_unlock(&p->lock);
		if (i >= p->n)
			break;
		deliver_one(&t, p->ids[i]);
	}
	directory_close(&t.dir);
	store_close(&t.store);
	return NULL;
}

static void deliver_all(struct deliver *d, char **ids, size_t n)
{
	if (n <= 1) {
		for (size_t i = 0; i < n; i++)
			deliver_one(d, ids[i]);
		return;
	}
	struct parallel p = { .d = d, .ids = ids, .n = n };
	pthread_mutex_init(&p.lock, NULL);
	size_t nthreads = n < DELIVER_PARALLEL ? n : DELIVER_PARALLEL;
	pthread_t th[DELIVER_PARALLEL];
	size_t started = 0;
	for (; started < nthreads; started++)
		if (pthread_create(&th[started], NULL, deliver_thread, &p) != 0)
			break;
	if (started == 0)
		deliver_thread(&p);   /* no thread to be had: this one does it all */
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&p.lock);
}

bool deliver_run(struct deliver *d, size_t max)
{
	struct spool_iter *it = NULL;
	char *error = NULL;
	if (spool_iter_open(d->spool_dir, &it, &error) < 0) {
		log_debug("queue", "event=spool_error error=\"%s\"", error);
		free(error);
		return false;
	}
	for (size_t i = 0; i < d->nentries; i++)
		d->entries[i].seen = false;
	time_t now = time(NULL);
	size_t n = 0;
	bool more = false;
	const char *id;
	char **ids = xcalloc(max ? max : 1, sizeof *ids);
	while ((id = spool_iter_next(it)) != NULL) {
		struct entry_state *es = entry_state(d, id);
		es->seen = true;
		if (es->remote_only || es->next_attempt > now)
			continue;
		if (n == max) {
			more = true;
			break;
		}
		ids[n++] = xstrdup(id);
	}
	spool_iter_close(&it);
	/* Every entry state exists now: the threads only look them up. */
	deliver_all(d, ids, n);
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	/* Forget entries that left the spool (after a whole walk only). */
	if (!more) {
		size_t k = 0;
		for (size_t i = 0; i < d->nentries; i++)
			if (d->entries[i].seen)
				d->entries[k++] = d->entries[i];
		d->nentries = k;
	}
	return more;
}
