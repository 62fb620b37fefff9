/* The directory: domains, accounts and aliases in DATA_DIR/surel.db (SQLite,
 * WAL). Every lookup reads the database, so changes made by the CLI reach a
 * running server at once. A handle is for one thread. */
#ifndef SUREL_ACCOUNT_DIRECTORY_H
#define SUREL_ACCOUNT_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>

struct directory;

/* Open (creating and migrating when needed) DATA_DIR/surel.db. */
int directory_open(const char *data_dir, struct directory **dir_r, char **error_r);
void directory_close(struct directory **dir);

struct account_info {
	long long id;
	char *address;        /* normalised: lower-case, domain as an A-label */
	char *password_hash;
	long long quota_bytes; /* 0 = unlimited */
	bool enabled;
};
void account_info_clear(struct account_info *a);

/* Look up an account by address (any case, U-label or A-label domain).
 * Returns 1 found, 0 no such account, -1 error (*error_r set). */
int directory_find_account(struct directory *dir, const char *address,
			   struct account_info *out, char **error_r);

#endif
