/* LMTP (RFC 2033): the end of the data. The SMTP engine does the rest
 * (LHLO in smtp_session.c; MAIL, RCPT, DATA, BDAT as for SMTP).
 *
 *   After the final "." (or BDAT LAST) the server answers once for each
 *   RCPT that got a 2xx, in the order of the RCPTs (RFC 2033 4.2).
 *
 * Each 250 is a promise: the message is durable for that recipient before
 * it is sent. Decision (docs/smtp.md "LMTP"): LMTP delivers straight into
 * the store rather than through the spool and the queue runner, so that a
 * recipient's own failure is that recipient's reply:
 *
 *   - the message (staged in the spool's ID.msg.tmp while it arrived) is
 *     written once as a store blob;
 *   - each local account an RCPT resolved to (again, with resolve.c, as
 *     delivery does) gets it appended to its INBOX with "Return-Path:" and
 *     "Delivered-To:" (deliver_append_inbox(), shared with the queue
 *     runner); store_append returns once it is on disk;
 *   - an account reached by several RCPTs gets one copy;
 *   - over quota "452 4.2.2 <a>: Mailbox full", a store error "451 4.3.0",
 *     a Delivered-To loop "550 5.4.6", an account gone since RCPT
 *     "550 5.1.1"; the worst of an RCPT's accounts is its reply;
 *   - alias targets in other domains go into the spool (an entry holding
 *     only them, committed before the replies) for outbound mail.
 *
 * The work runs on the worker's thread pool with the session's input
 * paused; a session that goes away meanwhile only cancels the replies. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "account/addr.h"
#include "account/directory.h"
#include "account/resolve.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/xmalloc.h"
#include "queue/deliver.h"
#include "queue/spool.h"
#include "smtp/smtp_int.h"
#include "store/store.h"

/* Outcomes, from best to worst: an RCPT gets the worst of its targets'.
 * Temporary ones are worse than permanent ones, so that the client tries
 * again rather than bouncing what may still go through. */
enum outcome { OUT_OK, OUT_UNKNOWN, OUT_LOOP, OUT_QUOTA, OUT_STORAGE, OUT_TEMP };

struct lmtp_rcpt {
	char *address;                 /* as the client sent it */
	struct smtp_target *targets;   /* copies */
	size_t ntargets;
	enum outcome outcome;
};

/* One account's result, so that an account reached twice gets one copy. */
struct account_done {
	char *address;
	enum outcome outcome;
};

struct lmtp_job {
	struct session *s;             /* NULL once cancelled */
	struct spool_msg *msg;         /* the staged message, taken over */
	char id[SPOOL_ID_LEN + 1];
	char *data_dir, *delimiter, *sender;
	time_t received;
	struct lmtp_rcpt *rcpts;
	size_t nrcpts;
	struct buf remote_env;         /* envelope of the remote targets */
	size_t nremote;
	struct account_done *done;
	size_t ndone;
};

static void job_free(struct lmtp_job *j)
{
	spool_msg_abort(&j->msg);
	for (size_t i = 0; i < j->nrcpts; i++) {
		free(j->rcpts[i].address);
		smtp_targets_free(j->rcpts[i].targets, j->rcpts[i].ntargets);
	}
	free(j->rcpts);
	for (size_t i = 0; i < j->ndone; i++)
		free(j->done[i].address);
	free(j->done);
	buf_free(&j->remote_env);
	free(j->data_dir);
	free(j->delimiter);
	free(j->sender);
	free(j);
}

static enum outcome worse(enum outcome a, enum outcome b)
{
	return a > b ? a : b;
}

static void set_all(struct lmtp_job *j, enum outcome o)
{
	for (size_t i = 0; i < j->nrcpts; i++)
		j->rcpts[i].outcome = worse(j->rcpts[i].outcome, o);
}

/* ---- on the pool ---- */

