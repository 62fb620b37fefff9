/* The IMAP engine's session layer (RFC 9051 IMAP4rev2, RFC 3501 IMAP4rev1):
 * input through the command parser, literals, dispatch from the command
 * table, and store commands run on the thread pool (see imap_int.h).
 *
 *   command        = tag SP (command-any / command-auth / command-nonauth /
 *                    command-select) CRLF
 *   continue-req   = "+" SP (resp-text / base64) CRLF
 *
 * Literals: a synchronising literal gets "+ Ready" once the command so far is
 * acceptable (its size within the limit); a non-synchronising one (LITERAL+,
 * RFC 7888) is read without it. APPEND's message literals are written to a
 * blob as they arrive (never held in memory), up to imap.max_message_size
 * (APPENDLIMIT); other literals are kept in memory up to 64 KiB. A refused
 * command's non-synchronising literals are read and dropped so that the next
 * command is found where the client put it. */
#include "imap/imap_session.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "account/sasl.h"
#include "core/config.h"
#include "core/pool.h"
#include "core/xmalloc.h"
#include "imap/imap_int.h"
#include "imap/imap_parser.h"


static const struct imap_command_def *const tables[] = {
	imap_cmds_any, imap_cmds_auth, imap_cmds_mailbox, imap_cmds_select, imap_cmds_fetch,
	imap_cmds_store, imap_cmds_copy, imap_cmds_append, imap_cmds_idle, imap_cmds_search,
	imap_cmds_quota, imap_cmds_compress,
};

static const struct imap_command_def *find_command(const char *name)
{
	for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
		for (const struct imap_command_def *d = tables[t]; d->name != NULL; d++)
			if (strcasecmp(d->name, name) == 0)
				return d;
	return NULL;
}

bool imap_login_allowed(const struct session *s)
{
	return session_password_allowed(s);
}

/* Extensions advertised once logged in: each only when complete. */
static const char logged_in_caps[] =
	" LITERAL+ ID ENABLE IDLE NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN SPECIAL-USE"
	" CREATE-SPECIAL-USE LIST-EXTENDED LIST-STATUS ESEARCH SEARCHRES WITHIN CONDSTORE"
	" QRESYNC BINARY STATUS=SIZE QUOTA QUOTA=RES-STORAGE UTF8=ACCEPT"
	" SORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES OBJECTID COMPRESS=DEFLATE";

void imap_capabilities(const struct session *s, struct buf *out)
{
	const struct imap_state *st = s->data;
	buf_set(out, "IMAP4rev1 IMAP4rev2", strlen("IMAP4rev1 IMAP4rev2"));
	if (st != NULL && st->state != IMAP_NOT_AUTHENTICATED) {
		buf_append_str(out, logged_in_caps);
		buf_appendf(out, " APPENDLIMIT=%llu",
			    (unsigned long long)s->cfg->imap_max_message_size);
		return;
	}
	buf_append_str(out, " LITERAL+ ID ENABLE");
	if (session_can_starttls(s))
		buf_append_str(out, " STARTTLS");
	if (!imap_login_allowed(s)) {
		buf_append_str(out, " LOGINDISABLED");
		return;
	}
	/* "PLAIN LOGIN" -> " AUTH=PLAIN AUTH=LOGIN" */
	const char *m = sasl_mechanisms();
	while (*m != '\0') {
		size_t n = strcspn(m, " ");
		buf_appendf(out, " AUTH=%.*s", (int)n, m);
		m += n;
		while (*m == ' ')
			m++;
	}
	buf_append_str(out, " SASL-IR");
}

/* ---- tagged results ---- */

static void __attribute__((format(printf, 3, 0)))
set_result(struct imap_cmd *c, const char *result, const char *fmt, va_list ap)
{
	if (c->result != NULL)   /* the first result counts */
		return;
	c->result = result;
	buf_clear(&c->text);
	buf_vappendf(&c->text, fmt, ap);
}

