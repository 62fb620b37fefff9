/* The directory: aliases and catch-alls. */
#include <string.h>

#include "account/addr.h"
#include "account/db.h"
#include "account/directory.h"
#include "account/directory_int.h"
#include "core/log.h"
#include "core/xmalloc.h"

void alias_list_free(struct alias_list *list)
{
	for (size_t i = 0; i < list->count; i++) {
		xfree(&list->items[i].source);
		xfree(&list->items[i].target);
	}
	xfree(&list->items);
	list->count = 0;
}

static int collect_aliases(sqlite3_stmt *st, struct alias_list *list_r, char **error_r)
{
	int rc;
	while ((rc = db_step(st, error_r)) == 1) {
		list_r->items = xrealloc(list_r->items, (list_r->count + 1) * sizeof *list_r->items);
		struct alias_info *a = &list_r->items[list_r->count++];
		a->source = xstrdup((const char *)sqlite3_column_text(st, 0));
		a->target = xstrdup((const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	if (rc < 0)
		alias_list_free(list_r);
	return rc;
}

static bool is_catch_all(const char *norm)
{
	return norm[0] == '@';
}

/* Normalised targets, NULL-terminated, or NULL with *error_r. */
static char **normalize_targets(const char *norm_source, const char *const *targets, size_t n,
				char **error_r)
{
	char **out = xcalloc(n + 1, sizeof *out);
	for (size_t i = 0; i < n; i++) {
		if (addr_normalize(targets[i], strlen(targets[i]), &out[i], error_r) < 0)
			goto fail;
		if (strcmp(out[i], norm_source) == 0) {
			*error_r = xasprintf("alias '%s' cannot point to itself", norm_source);
			goto fail;
		}
	}
	return out;
fail:
	for (size_t i = 0; i < n; i++)
		free(out[i]);
	free(out);
	return NULL;
}

/* A target in one of our domains must lead somewhere: an account, another
 * alias, or that domain's catch-all. Remote targets are not checked. */
static int check_target_locked(struct directory *dir, const char *target, char **error_r)
{
	const char *domain = addr_domain_of(target);
	long long id;
	int rc = directory_domain_id(dir, domain, &id, error_r);
	if (rc <= 0)
		return rc;
	char *catch_all = xasprintf("@%s", domain);
	rc = db_get_int(dir->db,
			"SELECT EXISTS (SELECT 1 FROM accounts WHERE address = ?1) OR"
			" EXISTS (SELECT 1 FROM aliases WHERE source IN (?1, ?2))",
			DB_ARGS(db_text(target), db_text(catch_all)), &id, error_r);
	free(catch_all);
	if (rc < 0)
		return -1;
	if (id == 0) {
		*error_r = xasprintf("target '%s' is in our domain '%s' but is no account or alias "
				     "there", target, domain);
		return -1;
	}
	return 0;
}

struct alias_add_ctx {
	const char *source;
	char **targets;
};

static int alias_add_one_locked(struct directory *dir, long long domain_id, const char *source,
				const char *target, char **error_r)
{
	long long id;
	if (check_target_locked(dir, target, error_r) < 0)
		return -1;
	int rc = db_get_int(dir->db, "SELECT id FROM aliases WHERE source = ?1 AND target = ?2",
			    DB_ARGS(db_text(source), db_text(target)), &id, error_r);
	if (rc == 1)
		*error_r = xasprintf("alias '%s -> %s' already exists", source, target);
	if (rc != 0)
		return -1;
	return db_run(dir->db, "INSERT INTO aliases (domain_id, source, target) VALUES (?1, ?2, ?3)",
		      DB_ARGS(db_int(domain_id), db_text(source), db_text(target)), NULL, error_r);
}

static int alias_add_locked(struct directory *dir, void *ctx, char **error_r)
{
	const struct alias_add_ctx *c = ctx;
	long long domain_id;
	if (directory_require_domain(dir, addr_domain_of(c->source), &domain_id, error_r) < 0)
		return -1;
	if (!is_catch_all(c->source)) {
		int rc = directory_is_account(dir, c->source, error_r);
		if (rc == 1)
			*error_r = xasprintf("'%s' is an account; an alias cannot have the same address",
					     c->source);
		if (rc != 0)
			return -1;
	}
	for (size_t i = 0; c->targets[i] != NULL; i++)
		if (alias_add_one_locked(dir, domain_id, c->source, c->targets[i], error_r) < 0)
			return -1;
	return 0;
}

int directory_alias_add(struct directory *dir, const char *source, const char *const *targets,
			size_t ntargets, char **error_r)
{
	char *norm = NULL;
	if (ntargets == 0) {
		*error_r = xstrdup("an alias needs at least one target");
		return -1;
	}
	if (addr_source_normalize(source, strlen(source), &norm, error_r) < 0)
		return -1;
	char **norm_targets = normalize_targets(norm, targets, ntargets, error_r);
	int rc = -1;
	if (norm_targets != NULL) {
		struct alias_add_ctx ctx = { norm, norm_targets };
		rc = directory_transaction(dir, alias_add_locked, &ctx, error_r);
		for (size_t i = 0; i < ntargets; i++)
			free(norm_targets[i]);
		free(norm_targets);
	}
	if (rc == 0)
		log_debug("directory", "event=alias_add source=%s targets=%zu", norm, ntargets);
	free(norm);
	return rc;
}

int directory_alias_del(struct directory *dir, const char *source, const char *target,
			char **error_r)
{
	char *norm = NULL, *norm_target = NULL;
	if (addr_source_normalize(source, strlen(source), &norm, error_r) < 0)
		return -1;
	int rc = 0, changes = 0;
	if (target != NULL)
		rc = addr_normalize(target, strlen(target), &norm_target, error_r);
	if (rc == 0 && target != NULL)
		rc = db_run(dir->db, "DELETE FROM aliases WHERE source = ?1 AND target = ?2",
			    DB_ARGS(db_text(norm), db_text(norm_target)), &changes, error_r);
	else if (rc == 0)
		rc = db_run(dir->db, "DELETE FROM aliases WHERE source = ?1",
			    DB_ARGS(db_text(norm)), &changes, error_r);
	if (rc == 0 && changes == 0) {
		*error_r = target != NULL ? xasprintf("no such alias '%s -> %s'", norm, norm_target)
					  : xasprintf("no such alias '%s'", norm);
		rc = -1;
	}
	if (rc == 0)
		log_debug("directory", "event=alias_del source=%s removed=%d", norm, changes);
	free(norm);
	free(norm_target);
	return rc;
}

int directory_alias_list(struct directory *dir, const char *domain, struct alias_list *list_r,
			 char **error_r)
{
	list_r->items = NULL;
	list_r->count = 0;
	sqlite3_stmt *st;
	if (domain == NULL) {
		if (db_prepare(dir->db, "SELECT source, target FROM aliases ORDER BY source, target",
			       DB_NO_ARGS, &st, error_r) < 0)
			return -1;
		return collect_aliases(st, list_r, error_r);
	}
	char *ascii = NULL;
	long long id;
	if (addr_domain_normalize(domain, strlen(domain), &ascii, error_r) < 0)
		return -1;
	int rc = directory_require_domain(dir, ascii, &id, error_r);
	free(ascii);
	if (rc < 0 || db_prepare(dir->db, "SELECT source, target FROM aliases WHERE domain_id = ?1"
				 " ORDER BY source, target", DB_ARGS(db_int(id)), &st, error_r) < 0)
		return -1;
	return collect_aliases(st, list_r, error_r);
}

static int lookup_source(struct directory *dir, const char *source, struct alias_list *list_r,
			 char **error_r)
{
	sqlite3_stmt *st;
	if (db_prepare(dir->db, "SELECT source, target FROM aliases WHERE source = ?1 ORDER BY target",
		       DB_ARGS(db_text(source)), &st, error_r) < 0)
		return -1;
	if (collect_aliases(st, list_r, error_r) < 0)
		return -1;
	return list_r->count > 0 ? 1 : 0;
}

int directory_alias_lookup(struct directory *dir, const char *address, struct alias_list *list_r,
			   char **error_r)
{
	list_r->items = NULL;
	list_r->count = 0;
	char *norm = NULL, *ignored = NULL;
	if (addr_normalize(address, strlen(address), &norm, &ignored) < 0) {
		free(ignored);
		return 0;
	}
	int rc = lookup_source(dir, norm, list_r, error_r);
	if (rc == 0) {
		char *catch_all = xasprintf("@%s", addr_domain_of(norm));
		rc = lookup_source(dir, catch_all, list_r, error_r);
		free(catch_all);
	}
	free(norm);
	return rc;
}
