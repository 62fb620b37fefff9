/* The message: DATA (RFC 5321 4.1.1.4), BDAT (CHUNKING, RFC 3030), the
 * Received header (RFC 5321 4.4, RFC 3848, RFC 6531 protocol names) and the
 * durable hand-over to the spool (queue/spool.h).
 *
 *   data = "DATA" CRLF
 *   bdat-cmd   ::= "BDAT" SP chunk-size [ SP end-marker ] CR LF
 *   chunk-size ::= 1*DIGIT
 *   end-marker ::= "LAST"
 *
 * DATA text is read by the line reader's data mode: only CRLF "." CRLF
 * ends it, dots are unstuffed, and the text is stored byte for byte. Our
 * rules (docs/smtp.md):
 *   - a bare LF or a bare CR anywhere in DATA: the message is read to its
 *     end and refused, "550 5.6.0" (like Postfix's smtpd_forbid_bare_newline,
 *     and the SMTP smuggling defence: what we store never holds an end of
 *     data another server would see differently);
 *   - lines over 998 octets (RFC 5322 2.1.1): accepted as they are, and
 *     counted in the log (event=data long_lines=N); refusing them would
 *     lose real mail, and nothing downstream relies on the limit;
 *   - BDAT chunks are binary-exact (RFC 3030): stored as sent, no bare
 *     LF rule (there is no end-of-data line to smuggle);
 *   - the size is counted as data arrives; past smtp.max_message_size
 *     nothing more is written, the rest is read and "552 5.3.4" answered.
 *
 * On submission the message's header block is held back while it arrives
 * (smtp_submit.c: From check, Message-ID and Date); on LMTP the end of
 * the data delivers instead of queueing (smtp_lmtp.c).
 *
 * "250 2.0.0 Ok: queued as ID" is sent only once the message and its
 * envelope are on stable storage (spool_commit_submit()); a disk that is
 * full gives "452 4.3.1 Insufficient system storage" and leaves nothing
 * behind; a client that goes away mid-data leaves nothing either. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/config.h"
#include "core/xmalloc.h"
#include "queue/spool.h"
#include "smtp/smtp_int.h"

#define R_SIZE "552 5.3.4 Message size exceeds fixed maximum message size"
#define R_STORAGE "452 4.3.1 Insufficient system storage"
#define R_LOCAL "451 4.3.0 Local error in processing"
#define R_BARE "550 5.6.0 Message refused: bare LF or bare CR in data (lines must end with CRLF)"
#define R_NO_RCPT "554 5.5.1 No valid recipients"
#define R_NEED_MAIL "503 5.5.1 Need MAIL command"

static const char *storage_reply(int err)
{
	return err == ENOSPC || err == EDQUOT ? R_STORAGE : R_LOCAL;
}

void smtp_data_abort(struct smtp_state *st)
{
	spool_msg_abort(&st->msg);
}

static char *spool_dir(const struct session *s)
{
	return xasprintf("%s/%s", s->cfg->server_data_dir, SPOOL_DIR);
}

/* RFC 3848, RFC 6531 3.7.3. */
static const char *protocol_name(const struct session *s, const struct smtp_state *st)
{
	bool tls = s->tls, auth = st->user != NULL;
	if (smtp_is_lmtp(s))
		return tls && auth ? "LMTPSA" : auth ? "LMTPA" : tls ? "LMTPS" : "LMTP";
	if (st->mail.smtputf8)
		return tls && auth ? "UTF8SMTPSA" : auth ? "UTF8SMTPA" : tls ? "UTF8SMTPS" : "UTF8SMTP";
	if (!st->esmtp)
		return "SMTP";
	return tls && auth ? "ESMTPSA" : auth ? "ESMTPA" : tls ? "ESMTPS" : "ESMTP";
}

/* The HELO argument as it may appear in a header: printable ASCII, no
 * comment delimiters, at most 255 octets. */
static void put_helo(struct buf *b, const char *helo)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)helo; *p != '\0' && n < 255; p++, n++) {
		bool ok = *p > 32 && *p < 127 && *p != '(' && *p != ')' && *p != '\\';
		buf_putc(b, ok ? (char)*p : '?');
	}
}

/*   Time-stamp-line = "Received:" FWS Stamp <CRLF>
 *   Stamp          = From-domain By-domain Opt-info [CFWS] ";" FWS date-time
 *   From-domain    = "FROM" FWS Extended-Domain
 *   Extended-Domain  = Domain / ( Domain FWS "(" TCP-info ")" ) /
 *                      ( address-literal FWS "(" TCP-info ")" )
 *   TCP-info       = address-literal / ( Domain FWS address-literal )
 *   Opt-info       = [Via] [With] [ID] [For] [Additional-Registered-Clauses]
 *   With           = CFWS "WITH" FWS Protocol
 *   ID             = CFWS "ID" FWS ( Atom / msg-id )
 *   For            = CFWS "FOR" FWS ( Path / Mailbox )          (RFC 5321 4.4) */
