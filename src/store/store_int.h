/* The embedded backend's internals, shared by the files of src/store/.
 * Nothing outside src/store/ (and its unit tests) includes this. */
#ifndef SUREL_STORE_STORE_INT_H
#define SUREL_STORE_STORE_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "account/db.h"   /* the general statement helpers: db_prepare, db_step, ... */
#include "core/buf.h"
#include "core/mutf7.h"
#include "store/store.h"

#define STORE_BLOBS_DB   "blobs.db"
#define STORE_BLOBS_DIR  "blobs"
#define STORE_BLOBS_TMP  "blobs/tmp"
#define STORE_LOCK_FILE  "blobs.lock"
#define STORE_USERS_DIR  "users"
#define STORE_INDEX_DB   "index.db"
#define STORE_CHANGES    "changes"

/* Raw header blocks larger than this are not cached (FETCH reads the blob). */
#define STORE_HEADER_CACHE_MAX (64 * 1024)

struct store {
	char *data_dir;
	sqlite3 *blobs;          /* DATA_DIR/blobs.db: reference counts */
	int lock_fd;             /* DATA_DIR/blobs.lock: flock, see blob_refs_lock() */
	bool chown;              /* give created files to uid/gid */
	uid_t uid;
	gid_t gid;
};

struct store_user {
	struct store *store;
	long long id;
	char *dir;               /* DATA_DIR/users/<id> */
	sqlite3 *db;             /* its index.db */
	int changes_fd;          /* its changes file, written after every commit */
	enum store_error last_error;
};

struct store_mailbox {
	struct store_user *user;
	long long id;
	uint32_t uidvalidity;
};

/* ---- store.c: errors, paths, ownership, fault injection ---- */

