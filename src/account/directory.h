/* The directory: domains, accounts and aliases in DATA_DIR/surel.db (SQLite,
 * WAL). Every lookup reads the database, so changes made by the CLI reach a
 * running server at once. A handle is for one thread. */
#ifndef SUREL_ACCOUNT_DIRECTORY_H
#define SUREL_ACCOUNT_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct directory;

/* Open (creating and migrating when needed) DATA_DIR/surel.db; data_dir
 * must exist. Changes no ownership: a process running as root that may
 * create the database should use directory_open_config(). */
int directory_open(const char *data_dir, struct directory **dir_r, char **error_r);
/* The same for cfg->server_data_dir, made with privs_make_data_dir(); when
 * running as root a newly created surel.db is given to server.user (SQLite
 * gives its -wal and -shm files the same owner). */
int directory_open_config(const struct config *cfg, struct directory **dir_r, char **error_r);
void directory_close(struct directory **dir);

/* In a process that has chdir()ed into the data directory and then dropped
 * privileges (the master's children): open databases by their relative
 * names ("./surel.db"), which stay reachable when a parent directory is not
 * searchable by server.user. Call before opening any; the process must not
 * change its directory afterwards. Returns 0, or -1. */
int directory_use_relative_paths(void);

/* This thread's handle on DATA_DIR/surel.db, for work on the thread pool:
 * opened on first use, kept for the thread's life (closed when it exits).
 * NULL with *error_r when it cannot be opened. */
struct directory *directory_for_thread(const char *data_dir, char **error_r);
/* After an error the handle may be broken (a replaced file, a full disk):
 * drop it, so that the next directory_for_thread() opens a fresh one. */
void directory_thread_reset(void);

/* A per-account yes/no that may be left to the global setting. Zero is
 * "default", so an account_info initialised with { 0 } has none. */
enum account_opt {
	ACCOUNT_OPT_DEFAULT = 0,   /* NULL in surel.db: the configuration decides */
	ACCOUNT_OPT_NO,
	ACCOUNT_OPT_YES,
	ACCOUNT_OPT_KEEP,          /* only in a change: leave the stored value */
};

/* The value in effect: the account's, else the global one. */
static inline bool account_opt_value(enum account_opt opt, bool global)
{
	return opt == ACCOUNT_OPT_DEFAULT || opt == ACCOUNT_OPT_KEEP ? global
								      : opt == ACCOUNT_OPT_YES;
}

/* The POP3 options of an account (docs/pop3.md), each overriding the
 * setting of the same name in [pop3]. */
struct account_pop3 {
	enum account_opt delete_after_retr;   /* pop3.delete_after_retr */
	enum account_opt deleted_to_trash;    /* pop3.deleted_to_trash */
};

struct account_info {
	long long id;
	char *address;        /* normalised: lower-case, domain as an A-label */
	char *password_hash;
	long long quota_bytes; /* 0 = unlimited */
	bool enabled;
	struct account_pop3 pop3;
};
void account_info_clear(struct account_info *a);

/* Look up an account by address (any case, U-label or A-label domain).
 * Returns 1 found, 0 no such account, -1 error (*error_r set). An address
 * that is not valid syntax is no account: 0. */
int directory_find_account(struct directory *dir, const char *address,
			   struct account_info *out, char **error_r);

/* The administration API (surel domain|user|alias). Every function takes
 * addresses and domains as a user typed them (any case, U-labels), and
 * returns 0, or -1 with *error_r set to one line fit for the user, e.g.
 * "domain 'example.org' already exists". A function that checks and then
 * writes does both in one transaction: on error nothing has changed. */

/* ---- domains ---- */
int directory_domain_add(struct directory *dir, const char *domain, char **error_r);
/* Refused while the domain has accounts or aliases, unless force, which
 * deletes them with it. */
int directory_domain_del(struct directory *dir, const char *domain, bool force, char **error_r);
/* 1 when domain is one of ours, 0 when not (or not a valid domain), -1 error. */
int directory_domain_exists(struct directory *dir, const char *domain, char **error_r);

struct string_list {
	char **items;
	size_t count;
};
void string_list_free(struct string_list *list);
/* Every domain as its A-label, sorted. */
int directory_domain_list(struct directory *dir, struct string_list *list_r, char **error_r);

/* ---- accounts ---- */
/* Whether directory_account_add() would accept address now: valid, in one of
 * our domains, not an account or alias source already. */
int directory_account_check_new(struct directory *dir, const char *address, char **error_r);
/* password_hash: any hash password_hash_supported() accepts. */
int directory_account_add(struct directory *dir, const char *address, const char *password_hash,
			  long long quota_bytes, bool enabled, char **error_r);
int directory_account_del(struct directory *dir, const char *address, char **error_r);
int directory_account_set_password(struct directory *dir, const char *address,
				   const char *password_hash, char **error_r);
int directory_account_set_enabled(struct directory *dir, const char *address, bool enabled,
				  char **error_r);
int directory_account_set_quota(struct directory *dir, const char *address,
				long long quota_bytes, char **error_r);
/* Set the account's POP3 options in one statement: each field of *change is
 * ACCOUNT_OPT_KEEP (left as it is), ACCOUNT_OPT_DEFAULT, _NO or _YES. */
int directory_account_set_pop3(struct directory *dir, const char *address,
			       const struct account_pop3 *change, char **error_r);

struct account_list {
	struct account_info *items;
	size_t count;
};
void account_list_free(struct account_list *list);
/* The accounts of domain (NULL: of every domain), sorted by address. */
int directory_account_list(struct directory *dir, const char *domain,
			   struct account_list *list_r, char **error_r);

/* ---- aliases ---- */
struct alias_info {
	char *source;   /* normalised address, or "@domain" for a catch-all */
	char *target;   /* normalised address */
};
struct alias_list {
	struct alias_info *items;
	size_t count;
};
void alias_list_free(struct alias_list *list);

/* source: an address in one of our domains that is not an account, or
 * "@domain" for a catch-all. Every target is an address; one in our own
 * domains must be an account, an alias source, or covered by its domain's
 * catch-all. All targets are added or none (a pair that exists already is
 * an error). Aliases may chain: whoever expands them must bound the depth. */
int directory_alias_add(struct directory *dir, const char *source, const char *const *targets,
			size_t ntargets, char **error_r);
/* Delete source -> target, or every target of source when target is NULL. */
int directory_alias_del(struct directory *dir, const char *source, const char *target,
			char **error_r);
/* The aliases of domain (NULL: all), sorted by source then target. */
int directory_alias_list(struct directory *dir, const char *domain, struct alias_list *list_r,
			 char **error_r);
/* Where mail to address goes when it is not an account: the targets of the
 * alias with that exact source, else those of its domain's catch-all.
 * Returns 1 with *list_r filled, 0 when neither exists, -1 error. */
int directory_alias_lookup(struct directory *dir, const char *address, struct alias_list *list_r,
			   char **error_r);

#endif