/* Deliver to one local account (its address as RCPT resolved it). */
static enum outcome deliver_one(struct lmtp_job *j, struct directory *dir, struct store *store,
				struct store_blob *blob, const struct buf *msg, const char *account)
{
	for (size_t i = 0; i < j->ndone; i++)
		if (strcmp(j->done[i].address, account) == 0)
			return j->done[i].outcome;
	enum outcome o = OUT_TEMP;
	struct resolver r;
	resolver_init(&r, dir, j->delimiter);
	enum resolve_status st = resolve_address(&r, account);
	const struct resolve_target *t = NULL;
	for (size_t i = 0; st == RESOLVE_OK && i < r.ntargets; i++)
		if (r.targets[i].local && strcmp(r.targets[i].address, account) == 0)
			t = &r.targets[i];
	if (st == RESOLVE_TEMP) {
		directory_thread_reset();
		log_error("smtp", "event=lmtp_deliver id=%s to=<%s> result=deferred reason=lookup "
			  "error=\"%s\"", j->id, account, r.error != NULL ? r.error : "");
	} else if (t == NULL) {
		o = OUT_UNKNOWN;   /* deleted, disabled or changed since RCPT */
		log_warn("smtp", "event=lmtp_deliver id=%s to=<%s> result=unknown", j->id, account);
	} else if (deliver_has_delivered_to(msg->data, msg->len, account)) {
		o = OUT_LOOP;
		log_warn("smtp", "event=lmtp_deliver id=%s to=<%s> result=loop", j->id, account);
	} else {
		uint32_t uid = 0;
		char *error = NULL;
		switch (deliver_append_inbox(store, blob, j->sender, t, j->received, &uid, &error)) {
		case DELIVER_OK:
			o = OUT_OK;
			log_info("smtp", "event=lmtp_deliver id=%s to=<%s> result=delivered "
				 "mailbox=INBOX uid=%u", j->id, account, uid);
			break;
		case DELIVER_OVERQUOTA:
			o = OUT_QUOTA;
			log_warn("smtp", "event=lmtp_deliver id=%s to=<%s> result=over_quota", j->id,
				 account);
			break;
		case DELIVER_TEMP:
			log_error("smtp", "event=lmtp_deliver id=%s to=<%s> result=deferred "
				  "error=\"%s\"", j->id, account, error);
			break;
		}
		free(error);
	}
	resolver_free(&r);
	j->done = xrealloc(j->done, (j->ndone + 1) * sizeof *j->done);
	j->done[j->ndone++] = (struct account_done){ xstrdup(account), o };
	return o;
}

static struct store_blob *make_blob(struct store *store, const struct buf *msg, char **error_r)
{
	struct store_blob_writer *w;
	struct store_blob *blob = NULL;
	if (store_blob_begin(store, &w, error_r) < 0)
		return NULL;
	if (store_blob_write(w, msg->data != NULL ? msg->data : "", msg->len, error_r) < 0) {
		store_blob_abort(&w);
		return NULL;
	}
	if (store_blob_commit(&w, &blob, error_r) < 0)
		return NULL;
	return blob;
}

static void deliver_local(struct lmtp_job *j)
{
	struct buf msg = BUF_INIT;
	char *error = NULL;
	struct directory *dir = NULL;
	struct store *store = NULL;
	struct store_blob *blob = NULL;
	if (spool_msg_read(j->msg, &msg, &error) < 0 ||
	    (dir = directory_for_thread(j->data_dir, &error)) == NULL ||
	    (store = smtp_thread_store(j->data_dir, &error)) == NULL ||
	    (blob = make_blob(store, &msg, &error)) == NULL) {
		log_error("smtp", "event=lmtp_error id=%s error=\"%s\"", j->id, error);
		free(error);
		set_all(j, OUT_TEMP);
		buf_free(&msg);
		return;
	}
	for (size_t i = 0; i < j->nrcpts; i++) {
		struct lmtp_rcpt *r = &j->rcpts[i];
		for (size_t k = 0; k < r->ntargets; k++)
			if (r->targets[k].local)
				r->outcome = worse(r->outcome, deliver_one(j, dir, store, blob, &msg,
									   r->targets[k].address));
	}
	store_blob_free(&blob);
	buf_free(&msg);
}

static void job_work(void *arg)
{
	struct lmtp_job *j = arg;
	deliver_local(j);
	if (j->nremote == 0)
		return;   /* the staged file is removed with the job */
	int err = spool_msg_commit(&j->msg, &j->remote_env, true);
	if (err == 0) {
		log_info("smtp", "event=queued id=%s remote_rcpts=%zu", j->id, j->nremote);
		return;
	}
	log_error("smtp", "event=spool_error id=%s error=\"%s\"", j->id, strerror(err));
	enum outcome o = err == ENOSPC || err == EDQUOT ? OUT_STORAGE : OUT_TEMP;
	for (size_t i = 0; i < j->nrcpts; i++)
		for (size_t k = 0; k < j->rcpts[i].ntargets; k++)
			if (!j->rcpts[i].targets[k].local)
				j->rcpts[i].outcome = worse(j->rcpts[i].outcome, o);
}

