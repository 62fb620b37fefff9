/* The mail store: mailboxes, messages, flags, MODSEQ, change notification,
 * full-text search and quota, for IMAP4rev2 with CONDSTORE/QRESYNC and
 * UIDPLUS, POP3 and JMAP. This is the only header the protocols include; the
 * embedded backend behind it (SQLite indexes per user, a content-addressed
 * blob store, inotify) is described in docs/storage.md, and nothing of it shows
 * here, so that another backend can be added behind the same calls.
 *
 *   struct store *s;            store_open_config(cfg, &s, &error)
 *   struct store_user *u;       store_user_open(s, account.id, &u, &error)   one per session
 *   struct store_mailbox *mb;   store_mailbox_open(u, "INBOX", &mb, &error)  the selected mailbox
 *
 * Conventions:
 * - Every fallible call returns 0, or -1 with *error_r set (malloc'd, one
 *   line). Calls on a user or mailbox also record the kind of the failure:
 *   store_user_last_error() maps it to an IMAP response code.
 * - Mailbox names are UTF-8 with '/' as the hierarchy separator ("Work/2026");
 *   "INBOX" is case-insensitive and always spelt "INBOX". The protocols convert
 *   (IMAP: modified UTF-7 for old clients, its own separator).
 * - Calls block on disk I/O (fsync): a protocol that must not block its loop
 *   runs them on the thread pool. A handle is used by one thread at a time;
 *   several processes may open the same user at once.
 * - Results are plain structs owned by the caller (free with the matching
 *   *_free) or, for callbacks, valid only during the callback. */
#ifndef SUREL_STORE_STORE_H
#define SUREL_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct config;
struct event_base;
struct store;
struct store_user;
struct store_mailbox;
struct store_blob;
struct store_blob_writer;
struct store_watch;

/* ---- errors ---- */

enum store_error {
	STORE_ERR_NONE = 0,
	STORE_ERR_NONEXISTENT,    /* no such mailbox or message: IMAP [NONEXISTENT] / [TRYCREATE] */
	STORE_ERR_ALREADYEXISTS,  /* [ALREADYEXISTS] */
	STORE_ERR_HASCHILDREN,    /* DELETE of a mailbox with children: [HASCHILDREN] */
	STORE_ERR_CANNOT,         /* never possible: bad name, delete INBOX, rename into itself: [CANNOT] */
	STORE_ERR_OVERQUOTA,      /* the account's quota would be exceeded: [OVERQUOTA] */
	STORE_ERR_EXPUNGED,       /* the mailbox was deleted while selected: [EXPUNGEISSUED]/BYE */
	STORE_ERR_TEMP,           /* busy or temporarily impossible, retry: [UNAVAILABLE] */
	STORE_ERR_INTERNAL,       /* I/O error, corruption: [SERVERBUG] */
};
/* Kind of the last failed call on u (or on one of its mailboxes). */
enum store_error store_user_last_error(const struct store_user *u);
/* "NONEXISTENT", "ALREADYEXISTS", ... as IMAP spells the response code. */
const char *store_error_name(enum store_error e);

/* ---- the store (the data directory) ---- */

/* Open the store in data_dir (creating blobs/ and users/ when missing).
 * Files are created with the process's own owner. */
int store_open(const char *data_dir, struct store **store_r, char **error_r);
/* The same for cfg->server_data_dir; when running as root (the CLI), every
 * file and directory the store creates is given to server.user. */
int store_open_config(const struct config *cfg, struct store **store_r, char **error_r);
void store_close(struct store **store);

/* ---- blobs: message bodies, stored once ----
 * A writer receives a message as it arrives (SMTP DATA, IMAP APPEND literal)
 * and commits it durably; the blob it returns can be appended to any number
 * of users' mailboxes. The store keeps the bytes exactly (the protocols give
 * CRLF lines). An unreferenced blob is collected after a grace period
 * (store_gc), so a delivery must append it within that time. */
