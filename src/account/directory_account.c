/* The directory: accounts. */
#include <stdlib.h>
#include <string.h>

#include "account/addr.h"
#include "account/db.h"
#include "account/directory.h"
#include "account/directory_int.h"
#include "account/password.h"
#include "core/log.h"
#include "core/xmalloc.h"

void account_info_clear(struct account_info *a)
{
	xfree(&a->address);
	if (a->password_hash != NULL)
		secure_zero(a->password_hash, strlen(a->password_hash));
	xfree(&a->password_hash);
	a->id = 0;
	a->quota_bytes = 0;
	a->enabled = false;
	a->pop3 = (struct account_pop3){ 0 };
}

void account_list_free(struct account_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		account_info_clear(&list->items[i]);
	xfree(&list->items);
	list->count = 0;
}

#define ACCOUNT_COLUMNS "id, address, password_hash, quota_bytes, enabled, " \
	"pop3_delete_after_retr, pop3_deleted_to_trash"

/* A nullable 0/1 column: NULL is "use the global setting". */
static enum account_opt read_opt(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return ACCOUNT_OPT_DEFAULT;
	return sqlite3_column_int(st, col) != 0 ? ACCOUNT_OPT_YES : ACCOUNT_OPT_NO;
}

static void read_account(sqlite3_stmt *st, struct account_info *out)
{
	out->id = sqlite3_column_int64(st, 0);
	out->address = xstrdup((const char *)sqlite3_column_text(st, 1));
	out->password_hash = xstrdup((const char *)sqlite3_column_text(st, 2));
	out->quota_bytes = sqlite3_column_int64(st, 3);
	out->enabled = sqlite3_column_int(st, 4) != 0;
	out->pop3.delete_after_retr = read_opt(st, 5);
	out->pop3.deleted_to_trash = read_opt(st, 6);
}

int directory_find_account(struct directory *dir, const char *address,
			   struct account_info *out, char **error_r)
{
	char *norm = NULL, *ignored = NULL;
	if (addr_normalize(address, strlen(address), &norm, &ignored) < 0) {
		free(ignored);
		return 0;
	}
	sqlite3_stmt *st;
	int rc = db_prepare(dir->db, "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE address = ?1",
			    DB_ARGS(db_text(norm)), &st, error_r);
	if (rc == 0) {
		rc = db_step(st, error_r);
		if (rc == 1)
			read_account(st, out);
		sqlite3_finalize(st);
	}
	free(norm);
	return rc;
}

static int normalize(const char *address, char **norm_r, char **error_r)
{
	return addr_normalize(address, strlen(address), norm_r, error_r);
}

/* Why norm cannot become an account now, with the id of its domain. */
static int check_new_locked(struct directory *dir, const char *norm, long long *domain_id_r,
			    char **error_r)
{
	if (directory_require_domain(dir, addr_domain_of(norm), domain_id_r, error_r) < 0)
		return -1;
	int rc = directory_is_account(dir, norm, error_r);
	if (rc == 1)
		*error_r = xasprintf("account '%s' already exists", norm);
	if (rc != 0)
		return -1;
	rc = directory_is_alias_source(dir, norm, error_r);
	if (rc == 1)
		*error_r = xasprintf("'%s' is an alias; delete it first (surel alias del %s)",
				     norm, norm);
	return rc == 0 ? 0 : -1;
}

int directory_account_check_new(struct directory *dir, const char *address, char **error_r)
{
	char *norm = NULL;
	if (normalize(address, &norm, error_r) < 0)
		return -1;
	long long domain_id;
	int rc = check_new_locked(dir, norm, &domain_id, error_r);
	free(norm);
	return rc;
}

struct account_add_ctx {
	const char *norm;
	const char *hash;
	long long quota;
	bool enabled;
};

static int account_add_locked(struct directory *dir, void *ctx, char **error_r)
{
	const struct account_add_ctx *c = ctx;
	long long domain_id;
	if (check_new_locked(dir, c->norm, &domain_id, error_r) < 0)
		return -1;
	return db_run(dir->db,
		      "INSERT INTO accounts (domain_id, address, password_hash, quota_bytes, enabled)"
		      " VALUES (?1, ?2, ?3, ?4, ?5)",
		      DB_ARGS(db_int(domain_id), db_text(c->norm), db_text(c->hash),
			      db_int(c->quota), db_int(c->enabled)),
		      NULL, error_r);
}

static int check_values(const char *hash, long long quota, char **error_r)
{
	if (hash != NULL && !password_hash_supported(hash)) {
		*error_r = xstrdup("unsupported or malformed password hash "
				   "(supported: $y$, $2b$, $2y$, $2a$, $6$, $5$)");
		return -1;
	}
	if (quota < 0) {
		*error_r = xasprintf("invalid quota %lld (must be 0 for unlimited, or more)", quota);
		return -1;
	}
	return 0;
}

int directory_account_add(struct directory *dir, const char *address, const char *password_hash,
			  long long quota_bytes, bool enabled, char **error_r)
{
	char *norm = NULL;
	if (normalize(address, &norm, error_r) < 0)
		return -1;
	struct account_add_ctx ctx = { norm, password_hash, quota_bytes, enabled };
	int rc = check_values(password_hash, quota_bytes, error_r);
	if (rc == 0)
		rc = directory_transaction(dir, account_add_locked, &ctx, error_r);
	if (rc == 0)
		log_debug("directory", "event=account_add address=%s", norm);
	free(norm);
	return rc;
}