void imap_ok(struct imap_cmd *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_result(c, "OK", fmt, ap);
	va_end(ap);
}

void imap_no(struct imap_cmd *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_result(c, "NO", fmt, ap);
	va_end(ap);
}

void imap_bad(struct imap_cmd *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_result(c, "BAD", fmt, ap);
	va_end(ap);
}

void imap_no_store(struct imap_cmd *c, const char *what, char *error)
{
	enum store_error e = store_user_last_error(c->st->su);
	const char *code = store_error_name(e);
	if (e == STORE_ERR_INTERNAL || e == STORE_ERR_NONE)
		log_msg(LOGL_ERROR, "imap", c->session_id, "event=store_error command=%s error=\"%s\"",
			c->name, error != NULL ? error : "");
	if (e == STORE_ERR_NONE)
		code = "SERVERBUG";
	imap_no(c, "[%s] %s", code, what);
	free(error);
}

/* ---- store commands on the pool ---- */

struct imap_job {
	struct session *s;              /* NULL once the session has gone */
	struct imap_cmd *c;
	void (*done)(struct session *s, struct imap_cmd *c);
	bool internal;                  /* no tag: login, IDLE updates */
};

static void cmd_free(struct imap_cmd *c)
{
	if (c == NULL)
		return;
	if (c->ctx_free != NULL)
		c->ctx_free(c->ctx);
	free(c->tag);
	buf_free(&c->out);
	buf_free(&c->text);
	free(c);
}

static void state_free(struct imap_state *st);

static void job_work(void *arg)
{
	struct imap_job *job = arg;
	struct imap_cmd *c = job->c;
	c->more = false;
	if (c->st->hibernating && imap_wake(c) < 0) {
		buf_append_str(&c->out, "* BYE [UNAVAILABLE] The selected mailbox is gone\r\n");
		c->close = true;
		if (!job->internal && c->result == NULL)
			imap_no(c, "[UNAVAILABLE] Mailbox unavailable");
		return;
	}
	c->run(c);
	if (c->more || c->no_sync || job->internal)
		return;
	if (c->st->sel != NULL && imap_sync(c, !c->no_expunge) < 0) {
		/* The selected mailbox was deleted by another session. */
		buf_append_str(&c->out, "* BYE [UNAVAILABLE] The selected mailbox was deleted\r\n");
		c->close = true;
	}
}

static void job_resubmit(struct session *s);

static void release_external(void *ext, void *ctx)
{
	struct imap_literal_blob *lb = ext;
	imap_literal_blob_free(&lb);
}

void imap_literal_blob_free(struct imap_literal_blob **lbp)
{
	struct imap_literal_blob *lb = *lbp;
	if (lb == NULL)
		return;
	if (lb->writer != NULL)
		store_blob_abort(&lb->writer);
	free(lb->error);
	free(lb);
	*lbp = NULL;
}

static void reset_parser(struct imap_state *st)
{
	imap_parser_each_external(st->parser, release_external, NULL);
	imap_parser_reset(st->parser);
}

static void finish_command(struct session *s, struct imap_state *st, struct imap_cmd *c)
{
	if (c->tag != NULL) {
		if (c->result == NULL)
			imap_ok(c, "%s completed", c->name);
		buf_appendf(&c->out, "%s %s %s\r\n", c->tag, c->result, buf_cstr(&c->text));
	}
	session_write(s, c->out.data, c->out.len);
	if (c->close)
		session_close_after_flush(s);
	st->cmd = NULL;
	cmd_free(c);
	reset_parser(st);
	session_resume_input(s);
}

