/* The POP3 maildrop: the account's INBOX in the mail store, locked for one
 * POP3 session at a time, seen through a snapshot taken at login, changed
 * only in the UPDATE state (RFC 1939 6).
 *
 * Lock: flock(LOCK_EX | LOCK_NB) on DATA_DIR/pop3-locks/<account id>.lock,
 * held by the session's open file description. It works across worker
 * processes and inside one (each session opens the file itself), and the
 * kernel drops it on close, including when a worker dies. A second session
 * gets "-ERR [IN-USE]" (RFC 2449 8.1.2) and stays in AUTHORIZATION. The
 * file's mtime is the time of the last login, for pop3.login_delay
 * ("-ERR [LOGIN-DELAY]", RFC 2449 8.1.1).
 *
 * Snapshot: the UIDs, sizes and blob ids of every INBOX message at login,
 * numbered 1..n by ascending UID. Messages that arrive later, or that an
 * IMAP session expunges, do not change the numbering (RFC 1939 3); RETR of
 * a message expunged meanwhile answers "-ERR [SYS/TEMP]" or finds the blob
 * still there (blobs are collected after a grace period).
 *
 * Options: the account's pop3_delete_after_retr and pop3_deleted_to_trash
 * (surel user set), else pop3.delete_after_retr and pop3.deleted_to_trash,
 * read once at login (struct pop3_maildrop) and kept for the session.
 *
 * UPDATE: the messages marked deleted are given \Deleted and expunged (or
 * moved to the Trash mailbox with deleted_to_trash), those retrieved
 * with RETR get \Seen; IMAP sessions learn of it through the store's change
 * notification. A session that ends any other way (drop, timeout, kill,
 * shutdown) applies nothing.
 *
 * Every store call runs on the worker's thread pool with the session's input
 * paused (pop3_job_submit); the session's own store handle is used by one
 * thread at a time. */
#include "pop3/pop3_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "account/directory.h"
#include "core/config.h"
#include "core/pool.h"
#include "core/xmalloc.h"
#include "store/store.h"

#define LOCK_DIR "pop3-locks"

/* ---- jobs ---- */

static void job_orphaned(struct pop3_job *job)
{
	struct pop3_maildrop *md = job->md;
	job->free(job);
	pop3_maildrop_free(&md);
}

static void job_work(void *arg)
{
	struct pop3_job *job = arg;
	job->work(job);
}

static void job_done(void *arg)
{
	struct pop3_job *job = arg;
	job->running = false;
	if (job->s == NULL) {
		job_orphaned(job);
		return;
	}
	struct pop3_state *st = job->s->data;
	st->job = NULL;
	job->done(job->s, job);
}

static void job_discard(void *arg)
{
	job_orphaned(arg);
}

void pop3_job_submit(struct session *s, struct pop3_job *job)
{
	struct pop3_state *st = s->data;
	job->s = s;
	job->running = true;
	st->job = job;
	session_pause_input(s);
	pool_submit_ex(s->pool, job_work, job_done, job_discard, job);
}

void pop3_maildrop_free(struct pop3_maildrop **mdp)
{
	struct pop3_maildrop *md = *mdp;
	if (md == NULL)
		return;
	store_mailbox_close(&md->inbox);
	store_user_close(&md->user);
	store_close(&md->store);
	if (md->lock_fd >= 0)
		close(md->lock_fd);   /* releases the lock */
	for (size_t i = 0; i < md->count; i++)
		free(md->msgs[i].prefix);
	free(md->msgs);
	free(md);
	*mdp = NULL;
}

void pop3_maildrop_abandon(struct pop3_state *st)
{
	if (st->job != NULL && !st->job->running) {
		/* A RETR waiting for the output to drain. */
		st->job->free(st->job);
		st->job = NULL;
	}
	if (st->job != NULL) {
		/* The pool thread still uses the maildrop: the job frees it. */
		st->job->s = NULL;
		if (st->job->md == NULL)
			st->job->md = st->md;
		st->job = NULL;
		st->md = NULL;
		return;
	}
	pop3_maildrop_free(&st->md);
}

