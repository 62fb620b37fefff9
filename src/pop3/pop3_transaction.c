/* POP3 TRANSACTION state (RFC 1939 5 and 7): STAT, LIST, UIDL, DELE, RSET,
 * NOOP on the snapshot in memory, RETR and TOP streamed from the store.
 *
 *   STAT            +OK nn mm            messages not deleted, their octets
 *   LIST [msg]      +OK n octets / scan listing "msg octets", multi-line
 *   UIDL [msg]      "msg uid" (pop3_uidl: UID and UIDVALIDITY)
 *   RETR msg        +OK n octets, the message byte-stuffed, "."
 *   TOP msg n       +OK, the header, the empty line, n body lines, "."
 *   DELE msg        marks it deleted (applied at QUIT)
 *   RSET            unmarks every message
 *
 * Octet counts are the stored size, which is the size with CRLF line ends
 * and before byte-stuffing (the stuffed dots are not counted: Dovecot's
 * choice, and what clients compare against when they count the octets of
 * the unstuffed message).
 *
 * A message number out of range, or of a deleted message: "-ERR No such
 * message" / "-ERR Message N already deleted"; RETR or TOP of a message
 * that another session (IMAP) has expunged since login: "-ERR Message N was
 * expunged by another session", checked in the store before the blob is
 * opened; the numbering stays that of the snapshot. RFC 2449 and 3206
 * define no response code for these, so none is given.
 *
 * RETR and TOP: the blob is opened and read on the pool (disk I/O), in
 * pieces of RETR_CHUNK octets of message, each byte-stuffed on the pool
 * thread and queued on the loop; the next piece is read once the session's
 * output has drained, so a 50 MB message takes one chunk of memory, not 50
 * MB, and a client that does not read holds nothing more. Input stays
 * paused until the final ".". */
#include "pop3/pop3_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/xmalloc.h"
#include "store/store.h"

#define RETR_CHUNK (256 * 1024)

/* The message numbered n, or NULL after the reply. */
static struct pop3_message *message(struct session *s, struct pop3_state *st, uint32_t n)
{
	if (n == 0 || n > st->md->count) {
		session_printf(s, "-ERR No such message\r\n");
		return NULL;
	}
	struct pop3_message *m = &st->md->msgs[n - 1];
	if (m->deleted) {
		session_printf(s, "-ERR Message %" PRIu32 " already deleted\r\n", n);
		return NULL;
	}
	return m;
}

static void cmd_stat(struct session *s, struct pop3_state *st)
{
	size_t n = 0;
	uint64_t octets = 0;
	for (size_t i = 0; i < st->md->count; i++) {
		if (!st->md->msgs[i].deleted) {
			n++;
			octets += st->md->msgs[i].size;
		}
	}
	session_printf(s, "+OK %zu %" PRIu64 "\r\n", n, octets);
}

/* LIST and UIDL: one message, or a listing of every one not deleted. */
static void listing(struct session *s, struct pop3_state *st, const struct pop3_command *cmd,
		    bool uidl)
{
	const struct pop3_maildrop *md = st->md;
	char uid[17];
	if (cmd->n_params == 1) {
		const struct pop3_message *m = message(s, st, cmd->params[0]);
		if (m == NULL)
			return;
		if (uidl) {
			pop3_uidl(md->uidvalidity, m->uid, uid);
			session_printf(s, "+OK %" PRIu32 " %s\r\n", cmd->params[0], uid);
		} else {
			session_printf(s, "+OK %" PRIu32 " %" PRIu64 "\r\n", cmd->params[0], m->size);
		}
		return;
	}
	struct buf out = BUF_INIT;
	buf_append_str(&out, uidl ? "+OK Unique-ID listing follows\r\n"
				  : "+OK Scan listing follows\r\n");
	for (size_t i = 0; i < md->count; i++) {
		const struct pop3_message *m = &md->msgs[i];
		if (m->deleted)
			continue;
		if (uidl) {
			pop3_uidl(md->uidvalidity, m->uid, uid);
			buf_appendf(&out, "%zu %s\r\n", i + 1, uid);
		} else {
			buf_appendf(&out, "%zu %" PRIu64 "\r\n", i + 1, m->size);
		}
	}
	buf_append_str(&out, ".\r\n");
	session_write(s, out.data, out.len);
	buf_free(&out);
}

static void cmd_dele(struct session *s, struct pop3_state *st, uint32_t n)
{
	struct pop3_message *m = message(s, st, n);
	if (m == NULL)
		return;
	m->deleted = true;
	session_printf(s, "+OK Message %" PRIu32 " deleted\r\n", n);
}

static void cmd_rset(struct session *s, struct pop3_state *st)
{
	for (size_t i = 0; i < st->md->count; i++)
		st->md->msgs[i].deleted = false;   /* what RETR retrieved stays retrieved (\Seen) */
	session_printf(s, "+OK %zu messages\r\n", st->md->count);
}

/* ---- RETR, TOP ---- */

struct retr_job {
	struct pop3_job base;
	uint32_t number;
	struct pop3_message *msg;       /* in the maildrop's snapshot */
	bool top;
	struct pop3_stuffer stuffer;
	struct store_blob *blob;
	const char *data;               /* the blob, mapped */
	size_t len, pos;
	bool finished;                  /* out ends with the final "." */
	bool expunged;                  /* no longer in the INBOX: nothing sent */
	struct buf out;
	char *error;
};

static void retr_job_free(struct pop3_job *job)
{
	struct retr_job *j = (struct retr_job *)job;
	store_blob_free(&j->blob);
	buf_free(&j->out);
	free(j->error);
	free(j);
}

