/* Recipient resolution over the directory: see resolve.h for the rules.
 * Moved here from src/smtp/smtp_rcpt.c so that SMTP and local delivery
 * share it. */
#include "account/resolve.h"

#include <stdlib.h>
#include <string.h>

#include "account/addr.h"
#include "core/xmalloc.h"

void resolver_init(struct resolver *r, struct directory *dir, const char *delimiter)
{
	memset(r, 0, sizeof *r);
	r->dir = dir;
	r->delimiter = delimiter;
}

void resolve_targets_free(struct resolve_target *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(t[i].address);
	free(t);
}

void resolver_free(struct resolver *r)
{
	resolve_targets_free(r->targets, r->ntargets);
	r->targets = NULL;
	r->ntargets = 0;
	string_list_free(&r->seen);
	xfree(&r->error);
}

struct resolve_target *resolver_take_targets(struct resolver *r, size_t *n_r)
{
	struct resolve_target *t = r->targets;
	*n_r = r->ntargets;
	r->targets = NULL;
	r->ntargets = 0;
	return t;
}

static void add_target(struct resolver *r, const char *address, bool local, long long id,
		       long long quota)
{
	for (size_t i = 0; i < r->ntargets; i++)
		if (strcmp(r->targets[i].address, address) == 0)
			return;
	r->targets = xrealloc(r->targets, (r->ntargets + 1) * sizeof *r->targets);
	r->targets[r->ntargets] = (struct resolve_target){
		.address = xstrdup(address), .local = local, .account_id = id, .quota_bytes = quota,
	};
	r->ntargets++;
}

static bool seen_before(struct resolver *r, const char *norm)
{
	for (size_t i = 0; i < r->seen.count; i++)
		if (strcmp(r->seen.items[i], norm) == 0)
			return true;
	r->seen.items = xrealloc(r->seen.items, (r->seen.count + 1) * sizeof *r->seen.items);
	r->seen.items[r->seen.count++] = xstrdup(norm);
	return false;
}

/* The account `norm`: 1 handled (*st set), 0 no such account. */
static int try_account(struct resolver *r, const char *norm, enum resolve_status *st)
{
	struct account_info acc = { 0 };
	xfree(&r->error);
	int found = directory_find_account(r->dir, norm, &acc, &r->error);
	if (found < 0) {
		*st = RESOLVE_TEMP;
		return 1;
	}
	if (found == 0)
		return 0;
	if (!acc.enabled)
		*st = RESOLVE_DISABLED;
	else if (r->quota_allows != NULL && !r->quota_allows(r->quota_ctx, &acc))
		*st = RESOLVE_QUOTA;
	else {
		add_target(r, acc.address, true, acc.id, acc.quota_bytes);
		*st = RESOLVE_OK;
	}
	account_info_clear(&acc);
	return 1;
}

static enum resolve_status resolve_local(struct resolver *r, const char *norm, int depth);

static enum resolve_status worse(enum resolve_status a, enum resolve_status b)
{
	return a > b ? a : b;
}

static enum resolve_status expand(struct resolver *r, const struct alias_list *list, int depth)
{
	bool any = false;
	enum resolve_status err = RESOLVE_UNKNOWN;
	for (size_t i = 0; i < list->count; i++) {
		const char *t = list->items[i].target;
		xfree(&r->error);
		int ours = directory_domain_exists(r->dir, addr_domain_of(t), &r->error);
		enum resolve_status st;
		if (ours < 0) {
			st = RESOLVE_TEMP;
		} else if (ours == 0) {
			add_target(r, t, false, 0, 0);
			st = RESOLVE_OK;
		} else {
			st = resolve_local(r, t, depth + 1);
		}
		if (st == RESOLVE_OK)
			any = true;
		else
			err = worse(err, st);
	}
	return any && err != RESOLVE_TEMP ? RESOLVE_OK : err;
}

/* The aliases of norm; *exact when they are for norm itself, not its
 * domain's catch-all. -1 error, 0 none, 1 found. */
static int aliases_of(struct resolver *r, const char *norm, struct alias_list *list, bool *exact)
{
	xfree(&r->error);
	int rc = directory_alias_lookup(r->dir, norm, list, &r->error);
	*exact = rc > 0 && list->count > 0 && strcmp(list->items[0].source, norm) == 0;
	return rc;
}

char *resolve_strip_tag(const char *norm, const char *delimiter)
{
	if (delimiter == NULL || *delimiter == '\0')
		return NULL;
	const char *at = strrchr(norm, '@');
	if (at == NULL)
		return NULL;
	const char *d = strstr(norm, delimiter);
	if (d == NULL || d == norm || d >= at)
		return NULL;
	return xasprintf("%.*s%s", (int)(d - norm), norm, at);
}

static enum resolve_status resolve_local(struct resolver *r, const char *norm, int depth)
{
	if (depth > RESOLVE_ALIAS_DEPTH || seen_before(r, norm))
		return RESOLVE_LOOP;
	enum resolve_status st;
	if (try_account(r, norm, &st))
		return st;
	struct alias_list list = { 0 };
	bool exact = false;
	int rc = aliases_of(r, norm, &list, &exact);
	if (rc < 0)
		return RESOLVE_TEMP;
	if (exact) {
		st = expand(r, &list, depth);
		alias_list_free(&list);
		return st;
	}
	char *base = resolve_strip_tag(norm, r->delimiter);
	if (base != NULL) {
		if (try_account(r, base, &st)) {
			free(base);
			alias_list_free(&list);
			return st;
		}
		struct alias_list blist = { 0 };
		bool bexact = false;
		int brc = aliases_of(r, base, &blist, &bexact);
		free(base);
		if (brc < 0 || bexact) {
			st = brc < 0 ? RESOLVE_TEMP : expand(r, &blist, depth);
			alias_list_free(&blist);
			alias_list_free(&list);
			return st;
		}
		alias_list_free(&blist);
	}
	st = rc > 0 ? expand(r, &list, depth) : RESOLVE_UNKNOWN;   /* the catch-all */
	alias_list_free(&list);
	return st;
}

enum resolve_status resolve_address(struct resolver *r, const char *norm)
{
	return resolve_local(r, norm, 0);
}

int resolve_sender_owned(struct directory *dir, const char *delimiter, const char *norm,
			 const char *user, char **error_r)
{
	char *base = resolve_strip_tag(norm, delimiter);
	bool owned = strcmp(norm, user) == 0 || (base != NULL && strcmp(base, user) == 0);
	free(base);
	if (owned)
		return 1;
	struct resolver r;
	resolver_init(&r, dir, delimiter);
	struct alias_list list = { 0 };
	bool exact = false;
	int rc = aliases_of(&r, norm, &list, &exact);
	bool temp = rc < 0;
	if (exact) {
		(void)seen_before(&r, norm);
		temp = expand(&r, &list, 0) == RESOLVE_TEMP;
		for (size_t i = 0; i < r.ntargets; i++)
			if (r.targets[i].local && strcmp(r.targets[i].address, user) == 0)
				owned = true;
	}
	alias_list_free(&list);
	if (temp && !owned) {
		*error_r = r.error != NULL ? r.error : xstrdup("directory lookup failed");
		r.error = NULL;
	}
	resolver_free(&r);
	if (owned)
		return 1;
	return temp ? -1 : 0;
}
