/* Where mail for one of our addresses goes: the one recipient resolution
 * that SMTP (RCPT, sender ownership) and local delivery share, so that they
 * cannot disagree. Pure over the directory (surel.db), plus an optional
 * quota hook the caller supplies.
 *
 * For a normalised address (addr_normalize) in one of our domains:
 *   - an account (local parts are case-insensitive): its mailbox; a
 *     disabled one RESOLVE_DISABLED; one the quota hook refuses RESOLVE_QUOTA;
 *   - an alias with that exact source: its targets, expanded again when they
 *     are ours (at most RESOLVE_ALIAS_DEPTH levels; a loop or too deep a
 *     chain RESOLVE_LOOP); remote targets are kept as they are;
 *   - plus-addressing: user+tag@domain (delimiter) as user@domain, account
 *     or alias;
 *   - the domain's catch-all;
 *   - else RESOLVE_UNKNOWN.
 * Targets are de-duplicated. A directory error is RESOLVE_TEMP (and the
 * handle may be broken: the caller may want to reopen it). */
#ifndef SUREL_ACCOUNT_RESOLVE_H
#define SUREL_ACCOUNT_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>

#include "account/directory.h"

#define RESOLVE_ALIAS_DEPTH 8

/* Ordered from best to worst: an alias with several targets reports the
 * worst failure when none of its targets worked (a temporary failure wins,
 * so that the client tries again). */
enum resolve_status {
	RESOLVE_OK,
	RESOLVE_UNKNOWN,
	RESOLVE_LOOP,
	RESOLVE_DISABLED,
	RESOLVE_QUOTA,
	RESOLVE_TEMP,
};

struct resolve_target {
	char *address;          /* a local account's address, or a remote address */
	bool local;
	long long account_id;   /* local: the account (0 for remote) */
	long long quota_bytes;  /* local: its quota (0 = unlimited) */
};

struct resolver {
	struct directory *dir;
	const char *delimiter;  /* plus-addressing; NULL or "" disables */
	/* Optional: whether the account can take more mail (SMTP's 452 4.2.2).
	 * NULL: always. */
	bool (*quota_allows)(void *ctx, const struct account_info *account);
	void *quota_ctx;
	/* results */
	struct resolve_target *targets;
	size_t ntargets;
	char *error;            /* the directory's error after RESOLVE_TEMP */
	/* internal */
	struct string_list seen;
};

void resolver_init(struct resolver *r, struct directory *dir, const char *delimiter);
/* Free the targets, the error and the state; r can be used again after
 * resolver_init(). */
void resolver_free(struct resolver *r);
/* Hand the targets over to the caller (free with resolve_targets_free). */
struct resolve_target *resolver_take_targets(struct resolver *r, size_t *n_r);
void resolve_targets_free(struct resolve_target *t, size_t n);

/* Resolve norm (a normalised address in one of our domains), adding its
 * targets to r. */
enum resolve_status resolve_address(struct resolver *r, const char *norm);

/* Sender ownership (submission): 1 when norm is user itself, a
 * plus-address of it, or an alias with that exact source whose expansion
 * reaches the account user; 0 when not; -1 on a directory error. */
int resolve_sender_owned(struct directory *dir, const char *delimiter, const char *norm,
			 const char *user, char **error_r);

/* user+tag@domain -> user@domain (malloc'd), or NULL when norm has no tag. */
char *resolve_strip_tag(const char *norm, const char *delimiter);

#endif
