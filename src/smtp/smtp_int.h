/* Inside the SMTP server engine: the session state shared by its files.
 * Not for other parts.
 *
 *   smtp_session.c   greeting, command dispatch, EHLO/HELO, session commands
 *   smtp_auth.c      AUTH
 *   smtp_txn.c       MAIL, RCPT, RSET: the transaction
 *   smtp_rcpt.c      recipient and sender policy on the directory
 *   smtp_data.c      DATA, BDAT, the Received header, the spool
 *   smtp_submit.c    submission's header rules: From check, Message-ID, Date
 *   smtp_lmtp.c      LMTP's end of data: delivery into the store, one reply
 *                    per recipient
 *   smtp_server.c    what a worker gives the engine (thread pool, spool) */
#ifndef SUREL_SMTP_SMTP_INT_H
#define SUREL_SMTP_SMTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/session.h"
#include "smtp/smtp_parse.h"

struct auth_pending;
struct event;
struct lmtp_job;
struct store;
struct pool;
struct sasl;
struct smtp_lookup;
struct spool_commit;
struct spool_committer;
struct spool_msg;

/* Where a recipient's mail goes. */
struct smtp_target {
	char *address;   /* a local account's address, or a remote address */
	bool local;
};

/* One accepted RCPT. */
struct smtp_rcpt {
	char *address;           /* as the client sent it (quoted form kept) */
	unsigned notify;
	char *orcpt;             /* NULL when not given */
	struct smtp_target *targets;
	size_t ntargets;
};

enum smtp_phase {
	SMTP_PHASE_COMMAND,
	SMTP_PHASE_DATA,         /* reading DATA text */
	SMTP_PHASE_BDAT,         /* reading a BDAT chunk */
	SMTP_PHASE_COMMIT,       /* waiting for the spool (or LMTP's delivery) */
};

/* Submission: the message's header block, held back while it arrives so
 * that missing Message-ID and Date fields can go before it. */
struct smtp_header_scan {
	bool active;           /* submission, collecting */
	struct buf header;     /* the bytes so far (the header block, then
				  whatever followed it in the same write) */
	char *from;            /* the From fields' values, unfolded, joined by "," */
	bool has_message_id, has_date;
	size_t next_line;      /* offset of the first line not looked at */
	bool in_from;          /* folded lines continue a From field */
	void (*next)(struct session *s);   /* what follows a From check on the pool */
};

struct smtp_state {
	bool greeted;      /* EHLO or HELO seen since the start or STARTTLS */
	bool esmtp;        /* ... and it was EHLO */
	char *helo;        /* its argument */
	char *user;        /* the account's address once AUTH succeeded, else NULL */
	struct sasl *sasl;              /* AUTH: waiting for the client's next response */
	struct auth_pending *pending;   /* AUTH: the credentials are being checked */
	const char *mech;               /* the mechanism of the AUTH in progress */

	bool greeting_sent;
	struct event *greeting_timer;
	unsigned errors;
	unsigned long long commands;

	/* the transaction (MAIL given) */
	bool in_mail;
	struct smtp_mail_args mail;
	struct smtp_rcpt_args rcpt_args;     /* the RCPT being looked up */
	struct smtp_rcpt *rcpts;
	size_t nrcpts;
	struct smtp_lookup *lookup;          /* MAIL or RCPT checked on the pool */

	/* the message */
	enum smtp_phase phase;
	struct spool_msg *msg;
	uint64_t msg_bytes;                  /* octets of data received (not the header) */
	bool too_big;
	bool bdat;                           /* BDAT used in this transaction */
	bool bdat_last;
	const char *bdat_error;              /* the reply every further BDAT chunk gets */
	uint64_t bdat_chunk;                 /* size of the chunk being read */
	struct spool_commit *commit;
	struct lmtp_job *lmtp;               /* LMTP: the delivery on the pool */
	struct smtp_header_scan hdr;
	char queue_id[17];
};

/* ---- smtp_session.c ---- */
/* A reply line (CRLF added). 4xx and 5xx replies count towards
 * smtp.max_errors; smtp_check_errors() closes the session once there were
 * too many. */
