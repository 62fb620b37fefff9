/* The mail transaction: MAIL and RCPT (RFC 5321 4.1.1.2, 4.1.1.3), their
 * parameters (smtp_parse.c) and the policy checks (smtp_rcpt.c).
 *
 * Replies:
 *   250 2.1.0 Ok                                   MAIL accepted
 *   250 2.1.5 Ok                                   RCPT accepted
 *   503 5.5.1 Send HELO/EHLO first
 *   503 5.5.1 Nested MAIL command
 *   503 5.5.1 Need MAIL command
 *   530 5.7.0 Must issue a STARTTLS command first  submission before TLS
 *   530 5.7.0 Authentication required              submission, smtps before AUTH
 *   552 5.3.4 Message size exceeds fixed maximum message size   SIZE= too big
 *   452 4.5.3 Too many recipients                  over smtp.max_recipients
 *   the parser's replies (501 5.5.4, 501 5.1.7, 501 5.1.3, 553 5.6.7, 555 5.5.4)
 *   the policy's replies (smtp_rcpt.c) */
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/xmalloc.h"
#include "queue/spool.h"
#include "smtp/smtp_int.h"

static unsigned parse_flags(const struct smtp_state *st)
{
	unsigned flags = SMTP_PARSE_SPACE_AFTER_COLON;
	if (st->esmtp)
		flags |= SMTP_PARSE_ESMTP;
	if (st->mail.smtputf8)
		flags |= SMTP_PARSE_UTF8;
	return flags;
}

static void rcpt_free(struct smtp_rcpt *r)
{
	free(r->address);
	free(r->orcpt);
	smtp_targets_free(r->targets, r->ntargets);
}

void smtp_txn_reset(struct smtp_state *st)
{
	smtp_lookup_cancel(&st->lookup);
	lmtp_cancel(&st->lmtp);
	smtp_data_abort(st);
	smtp_header_clear(&st->hdr);
	for (size_t i = 0; i < st->nrcpts; i++)
		rcpt_free(&st->rcpts[i]);
	xfree(&st->rcpts);
	st->nrcpts = 0;
	smtp_mail_args_clear(&st->mail);
	smtp_rcpt_args_clear(&st->rcpt_args);
	st->in_mail = false;
	st->phase = SMTP_PHASE_COMMAND;
	st->msg_bytes = 0;
	st->too_big = false;
	st->bdat = false;
	st->bdat_last = false;
	st->bdat_error = NULL;
	st->bdat_chunk = 0;
}

void smtp_txn_free(struct smtp_state *st)
{
	smtp_txn_reset(st);
	spool_commit_cancel(&st->commit);
	buf_free(&st->mail.path.address);
	buf_free(&st->mail.envid);
	buf_free(&st->rcpt_args.path.address);
	buf_free(&st->rcpt_args.orcpt);
}

/* ---- MAIL ---- */

static void sender_checked(struct session *s, struct smtp_lookup_result *r)
{
	struct smtp_state *st = s->data;
	if (r->reply[0] == '2')
		st->in_mail = true;
	else
		smtp_mail_args_clear(&st->mail);
	log_msg(LOGL_INFO, "smtp", s->id, "event=mail from=<%s> result=%.3s",
		buf_cstr(&st->mail.path.address), r->reply);
	smtp_reply(s, "%s", r->reply);
	smtp_check_errors(s);
}

void smtp_cmd_mail(struct session *s, struct smtp_state *st, const char *arg, size_t len)
{
	if (!st->greeted) {
		smtp_reply(s, "503 5.5.1 Send HELO/EHLO first");
		return;
	}
	if (st->in_mail) {
		smtp_reply(s, "503 5.5.1 Nested MAIL command");
		return;
	}
	if (smtp_is_submission(s) && !s->tls) {
		smtp_reply(s, "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	if (smtp_is_submission(s) && st->user == NULL) {
		smtp_reply(s, "530 5.7.0 Authentication required");
		return;
	}
	const char *reply = NULL;
	if (arg == NULL || smtp_parse_mail(arg, len, parse_flags(st) & ~SMTP_PARSE_UTF8,
					   &st->mail, &reply) < 0) {
		smtp_mail_args_clear(&st->mail);
		smtp_reply(s, "%s", reply != NULL ? reply : "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	if (st->mail.size > s->cfg->smtp_max_message_size) {
		smtp_mail_args_clear(&st->mail);
		smtp_reply(s, "552 5.3.4 Message size exceeds fixed maximum message size");
		return;
	}
	if (smtp_is_submission(s)) {
		/* The sender must be the account or one of its addresses. */
		smtp_lookup_sender(s, &st->mail.path, sender_checked);
		return;
	}
	/* Hook: checks on the sender of mail from the world (SPF) come with
	 * the filtering issue. */
	st->in_mail = true;
	log_msg(LOGL_INFO, "smtp", s->id, "event=mail from=<%s> result=250",
		buf_cstr(&st->mail.path.address));
	smtp_reply(s, "250 2.1.0 Ok");
}

/* ---- RCPT ---- */

static void rcpt_checked(struct session *s, struct smtp_lookup_result *r)
{
	struct smtp_state *st = s->data;
	struct smtp_rcpt_args *a = &st->rcpt_args;
	log_msg(LOGL_INFO, "smtp", s->id, "event=rcpt to=<%s> result=%.3s targets=%zu",
		buf_cstr(&a->path.address), r->reply, r->ntargets);
	if (r->reply[0] == '2') {
		st->rcpts = xrealloc(st->rcpts, (st->nrcpts + 1) * sizeof *st->rcpts);
		struct smtp_rcpt *rc = &st->rcpts[st->nrcpts++];
		rc->address = xstrdup(buf_cstr(&a->path.address));
		rc->notify = a->notify;
		rc->orcpt = a->orcpt.len > 0 ? xstrdup(buf_cstr(&a->orcpt)) : NULL;
		rc->targets = r->targets;
		rc->ntargets = r->ntargets;
		r->targets = NULL;
		r->ntargets = 0;
	}
	smtp_rcpt_args_clear(a);
	smtp_reply(s, "%s", r->reply);
	smtp_check_errors(s);
}

void smtp_cmd_rcpt(struct session *s, struct smtp_state *st, const char *arg, size_t len)
{
	if (!st->in_mail) {
		smtp_reply(s, "503 5.5.1 Need MAIL command");
		return;
	}
	if (st->bdat) {
		smtp_reply(s, "503 5.5.1 RCPT after BDAT");
		return;
	}
	if (st->nrcpts >= (size_t)s->cfg->smtp_max_recipients) {
		smtp_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	const char *reply = NULL;
	if (arg == NULL || smtp_parse_rcpt(arg, len, parse_flags(st), &st->rcpt_args, &reply) < 0) {
		smtp_rcpt_args_clear(&st->rcpt_args);
		smtp_reply(s, "%s", reply != NULL ? reply : "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	smtp_lookup_rcpt(s, &st->rcpt_args.path, rcpt_checked);
}
