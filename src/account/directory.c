/* The directory: opening surel.db, transactions, domains. Accounts are in
 * directory_account.c, aliases in directory_alias.c. */
#include "account/directory.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "account/addr.h"
#include "account/db.h"
#include "account/directory_int.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "core/privs.h"
#include "core/xmalloc.h"

/* ---- opening ---- */

/* Create surel.db empty with mode 0600 (it holds password hashes; SQLite
 * gives its -wal and -shm files the same mode). 1 created, 0 existed. */
static int create_db_file(const char *path, char **error_r)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 && errno == EEXIST)
		return 0;
	if (fd < 0) {
		*error_r = xasprintf("%s: cannot create: %s", path, strerror(errno));
		return -1;
	}
	close(fd);
	return 1;
}

/* cfg NULL: no ownership changes. */
static int open_in(const char *data_dir, const struct config *cfg, struct directory **dir_r,
		   char **error_r)
{
	struct stat st;
	if (stat(data_dir, &st) < 0) {
		*error_r = xasprintf("%s: data directory: %s", data_dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		*error_r = xasprintf("%s: data directory is not a directory", data_dir);
		return -1;
	}
	char *path = xasprintf("%s/%s", data_dir, DB_FILE_NAME);
	int created = create_db_file(path, error_r);
	if (created == 1 && cfg != NULL && privs_chown_to_server(cfg, path, error_r) < 0)
		created = -1;
	sqlite3 *db = NULL;
	if (created >= 0 && db_open(path, &db, error_r) == 0) {
		struct directory *dir = xcalloc(1, sizeof *dir);
		dir->db = db;
		*dir_r = dir;
		if (created == 1)
			log_debug("directory", "event=created path=%s", path);
	}
	free(path);
	return db != NULL ? 0 : -1;
}

int directory_open(const char *data_dir, struct directory **dir_r, char **error_r)
{
	return open_in(data_dir, NULL, dir_r, error_r);
}

int directory_open_config(const struct config *cfg, struct directory **dir_r, char **error_r)
{
	if (privs_make_data_dir(cfg, error_r) < 0)
		return -1;
	return open_in(cfg->server_data_dir, cfg, dir_r, error_r);
}

int directory_use_relative_paths(void)
{
	return db_use_relative_paths();
}

void directory_close(struct directory **dir)
{
	if (*dir == NULL)
		return;
	db_close(&(*dir)->db);
	xfree(dir);
}

/* ---- shared helpers ---- */

int directory_transaction(struct directory *dir,
			  int (*fn)(struct directory *dir, void *ctx, char **error_r),
			  void *ctx, char **error_r)
{
	if (db_begin(dir->db, error_r) < 0)
		return -1;
	if (fn(dir, ctx, error_r) < 0) {
		db_rollback(dir->db);
		return -1;
	}
	return db_commit(dir->db, error_r);
}

int directory_domain_id(struct directory *dir, const char *ascii, long long *id_r,
			char **error_r)
{
	return db_get_int(dir->db, "SELECT id FROM domains WHERE name = ?1",
			  DB_ARGS(db_text(ascii)), id_r, error_r);
}

int directory_require_domain(struct directory *dir, const char *ascii, long long *id_r,
			     char **error_r)
{
	int rc = directory_domain_id(dir, ascii, id_r, error_r);
	if (rc == 0) {
		*error_r = xasprintf("no such domain '%s' (add it with: surel domain add %s)",
				     ascii, ascii);
		return -1;
	}
	return rc < 0 ? -1 : 0;
}

int directory_is_account(struct directory *dir, const char *norm, char **error_r)
{
	long long id;
	return db_get_int(dir->db, "SELECT id FROM accounts WHERE address = ?1",
			  DB_ARGS(db_text(norm)), &id, error_r);
}

int directory_is_alias_source(struct directory *dir, const char *norm, char **error_r)
{
	long long id;
	return db_get_int(dir->db, "SELECT id FROM aliases WHERE source = ?1 LIMIT 1",
			  DB_ARGS(db_text(norm)), &id, error_r);
}

void string_list_free(struct string_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->items[i]);
	xfree(&list->items);
	list->count = 0;
}

/* ---- domains ---- */

