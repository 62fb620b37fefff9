/* Local delivery: from the spool into the recipients' INBOXes (the queue
 * runner calls it; docs/smtp.md "Delivery").
 *
 * For each spool entry with local recipients: the message (ID.msg) is
 * written once as a store blob; each local recipient of the envelope is
 * resolved again with the resolution SMTP used (src/account/resolve.c),
 * the accounts are de-duplicated, and each gets the blob appended to its
 * INBOX with the prefix "Return-Path: <sender>" "Delivered-To: <account>",
 * no flags, INTERNALDATE = the envelope's received time.
 *
 * Crash safety: after each account's append committed, its address is
 * added to ID.dlv (fdatasync); the appends are made with store_append.once,
 * so that a crash between the commit and that line does not deliver twice
 * either. The entry is removed only when every local recipient is done;
 * then remote recipients (alias targets elsewhere) are left in it, alone,
 * for outbound mail, and the runner skips it from then on.
 *
 * Over quota, a temporary store or directory failure: the entry stays and
 * is retried later (30 s, doubling, at most an hour). A recipient whose
 * message already carries "Delivered-To: <its account>" (a loop), or one
 * that is no longer ours (account deleted, disabled, unknown): a copy of
 * the entry with those recipients goes to spool/hold/ for the bounce
 * logic of outbound mail. */
#ifndef SUREL_QUEUE_DELIVER_H
#define SUREL_QUEUE_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct config;
struct deliver;
struct resolve_target;
struct store;
struct store_blob;

/* Open the directory and the store of cfg->server_data_dir. */
int deliver_new(const struct config *cfg, struct deliver **d_r, char **error_r);
void deliver_free(struct deliver **d);

/* Deliver at most max entries that are due. Returns true when more may be
 * due (call again soon), false when the spool was walked to its end. */
bool deliver_run(struct deliver *d, size_t max);

/* Deliver one entry now (tests, surel queue). Returns 0 when nothing is
 * left to do locally, 1 when it must be retried, -1 when it could not be
 * read (*error_r set). */
int deliver_entry(struct deliver *d, const char *id, char **error_r);

/* The spool directory delivery works on (DATA_DIR/spool). */
const char *deliver_spool_dir(const struct deliver *d);

/* ---- shared with LMTP (src/smtp/smtp_lmtp.c), which delivers straight
 * into the store ---- */

enum deliver_result {
	DELIVER_OK,          /* appended (or already there: *uid_r 0) */
	DELIVER_OVERQUOTA,   /* the account's quota would be exceeded */
	DELIVER_TEMP,        /* a store error: try again later (*error_r) */
};
/* Append blob to the INBOX of the local account t with the prefix
 * "Return-Path: <sender>" "Delivered-To: <t->address>", no flags,
 * INTERNALDATE received, once (see store_append.once). Durable when it
 * returns DELIVER_OK. */
enum deliver_result deliver_append_inbox(struct store *store, struct store_blob *blob,
					 const char *sender, const struct resolve_target *t,
					 time_t received, uint32_t *uid_r, char **error_r);
/* Whether the header block of msg has "Delivered-To: address" (any case,
 * with or without angle brackets): a forwarding loop. Folded values are not
 * expected there. */
bool deliver_has_delivered_to(const char *msg, size_t msg_len, const char *address);

#endif
