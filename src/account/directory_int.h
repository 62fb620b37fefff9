/* Shared by directory.c, directory_account.c and directory_alias.c. */
#ifndef SUREL_ACCOUNT_DIRECTORY_INT_H
#define SUREL_ACCOUNT_DIRECTORY_INT_H

#include <sqlite3.h>

#include "account/directory.h"

struct directory {
	sqlite3 *db;
};

/* Run fn(dir, ctx, error_r) inside BEGIN IMMEDIATE ... COMMIT; rolled back
 * when fn returns -1. */
int directory_transaction(struct directory *dir,
			  int (*fn)(struct directory *dir, void *ctx, char **error_r),
			  void *ctx, char **error_r);

/* The id of a domain given in normalised form: 1 found, 0 none, -1 error. */
int directory_domain_id(struct directory *dir, const char *ascii, long long *id_r,
			char **error_r);
/* The same, but a missing domain is an error naming it. */
int directory_require_domain(struct directory *dir, const char *ascii, long long *id_r,
			     char **error_r);
/* Whether a normalised address is an account: 1, 0, -1 error. */
int directory_is_account(struct directory *dir, const char *norm, char **error_r);
/* Whether a normalised source has an alias: 1, 0, -1 error. */
int directory_is_alias_source(struct directory *dir, const char *norm, char **error_r);

/* "s" or "" for count, for messages. */
static inline const char *plural(long long count)
{
	return count == 1 ? "" : "s";
}

#endif
