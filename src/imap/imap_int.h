/* Inside the IMAP engine: the session state and the command interface shared
 * by imap_session.c (input, dispatch, jobs), imap_sync.c (the selected
 * mailbox's view), imap_write.c (response syntax) and the command families
 * (imap_auth.c, cmd_*.c). Not for other parts.
 *
 * How a command runs
 *
 *   The session feeds lines and literals to the parser (imap_parser.h). A
 *   complete command is looked up in the table (imap_session.c), checked
 *   against the state, and run one of two ways:
 *
 *   - loop commands (CAPABILITY, LOGIN, STARTTLS, IDLE, ...) run on the event
 *     loop with the session at hand and write their replies themselves;
 *   - store commands (everything that touches mail) run on the worker's thread
 *     pool with the session's input paused. They never touch the session:
 *     they read the parsed command, use the session's store handles (one
 *     thread at a time), append untagged responses to c->out and set the
 *     tagged result with imap_ok/imap_no/imap_bad. The engine then (still on
 *     the pool) brings the selected mailbox up to date (imap_sync: EXISTS,
 *     EXPUNGE, FETCH FLAGS at the moments RFC 9051 7.4.1 / 5.5 allow), and on
 *     the loop writes c->out and the tagged line. A command with a large
 *     output sets c->more: the engine writes what is there and runs it again
 *     once the client has read it (FETCH of many messages).
 *
 * Pipelined commands run one after the other, in order (RFC 9051 5.5 lets a
 * server run them concurrently; running them in order is always correct). */
#ifndef SUREL_IMAP_IMAP_INT_H
#define SUREL_IMAP_IMAP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "imap/imap_parser.h"
#include "server/session.h"
#include "store/store.h"

struct auth_pending;
struct config;
struct event;
struct sasl;

/* RFC 9051 section 3. */
enum imap_conn_state {
	IMAP_NOT_AUTHENTICATED,
	IMAP_AUTHENTICATED,
	IMAP_SELECTED,
	IMAP_LOGOUT,
};

/* The selected mailbox as this session sees it: the UIDs numbered by
 * sequence number, and how far the session has seen the store's changes.
 * Owned by the thread that runs the session's command (the pool) or the loop
 * between commands. */
struct imap_selected {
	struct store_mailbox *mb;
	char *name;                     /* UTF-8, as the store spells it */
	bool readonly;                  /* EXAMINE, or SELECT of a read-only mailbox */
	uint32_t uidvalidity;
	uint64_t modseq;                /* every change up to this MODSEQ was seen */
	struct store_uid_list uids;     /* uids[seq - 1] */
	/* Expunged in the store, not yet announced: still numbered (their
	 * EXPUNGE waits for a command that may send it). */
	struct store_uid_list expunged;
	/* MODSEQs of this session's own flag changes since the last sync: those
	 * were answered by STORE itself and are not sent again. */
	uint64_t own_modseq[32];
	size_t n_own;
	bool own_overflow;
	/* SEARCHRES (RFC 5182): the UIDs saved by SEARCH ... SAVE ("$"). */
	struct store_uid_list saved;
	/* \Recent (IMAP4rev1): the UIDs this session was the first to see
	 * (store_mailbox_recent), ascending. */
	struct store_uid_list recent;
};

struct imap_state {
	enum imap_conn_state state;
	char *user;                     /* the account's address once logged in */
	long long account_id;
	long long quota_bytes;          /* 0: none */
	/* A LOGIN or AUTHENTICATE in progress: */
	char *tag;                      /* its tag, for the tagged reply */
	const char *command;            /* "LOGIN" or "AUTHENTICATE" */
	char method[32];                /* for the log: "LOGIN", "sasl:PLAIN" */
	struct sasl *sasl;              /* AUTHENTICATE: waiting for a client response */
	struct auth_pending *pending;   /* the credentials are being checked */

	/* The account's mail, from login on (used on the pool by one command at
	 * a time). */
	struct store *store;
	struct store_user *su;
	struct store_watch *watch;
	struct imap_selected *sel;

	/* ENABLE (RFC 5161) and implicit enabling */
	bool rev2;                      /* IMAP4rev2 */
	bool utf8;                      /* UTF8=ACCEPT (or IMAP4rev2): mailbox names in UTF-8 */
	bool condstore;                 /* CONDSTORE: MODSEQ in FETCH responses */
	bool qresync;                   /* QRESYNC: VANISHED instead of EXPUNGE */

	/* Input */
	struct imap_parser *parser;
	struct imap_cmd *cmd;           /* the command in progress */
	struct imap_job *running_job;   /* cmd is on the pool (else it waits for output to drain) */
	struct imap_literal_blob *literal_blob;   /* APPEND: the message literal being received */
	uint64_t literal_left;
	bool literal_discard;           /* the literal belongs to a refused command */
	bool literal_streamed;          /* ... goes to literal_blob */
	bool literal_bad;               /* ... was refused by the parser (a NUL) */
	size_t discard_lines;           /* a refused command goes on after a literal */