static void job_done(void *arg)
{
	struct imap_job *job = arg;
	struct imap_cmd *c = job->c;
	struct session *s = job->s;
	if (s == NULL) {   /* the client went away: the job owned the state */
		struct imap_state *st = c->st;
		cmd_free(c);
		state_free(st);
		free(job);
		return;
	}
	struct imap_state *st = s->data;
	st->running_job = NULL;
	if (job->internal) {
		st->cmd = NULL;
		job->done(s, c);
		cmd_free(c);
		free(job);
		/* done() may have started the next job (another IDLE update):
		 * input stays paused until that one is done too. */
		if (st->cmd == NULL)
			session_resume_input(s);
		return;
	}
	if (c->more) {
		session_write(s, c->out.data, c->out.len);
		buf_clear(&c->out);
		free(job);
		session_on_drain(s, job_resubmit);
		return;
	}
	free(job);
	finish_command(s, st, c);
}

static void job_discard(void *arg)
{
	struct imap_job *job = arg;
	if (job->s == NULL) {
		struct imap_state *st = job->c->st;
		cmd_free(job->c);
		state_free(st);
	}
	free(job);
}

static void submit(struct session *s, struct imap_cmd *c, bool internal,
		   void (*done)(struct session *s, struct imap_cmd *c))
{
	struct imap_state *st = s->data;
	assert(st->cmd == NULL);   /* one job at a time: input is paused meanwhile */
	struct imap_job *job = xcalloc(1, sizeof *job);
	job->s = s;
	job->c = c;
	job->internal = internal;
	job->done = done;
	st->cmd = c;
	st->running_job = job;
	session_pause_input(s);
	pool_submit_ex(s->pool, job_work, job_done, job_discard, job);
}

/* The client read a large output: run the command's next step. */
static void job_resubmit(struct session *s)
{
	struct imap_state *st = s->data;
	struct imap_job *job = xcalloc(1, sizeof *job);
	job->s = s;
	job->c = st->cmd;
	st->running_job = job;
	pool_submit_ex(s->pool, job_work, job_done, job_discard, job);
}

void imap_run_internal(struct session *s, imap_store_fn *fn,
		       void (*done)(struct session *s, struct imap_cmd *c), void *ctx)
{
	static const struct imap_command_def internal = { "internal", IMAP_IN_ANY, 0, NULL, NULL };
	struct imap_state *st = s->data;
	struct imap_cmd *c = xcalloc(1, sizeof *c);
	c->def = &internal;
	c->run = fn;
	c->st = st;
	c->cfg = s->cfg;
	c->session_id = s->id;
	c->name = "internal";
	c->ctx = ctx;
	submit(s, c, true, done);
}

/* ---- login: open the account's mail ---- */

struct login_ctx {
	long long account_id;
	char *address;
	long long quota_bytes;
	char *error;
};

static void login_ctx_free(void *p)
{
	struct login_ctx *l = p;
	free(l->address);
	free(l->error);
	free(l);
}

static void login_open(struct imap_cmd *c)
{
	struct login_ctx *l = c->ctx;
	struct imap_state *st = c->st;
	if (store_open(c->cfg->server_data_dir, &st->store, &l->error) < 0 ||
	    store_user_open(st->store, l->account_id, &st->su, &l->error) < 0) {
		store_user_close(&st->su);
		store_close(&st->store);
	}
}

static void on_store_change(void *arg);

static void login_opened(struct session *s, struct imap_cmd *c)
{
	struct imap_state *st = s->data;
	struct login_ctx *l = c->ctx;
	char *error = NULL;
	if (st->su != NULL &&
	    store_user_watch(st->su, session_base(s), on_store_change, s, &st->watch, &error) < 0) {
		l->error = error;
		store_user_close(&st->su);
		store_close(&st->store);
	}
	if (st->su == NULL) {
		log_msg(LOGL_ERROR, "imap", s->id, "event=store_open_failed user=%s error=\"%s\"",
			l->address, l->error != NULL ? l->error : "");
		session_printf(s, "%s NO [UNAVAILABLE] Mailbox unavailable, try later\r\n", st->tag);
	} else {
		st->state = IMAP_AUTHENTICATED;
		st->user = l->address;
		l->address = NULL;
		st->account_id = l->account_id;
		st->quota_bytes = l->quota_bytes;
		log_msg(LOGL_INFO, "imap", s->id, "event=login user=%s method=%s", st->user,
			st->method);
		struct buf caps = BUF_INIT;
		imap_capabilities(s, &caps);
		session_printf(s, "%s OK [CAPABILITY %s] %s completed\r\n", st->tag,
			       buf_cstr(&caps), st->command);
		buf_free(&caps);
	}
	xfree(&st->tag);
	login_ctx_free(l);
	c->ctx = NULL;
}