/* A one-statement change to an existing account; ?1 is its address, ?2...
 * the values. */
static int account_update(struct directory *dir, const char *address, const char *sql,
			  const struct db_arg *values, size_t nvalues, const char *event,
			  char **error_r)
{
	char *norm = NULL;
	if (normalize(address, &norm, error_r) < 0)
		return -1;
	struct db_arg args[8];
	if (nvalues + 1 > sizeof args / sizeof args[0])
		abort();   /* a bug: more values than any statement here has */
	args[0] = db_text(norm);
	for (size_t i = 0; i < nvalues; i++)
		args[i + 1] = values[i];
	int changes = 0;
	int rc = db_run(dir->db, sql, args, nvalues + 1, &changes, error_r);
	if (rc == 0 && changes == 0) {
		*error_r = xasprintf("no such account '%s'", norm);
		rc = -1;
	}
	if (rc == 0)
		log_debug("directory", "event=%s address=%s", event, norm);
	free(norm);
	return rc;
}

int directory_account_del(struct directory *dir, const char *address, char **error_r)
{
	return account_update(dir, address, "DELETE FROM accounts WHERE address = ?1", NULL, 0,
			      "account_del", error_r);
}

int directory_account_set_password(struct directory *dir, const char *address,
				   const char *password_hash, char **error_r)
{
	if (check_values(password_hash, 0, error_r) < 0)
		return -1;
	struct db_arg value = db_text(password_hash);
	return account_update(dir, address, "UPDATE accounts SET password_hash = ?2 WHERE address = ?1",
			      &value, 1, "account_passwd", error_r);
}

int directory_account_set_enabled(struct directory *dir, const char *address, bool enabled,
				  char **error_r)
{
	struct db_arg value = db_int(enabled);
	return account_update(dir, address, "UPDATE accounts SET enabled = ?2 WHERE address = ?1",
			      &value, 1, enabled ? "account_enable" : "account_disable",
			      error_r);
}

int directory_account_set_quota(struct directory *dir, const char *address,
				long long quota_bytes, char **error_r)
{
	if (check_values(NULL, quota_bytes, error_r) < 0)
		return -1;
	struct db_arg value = db_int(quota_bytes);
	return account_update(dir, address, "UPDATE accounts SET quota_bytes = ?2 WHERE address = ?1",
			      &value, 1, "account_quota", error_r);
}

/* A column's new value (?2k+1) and whether to write it (?2k); KEEP writes
 * nothing, so that the statement leaves the column as it is. */
static void opt_args(enum account_opt opt, struct db_arg *set_r, struct db_arg *value_r)
{
	*set_r = db_int(opt != ACCOUNT_OPT_KEEP);
	switch (opt) {
	case ACCOUNT_OPT_NO: *value_r = db_int(0); break;
	case ACCOUNT_OPT_YES: *value_r = db_int(1); break;
	case ACCOUNT_OPT_DEFAULT:
	case ACCOUNT_OPT_KEEP: *value_r = db_null(); break;
	}
}

int directory_account_set_pop3(struct directory *dir, const char *address,
			       const struct account_pop3 *change, char **error_r)
{
	struct db_arg v[4];
	opt_args(change->delete_after_retr, &v[0], &v[1]);
	opt_args(change->deleted_to_trash, &v[2], &v[3]);
	return account_update(dir, address,
			      "UPDATE accounts SET"
			      " pop3_delete_after_retr ="
			      "  CASE WHEN ?2 THEN ?3 ELSE pop3_delete_after_retr END,"
			      " pop3_deleted_to_trash ="
			      "  CASE WHEN ?4 THEN ?5 ELSE pop3_deleted_to_trash END"
			      " WHERE address = ?1",
			      v, 4, "account_pop3", error_r);
}

static int collect_accounts(sqlite3_stmt *st, struct account_list *list_r, char **error_r)
{
	int rc;
	while ((rc = db_step(st, error_r)) == 1) {
		list_r->items = xrealloc(list_r->items, (list_r->count + 1) * sizeof *list_r->items);
		read_account(st, &list_r->items[list_r->count++]);
	}
	sqlite3_finalize(st);
	if (rc < 0)
		account_list_free(list_r);
	return rc;
}

int directory_account_list(struct directory *dir, const char *domain,
			   struct account_list *list_r, char **error_r)
{
	list_r->items = NULL;
	list_r->count = 0;
	sqlite3_stmt *st;
	if (domain == NULL) {
		if (db_prepare(dir->db, "SELECT " ACCOUNT_COLUMNS " FROM accounts ORDER BY address",
			       DB_NO_ARGS, &st, error_r) < 0)
			return -1;
		return collect_accounts(st, list_r, error_r);
	}
	char *ascii = NULL;
	long long id;
	if (addr_domain_normalize(domain, strlen(domain), &ascii, error_r) < 0)
		return -1;
	int rc = directory_require_domain(dir, ascii, &id, error_r);
	free(ascii);
	if (rc < 0 || db_prepare(dir->db, "SELECT " ACCOUNT_COLUMNS " FROM accounts"
				 " WHERE domain_id = ?1 ORDER BY address",
				 DB_ARGS(db_int(id)), &st, error_r) < 0)
		return -1;
	return collect_accounts(st, list_r, error_r);
}