int store_blob_begin(struct store *s, struct store_blob_writer **w_r, char **error_r);
int store_blob_write(struct store_blob_writer *w, const void *data, size_t len, char **error_r);
/* fsync, content address, move into place. Frees the writer either way. */
int store_blob_commit(struct store_blob_writer **w, struct store_blob **blob_r, char **error_r);
/* Commit n writers at once (MULTIAPPEND, import): the same promise as n
 * store_blob_commit calls, with one sync of the file system for all the
 * files and one for all their directories instead of fsyncs per blob. All
 * or none: blobs_r (n entries) gets every blob, or none when it fails. Frees
 * every writer either way. */
int store_blob_commit_many(struct store_blob_writer **ws, size_t n, struct store_blob **blobs_r,
			   char **error_r);
void store_blob_abort(struct store_blob_writer **w);
/* An existing blob by id (from store_message.blob_id). */
int store_blob_open(struct store *s, const char *blob_id, struct store_blob **blob_r,
		    char **error_r);
const char *store_blob_id(const struct store_blob *b);     /* 64 hex digits (SHA-256) */
uint64_t store_blob_size(const struct store_blob *b);
/* The bytes (mapped read-only, valid until store_blob_free). */
int store_blob_data(struct store_blob *b, const void **data_r, size_t *len_r, char **error_r);
void store_blob_free(struct store_blob **b);

/* ---- users ---- */

/* Open (creating on first use, with INBOX, Drafts, Sent, Trash, Junk and
 * Archive) the mail of the account with this directory id. */
int store_user_open(struct store *s, long long account_id, struct store_user **u_r,
		    char **error_r);
void store_user_close(struct store_user **u);
/* Remove an account's mail (its index, its references to blobs). */
int store_user_delete(struct store *s, long long account_id, char **error_r);

struct store_quota {
	uint64_t bytes;      /* sum of the sizes of every message in every mailbox */
	uint64_t messages;
};
int store_quota_usage(struct store_user *u, struct store_quota *q, char **error_r);

/* ---- mailboxes ---- */

enum store_special_use {   /* RFC 6154 */
	STORE_SPECIAL_NONE = 0,
	STORE_SPECIAL_ALL,
	STORE_SPECIAL_ARCHIVE,
	STORE_SPECIAL_DRAFTS,
	STORE_SPECIAL_FLAGGED,
	STORE_SPECIAL_JUNK,
	STORE_SPECIAL_SENT,
	STORE_SPECIAL_TRASH,
};
/* "\\Sent", ... ; NULL for NONE. */
const char *store_special_use_name(enum store_special_use use);
/* From "\\Sent" (any case); -1 when unknown. */
int store_special_use_parse(const char *name);

struct store_mailbox_info {
	/* Stays with the mailbox through renames and is never given to another
	 * mailbox of the account (IMAP MAILBOXID, RFC 8474). */
	long long id;
	char *name;
	enum store_special_use special_use;
	bool subscribed;
	bool has_children;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	uint32_t messages;   /* the counts are kept as messages change: no scan */
	uint32_t unseen;     /* without \Seen */
	uint32_t deleted;    /* with \Deleted */
	uint32_t recent;     /* not yet claimed as \Recent by a session (STATUS RECENT) */
	uint64_t size;       /* sum of message sizes (STATUS SIZE) */
};
struct store_mailbox_list {
	struct store_mailbox_info *items;   /* sorted by name (bytewise, INBOX first) */
	size_t count;
};
void store_mailbox_list_free(struct store_mailbox_list *list);
/* Every mailbox with its status. */
int store_mailbox_list(struct store_user *u, struct store_mailbox_list *list_r, char **error_r);
/* Names subscribed to, existing or not (LSUB, LIST (SUBSCRIBED)). */
int store_subscriptions(struct store_user *u, char ***names_r, size_t *count_r, char **error_r);
void store_names_free(char ***names, size_t count);

/* Create name, and any missing parent ("a/b/c" creates "a" and "a/b"). */
int store_mailbox_create(struct store_user *u, const char *name, enum store_special_use use,
			 char **error_r);
/* Refused for INBOX (CANNOT) and for a mailbox with children (HASCHILDREN).
 * Its messages are expunged; its subscription stays. */
int store_mailbox_delete(struct store_user *u, const char *name, char **error_r);
/* Rename a mailbox and its children; UIDVALIDITY and UIDs are kept.
 * Renaming INBOX moves it, with its messages, and makes a new empty INBOX.
 * Subscriptions follow the names. */