void imap_login_complete(struct session *s, long long account_id, const char *address,
			 long long quota_bytes)
{
	struct login_ctx *l = xcalloc(1, sizeof *l);
	l->account_id = account_id;
	l->address = xstrdup(address);
	l->quota_bytes = quota_bytes;
	imap_run_internal(s, login_open, login_opened, l);
}

/* ---- change notification: IDLE updates ---- */

static void idle_sync(struct imap_cmd *c)
{
	if (c->st->sel != NULL && imap_sync(c, true) < 0) {
		buf_append_str(&c->out, "* BYE [UNAVAILABLE] The selected mailbox was deleted\r\n");
		c->close = true;
		return;
	}
	if (c->st->idle_tag != NULL)   /* still idling: give the handles back */
		imap_hibernate(c->st);
}

/* More changes came while an update ran: the next update waits a moment,
 * so that a mailbox changing all the time neither keeps the session busy
 * nor holds back what the client sends meanwhile (DONE). */
#define IDLE_UPDATE_DELAY_MS 50

static void deferred_update(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct imap_state *st = s->data;
	if (st->idle_tag != NULL && st->changed)
		imap_idle_update(s);
}

static void defer_update(struct session *s)
{
	struct imap_state *st = s->data;
	if (st->update_timer == NULL)
		st->update_timer = evtimer_new(session_base(s), deferred_update, s);
	struct timeval tv = { 0, IDLE_UPDATE_DELAY_MS * 1000 };
	evtimer_add(st->update_timer, &tv);
}

/* IDLE: the session gives its store handles back while it waits. */
static void hibernate(struct imap_cmd *c)
{
	imap_hibernate(c->st);
}

static void hibernated(struct session *s, struct imap_cmd *c)
{
	struct imap_state *st = s->data;
	st->sync_running = false;
	if (st->changed && st->idle_tag != NULL)
		defer_update(s);
}

void imap_idle_start(struct session *s)
{
	struct imap_state *st = s->data;
	if (st->sel != NULL && st->changed) {
		imap_idle_update(s);   /* whatever changed since the last command */
		return;
	}
	if (st->cmd != NULL || st->sync_running || st->hibernating)
		return;
	st->sync_running = true;
	imap_run_internal(s, hibernate, hibernated, NULL);
}

static void idle_synced(struct session *s, struct imap_cmd *c)
{
	struct imap_state *st = s->data;
	st->sync_running = false;
	session_write(s, c->out.data, c->out.len);
	if (c->close)
		session_close_after_flush(s);
	else if (st->changed && st->idle_tag != NULL)
		defer_update(s);
}

/* An IDLE session learns of changes at once (RFC 2177). Others at their next
 * command, when the engine syncs anyway. */
void imap_idle_update(struct session *s)
{
	struct imap_state *st = s->data;
	if (st->cmd != NULL || st->sync_running || session_is_closing(s))
		return;
	st->changed = false;
	st->sync_running = true;
	imap_run_internal(s, idle_sync, idle_synced, NULL);
}

static void on_store_change(void *arg)
{
	struct session *s = arg;
	struct imap_state *st = s->data;
	st->changed = true;
	if (st->idle_tag != NULL && st->sel != NULL)
		imap_idle_update(s);
}

/* ---- input ---- */

/* "{123}" / "{123+}" / "~{123}" at the end of a line: a refused command goes
 * on with a literal. */