void smtp_reply(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void smtp_check_errors(struct session *s);
const char *smtp_hostname(const struct session *s);
/* Whether this is a submission listener (submission, smtps): AUTH required. */
bool smtp_is_submission(const struct session *s);
/* Whether this is the LMTP listener (RFC 2033): LHLO, one reply per
 * recipient after the data. */
bool smtp_is_lmtp(const struct session *s);

/* ---- smtp_auth.c ---- */
/* Whether AUTH is offered in this session: on submission and smtps, under
 * TLS; never on the smtp (port 25) listener. */
bool smtp_auth_offered(const struct session *s);
/* AUTH SP mechanism [SP initial-response] */
void smtp_cmd_auth(struct session *s, struct smtp_state *st, const char *arg);
/* A line while an AUTH exchange waits for the client (st->sasl != NULL). */
void smtp_auth_response(struct session *s, struct smtp_state *st, const char *line, size_t len);
/* The response line was too long: end the exchange with 500 5.5.6. */
void smtp_auth_response_too_long(struct session *s, struct smtp_state *st);
/* Forget the exchange, cancel a pending check, forget the login (on close
 * and STARTTLS). */
void smtp_auth_reset(struct smtp_state *st);

/* ---- smtp_txn.c ---- */
void smtp_cmd_mail(struct session *s, struct smtp_state *st, const char *arg, size_t len);
void smtp_cmd_rcpt(struct session *s, struct smtp_state *st, const char *arg, size_t len);
/* Forget the transaction (RSET, EHLO, HELO, STARTTLS, after the message). */
void smtp_txn_reset(struct smtp_state *st);
/* Free everything of the state that smtp_session.c does not (on close). */
void smtp_txn_free(struct smtp_state *st);

/* ---- smtp_rcpt.c ---- */
struct smtp_lookup_result {
	char *reply;                  /* the reply line, without CRLF */
	struct smtp_target *targets;  /* RCPT accepted: where it goes */
	size_t ntargets;
};
void smtp_lookup_result_clear(struct smtp_lookup_result *r);
/* Check a MAIL (sender ownership on submission) or RCPT (recipient policy)
 * on the worker's pool, with the session's input paused; done runs on the
 * loop with the result, unless smtp_lookup_cancel() was called. Without a
 * pool the lookup runs at once and done is called before this returns. */
typedef void smtp_lookup_done(struct session *s, struct smtp_lookup_result *result);
void smtp_lookup_rcpt(struct session *s, const struct smtp_path *path, smtp_lookup_done *done);
void smtp_lookup_sender(struct session *s, const struct smtp_path *path, smtp_lookup_done *done);
/* The From header's addresses (n >= 1) must each be owned by the
 * authenticated account as MAIL FROM must: "250" or "550 5.7.1 ...". */
void smtp_lookup_from(struct session *s, char *const *addresses, size_t n, smtp_lookup_done *done);
void smtp_lookup_cancel(struct smtp_lookup **lookup);
void smtp_targets_free(struct smtp_target *t, size_t n);
/* The calling pool thread's store handle (opened on first use, closed when
 * the thread ends), or NULL with *error_r. */
struct store *smtp_thread_store(const char *data_dir, char **error_r);

/* ---- smtp_data.c ---- */
void smtp_cmd_data(struct session *s, struct smtp_state *st, const char *arg);
void smtp_cmd_bdat(struct session *s, struct smtp_state *st, const char *arg);
void smtp_on_data(struct session *s, const char *data, size_t len, bool end);
void smtp_on_raw(struct session *s, const char *data, size_t len, uint64_t left);
/* The message being received is dropped (temporary file removed). */
void smtp_data_abort(struct smtp_state *st);
/* The RFC 5322 date of now ("Mon, 23 Nov 2026 12:46:18 +0000"). */
void smtp_date_now(char *out, size_t size);
/* Write bytes of the message to the spool file (past the headers we add). */
void smtp_data_write(struct smtp_state *st, const char *data, size_t len);
/* The spool envelope of the transaction; remote_only: only the recipients
 * that are not local accounts (LMTP); returns how many recipients it has. */
size_t smtp_build_envelope(struct session *s, struct smtp_state *st, bool remote_only,
			   struct buf *out);

/* ---- smtp_submit.c ---- */
/* Start holding back the header block (submission listeners). */
void smtp_header_begin(struct session *s, struct smtp_state *st);
/* Message bytes while the header block is held back: true when taken. */
bool smtp_header_take(struct session *s, struct smtp_state *st, const char *data, size_t len);
/* The message is complete: write what is still held back. */
void smtp_header_end(struct session *s, struct smtp_state *st);
void smtp_header_clear(struct smtp_header_scan *h);
/* Submission's check of the From header at the end of the data: calls
 * next(s) when the message may go on, else replies and resets. */
void smtp_check_from(struct session *s, struct smtp_state *st, void (*next)(struct session *s));

/* ---- smtp_lmtp.c ---- */
/* LMTP's end of data: deliver to every recipient and answer once for each,
 * in RCPT order (RFC 2033 4.2). */
void lmtp_deliver(struct session *s, struct smtp_state *st);
/* The same reply for every accepted recipient (a message refused whole). */
void lmtp_reply_all(struct session *s, struct smtp_state *st, const char *reply);
void lmtp_cancel(struct lmtp_job **job);

/* ---- smtp_server.c ---- */
struct event_base *smtp_server_base(void);
struct pool *smtp_server_pool(void);
struct spool_committer *smtp_server_committer(const struct session *s);

#endif