int store_mailbox_rename(struct store_user *u, const char *from, const char *to, char **error_r);
int store_mailbox_subscribe(struct store_user *u, const char *name, bool subscribe,
			    char **error_r);
int store_mailbox_set_special_use(struct store_user *u, const char *name,
				  enum store_special_use use, char **error_r);

/* A mailbox handle: stays on the same mailbox when it is renamed; once it is
 * deleted calls fail with STORE_ERR_EXPUNGED. */
int store_mailbox_open(struct store_user *u, const char *name, struct store_mailbox **mb_r,
		       char **error_r);
void store_mailbox_close(struct store_mailbox **mb);
/* Fresh status of the mailbox (name: its current name). */
int store_mailbox_status(struct store_mailbox *mb, struct store_mailbox_info *info_r,
			 char **error_r);
void store_mailbox_info_clear(struct store_mailbox_info *info);
/* \Recent (RFC 3501 2.3.2): claim for the calling session every message
 * with a UID at or above the mailbox's recent mark and below UIDNEXT, and
 * move the mark to UIDNEXT, in one transaction, so that each message is
 * recent in exactly one session (across processes). *first_r gets the old
 * mark and *next_r the new one: UIDs in [*first_r, *next_r) are recent for
 * this session. A read-only session (EXAMINE) does not claim: it passes
 * claim = false and gets the same range without moving the mark. */
int store_mailbox_recent(struct store_mailbox *mb, bool claim, uint32_t *first_r,
			 uint32_t *next_r, char **error_r);
/* The lowest UID without \Seen (SELECT's [UNSEEN n]); *uid_r = 0 when every
 * message is seen. One index lookup, whatever the size of the mailbox. */
int store_mailbox_first_unseen(struct store_mailbox *mb, uint32_t *uid_r, char **error_r);

/* ---- messages ---- */

/* System flags. \Recent is not a flag of the message: see store_mailbox_recent(). */
#define STORE_FLAG_SEEN      0x01u
#define STORE_FLAG_ANSWERED  0x02u
#define STORE_FLAG_FLAGGED   0x04u
#define STORE_FLAG_DELETED   0x08u
#define STORE_FLAG_DRAFT     0x10u
#define STORE_FLAGS_ALL      0x1fu

/* Keywords are IMAP atoms ($Forwarded, $Junk, NonJunk, ...), compared
 * without regard to ASCII case; at most STORE_KEYWORDS_MAX per message. */
#define STORE_KEYWORDS_MAX 64
bool store_keyword_valid(const char *keyword);

struct store_uid_range {
	uint32_t lo, hi;     /* inclusive; hi = UINT32_MAX for IMAP's "*" */
};
/* A UID set; NULL where one is accepted means every message. */
struct store_uidset {
	const struct store_uid_range *ranges;
	size_t count;
};

struct store_uid_list {
	uint32_t *uids;      /* ascending unless said otherwise */
	size_t count, cap;
};
void store_uid_list_free(struct store_uid_list *list);

struct store_append {
	struct store_blob *blob;
	unsigned flags;                   /* STORE_FLAG_* */
	const char *const *keywords;
	size_t n_keywords;
	time_t internaldate;              /* 0: now */
	/* Bytes put before the blob for this message only (local delivery's
	 * "Return-Path:" and "Delivered-To:" lines, CRLF-ended): the message
	 * is prefix + blob for everything the store serves (size, ENVELOPE,
	 * BODYSTRUCTURE, header, search, export), while the blob stays one
	 * file shared by every recipient. NULL/0: none. */
	const char *prefix;
	size_t prefix_len;
	/* Delivery retried after a crash: when the account already holds this
	 * blob with this prefix (in any mailbox), append nothing (uids_r gets
	 * 0). The prefix names the recipient and the blob holds the queue id,
	 * so the pair identifies one delivery. */
	bool once;
};
/* Append n messages atomically (MULTIAPPEND): all or none. quota_bytes is
 * the account's limit (account_info.quota_bytes, 0 = none): beyond it the
 * call fails with STORE_ERR_OVERQUOTA. Returns when the messages are on disk.
 * uids_r (n entries, may be NULL) gets their UIDs, for APPENDUID. */
int store_append(struct store_mailbox *mb, const struct store_append *msgs, size_t n,
		 long long quota_bytes, uint32_t *uids_r, char **error_r);