static int found(void *ctx, const struct store_message *m)
{
	(void)m;
	*(bool *)ctx = true;
	return 0;
}

/* Whether the message is still in the INBOX: an IMAP session may have
 * expunged it since the snapshot, and its blob may outlive it (a grace
 * period, or another message with the same content). 1, 0, -1 error. */
static int still_in_inbox(struct pop3_maildrop *md, uint32_t uid, char **error_r)
{
	bool present = false;
	struct store_uid_range r = { uid, uid };
	struct store_uidset set = { &r, 1 };
	if (store_fetch(md->inbox, &set, 0, found, &present, error_r) < 0)
		return -1;
	return present;
}

static void retr_work(struct pop3_job *job)
{
	struct retr_job *j = (struct retr_job *)job;
	buf_clear(&j->out);
	if (j->blob == NULL) {
		int rc = still_in_inbox(job->md, j->msg->uid, &j->error);
		if (rc <= 0) {
			j->expunged = rc == 0;
			return;
		}
		const void *data;
		if (store_blob_open(job->md->store, j->msg->blob_id, &j->blob, &j->error) < 0 ||
		    store_blob_data(j->blob, &data, &j->len, &j->error) < 0)
			return;
		j->data = data;
		if (j->top)
			buf_append_str(&j->out, "+OK Top of message follows\r\n");
		else
			buf_appendf(&j->out, "+OK %" PRIu64 " octets\r\n", j->msg->size);
		/* The message is the store's prefix (Return-Path, Delivered-To)
		 * followed by the blob; the stuffer keeps its state across both. */
		if (j->msg->prefix_len > 0)
			pop3_stuff(&j->stuffer, j->msg->prefix, j->msg->prefix_len, &j->out);
	}
	size_t n = j->len - j->pos < RETR_CHUNK ? j->len - j->pos : RETR_CHUNK;
	pop3_stuff(&j->stuffer, j->data + j->pos, n, &j->out);
	j->pos += n;
	if (j->pos == j->len || j->stuffer.done) {
		pop3_stuff_finish(&j->stuffer, &j->out);
		j->finished = true;
	}
}

static void retr_next(struct session *s);

static void retr_done(struct session *s, struct pop3_job *job)
{
	struct retr_job *j = (struct retr_job *)job;
	struct pop3_state *st = s->data;
	if (j->expunged) {
		log_msg(LOGL_INFO, "pop3", s->id, "event=%s_expunged msg=%" PRIu32 " uid=%" PRIu32,
			j->top ? "top" : "retr", j->number, j->msg->uid);
		session_printf(s, "-ERR Message %" PRIu32 " was expunged by another session\r\n",
			       j->number);
		retr_job_free(job);
		session_resume_input(s);
		return;
	}
	if (j->error != NULL) {
		log_msg(LOGL_ERROR, "pop3", s->id, "event=retr_failed uid=%" PRIu32 " error=\"%s\"",
			j->msg->uid, j->error);
		if (j->out.len == 0 && j->pos == 0)
			session_printf(s, "-ERR [SYS/TEMP] Message unavailable\r\n");
		else
			session_close(s);   /* half sent: the client must not take it as whole */
		retr_job_free(job);
		session_resume_input(s);
		return;
	}
	session_write(s, j->out.data, j->out.len);
	if (!j->finished) {
		/* Keep the job for the next piece, once this one is on its way. */
		st->job = job;
		session_on_drain(s, retr_next);
		return;
	}
	if (!j->top) {
		j->msg->retrieved = true;
		if (st->md->delete_after_retr)
			j->msg->deleted = true;
	}
	log_msg(LOGL_DEBUG, "pop3", s->id, "event=%s msg=%" PRIu32 " uid=%" PRIu32 " octets=%zu",
		j->top ? "top" : "retr", j->number, j->msg->uid, j->len);
	retr_job_free(job);
	session_resume_input(s);
}

static void retr_next(struct session *s)
{
	struct pop3_state *st = s->data;
	struct pop3_job *job = st->job;
	st->job = NULL;
	pop3_job_submit(s, job);
}

static void cmd_retr(struct session *s, struct pop3_state *st, uint32_t n, int64_t top_lines)
{
	struct pop3_message *m = message(s, st, n);
	if (m == NULL)
		return;
	struct retr_job *j = xcalloc(1, sizeof *j);
	j->number = n;
	j->msg = m;
	j->top = top_lines >= 0;
	pop3_stuffer_init(&j->stuffer, top_lines);
	j->base.md = st->md;   /* shared with the session (pop3_maildrop_abandon) */
	j->base.work = retr_work;
	j->base.done = retr_done;
	j->base.free = retr_job_free;
	pop3_job_submit(s, &j->base);
}

void pop3_transaction_command(struct session *s, struct pop3_state *st,
			      const struct pop3_command *cmd)
{
	switch (cmd->id) {
	case POP3_CMD_STAT: cmd_stat(s, st); break;
	case POP3_CMD_LIST: listing(s, st, cmd, false); break;
	case POP3_CMD_UIDL: listing(s, st, cmd, true); break;
	case POP3_CMD_DELE: cmd_dele(s, st, cmd->params[0]); break;
	case POP3_CMD_RSET: cmd_rset(s, st); break;
	case POP3_CMD_NOOP: session_printf(s, "+OK\r\n"); break;
	case POP3_CMD_RETR: cmd_retr(s, st, cmd->params[0], -1); break;
	case POP3_CMD_TOP: cmd_retr(s, st, cmd->params[0], cmd->params[1]); break;
	default: session_printf(s, "-ERR Unknown command\r\n"); break;
	}
}