static bool trailing_literal(const char *line, size_t len, uint64_t *size_r, bool *sync_r)
{
	if (len < 3 || line[len - 1] != '}')
		return false;
	size_t i = len - 1;
	*sync_r = true;
	if (line[i - 1] == '+') {
		*sync_r = false;
		i--;
	}
	size_t end = i;
	while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9')
		i--;
	if (i == end || i == 0 || line[i - 1] != '{' || end - i > 19)
		return false;
	uint64_t n = 0;
	for (size_t k = i; k < end; k++)
		n = n * 10 + (uint64_t)(line[k] - '0');
	*size_r = n;
	return true;
}

/* Drop the rest of a refused command: its non-synchronising literal, and
 * the lines and literals that follow it. */
static void discard_literal(struct session *s, struct imap_state *st, uint64_t n)
{
	st->discard_lines = 1;
	if (n == 0)
		return;
	st->literal_discard = true;
	st->literal_left = n;
	session_read_raw(s, n);
}

static void reply_bad(struct session *s, struct imap_state *st, const struct imap_parse_error *e)
{
	const char *code = e->too_big ? "[TOOBIG] " : "";
	if (e->tag != NULL)
		session_printf(s, "%s BAD %s%s\r\n", e->tag, code, e->reason);
	else
		session_printf(s, "* BAD %s%s\r\n", code, e->reason);
	uint64_t skip = e->skip_literal;
	bool nonsync = skip > 0 && !e->skip_sync;
	reset_parser(st);
	if (nonsync)
		discard_literal(s, st, skip);
}

static void dispatch(struct session *s, struct imap_state *st, const struct imap_command *pc);

/* APPEND's messages: every top-level literal after the mailbox name. They
 * are streamed to a blob, so the parser's in-memory limits do not apply. */
static bool claim_literal(const struct imap_literal *lit, void *ctx)
{
	const struct imap_state *st = ctx;
	return (st->state == IMAP_AUTHENTICATED || st->state == IMAP_SELECTED) &&
	       strcasecmp(lit->so_far->name, "APPEND") == 0 && lit->depth == 0 && lit->index >= 1;
}

/* The line ended with a literal: decide where its bytes go. */
static void literal_announced(struct session *s, struct imap_state *st)
{
	const struct imap_literal *lit = imap_parser_literal(st->parser);
	const struct imap_command *so_far = lit->so_far;
	if (!claim_literal(lit, st)) {
		if (lit->sync)
			session_printf(s, "+ Ready for literal data\r\n");
		st->literal_streamed = false;
		st->literal_left = lit->size;
		if (lit->size == 0)
			return;   /* the parser already has the empty string */
		session_read_raw(s, lit->size);
		return;
	}
	if (lit->size > (uint64_t)s->cfg->imap_max_message_size) {
		if (so_far->tag != NULL)
			session_printf(s, "%s NO [TOOBIG] Message larger than APPENDLIMIT %llu\r\n",
				       so_far->tag,
				       (unsigned long long)s->cfg->imap_max_message_size);
		bool sync = lit->sync;
		uint64_t size = lit->size;
		reset_parser(st);
		if (!sync)
			discard_literal(s, st, size);
		return;
	}
	struct imap_literal_blob *lb = xcalloc(1, sizeof *lb);
	lb->size = lit->size;
	lb->literal8 = lit->literal8;
	if (store_blob_begin(st->store, &lb->writer, &lb->error) < 0)
		lb->writer = NULL;
	if (lit->sync)
		session_printf(s, "+ Ready for literal data\r\n");
	st->literal_streamed = true;
	st->literal_left = lit->size;
	if (lit->size == 0) {
		imap_parser_literal_external(st->parser, lb);
		return;
	}
	st->literal_blob = lb;
	session_read_raw(s, lit->size);
}

