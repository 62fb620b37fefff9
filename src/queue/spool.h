/* The spool: messages accepted by the SMTP server and not yet delivered,
 * in DATA_DIR/spool/ (the directory is made on first use, mode 0700).
 *
 * One message is two files named by its queue id (16 upper-case hex
 * digits: 8 of the receive time, 8 random):
 *
 *   ID.msg   the message as received, with our Received header first, CRLF
 *            line ends, byte for byte otherwise
 *   ID.env   its envelope, a small text file (below)
 *
 * Durability (the promise behind "250 2.0.0 Ok: queued as ID"): both are
 * written under temporary names (ID.msg.tmp, ID.env.tmp), fsync()ed,
 * renamed to their final names (the message first, the envelope last), and
 * the directory is fsync()ed, all before the 250 is sent. An entry exists
 * when its ID.env exists; an ID.msg without one is the leftover of a crash
 * before the 250 and is removed (spool_clean_leftovers()), as are .tmp files.
 * The queue runner delivers local recipients and removes the entry, or
 * leaves it with only its remote recipients (ID.dlv: see below).
 *
 * Group commit: a spool_committer (one per worker) batches the commits of
 * every message that finished while the previous batch was being synced,
 * on the worker's thread pool: one pass syncs all their files and the
 * directory once, and then answers all their sessions.
 *
 * Envelope format: UTF-8 text, one "key value" line each (the value is the
 * rest of the line; bytes below 0x20, 0x7f and '%' are written as %XX),
 * the first line "surel-envelope 1":
 *
 *   surel-envelope 1
 *   id 6650A1B2C3D4E5F6
 *   received 1717000000            unix time
 *   client-ip 192.0.2.7
 *   client-helo mx.example.net
 *   protocol ESMTPS                RFC 3848 name: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA
 *   tls TLSv1.3 TLS_AES_256_GCM_SHA384      (only with TLS)
 *   auth alice@example.org         (only when authenticated)
 *   sender alice@example.org       empty value: the null reverse-path <>
 *   size 1234                      octets of ID.msg
 *   body 8BITMIME                  (only when given: 7BIT, 8BITMIME)
 *   smtputf8 yes                   (only when given)
 *   ret HDRS                       (only when given: FULL, HDRS)
 *   envid QQ+2Bxtext               (only when given; xtext as received)
 *   rcpt bob@example.org           one block per delivery target:
 *   rcpt-original Bob+x@Example.org  the RCPT TO address it came from (if it differs)
 *   rcpt-notify SUCCESS,FAILURE    (only when given)
 *   rcpt-orcpt rfc822;bob@example.org  (only when given)
 *   rcpt-local yes                 yes: one of our accounts; no: a remote address
 *
 * Unknown keys are ignored by the reader (later versions may add some). */
#ifndef SUREL_QUEUE_SPOOL_H
#define SUREL_QUEUE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"

struct pool;

#define SPOOL_DIR "spool"
#define SPOOL_ID_LEN 16

struct spool_rcpt {
	char *address;     /* where to deliver: a local account or a remote address */
	char *original;    /* the RCPT TO address it came from, NULL if the same */
	char *notify;      /* NOTIFY value, NULL when not given */
	char *orcpt;       /* ORCPT value, NULL when not given */
	bool local;
};

struct spool_envelope {
	char id[SPOOL_ID_LEN + 1];
	long long received;
	char *client_ip, *client_helo, *protocol, *tls, *auth_user;
	char *sender;      /* "" for <> */
	long long size;
	char *body, *ret, *envid;   /* NULL when not given */
	bool smtputf8;
	struct spool_rcpt *rcpts;
	size_t nrcpts;
};

void spool_envelope_clear(struct spool_envelope *env);
/* Add a recipient (every string is copied; NULLs allowed but address). */
void spool_envelope_add_rcpt(struct spool_envelope *env, const char *address, const char *original,
			     const char *notify, const char *orcpt, bool local);
/* The envelope file's text; parse it back. */
void spool_envelope_format(const struct spool_envelope *env, struct buf *out);
int spool_envelope_parse(const char *text, size_t len, struct spool_envelope *env, char **error_r);

/* ---- writing (the SMTP server) ---- */

struct spool_msg;

/* Start a message in dir (made if missing): a new queue id and ID.msg.tmp.
 * Returns 0, or -1 with *error_r (and errno set: ENOSPC, EDQUOT, ...). */
int spool_msg_create(const char *dir, struct spool_msg **msg_r, char **error_r);
const char *spool_msg_id(const struct spool_msg *msg);
/* Append to the message. After a failure every further write does nothing
 * and spool_msg_errno() tells why (0: none). */