/* What store_fetch() loads besides UID, MODSEQ, flags, dates, size, blob id
 * and prefix. */
#define STORE_FETCH_ENVELOPE      0x01u
#define STORE_FETCH_BODYSTRUCTURE 0x02u   /* extended BODYSTRUCTURE */
#define STORE_FETCH_BODY          0x04u   /* non-extended BODY */
#define STORE_FETCH_HEADER        0x08u   /* raw header block */
#define STORE_FETCH_SEARCH        0x10u   /* decoded header fields for SEARCH */
/* The caller needs neither size, blob id nor prefix (FETCH FLAGS, UID,
 * MODSEQ, INTERNALDATE): they may be left 0, NULL and "" (prefix_len 0),
 * which spares reading the messages' cached metadata; the fields asked
 * for by the bits above are still loaded. */
#define STORE_FETCH_NO_CONTENT    0x20u

struct store_message {
	uint32_t uid;
	uint64_t modseq;
	unsigned flags;
	const char *const *keywords;
	size_t n_keywords;
	time_t internaldate;
	time_t savedate;
	uint64_t size;                    /* RFC822.SIZE: prefix_len + the blob's size */
	const char *blob_id;              /* with prefix, a stable EMAILID */
	/* The message's bytes are prefix (prefix_len bytes, often 0) followed
	 * by the blob's (store_blob_open + store_blob_data). */
	const char *prefix;
	size_t prefix_len;
	/* NULL unless asked for */
	const char *envelope;             /* what follows "ENVELOPE " */
	const char *bodystructure;
	const char *body;
	const char *header;               /* header block with its empty line; NULL when */
	size_t header_len;                /* larger than the cache keeps: read the blob */
	const char *from, *to, *cc, *bcc, *subject, *message_id;  /* decoded UTF-8, "" absent */
	time_t sent_date;                 /* Date: field, 0 when absent or unparsable */
};
/* Call cb for every message in set, by ascending UID; a non-zero return from
 * cb stops the walk and is returned. */
int store_fetch(struct store_mailbox *mb, const struct store_uidset *set, unsigned what,
		int (*cb)(void *ctx, const struct store_message *m), void *ctx, char **error_r);
/* Every UID in the mailbox, ascending (SELECT's sequence numbers). */
int store_mailbox_uids(struct store_mailbox *mb, struct store_uid_list *uids_r, char **error_r);

enum store_flag_op { STORE_FLAGS_ADD, STORE_FLAGS_REMOVE, STORE_FLAGS_REPLACE };
struct store_flag_change {
	enum store_flag_op op;
	unsigned flags;
	const char *const *keywords;
	size_t n_keywords;
	uint64_t unchangedsince;          /* CONDSTORE; 0 = unconditional */
};
/* Change the flags of the messages in set. Messages whose flags really
 * change get a new MODSEQ (one per call) and are passed to changed (may be
 * NULL) with their new state; those whose MODSEQ is above unchangedsince
 * are left alone and listed in modified_r (may be NULL), for [MODIFIED]. */
int store_set_flags(struct store_mailbox *mb, const struct store_uidset *set,
		    const struct store_flag_change *change,
		    int (*changed)(void *ctx, const struct store_message *m), void *ctx,
		    struct store_uid_list *modified_r, char **error_r);

/* Expunge the messages with \Deleted (only those in set when set is not
 * NULL: UID EXPUNGE). expunged_r (may be NULL) gets their UIDs. */
int store_expunge(struct store_mailbox *mb, const struct store_uidset *set,
		  struct store_uid_list *expunged_r, char **error_r);

/* COPY / MOVE: the messages of set in src, by ascending UID, get new UIDs in
 * dst, in the same order (COPYUID: uidvalidity, src_uids, dst_uids). MOVE
 * expunges them from src (with a new MODSEQ there) in the same transaction.
 * src and dst must belong to the same user. */
struct store_copy_result {
	uint32_t uidvalidity;             /* of dst */
	struct store_uid_list src_uids, dst_uids;
};
void store_copy_result_free(struct store_copy_result *r);
int store_copy(struct store_mailbox *src, const struct store_uidset *set,
	       struct store_mailbox *dst, long long quota_bytes,
	       struct store_copy_result *result_r, char **error_r);