	/* IDLE (RFC 2177) */
	char *idle_tag;
	bool changed;                   /* the store said something changed */
	bool sync_running;              /* an IDLE update is on the pool */
	struct event *update_timer;     /* the next IDLE update, deferred */
	/* Idle sessions give their store handles back (the SQLite connections
	 * are most of a session's memory); the next job takes them again. */
	bool hibernating;
};

/* A message literal of APPEND, streamed into a blob as it arrived: the
 * parser's IMAP_ARG_EXTERNAL argument holds one (ext). */
struct imap_literal_blob {
	struct store_blob_writer *writer;   /* NULL when writing failed */
	uint64_t size;
	bool nul;                       /* held a NUL byte (only a literal8 may) */
	bool literal8;
	char *error;                    /* why writing failed */
};
void imap_literal_blob_free(struct imap_literal_blob **lb);

/* ---- commands ---- */

struct imap_cmd;
typedef void imap_store_fn(struct imap_cmd *c);
typedef void imap_loop_fn(struct session *s, struct imap_state *st, const struct imap_command *cmd,
			  bool uid);

/* States a command is valid in (bit per enum imap_conn_state). */
#define IMAP_IN_NOTAUTH (1u << IMAP_NOT_AUTHENTICATED)
#define IMAP_IN_AUTH    (1u << IMAP_AUTHENTICATED)
#define IMAP_IN_SELECTED (1u << IMAP_SELECTED)
#define IMAP_IN_LOGGED  (IMAP_IN_AUTH | IMAP_IN_SELECTED)
#define IMAP_IN_ANY     (IMAP_IN_NOTAUTH | IMAP_IN_LOGGED)

/* Flags of a command */
#define IMAP_CMD_UID        0x01u   /* may follow "UID" */
#define IMAP_CMD_NO_EXPUNGE 0x02u   /* no EXPUNGE may be sent while it runs (FETCH,
				       STORE, SEARCH without UID: RFC 9051 7.4.1) */
#define IMAP_CMD_POOL_LOGGED 0x04u  /* has both: loop before login, run after (NOOP) */

struct imap_command_def {
	const char *name;
	unsigned states;
	unsigned flags;
	imap_loop_fn *loop;             /* runs on the loop, or */
	imap_store_fn *run;             /* runs on the pool */
};

/* A store command in progress. */
struct imap_cmd {
	struct imap_state *st;
	const struct config *cfg;
	const struct imap_command_def *def;
	imap_store_fn *run;             /* def->run, or an internal job's */
	const char *session_id;         /* for log lines */
	char *tag;
	const char *name;               /* the command's name as the table spells it */
	bool uid;                       /* UID FETCH, UID SEARCH, ... */
	const struct imap_arg *args;    /* after the name (after "UID x" too) */
	size_t count;
	struct buf out;                 /* untagged responses, then the tagged line */
	/* The tagged result */
	const char *result;             /* "OK", "NO", "BAD"; NULL until set */
	struct buf text;                /* "[CODE] text" after the result */
	/* Run again once out is written (large outputs); state in ctx. */
	bool more;
	void *ctx;
	void (*ctx_free)(void *ctx);
	/* Close the session after the reply (LOGOUT of a broken session). */
	bool close;
	/* After the command: the selected mailbox may need a sync without
	 * expunges (set by the engine from IMAP_CMD_NO_EXPUNGE). */
	bool no_expunge;
	bool no_sync;                   /* the command did its own (SELECT) */
};

/* The tagged result. The text is printf-like; a response code goes first,
 * with its brackets: imap_no(c, "[TRYCREATE] No such mailbox"). */