void smtp_date_now(char *out, size_t size)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	char zone[8];
	strftime(zone, sizeof zone, "%z", &tm);
	/* Not strftime's %a and %b: those follow the locale. */
	snprintf(out, size, "%s, %02d %s %d %02d:%02d:%02d %s", days[tm.tm_wday % 7], tm.tm_mday,
		 months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, zone);
}

/* Whether the client's address can be shown: an IP (a unix socket peer,
 * LMTP's, has none) and not hidden by submission.hide_client_ip. */
static bool show_client(const struct session *s)
{
	unsigned char addr[16];
	if (smtp_is_submission(s) && s->cfg->submission_hide_client_ip)
		return false;
	return inet_pton(AF_INET, s->remote_ip, addr) == 1 ||
	       inet_pton(AF_INET6, s->remote_ip, addr) == 1;
}

static void received_header(struct session *s, struct smtp_state *st, const char *id,
			    struct buf *b)
{
	buf_append_str(b, "Received: ");
	if (smtp_is_submission(s) && s->cfg->submission_hide_client_ip) {
		/* Neither the IP nor the HELO name (a laptop's own name) of
		 * the submitting user: the From part is left out altogether,
		 * as large mail providers do. */
	} else {
		buf_append_str(b, "from ");
		put_helo(b, st->helo != NULL ? st->helo : "unknown");
		if (show_client(s)) {
			bool v6 = strchr(s->remote_ip, ':') != NULL;
			buf_appendf(b, " ([%s%s])", v6 ? "IPv6:" : "", s->remote_ip);
		}
		buf_append_str(b, "\r\n\t");
	}
	SSL *ssl = session_ssl(s);
	if (ssl != NULL)
		buf_appendf(b, "(using %s with cipher %s)\r\n\t", SSL_get_version(ssl),
			    SSL_get_cipher_name(ssl));
	buf_appendf(b, "by %s (Surel) with %s id %s", smtp_hostname(s), protocol_name(s, st), id);
	if (st->nrcpts == 1)   /* more would tell each recipient of the others */
		buf_appendf(b, "\r\n\tfor <%s>", st->rcpts[0].address);
	char date[64];
	smtp_date_now(date, sizeof date);
	buf_appendf(b, "; %s\r\n", date);
}

/* Open the spool file and write our Received header. Replies on failure. */
static int begin_message(struct session *s, struct smtp_state *st, const char **reply_r)
{
	char *dir = spool_dir(s);
	char *error = NULL;
	int rc = spool_msg_create(dir, &st->msg, &error);
	int err = errno;
	free(dir);
	if (rc < 0) {
		log_msg(LOGL_ERROR, "smtp", s->id, "event=spool_error error=\"%s\"", error);
		free(error);
		*reply_r = storage_reply(err);
		return -1;
	}
	memcpy(st->queue_id, spool_msg_id(st->msg), sizeof st->queue_id);
	struct buf hdr = BUF_INIT;
	received_header(s, st, st->queue_id, &hdr);
	spool_msg_write(st->msg, hdr.data, hdr.len);
	buf_free(&hdr);
	st->msg_bytes = 0;
	st->too_big = false;
	if (smtp_is_submission(s))
		smtp_header_begin(s, st);
	return 0;
}

void smtp_data_write(struct smtp_state *st, const char *data, size_t len)
{
	if (st->msg != NULL && len > 0)
		spool_msg_write(st->msg, data, len);
}

static void take_bytes(struct session *s, struct smtp_state *st, const char *data, size_t len)
{
	st->msg_bytes += len;
	if (st->msg_bytes > (uint64_t)s->cfg->smtp_max_message_size)
		st->too_big = true;
	if (st->too_big || st->msg == NULL)
		return;
	if (!smtp_header_take(s, st, data, len))
		spool_msg_write(st->msg, data, len);
}