static int domain_add_locked(struct directory *dir, void *ctx, char **error_r)
{
	const char *ascii = ctx;
	long long id;
	int rc = directory_domain_id(dir, ascii, &id, error_r);
	if (rc != 0) {
		if (rc == 1)
			*error_r = xasprintf("domain '%s' already exists", ascii);
		return -1;
	}
	return db_run(dir->db, "INSERT INTO domains (name) VALUES (?1)",
		      DB_ARGS(db_text(ascii)), NULL, error_r);
}

int directory_domain_add(struct directory *dir, const char *domain, char **error_r)
{
	char *ascii = NULL;
	if (addr_domain_normalize(domain, strlen(domain), &ascii, error_r) < 0)
		return -1;
	int rc = directory_transaction(dir, domain_add_locked, ascii, error_r);
	if (rc == 0)
		log_debug("directory", "event=domain_add domain=%s", ascii);
	free(ascii);
	return rc;
}

struct domain_del_ctx {
	const char *ascii;
	bool force;
};

static int count_in_domain(struct directory *dir, const char *sql, long long id,
			   long long *count_r, char **error_r)
{
	return db_get_int(dir->db, sql, DB_ARGS(db_int(id)), count_r, error_r) < 0 ? -1 : 0;
}

static int domain_del_locked(struct directory *dir, void *ctx, char **error_r)
{
	const struct domain_del_ctx *c = ctx;
	long long id, accounts, aliases;
	if (directory_require_domain(dir, c->ascii, &id, error_r) < 0 ||
	    count_in_domain(dir, "SELECT count(*) FROM accounts WHERE domain_id = ?1", id,
			    &accounts, error_r) < 0 ||
	    count_in_domain(dir, "SELECT count(*) FROM aliases WHERE domain_id = ?1", id,
			    &aliases, error_r) < 0)
		return -1;
	if ((accounts > 0 || aliases > 0) && !c->force) {
		*error_r = xasprintf("domain '%s' has %lld account%s and %lld alias%s; "
				     "delete them first or use --force to delete them with it",
				     c->ascii, accounts, plural(accounts), aliases,
				     aliases == 1 ? "" : "es");
		return -1;
	}
	if (db_run(dir->db, "DELETE FROM aliases WHERE domain_id = ?1", DB_ARGS(db_int(id)),
		   NULL, error_r) < 0 ||
	    db_run(dir->db, "DELETE FROM accounts WHERE domain_id = ?1", DB_ARGS(db_int(id)),
		   NULL, error_r) < 0 ||
	    db_run(dir->db, "DELETE FROM domains WHERE id = ?1", DB_ARGS(db_int(id)),
		   NULL, error_r) < 0)
		return -1;
	log_debug("directory", "event=domain_del domain=%s accounts=%lld aliases=%lld",
		 c->ascii, accounts, aliases);
	return 0;
}

int directory_domain_del(struct directory *dir, const char *domain, bool force, char **error_r)
{
	char *ascii = NULL;
	if (addr_domain_normalize(domain, strlen(domain), &ascii, error_r) < 0)
		return -1;
	struct domain_del_ctx ctx = { ascii, force };
	int rc = directory_transaction(dir, domain_del_locked, &ctx, error_r);
	free(ascii);
	return rc;
}

int directory_domain_exists(struct directory *dir, const char *domain, char **error_r)
{
	char *ascii = NULL, *ignored = NULL;
	if (addr_domain_normalize(domain, strlen(domain), &ascii, &ignored) < 0) {
		free(ignored);
		return 0;
	}
	long long id;
	int rc = directory_domain_id(dir, ascii, &id, error_r);
	free(ascii);
	return rc;
}

int directory_domain_list(struct directory *dir, struct string_list *list_r, char **error_r)
{
	sqlite3_stmt *st;
	list_r->items = NULL;
	list_r->count = 0;
	if (db_prepare(dir->db, "SELECT name FROM domains ORDER BY name", DB_NO_ARGS, &st,
		       error_r) < 0)
		return -1;
	int rc;
	while ((rc = db_step(st, error_r)) == 1) {
		list_r->items = xrealloc(list_r->items, (list_r->count + 1) * sizeof(char *));
		list_r->items[list_r->count++] = xstrdup((const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	if (rc < 0)
		string_list_free(list_r);
	return rc;
}