void imap_ok(struct imap_cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void imap_no(struct imap_cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void imap_bad(struct imap_cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* NO with the response code of the store's last error on this user, then
 * the error text (freed). */
void imap_no_store(struct imap_cmd *c, const char *what, char *error);

/* The tables of the command families (imap_session.c merges them). */
extern const struct imap_command_def imap_cmds_any[];      /* cmd_any.c */
extern const struct imap_command_def imap_cmds_auth[];     /* imap_auth.c */
extern const struct imap_command_def imap_cmds_mailbox[];  /* cmd_mailbox.c */
extern const struct imap_command_def imap_cmds_select[];   /* cmd_select.c */
extern const struct imap_command_def imap_cmds_fetch[];    /* cmd_fetch.c */
extern const struct imap_command_def imap_cmds_store[];    /* cmd_store.c */
extern const struct imap_command_def imap_cmds_copy[];     /* cmd_copy.c */
extern const struct imap_command_def imap_cmds_append[];   /* cmd_append.c */
extern const struct imap_command_def imap_cmds_idle[];     /* cmd_idle.c */
extern const struct imap_command_def imap_cmds_search[];   /* cmd_search.c */
extern const struct imap_command_def imap_cmds_quota[];    /* cmd_quota.c */
extern const struct imap_command_def imap_cmds_compress[]; /* cmd_compress.c */

/* ---- imap_session.c: for loop commands ---- */

/* The capability list for the session's state, space-separated, into out. */
void imap_capabilities(const struct session *s, struct buf *out);
/* Whether LOGIN and AUTHENTICATE are allowed: only under TLS. */
bool imap_login_allowed(const struct session *s);
/* Run work on the pool with input paused, as a store command without a tag
 * would (login's store opening, IDLE updates): fn then done on the loop. */
void imap_run_internal(struct session *s, imap_store_fn *fn,
		       void (*done)(struct session *s, struct imap_cmd *c), void *ctx);
/* The account is logged in (after the auth service said yes): open its mail,
 * then answer "tag OK [CAPABILITY ...] what completed". */
void imap_login_complete(struct session *s, long long account_id, const char *address,
			 long long quota_bytes);

/* IDLE: start (updates, then hibernation), run an update now if the store
 * changed (imap_session.c), and a line while idling (cmd_idle.c: "DONE"). */
void imap_idle_start(struct session *s);
void imap_idle_update(struct session *s);
void imap_idle_line(struct session *s, struct imap_state *st, const char *line, size_t len);

/* ---- imap_auth.c ---- */

void imap_auth_response(struct session *s, struct imap_state *st, const char *line, size_t len);
void imap_auth_response_too_long(struct session *s, struct imap_state *st);
void imap_auth_abort(struct imap_state *st);

/* ---- imap_sync.c: the selected mailbox ---- */

/* Select name (on the pool): fills st->sel, appends the SELECT/EXAMINE
 * untagged responses. Returns -1 after setting the NO result. */
int imap_select(struct imap_cmd *c, const char *name, bool readonly);
/* Leave the selected mailbox (no responses). */
void imap_unselect(struct imap_state *st);
/* Bring the view up to date with the store and append the untagged responses
 * (EXISTS, EXPUNGE or VANISHED, FETCH FLAGS) to c->out; expunges only when
 * allowed. Returns -1 when the mailbox has gone (the session must end). */
int imap_sync(struct imap_cmd *c, bool allow_expunge);
/* On the pool: close the session's store handles, keeping the view of the
 * selected mailbox (its UIDs, MODSEQ, name). */
void imap_hibernate(struct imap_state *st);
/* On the pool: open them again (the selected mailbox by name, checked by
 * UIDVALIDITY). Returns -1 when the store or the mailbox is gone. */
int imap_wake(struct imap_cmd *c);
/* Whether uid is \Recent for this session (never for IMAP4rev2, which has
 * no \Recent). */
bool imap_is_recent(const struct imap_state *st, uint32_t uid);
/* Note a MODSEQ given by this session's own STORE (not echoed by sync). */
void imap_sync_own(struct imap_selected *sel, uint64_t modseq);
/* Remove uids (expunged by this session) from the view, appending EXPUNGE or
 * VANISHED responses to out. */
void imap_sync_expunged(struct imap_cmd *c, const struct store_uid_list *uids);

/* A sequence set argument (or "$") against the selected mailbox as a sorted
 * UID list (c->uid: UIDs, else sequence numbers). Returns false after BAD. */
struct imap_seqset;
bool imap_cmd_uidset(struct imap_cmd *c, const struct imap_arg *a, struct store_uid_list *out);

/* ---- imap_write.c: response syntax ---- */

/* A string as an atom when it can be, else quoted, else a literal. */
void imap_write_astring(struct buf *out, const char *s, size_t len);
/* A string as quoted when it can be, else a literal; NIL for NULL. */
void imap_write_nstring(struct buf *out, const char *s, size_t len);
/* A literal "{n}\r\n" + bytes (literal8 "~{n}" when binary). */
void imap_write_literal(struct buf *out, const void *data, size_t len, bool binary);
/* A mailbox name as the client reads it: UTF-8 when it enabled UTF8=ACCEPT
 * or IMAP4rev2, else modified UTF-7; as an astring. */
void imap_write_mailbox(struct buf *out, const struct imap_state *st, const char *name);
/* A mailbox name the client sent, in the store's UTF-8 with '/' as the
 * separator. "INBOX" in any case is INBOX. Returns NULL after BAD/NO for a
 * name that is not valid (bad modified UTF-7). Free the result. */
char *imap_mailbox_arg(struct imap_cmd *c, const struct imap_arg *a);
/* "(\Seen \Flagged $Junk)", with \Recent when recent. */
void imap_write_flags(struct buf *out, unsigned flags, const char *const *keywords, size_t n,
		      bool recent);
/* Flags (STORE, APPEND): one flag-list argument, or count flag atoms.
 * System flags into *flags_r, keywords into *keywords_r (a malloc'd array
 * pointing into the arguments; free it). Returns false after BAD/NO. */
bool imap_parse_flags(struct imap_cmd *c, const struct imap_arg *args, size_t count,
		      unsigned *flags_r, const char ***keywords_r, size_t *n_r);
/* RFC 8474 EMAILID of a message: "M" and 24 hex digits of its content (the
 * blob and the store's prefix), so that every copy has the same id. */
#define IMAP_EMAILID_LEN 25
void imap_emailid(const struct store_message *m, char out[IMAP_EMAILID_LEN + 1]);
/* "17-Jul-1996 02:44:25 -0700" of INTERNALDATE, in UTC. */
void imap_write_datetime(struct buf *out, time_t t);
bool imap_parse_datetime(const char *s, time_t *t_r);

#endif