size_t smtp_build_envelope(struct session *s, struct smtp_state *st, bool remote_only,
			   struct buf *out)
{
	struct spool_envelope env = { 0 };
	memcpy(env.id, st->queue_id, sizeof env.id);
	env.received = (long long)time(NULL);
	env.client_ip = xstrdup(s->remote_ip);
	env.client_helo = xstrdup(st->helo != NULL ? st->helo : "");
	env.protocol = xstrdup(protocol_name(s, st));
	SSL *ssl = session_ssl(s);
	if (ssl != NULL)
		env.tls = xasprintf("%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	env.auth_user = st->user != NULL ? xstrdup(st->user) : NULL;
	env.sender = xstrdup(buf_cstr(&st->mail.path.address));
	env.size = (long long)spool_msg_size(st->msg);
	const char *body = smtp_body_name(st->mail.body);
	env.body = body != NULL ? xstrdup(body) : NULL;
	env.smtputf8 = st->mail.smtputf8;
	env.ret = st->mail.ret == SMTP_RET_FULL ? xstrdup("FULL")
		: st->mail.ret == SMTP_RET_HDRS ? xstrdup("HDRS") : NULL;
	env.envid = st->mail.envid.len > 0 ? xstrdup(buf_cstr(&st->mail.envid)) : NULL;
	for (size_t i = 0; i < st->nrcpts; i++) {
		const struct smtp_rcpt *r = &st->rcpts[i];
		struct buf notify = BUF_INIT;
		smtp_notify_format(r->notify, &notify);
		for (size_t k = 0; k < r->ntargets; k++) {
			const struct smtp_target *t = &r->targets[k];
			if (remote_only && t->local)
				continue;
			const char *original = strcmp(t->address, r->address) != 0 ? r->address : NULL;
			spool_envelope_add_rcpt(&env, t->address, original,
						notify.len > 0 ? buf_cstr(&notify) : NULL, r->orcpt,
						t->local);
		}
		buf_free(&notify);
	}
	size_t n = env.nrcpts;
	spool_envelope_format(&env, out);
	spool_envelope_clear(&env);
	return n;
}

static void committed(int err, void *arg)
{
	struct session *s = arg;
	struct smtp_state *st = s->data;
	st->commit = NULL;
	session_resume_input(s);
	if (err == 0) {
		log_msg(LOGL_INFO, "smtp", s->id, "event=queued id=%s size=%" PRIu64 " rcpts=%zu",
			st->queue_id, st->msg_bytes, st->nrcpts);
		smtp_reply(s, "250 2.0.0 Ok: queued as %s", st->queue_id);
	} else {
		log_msg(LOGL_ERROR, "smtp", s->id, "event=spool_error id=%s error=\"%s\"",
			st->queue_id, strerror(err));
		smtp_reply(s, "%s", storage_reply(err));
	}
	smtp_txn_reset(st);
	smtp_check_errors(s);
}

/* Checks passed: commit to the spool and answer when durable, or (LMTP)
 * deliver. */
static void accept_message(struct session *s)
{
	struct smtp_state *st = s->data;
	if (smtp_is_lmtp(s)) {
		lmtp_deliver(s, st);
		return;
	}
	struct buf env = BUF_INIT;
	smtp_build_envelope(s, st, false, &env);
	st->phase = SMTP_PHASE_COMMIT;
	session_pause_input(s);
	struct spool_commit *c = spool_commit_submit(smtp_server_committer(s), &st->msg, &env,
						     committed, s);
	if (st->phase == SMTP_PHASE_COMMIT)   /* not answered at once */
		st->commit = c;
	buf_free(&env);
}

/* The whole message is in: refuse it, or check and accept it. */
static void finish_message(struct session *s, struct smtp_state *st, bool bare)
{
	const char *reply = NULL;
	smtp_header_end(s, st);
	if (st->too_big)
		reply = R_SIZE;
	else if (bare)
		reply = R_BARE;
	else if (st->msg == NULL)
		reply = R_LOCAL;
	else if (spool_msg_errno(st->msg) != 0)
		reply = storage_reply(spool_msg_errno(st->msg));
	if (reply != NULL) {
		log_msg(LOGL_INFO, "smtp", s->id, "event=data_refused size=%" PRIu64 " reply=\"%s\"",
			st->msg_bytes, reply);
		if (smtp_is_lmtp(s))
			lmtp_reply_all(s, st, reply);
		else
			smtp_reply(s, "%s", reply);
		smtp_txn_reset(st);
		return;
	}
	if (smtp_is_submission(s)) {
		smtp_check_from(s, st, accept_message);
		return;
	}
	accept_message(s);
}

/* ---- DATA ---- */

void smtp_cmd_data(struct session *s, struct smtp_state *st, const char *arg)
{
	const char *reply = NULL;
	if (arg != NULL) {
		smtp_reply(s, "501 5.5.4 Syntax: DATA");
	} else if (!st->in_mail) {
		smtp_reply(s, R_NEED_MAIL);
	} else if (st->bdat) {
		smtp_reply(s, "503 5.5.1 DATA not allowed after BDAT");
	} else if (st->nrcpts == 0) {
		smtp_reply(s, R_NO_RCPT);
	} else if (begin_message(s, st, &reply) < 0) {
		smtp_reply(s, "%s", reply);
	} else {
		st->phase = SMTP_PHASE_DATA;
		session_printf(s, "354 End data with <CR><LF>.<CR><LF>\r\n");
		session_set_timeout(s, s->cfg->smtp_data_timeout);
		session_read_data(s);
	}
}

void smtp_on_data(struct session *s, const char *data, size_t len, bool end)
{
	struct smtp_state *st = s->data;
	if (!end) {
		take_bytes(s, st, data, len);
		return;
	}
	session_set_timeout(s, s->cfg->smtp_timeout);
	st->phase = SMTP_PHASE_COMMAND;
	const struct linereader_data_stats *stats = session_data_stats(s);
	if (stats->bare_lf > 0 || stats->bare_cr > 0 || stats->long_lines > 0)
		log_msg(LOGL_INFO, "smtp", s->id, "event=data bare_lf=%" PRIu64 " bare_cr=%" PRIu64
			" long_lines=%" PRIu64, stats->bare_lf, stats->bare_cr, stats->long_lines);
	finish_message(s, st, stats->bare_lf > 0 || stats->bare_cr > 0);
}

/* ---- BDAT ---- */

static void chunk_done(struct session *s, struct smtp_state *st)
{
	session_set_timeout(s, s->cfg->smtp_timeout);
	st->phase = SMTP_PHASE_COMMAND;
	const char *reply = st->bdat_error;
	if (reply == NULL && st->too_big)
		reply = R_SIZE;
	if (reply == NULL && st->msg != NULL && spool_msg_errno(st->msg) != 0)
		reply = storage_reply(spool_msg_errno(st->msg));
	if (reply != NULL) {
		/* Every further chunk of this transaction gets the same answer
		 * (RFC 3030 4.1 lets the client stop at the first failure). */
		smtp_data_abort(st);
		st->bdat_error = st->in_mail ? reply : NULL;
		if (st->bdat_last && smtp_is_lmtp(s) && st->nrcpts > 0)
			lmtp_reply_all(s, st, reply);
		else
			smtp_reply(s, "%s", reply);
		if (st->bdat_last)
			smtp_txn_reset(st);
		return;
	}
	if (st->bdat_last) {
		finish_message(s, st, false);
		return;
	}
	session_printf(s, "250 2.0.0 %" PRIu64 " octets received\r\n", st->bdat_chunk);
}

void smtp_cmd_bdat(struct session *s, struct smtp_state *st, const char *arg)
{
	/* chunk-size [SP "LAST"] */
	size_t digits = arg != NULL ? strspn(arg, "0123456789") : 0;
	const char *rest = arg != NULL ? arg + digits : NULL;
	bool last = rest != NULL && strcasecmp(rest, " LAST") == 0;
	if (digits == 0 || digits > 19 || (*rest != '\0' && !last)) {
		smtp_reply(s, "501 5.5.4 Syntax: BDAT chunk-size [LAST]");
		return;
	}
	uint64_t n = strtoull(arg, NULL, 10);
	if (n > (uint64_t)s->cfg->smtp_max_message_size) {
		/* Reading it all to stay in step would take forever: say why
		 * and hang up (RFC 3030 leaves no other way to resynchronise). */
		smtp_reply(s, R_SIZE);
		session_close_after_flush(s);
		return;
	}
	st->bdat_chunk = n;
	st->bdat_last = last;
	if (!st->in_mail) {
		st->bdat_error = R_NEED_MAIL;
	} else if (st->nrcpts == 0) {
		st->bdat_error = R_NO_RCPT;
	} else if (!st->bdat && st->bdat_error == NULL) {
		const char *reply = NULL;
		st->bdat = true;
		if (begin_message(s, st, &reply) < 0)
			st->bdat_error = reply;
	}
	st->phase = SMTP_PHASE_BDAT;
	if (n == 0) {
		chunk_done(s, st);
	} else {
		session_set_timeout(s, s->cfg->smtp_data_timeout);
		session_read_raw(s, n);
	}
}

void smtp_on_raw(struct session *s, const char *data, size_t len, uint64_t left)
{
	struct smtp_state *st = s->data;
	if (st->bdat_error == NULL)
		take_bytes(s, st, data, len);
	if (left == 0)
		chunk_done(s, st);
}
