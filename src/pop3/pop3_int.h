/* Inside the POP3 engine: the session state shared by pop3_session.c
 * (dispatch, CAPA, STLS, QUIT), pop3_auth.c (USER/PASS, AUTH),
 * pop3_maildrop.c (lock, snapshot, UPDATE, jobs on the pool) and
 * pop3_transaction.c (STAT, LIST, UIDL, RETR, TOP, DELE, RSET). Not for
 * other parts. */
#ifndef SUREL_POP3_POP3_INT_H
#define SUREL_POP3_POP3_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pop3/pop3_parse.h"
#include "server/session.h"

struct account_info;
struct auth_pending;
struct sasl;
struct store;
struct store_user;
struct store_mailbox;

/* RFC 1939 section 3. UPDATE is entered by QUIT in TRANSACTION and lasts
 * until the deletions are applied and the session closes. */
enum pop3_conn_state {
	POP3_AUTHORIZATION,
	POP3_TRANSACTION,
	POP3_UPDATE,
};

/* One message of the snapshot taken at login. */
struct pop3_message {
	uint32_t uid;
	uint64_t size;          /* octets as stored (prefix + blob): CRLF lines, before byte-stuffing */
	char blob_id[65];
	char *prefix;           /* the store's per-message prefix, sent before the blob */
	size_t prefix_len;
	bool deleted;           /* DELE (or RETR with delete_after_retr) */
	bool retrieved;         /* RETR sent it whole: \Seen at UPDATE */
};

/* The locked INBOX of the logged-in account and its snapshot. Owned by the
 * session, or by a job on the pool once the session has gone. */
struct pop3_maildrop {
	long long account_id;
	/* The account's options, else pop3.delete_after_retr and
	 * pop3.deleted_to_trash: fixed at login for the session. */
	bool delete_after_retr;
	bool deleted_to_trash;
	int lock_fd;            /* flock LOCK_EX on DATA_DIR/pop3-locks/<id>.lock */
	struct store *store;    /* this session's own handle (used by one thread at a time) */
	struct store_user *user;
	struct store_mailbox *inbox;
	uint32_t uidvalidity;
	struct pop3_message *msgs;
	size_t count;
	uint64_t total_bytes;
};

/* Work on the thread pool for one session. While a job runs, the session
 * reads no command. */
struct pop3_job {
	struct session *s;              /* NULL once the session has gone */
	struct pop3_maildrop *md;       /* freed with the job if the session has gone */
	void (*work)(struct pop3_job *job);                   /* on a pool thread */
	void (*done)(struct session *s, struct pop3_job *job); /* on the loop; frees job */
	void (*free)(struct pop3_job *job);                   /* the job without its session */
	bool running;                   /* submitted, done() not yet called */
};

struct pop3_state {
	enum pop3_conn_state state;
	char *user;                     /* the account's address once logged in */
	char *user_arg;                 /* USER's argument, waiting for PASS */
	char method[32];                /* of the login in progress, for the log */
	struct sasl *sasl;              /* AUTH: waiting for a client response */
	struct auth_pending *pending;   /* the credentials are being checked */
	struct pop3_maildrop *md;       /* TRANSACTION: the maildrop */
	struct pop3_job *job;           /* in flight on the pool */
};

/* ---- pop3_auth.c ---- */

/* Whether USER, PASS and AUTH are allowed: only under TLS. */
bool pop3_login_allowed(const struct session *s);

void pop3_cmd_user(struct session *s, struct pop3_state *st, const char *arg);
void pop3_cmd_pass(struct session *s, struct pop3_state *st, const char *arg);
void pop3_cmd_auth(struct session *s, struct pop3_state *st, const char *arg);
/* A line while AUTH waits for the client (st->sasl != NULL). */
void pop3_auth_response(struct session *s, struct pop3_state *st, const char *line, size_t len);
/* That line was too long: end the exchange. */
void pop3_auth_response_too_long(struct session *s, struct pop3_state *st);
/* End any exchange or check in progress and forget USER (on close). */
void pop3_auth_abort(struct pop3_state *st);

/* ---- pop3_maildrop.c ---- */

/* Run job->work on the pool with input paused; job->done follows on the
 * loop (it resumes input when the session may go on). */
void pop3_job_submit(struct session *s, struct pop3_job *job);
/* The credentials are good: lock the account's maildrop, take the snapshot,
 * then reply "+OK Logged in" (TRANSACTION) or -ERR [IN-USE] / [LOGIN-DELAY]
 * / [SYS/TEMP] (AUTHORIZATION). */
void pop3_maildrop_open(struct session *s, const struct account_info *account);
/* QUIT in TRANSACTION: UPDATE (RFC 1939 6), reply, close. */
void pop3_maildrop_update(struct session *s);
/* On close: give up the maildrop without applying anything. */
void pop3_maildrop_abandon(struct pop3_state *st);
void pop3_maildrop_free(struct pop3_maildrop **md);

/* ---- pop3_transaction.c ---- */

/* A parsed command in TRANSACTION: STAT LIST UIDL RETR TOP DELE RSET NOOP. */
void pop3_transaction_command(struct session *s, struct pop3_state *st,
			      const struct pop3_command *cmd);

/* ---- pop3_session.c: configuration as CAPA shows it ---- */

/* EXPIRE's argument (RFC 2449 6.7): "NEVER" or a number of days, 0 when
 * messages are deleted after RETR. Before login the global value followed
 * by " USER" (accounts may differ); after login the account's value. */
const char *pop3_expire_value(const struct session *s, char *buf, size_t size);

#endif