/* ---- on the loop ---- */

static void reply_one(struct session *s, const struct lmtp_job *j, const struct lmtp_rcpt *r)
{
	const char *a = r->address;
	switch (r->outcome) {
	case OUT_OK:
		session_printf(s, "250 2.0.0 <%s> Ok: delivered as %s\r\n", a, j->id);
		break;
	case OUT_UNKNOWN:
		session_printf(s, "550 5.1.1 <%s>: Recipient address rejected: User unknown\r\n", a);
		break;
	case OUT_LOOP:
		session_printf(s, "550 5.4.6 <%s>: Mail loop detected (Delivered-To)\r\n", a);
		break;
	case OUT_QUOTA:
		session_printf(s, "452 4.2.2 <%s>: Mailbox full\r\n", a);
		break;
	case OUT_STORAGE:
		session_printf(s, "452 4.3.1 <%s>: Insufficient system storage\r\n", a);
		break;
	case OUT_TEMP:
		session_printf(s, "451 4.3.0 <%s>: Temporary local delivery failure\r\n", a);
		break;
	}
}

static void job_done(void *arg)
{
	struct lmtp_job *j = arg;
	struct session *s = j->s;
	if (s != NULL) {
		struct smtp_state *st = s->data;
		st->lmtp = NULL;
		session_resume_input(s);
		size_t ok = 0;
		for (size_t i = 0; i < j->nrcpts; i++) {
			reply_one(s, j, &j->rcpts[i]);
			ok += j->rcpts[i].outcome == OUT_OK;
		}
		log_msg(LOGL_INFO, "smtp", s->id, "event=lmtp_done id=%s rcpts=%zu delivered=%zu",
			j->id, j->nrcpts, ok);
		smtp_txn_reset(st);
	}
	job_free(j);
}

static void job_discard(void *arg)
{
	job_free(arg);
}

void lmtp_deliver(struct session *s, struct smtp_state *st)
{
	struct lmtp_job *j = xcalloc(1, sizeof *j);
	j->s = s;
	memcpy(j->id, st->queue_id, sizeof j->id);
	j->data_dir = xstrdup(s->cfg->server_data_dir);
	j->delimiter = xstrdup(s->cfg->smtp_recipient_delimiter);
	j->sender = xstrdup(buf_cstr(&st->mail.path.address));
	j->received = time(NULL);
	j->nremote = smtp_build_envelope(s, st, true, &j->remote_env);
	j->rcpts = xcalloc(st->nrcpts, sizeof *j->rcpts);
	j->nrcpts = st->nrcpts;
	for (size_t i = 0; i < st->nrcpts; i++) {
		const struct smtp_rcpt *r = &st->rcpts[i];
		struct lmtp_rcpt *lr = &j->rcpts[i];
		lr->address = xstrdup(r->address);
		lr->targets = xcalloc(r->ntargets, sizeof *lr->targets);
		lr->ntargets = r->ntargets;
		for (size_t k = 0; k < r->ntargets; k++) {
			lr->targets[k].address = xstrdup(r->targets[k].address);
			lr->targets[k].local = r->targets[k].local;
		}
	}
	j->msg = st->msg;
	st->msg = NULL;
	st->phase = SMTP_PHASE_COMMIT;
	struct pool *pool = smtp_server_pool();
	if (pool == NULL) {   /* no worker (a fuzzer, a test): at once */
		job_work(j);
		job_done(j);
		return;
	}
	st->lmtp = j;
	session_pause_input(s);
	pool_submit_ex(pool, job_work, job_done, job_discard, j);
}

void lmtp_reply_all(struct session *s, struct smtp_state *st, const char *reply)
{
	for (size_t i = 0; i < st->nrcpts; i++)
		session_printf(s, "%s\r\n", reply);
}

void lmtp_cancel(struct lmtp_job **job)
{
	if (*job == NULL)
		return;
	(*job)->s = NULL;
	*job = NULL;
}