/* ---- login: lock and snapshot ---- */

enum open_result { OPEN_OK, OPEN_IN_USE, OPEN_LOGIN_DELAY, OPEN_FAILED };

struct open_job {
	struct pop3_job base;
	char *data_dir;
	char *address;
	long long login_delay;
	enum open_result result;
	char *error;
};

static void open_job_free(struct pop3_job *job)
{
	struct open_job *j = (struct open_job *)job;
	free(j->data_dir);
	free(j->address);
	free(j->error);
	free(j);
}

static int add_message(void *ctx, const struct store_message *m)
{
	struct pop3_maildrop *md = ctx;
	if (md->count % 256 == 0)
		md->msgs = xrealloc(md->msgs, (md->count + 256) * sizeof *md->msgs);
	struct pop3_message *pm = &md->msgs[md->count++];
	*pm = (struct pop3_message){ .uid = m->uid, .size = m->size };
	snprintf(pm->blob_id, sizeof pm->blob_id, "%s", m->blob_id);
	if (m->prefix_len > 0) {
		pm->prefix = xmalloc(m->prefix_len);
		memcpy(pm->prefix, m->prefix, m->prefix_len);
		pm->prefix_len = m->prefix_len;
	}
	md->total_bytes += m->size;
	return 0;
}

/* Lock the account's maildrop: 0 locked, 1 in use, 2 login delay, -1 error. */
static int take_lock(struct open_job *j, struct pop3_maildrop *md)
{
	char path[sizeof LOCK_DIR + 64];
	snprintf(path, sizeof path, "%s/%s", j->data_dir, LOCK_DIR);
	if (mkdir(path, 0750) < 0 && errno != EEXIST) {
		j->error = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	char *file = xasprintf("%s/%s/%lld.lock", j->data_dir, LOCK_DIR, md->account_id);
	md->lock_fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (md->lock_fd < 0) {
		j->error = xasprintf("%s: %s", file, strerror(errno));
		free(file);
		return -1;
	}
	free(file);
	if (flock(md->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			return 1;
		j->error = xasprintf("flock: %s", strerror(errno));
		return -1;
	}
	struct stat sb;
	if (j->login_delay > 0 && fstat(md->lock_fd, &sb) == 0 && sb.st_size > 0 &&
	    time(NULL) - sb.st_mtime < j->login_delay)
		return 2;
	/* The last login, for pop3.login_delay: the file's size says it was
	 * written once (a new file has no login yet), its mtime when. */
	if (pwrite(md->lock_fd, "1", 1, 0) < 0 || futimens(md->lock_fd, NULL) < 0) {
		j->error = xasprintf("lock file: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void open_work(struct pop3_job *job)
{
	struct open_job *j = (struct open_job *)job;
	struct pop3_maildrop *md = job->md;
	switch (take_lock(j, md)) {
	case 0: break;
	case 1: j->result = OPEN_IN_USE; return;
	case 2: j->result = OPEN_LOGIN_DELAY; return;
	default: j->result = OPEN_FAILED; return;
	}
	struct store_mailbox_info info = { 0 };
	if (store_open(j->data_dir, &md->store, &j->error) < 0 ||
	    store_user_open(md->store, md->account_id, &md->user, &j->error) < 0 ||
	    store_mailbox_open(md->user, "INBOX", &md->inbox, &j->error) < 0 ||
	    store_mailbox_status(md->inbox, &info, &j->error) < 0 ||
	    store_fetch(md->inbox, NULL, 0, add_message, md, &j->error) < 0) {
		j->result = OPEN_FAILED;
		store_mailbox_info_clear(&info);
		return;
	}
	md->uidvalidity = info.uidvalidity;
	store_mailbox_info_clear(&info);
	j->result = OPEN_OK;
}

static void open_done(struct session *s, struct pop3_job *job)
{
	struct open_job *j = (struct open_job *)job;
	struct pop3_state *st = s->data;
	struct pop3_maildrop *md = job->md;
	job->md = NULL;
	switch (j->result) {
	case OPEN_OK:
		st->md = md;
		st->state = POP3_TRANSACTION;
		st->user = j->address;
		j->address = NULL;
		log_msg(LOGL_INFO, "pop3", s->id,
			"event=login user=%s method=%s messages=%zu octets=%llu "
			"delete_after_retr=%s deleted_to=%s", st->user, st->method, md->count,
			(unsigned long long)md->total_bytes, md->delete_after_retr ? "yes" : "no",
			md->deleted_to_trash ? "trash" : "expunge");
		session_printf(s, "+OK Logged in\r\n");
		md = NULL;
		break;
	case OPEN_IN_USE:
		log_msg(LOGL_INFO, "pop3", s->id, "event=in_use user=%s", j->address);
		session_printf(s, "-ERR [IN-USE] Mailbox is locked by another POP3 session\r\n");
		break;
	case OPEN_LOGIN_DELAY:
		log_msg(LOGL_INFO, "pop3", s->id, "event=login_delay user=%s", j->address);
		session_printf(s, "-ERR [LOGIN-DELAY] Logged in too recently, try later\r\n");
		break;
	case OPEN_FAILED:
		log_msg(LOGL_ERROR, "pop3", s->id, "event=maildrop_failed user=%s error=\"%s\"",
			j->address, j->error);
		session_printf(s, "-ERR [SYS/TEMP] Mailbox unavailable, try later\r\n");
		break;
	}
	pop3_maildrop_free(&md);
	open_job_free(job);
	session_resume_input(s);
}

void pop3_maildrop_open(struct session *s, const struct account_info *account)
{
	if (s->pool == NULL) {
		session_printf(s, "-ERR [SYS/TEMP] Mailbox unavailable, try later\r\n");
		return;
	}
	struct open_job *j = xcalloc(1, sizeof *j);
	struct pop3_maildrop *md = xcalloc(1, sizeof *md);
	md->account_id = account->id;
	md->delete_after_retr = account_opt_value(account->pop3.delete_after_retr,
						  s->cfg->pop3_delete_after_retr);
	md->deleted_to_trash = account_opt_value(account->pop3.deleted_to_trash,
						 s->cfg->pop3_deleted_to_trash);
	md->lock_fd = -1;
	j->base.md = md;
	j->base.work = open_work;
	j->base.done = open_done;
	j->base.free = open_job_free;
	j->data_dir = xstrdup(s->cfg->server_data_dir);
	j->address = xstrdup(account->address);
	j->login_delay = s->cfg->pop3_login_delay;
	pop3_job_submit(s, &j->base);
}

/* ---- UPDATE ---- */

struct update_job {
	struct pop3_job base;
	bool to_trash;
	size_t deleted;
	int failed;
	char *error;
};

static void update_job_free(struct pop3_job *job)
{
	struct update_job *j = (struct update_job *)job;
	free(j->error);
	free(j);
}

/* Which messages uid_ranges() takes. */
enum uid_pick {
	PICK_DELETED,
	PICK_RETRIEVED_KEPT,    /* retrieved and not deleted */
	PICK_RETRIEVED,         /* retrieved, deleted or not */
};

/* The UIDs of the messages picked, as ranges. */
static struct store_uid_range *uid_ranges(const struct pop3_maildrop *md, enum uid_pick pick,
					  size_t *n_r)
{
	struct store_uid_range *r = xcalloc(md->count + 1, sizeof *r);
	size_t n = 0;
	for (size_t i = 0; i < md->count; i++) {
		const struct pop3_message *m = &md->msgs[i];
		bool take = pick == PICK_DELETED ? m->deleted
			    : pick == PICK_RETRIEVED ? m->retrieved
			    : m->retrieved && !m->deleted;
		if (!take)
			continue;
		if (n > 0 && r[n - 1].hi + 1 == m->uid)
			r[n - 1].hi = m->uid;
		else
			r[n++] = (struct store_uid_range){ m->uid, m->uid };
	}
	*n_r = n;
	return r;
}

/* The Trash mailbox: the one with \Trash, else "Trash". */
static char *trash_name(struct store_user *u, char **error_r)
{
	struct store_mailbox_list list = { 0 };
	if (store_mailbox_list(u, &list, error_r) < 0)
		return NULL;
	char *name = NULL;
	for (size_t i = 0; i < list.count && name == NULL; i++)
		if (list.items[i].special_use == STORE_SPECIAL_TRASH)
			name = xstrdup(list.items[i].name);
	store_mailbox_list_free(&list);
	return name != NULL ? name : xstrdup("Trash");
}

static int apply_deletions(struct update_job *j, struct pop3_maildrop *md,
			   const struct store_uidset *set)
{
	if (j->to_trash) {
		char *name = trash_name(md->user, &j->error);
		struct store_mailbox *trash = NULL;
		struct store_copy_result res = { 0 };
		int rc = -1;
		if (name != NULL && store_mailbox_open(md->user, name, &trash, &j->error) == 0 &&
		    store_move(md->inbox, set, trash, &res, &j->error) == 0) {
			j->deleted = res.src_uids.count;
			rc = 0;
		}
		store_copy_result_free(&res);
		store_mailbox_close(&trash);
		free(name);
		return rc;
	}
	struct store_flag_change del = { .op = STORE_FLAGS_ADD, .flags = STORE_FLAG_DELETED };
	struct store_uid_list expunged = { 0 };
	if (store_set_flags(md->inbox, set, &del, NULL, NULL, NULL, &j->error) < 0 ||
	    store_expunge(md->inbox, set, &expunged, &j->error) < 0) {
		store_uid_list_free(&expunged);
		return -1;
	}
	j->deleted = expunged.count;
	store_uid_list_free(&expunged);
	return 0;
}

static void update_work(struct pop3_job *job)
{
	struct update_job *j = (struct update_job *)job;
	struct pop3_maildrop *md = job->md;
	size_t n;
	/* \Seen for what RETR sent whole; of the deleted ones only those
	 * that go on living in Trash. */
	struct store_uid_range *seen =
		uid_ranges(md, j->to_trash ? PICK_RETRIEVED : PICK_RETRIEVED_KEPT, &n);
	if (n > 0) {
		struct store_uidset set = { seen, n };
		struct store_flag_change change = { .op = STORE_FLAGS_ADD, .flags = STORE_FLAG_SEEN };
		if (store_set_flags(md->inbox, &set, &change, NULL, NULL, NULL, &j->error) < 0)
			j->failed = 1;
	}
	free(seen);
	struct store_uid_range *del = uid_ranges(md, PICK_DELETED, &n);
	if (n > 0 && !j->failed) {
		struct store_uidset set = { del, n };
		if (apply_deletions(j, md, &set) < 0)
			j->failed = 1;
	}
	free(del);
}

static void update_done(struct session *s, struct pop3_job *job)
{
	struct update_job *j = (struct update_job *)job;
	struct pop3_state *st = s->data;
	if (j->failed) {
		log_msg(LOGL_ERROR, "pop3", s->id, "event=update_failed user=%s error=\"%s\"",
			st->user, j->error);
		session_printf(s, "-ERR [SYS/TEMP] Some deleted messages not removed\r\n");
	} else {
		log_msg(LOGL_INFO, "pop3", s->id, "event=update user=%s deleted=%zu to=%s",
			st->user, j->deleted, j->to_trash ? "trash" : "expunge");
		session_printf(s, "+OK Surel signing off\r\n");
	}
	st->md = job->md;
	update_job_free(job);
	pop3_maildrop_free(&st->md);   /* releases the lock before the client sees the close */
	session_close_after_flush(s);
}

void pop3_maildrop_update(struct session *s)
{
	struct pop3_state *st = s->data;
	st->state = POP3_UPDATE;
	struct update_job *j = xcalloc(1, sizeof *j);
	j->to_trash = st->md->deleted_to_trash;
	j->base.md = st->md;   /* the job owns it until done */
	st->md = NULL;
	j->base.work = update_work;
	j->base.done = update_done;
	j->base.free = update_job_free;
	pop3_job_submit(s, &j->base);
}