static void handle_parse_result(struct session *s, struct imap_state *st,
				enum imap_parse_result r)
{
	switch (r) {
	case IMAP_PARSE_COMMAND:
		dispatch(s, st, imap_parser_command(st->parser));
		break;
	case IMAP_PARSE_LITERAL:
		literal_announced(s, st);
		break;
	case IMAP_PARSE_BAD:
		reply_bad(s, st, imap_parser_error(st->parser));
		break;
	}
}

static void on_raw(struct session *s, const char *data, size_t len, uint64_t left)
{
	struct imap_state *st = s->data;
	st->literal_left = left;
	if (st->literal_discard) {
		if (left == 0)
			st->literal_discard = false;
		return;
	}
	if (st->literal_streamed) {
		struct imap_literal_blob *lb = st->literal_blob;
		if (!lb->literal8 && memchr(data, '\0', len) != NULL)
			lb->nul = true;
		if (lb->writer != NULL && store_blob_write(lb->writer, data, len, &lb->error) < 0)
			store_blob_abort(&lb->writer);
		if (left == 0) {
			st->literal_blob = NULL;
			st->literal_streamed = false;
			imap_parser_literal_external(st->parser, lb);
		}
		return;
	}
	enum imap_parse_result r = imap_parser_literal_data(st->parser, data, len);
	if (r == IMAP_PARSE_BAD)
		st->literal_bad = true;
	if (left == 0 && st->literal_bad) {
		st->literal_bad = false;
		const struct imap_parse_error *e = imap_parser_error(st->parser);
		if (e->tag != NULL)
			session_printf(s, "%s BAD %s\r\n", e->tag, e->reason);
		else
			session_printf(s, "* BAD %s\r\n", e->reason);
		reset_parser(st);
		st->discard_lines = 1;   /* the command's next line is part of it */
	}
}

/* A line of a refused command: drop it and any literal it announces. */
static void discard_line(struct session *s, struct imap_state *st, const char *line, size_t len)
{
	uint64_t n;
	bool sync;
	st->discard_lines = 0;
	if (trailing_literal(line, len, &n, &sync) && !sync)
		discard_literal(s, st, n);
}

static void on_line(struct session *s, const char *line, size_t len)
{
	struct imap_state *st = s->data;
	if (st->sasl != NULL) {   /* a response in an AUTHENTICATE exchange */
		imap_auth_response(s, st, line, len);
		return;
	}
	if (st->idle_tag != NULL) {
		imap_idle_line(s, st, line, len);
		return;
	}
	if (st->discard_lines > 0) {
		discard_line(s, st, line, len);
		return;
	}
	handle_parse_result(s, st, imap_parser_line(st->parser, line, len));
}

static void on_line_too_long(struct session *s)
{
	struct imap_state *st = s->data;
	if (st->sasl != NULL) {
		imap_auth_response_too_long(s, st);
		return;
	}
	/* The command (or what came of it so far) is lost; so is anything it
	 * would announce at the end of the line. */
	session_printf(s, "* BAD [TOOBIG] Line too long\r\n");
	reset_parser(st);
}

/* ---- dispatch ---- */

static const char *state_refusal(const struct imap_state *st, const struct imap_command_def *d)
{
	if (st->state == IMAP_NOT_AUTHENTICATED)
		return "Command not valid before login";
	if (d->states == IMAP_IN_NOTAUTH)
		return d->loop != NULL && strcmp(d->name, "STARTTLS") == 0
			       ? "Command not valid after login" : "Already authenticated";
	if (d->states == IMAP_IN_SELECTED)
		return "No mailbox selected";
	return "Command not valid in this state";
}