/* Record kind on u and set *error_r from fmt; returns -1. */
int store_fail(struct store_user *u, enum store_error kind, char **error_r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* After a db_* helper failed with *error_r set: classify the SQLite error
 * (busy: TEMP, else INTERNAL), record it; returns -1. */
int store_db_fail(struct store_user *u, char **error_r);
/* Give path to server.user when the store was opened as root by the CLI. */
int store_own(struct store *s, const char *path, char **error_r);
/* mkdir path (mode 0750) if missing, owned; fsync its parent when made. */
int store_mkdir(struct store *s, const char *path, char **error_r);
int store_fsync_dir(const char *path, char **error_r);
/* Fault injection for the crash tests: when SUREL_STORE_FAULT names point,
 * the process _exit()s at once (no cleanup, as a crash or kill -9). */
void store_fault_point(const char *point);
/* The user's index path etc. */
char *store_user_dir(const struct store *s, long long id);
/* Tell watchers of u that something changed (after a commit). */
void store_notify(struct store_user *u);

/* ---- store_db.c: opening the databases ---- */

int store_db_open_index(const char *path, sqlite3 **db_r, bool *created_r, char **error_r);
/* Tests: an index migrated up to this version only (an older schema, to
 * test the migrations after it). */
int store_db_open_index_at(const char *path, int version, sqlite3 **db_r, char **error_r);
int store_db_open_blobs(const char *path, sqlite3 **db_r, char **error_r);
/* Bind a blob (may be NULL: SQL NULL) at idx. */
int store_db_bind_blob(sqlite3_stmt *st, int idx, const void *p, size_t len, char **error_r);
/* sqlite3_column_text as "" for NULL. */
const char *store_db_text(sqlite3_stmt *st, int col);

/* ---- blob.c: files and reference counts ---- */

/* blobs/ab/cd/<id> */
char *blob_path(const struct store *s, const char *id);
bool blob_id_valid(const char *id);
/* The reference-count window lock (see docs/storage.md "Durability"): a
 * writer holds it shared from before it changes a reference count until its
 * index commit is done; store check holds it exclusively. */
int blob_refs_lock(struct store *s, bool exclusive, char **error_r);
void blob_refs_unlock(struct store *s);
/* One more user index refers to each of ids (committed before the index
 * commit). Fails with TEMP when a blob has been collected meanwhile. */
int blob_ref(struct store *s, const char *const *ids, size_t n, char **error_r);
/* One fewer (after the index commit). */
int blob_unref(struct store *s, const char *const *ids, size_t n, char **error_r);

/* ---- store_meta.c: what the index caches of a message ---- */

struct store_meta {
	char *envelope, *bodystructure, *body;
	struct buf header;           /* raw header block, empty when too large */
	bool header_cached;
	char *from, *to, *cc, *bcc, *subject, *message_id;
	time_t sent_date;
	struct buf fts_headers, fts_body;
};
/* Parse the message (MIME) and fill m. */
void store_meta_build(const void *data, size_t len, struct store_meta *m);
void store_meta_clear(struct store_meta *m);
/* The blob's metadata, parsed once and kept with the blob (a delivery to
 * many users parses it once). */
int store_blob_meta(struct store_blob *b, const struct store_meta **meta_r, char **error_r);
/* The metadata of the message prefix + blob: the blob's own (cached) when
 * there is no prefix, else parsed into *own (store_meta_clear() it) and
 * *meta_r = own. */
int store_message_meta(struct store_blob *b, const void *prefix, size_t prefix_len,
		       struct store_meta *own, const struct store_meta **meta_r, char **error_r);
/* The whole message of m (prefix + blob), for the exporters. */
int store_message_bytes(struct store *s, const struct store_message *m, struct buf *out,
			char **error_r);

/* ---- store_date.c ---- */

/* RFC 5322 date-time (with the obsolete forms) to Unix time; -1 when invalid. */
time_t store_parse_rfc5322_date(const char *s);
/* asctime form of an mbox "From " line: "Sat Jan  3 01:05:34 1996" (UTC). */
time_t store_parse_asctime(const char *s, size_t len);
void store_format_asctime(time_t t, struct buf *out);

/* ---- store_mailbox.c ---- */

/* Check and normalise a mailbox name (INBOX spelt "INBOX"). */
int store_mailbox_name_normalize(const char *name, char **norm_r, char **error_r);
/* Inside a write transaction: a new mailbox row; returns its id. */
int mailbox_insert(struct store_user *u, const char *name, enum store_special_use use,
		   long long *id_r, char **error_r);
/* A fresh UIDVALIDITY: the time, but above every one given before. */
int mailbox_new_uidvalidity(struct store_user *u, uint32_t *uidvalidity_r, char **error_r);
/* Default mailboxes of a new account. */
int mailbox_create_defaults(struct store_user *u, char **error_r);

/* ---- store_message.c / store_flags.c ---- */

/* Within a write transaction: bump the mailbox's HIGHESTMODSEQ and return the
 * new value (EXPUNGED when the mailbox is gone). */
int mailbox_next_modseq(struct store_mailbox *mb, uint64_t *modseq_r, char **error_r);
/* Normalise a UID set: sorted, merged ranges (caller frees *ranges_r). NULL
 * means everything. */
void uidset_normalize(const struct store_uidset *in, struct store_uid_range **ranges_r,
		      size_t *count_r);
void uid_list_push(struct store_uid_list *l, uint32_t uid);
/* Expunge the message rows with these ids of mb (write transaction open):
 * log them for QRESYNC with modseq, drop content references; content blobs
 * whose last reference went are pushed to unref (to blob_unref after commit). */
int messages_delete(struct store_mailbox *mb, const long long *ids, const uint32_t *uids,
		    size_t n, uint64_t modseq, char ***unref, size_t *n_unref, char **error_r);
/* Keyword ids for names, created when missing. */
int keywords_ids(struct store_user *u, const char *const *names, size_t n, long long **ids_r,
		 char **error_r);
/* Append with explicit UIDs (import): uid 0 assigns the next. */
struct store_append_uid {
	const struct store_append *msg;
	uint32_t uid;
};
int store_append_uids(struct store_mailbox *mb, const struct store_append_uid *msgs, size_t n,
		      long long quota_bytes, uint32_t *uids_r, char **error_r);
/* Import: take a source's UIDVALIDITY for a mailbox that never held a
 * message (UIDNEXT still 1); 0 when done, 1 when refused, -1 error. */
int mailbox_adopt_uidvalidity(struct store_mailbox *mb, uint32_t uidvalidity, char **error_r);
/* Import: UIDNEXT = MAX(UIDNEXT, uidnext) (the source's next UID). */
int mailbox_raise_uidnext(struct store_mailbox *mb, uint32_t uidnext, char **error_r);

/* ---- fts.c ---- */

int fts_insert(struct store_user *u, long long content_id, const struct store_meta *m,
	       char **error_r);
int fts_delete(struct store_user *u, long long content_id, char **error_r);

/* ---- store_io.c: shared by the importers and exporters ---- */

/* A blob writer holding the bytes with LF lines turned into CRLF (bare CR
 * and existing CRLF are kept), to be committed (store_blob_commit_many). */
int store_blob_from_unix(struct store *s, const void *data, size_t len,
			 struct store_blob_writer **w_r, char **error_r);
/* The message with CRLF turned into LF. */
void store_crlf_to_lf(const void *data, size_t len, struct buf *out);

/* Messages gathered for one mailbox and appended in batches: the blobs of a
 * batch committed together, then one append transaction. */
struct import_batch;
/* Create the mailbox when missing, then open it. */
int import_begin(struct store_user *u, const char *name, struct import_batch **b_r,
		 char **error_r);
struct store_mailbox *import_mailbox(struct import_batch *b);
/* Add one message (writer: taken over, committed with the batch) with its
 * flags, keywords and UID (0: the next one). */
int import_add(struct import_batch *b, struct store_blob_writer *writer, unsigned flags,
	       const char *const *keywords, size_t n_keywords, time_t internaldate, uint32_t uid,
	       char **error_r);
/* Append what is gathered now. */
int import_flush(struct import_batch *b, char **error_r);
/* Append what is left; frees b. */
int import_end(struct import_batch **b, char **error_r);
void import_abort(struct import_batch **b);

/* ---- maildir.c / mbox.c ---- */

int maildir_import(struct store_user *u, const char *path, const char *into,
		   struct store_import_report *r, char **error_r);
int mbox_import(struct store_user *u, const char *path, const char *into,
		struct store_import_report *r, char **error_r);
int maildir_export(struct store_user *u, const char *path, const char *only, size_t *n_r,
		   char **error_r);
int mbox_export(struct store_user *u, const char *path, const char *only, size_t *n_r,
		char **error_r);

#endif