int store_move(struct store_mailbox *src, const struct store_uidset *set,
	       struct store_mailbox *dst, struct store_copy_result *result_r, char **error_r);

/* CONDSTORE/QRESYNC/JMAP: every message whose MODSEQ is above modseq (with
 * its flags, through cb) and the UIDs expunged since then (vanished_r). */
int store_changes_since(struct store_mailbox *mb, uint64_t modseq,
			int (*cb)(void *ctx, const struct store_message *m), void *ctx,
			struct store_uid_list *vanished_r, char **error_r);

/* ---- full-text search (decoded header values and text parts) ---- */

enum store_search_field {
	STORE_SEARCH_TEXT,      /* header values and body */
	STORE_SEARCH_BODY,      /* body text only */
	STORE_SEARCH_HEADERS,   /* From, To, Cc, Bcc, Subject */
};
/* The UIDs of the messages whose words start with the words of query, in
 * order (a phrase; case and diacritics are ignored). */
int store_search_text(struct store_mailbox *mb, enum store_search_field field, const char *query,
		      struct store_uid_list *uids_r, char **error_r);

/* ---- change notification ---- */

/* cb runs on base's loop within a second of any change to u's mailboxes by
 * any process (this one included): appends, expunges, flag changes,
 * mailbox creation, deletion and rename. It says only that something changed:
 * the session asks store_changes_since() / store_mailbox_status() what. */
int store_user_watch(struct store_user *u, struct event_base *base,
		     void (*cb)(void *ctx), void *ctx, struct store_watch **w_r, char **error_r);
void store_watch_free(struct store_watch **w);

/* ---- maintenance (surel store, surel mailbox) ---- */

/* Remove unreferenced blobs whose last reference went more than grace
 * seconds ago. *collected_r (may be NULL) = how many. */
int store_gc(struct store *s, long grace, size_t *collected_r, char **error_r);

struct store_check_report {
	size_t users;             /* user indexes checked */
	size_t blobs;             /* blob files seen */
	size_t missing_blobs;     /* messages whose blob is gone (repair drops them) */
	size_t refcount_fixed;    /* blobs whose reference count was wrong */
	size_t orphans;           /* blob files without a reference, older than grace */
	size_t temp_files;        /* stale files in blobs/tmp */
	size_t index_fixed;       /* UIDNEXT, HIGHESTMODSEQ, a mailbox's counts or recent
				   * mark, quota or search index put right */
	size_t collected;         /* blobs removed */
};
/* Verify every user index against the blob store: each message has its blob,
 * reference counts match the indexes, UIDNEXT/HIGHESTMODSEQ, each mailbox's
 * counts and the quota counters agree with the messages, no orphan or stale temporary file is left. With
 * repair, put right what is found and collect orphans older than grace
 * seconds. Problems are reported through log lines and the report. */
int store_check(struct store *s, bool repair, long grace, struct store_check_report *report_r,
		char **error_r);

struct store_import_report {
	size_t mailboxes;
	size_t messages;
	size_t uids_kept;         /* messages that kept their source UID */
	size_t skipped;           /* unreadable files */
};
/* Import a Maildir (cur/new/tmp, Maildir++ subfolders ".Sub.Folder",
 * dovecot-uidlist UIDs and UIDVALIDITY when the mailbox is empty, flags from
 * ":2,FRS", keywords through dovecot-keywords) or an mbox file or a
 * directory of *.mbox files (mboxrd quoting, Status/X-Status flags). into:
 * the mailbox for the top level (INBOX when NULL), subfolders under it
 * ("into/Sub/Folder"; without into just "Sub/Folder"). */
int store_import(struct store_user *u, const char *path, const char *into,
		 struct store_import_report *report_r, char **error_r);

enum store_export_format { STORE_EXPORT_MAILDIR, STORE_EXPORT_MBOX };
/* Export every mailbox (or only `only` when not NULL) to path: a Maildir++
 * tree with dovecot-uidlist and dovecot-keywords, or a directory of mboxrd
 * files NAME.mbox ("a/b" -> a/b.mbox). Lines are written with LF. */
int store_export(struct store_user *u, const char *path, enum store_export_format format,
		 const char *only, size_t *messages_r, char **error_r);

#endif