static void dispatch(struct session *s, struct imap_state *st, const struct imap_command *pc)
{
	const struct imap_arg *args = pc->args;
	size_t count = pc->count;
	bool uid = false;
	const char *name = pc->name;
	if (strcasecmp(name, "UID") == 0) {
		uid = true;
		name = count > 0 ? imap_arg_atom(&args[0]) : NULL;
		if (name == NULL) {
			session_printf(s, "%s BAD Syntax: UID command arguments\r\n", pc->tag);
			reset_parser(st);
			return;
		}
		args++;
		count--;
	}
	log_msg(LOGL_DEBUG, "imap", s->id, "event=command tag=%s command=%s%s", pc->tag,
		uid ? "UID " : "", name);
	const struct imap_command_def *d = find_command(name);
	if (d == NULL || (uid && !(d->flags & IMAP_CMD_UID))) {
		session_printf(s, "%s BAD Unknown command%s\r\n", pc->tag, uid ? " after UID" : "");
		reset_parser(st);
		return;
	}
	if (!(d->states & (1u << st->state))) {
		session_printf(s, "%s BAD %s\r\n", pc->tag, state_refusal(st, d));
		reset_parser(st);
		return;
	}
	bool on_pool = d->run != NULL &&
		       (d->loop == NULL ||
			((d->flags & IMAP_CMD_POOL_LOGGED) && st->state != IMAP_NOT_AUTHENTICATED));
	if (!on_pool) {
		struct imap_command sub = { pc->tag, name, args, count };
		d->loop(s, st, &sub, uid);
		reset_parser(st);
		return;
	}
	struct imap_cmd *c = xcalloc(1, sizeof *c);
	c->st = st;
	c->cfg = s->cfg;
	c->def = d;
	c->run = d->run;
	c->session_id = s->id;
	c->tag = xstrdup(pc->tag);
	c->name = d->name;
	c->uid = uid;
	c->args = args;
	c->count = count;
	c->no_expunge = (d->flags & IMAP_CMD_NO_EXPUNGE) && !uid;
	submit(s, c, false, NULL);
}

/* ---- the protocol ---- */

static void on_connect(struct session *s)
{
	struct imap_state *st = xcalloc(1, sizeof *st);
	s->data = st;
	st->parser = imap_parser_new(NULL);
	imap_parser_set_claim(st->parser, claim_literal, st);
	struct buf caps = BUF_INIT;
	imap_capabilities(s, &caps);
	session_printf(s, "* OK [CAPABILITY %s] Surel ready\r\n", buf_cstr(&caps));
	buf_free(&caps);
}

static void on_timeout(struct session *s)
{
	session_printf(s, "* BYE Autologout; idle for too long\r\n");
}

static void on_shutdown(struct session *s)
{
	session_printf(s, "* BYE [UNAVAILABLE] Server shutting down\r\n");
}

static void on_busy(struct session *s)
{
	session_printf(s, "* BYE [UNAVAILABLE] Too many connections\r\n");
}

static void state_free(struct imap_state *st)
{
	imap_unselect(st);
	store_watch_free(&st->watch);
	store_user_close(&st->su);
	store_close(&st->store);
	free(st->user);
	free(st->idle_tag);
	if (st->parser != NULL) {
		imap_parser_each_external(st->parser, release_external, NULL);
		imap_parser_free(&st->parser);
	}
	imap_literal_blob_free(&st->literal_blob);
	free(st);
}

static void on_close(struct session *s)
{
	struct imap_state *st = s->data;
	if (st == NULL)   /* refused with on_busy */
		return;
	s->data = NULL;
	imap_auth_abort(st);
	store_watch_free(&st->watch);
	if (st->update_timer != NULL)
		event_free(st->update_timer);
	st->update_timer = NULL;
	if (st->running_job != NULL) {
		/* The pool thread uses the state: the job frees it. */
		st->running_job->s = NULL;
		return;
	}
	if (st->cmd != NULL)   /* waiting for the output to drain */
		cmd_free(st->cmd);
	state_free(st);
}

const struct protocol imap_protocol = {
	.name = "imap",
	.line_max = 0,
	.on_connect = on_connect,
	.on_line = on_line,
	.on_line_too_long = on_line_too_long,
	.on_raw = on_raw,
	.on_timeout = on_timeout,
	.on_shutdown = on_shutdown,
	.on_busy = on_busy,
	.on_close = on_close,
};