void spool_msg_write(struct spool_msg *msg, const void *data, size_t len);
int spool_msg_errno(const struct spool_msg *msg);
/* Read back what was written so far (LMTP delivers from it). 0, or -1
 * with *error_r. */
int spool_msg_read(const struct spool_msg *msg, struct buf *out, char **error_r);
uint64_t spool_msg_size(const struct spool_msg *msg);
/* Give up: close and remove the temporary file. Clears *msg; NULL is fine. */
void spool_msg_abort(struct spool_msg **msg);

/* Commit one message with its envelope text, synchronously (the
 * committer's pool thread calls it in batches; tests call it directly):
 * fsync and rename, then fsync the directory unless sync_dir is false (the
 * batch does it once). Returns 0, or an errno value; on failure nothing of
 * the message is left. Frees *msg either way. */
int spool_msg_commit(struct spool_msg **msg, const struct buf *envelope, bool sync_dir);
/* Start writing the message's data to disk without waiting (a batch
 * does it for all its messages first, so that their fsyncs then share one
 * journal commit). */
void spool_msg_start_writeback(struct spool_msg *msg);
/* fsync() a directory: 0 or an errno value. */
int spool_sync_dir(const char *dir);

/* ---- group commit (a worker) ---- */

struct spool_committer;
struct spool_commit;   /* one message waiting for its commit */

/* batch false: every message gets its own pool job and its own directory
 * fsync (for measurements: smtp.group_commit = no). */
struct spool_committer *spool_committer_new(struct pool *pool, const char *dir, bool batch);
/* Call after pool_free() of the committer's pool. */
void spool_committer_free(struct spool_committer **c);
/* Commit msg (taken over) with the envelope text (copied); done(err, arg)
 * runs on the loop once it is durable (err 0) or failed (an errno value),
 * unless cancelled. Without a pool the commit is done at once, and done
 * runs before this returns NULL. */
struct spool_commit *spool_commit_submit(struct spool_committer *c, struct spool_msg **msg,
					 const struct buf *envelope, void (*done)(int err, void *arg),
					 void *arg);
/* The session went away: done will not be called (the commit goes on: the
 * message may still be queued). Clears *commit; NULL is fine. */
void spool_commit_cancel(struct spool_commit **commit);
/* Counters for measurements: commits and batches so far. */
void spool_committer_stats(const struct spool_committer *c, uint64_t *messages_r,
			   uint64_t *batches_r);

/* ---- reading (the queue runner, surel queue) ---- */

struct spool_iter;

/* Iterate over the queue ids of dir (entries with an ID.env). */
int spool_iter_open(const char *dir, struct spool_iter **it_r, char **error_r);
/* The next id, or NULL at the end. Valid until the next call. */
const char *spool_iter_next(struct spool_iter *it);
void spool_iter_close(struct spool_iter **it);

/* Whether id is a well-formed queue id (16 upper-case hex digits). */
bool spool_id_valid(const char *id);
/* Read ID.env. Returns 0, or -1 with *error_r ("no such message" when the
 * file does not exist, errno ENOENT). */
int spool_read_envelope(const char *dir, const char *id, struct spool_envelope *env,
			char **error_r);
/* Open ID.msg for reading: a file descriptor, or -1 with *error_r. */
int spool_open_message(const char *dir, const char *id, char **error_r);
/* Remove a message: the envelope first (so that it is gone at once), then
 * the message. Returns 0, or -1 with *error_r. */
int spool_remove(const char *dir, const char *id, char **error_r);
/* Remove .tmp files, and messages and progress files without an envelope,
 * older than min_age seconds (leftovers of a crash). Returns how many. */
int spool_clean_leftovers(const char *dir, time_t min_age);

/* ---- delivery (the queue runner, src/queue/deliver.c) ----
 * ID.dlv: the local accounts a message was delivered to so far, one
 * address a line, each line fdatasync()ed after the store committed it,
 * so that a delivery resumed after a crash skips them. Removed with the
 * entry. */
#define SPOOL_PROGRESS_SUFFIX ".dlv"
/* Messages delivery will not deliver (a Delivered-To loop, a recipient
 * gone since acceptance) wait in DATA_DIR/spool/hold/ as ID.msg + ID.env
 * (the envelope listing only those recipients) for the bounce logic of
 * outbound mail; `surel queue` does not list them. */
#define SPOOL_HOLD_DIR "hold"

/* Replace ID.env durably (temporary file, fdatasync, rename, directory
 * fsync): delivery leaves only the recipients still to do. */
int spool_replace_envelope(const char *dir, const char *id, const struct buf *envelope,
			   char **error_r);
/* Put a copy of the entry into dir/hold/ with this envelope (made durable
 * there); the spool entry itself is left alone. Doing it again is fine. */
int spool_hold(const char *dir, const char *id, const struct buf *envelope, char **error_r);

#endif
