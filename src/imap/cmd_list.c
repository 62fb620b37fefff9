/* LIST and LSUB (RFC 9051 6.3.9, RFC 3501 6.3.8/6.3.9, RFC 5258
 * LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC 6154 SPECIAL-USE, RFC 3348/9051
 * CHILDREN):
 *
 *   lsub         = "LSUB" SP mailbox SP list-mailbox
 *   list         = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
 *                  [SP list-return-opts]
 *   list-select-opts = "(" [list-select-opt *(SP list-select-opt)] ")"
 *   list-select-opt  = "SUBSCRIBED" / "REMOTE" / "RECURSIVEMATCH" / "SPECIAL-USE"
 *   mbox-or-pat  = list-mailbox / patterns
 *   patterns     = "(" list-mailbox *(SP list-mailbox) ")"
 *   list-return-opts = "RETURN" SP "(" [return-option *(SP return-option)] ")"
 *   return-option = "SUBSCRIBED" / "CHILDREN" / "SPECIAL-USE" /
 *                  "STATUS" SP "(" status-att *(SP status-att) ")"
 *   mailbox-list = "(" [mbx-list-flags] ")" SP (DQUOTE QUOTED-CHAR DQUOTE / nil)
 *                  SP mailbox [SP mbox-list-extended]
 *
 * Patterns are matched by imap_list.c; the reference is put in front of each
 * (RFC 9051 6.3.9: plain concatenation, a pattern that starts with the
 * separator stands alone).
 *
 * Choices:
 * - LIST always sends \HasChildren or \HasNoChildren (RFC 9051 6.3.9 lets a
 *   server send them unasked), computed from the mailboxes that exist, and
 *   the special-use attribute of a mailbox (RFC 6154 2 lets a server send
 *   them without RETURN (SPECIAL-USE)).
 * - The store creates the parents of every mailbox, so \Noselect appears
 *   only for LIST "" "" (RFC 9051 6.3.9) and, should a parent be missing
 *   (an import), for a level matched by a trailing "%".
 * - Unknown selection or return options, and RECURSIVEMATCH without a base
 *   option, are BAD (RFC 5258 3). REMOTE changes nothing: no mailbox is
 *   remote.
 * - With RECURSIVEMATCH a name the pattern matches is listed when it, or
 *   one of its descendants, meets the selection; CHILDINFO names the base
 *   options a descendant meets (RFC 9051 6.3.9 table, RFC 5258 3.5).
 * - SUBSCRIBED lists subscribed names that no longer exist as \NonExistent.
 * - An empty pattern alone asks for the separator (`* LIST (\Noselect) "/"
 *   ""`, the root being "" whatever the reference); in a list of patterns it
 *   matches nothing. At most LIST_PATTERNS_MAX patterns.
 * - RETURN (STATUS ...) sends STATUS after the LIST of each mailbox that
 *   exists (RFC 5819), the selected one included.
 * - LSUB lists a non-subscribed parent of a subscribed name with \Noselect
 *   when the pattern holds "%" and matches the parent (RFC 3501 6.3.9). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"
#include "imap/cmd_mailbox.h"
#include "imap/imap_int.h"
#include "imap/imap_list.h"

#define SEP IMAP_MAILBOX_SEP
/* Patterns in one LIST: each is matched against every name. */
#define LIST_PATTERNS_MAX 64

/* list-mailbox = 1*list-char / string
 * list-char    = ATOM-CHAR / list-wildcards / resp-specials
 * "*" and "%" are not astring characters, so an atom pattern is checked here
 * and then decoded as the string it stands for. Free the result. */
static char *pattern_arg(struct imap_cmd *c, const struct imap_arg *a)
{
	if (a->type == IMAP_ARG_STRING)
		return imap_mailbox_arg(c, a);
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NIL) {
		imap_bad(c, "Invalid mailbox pattern");
		return NULL;
	}
	for (size_t i = 0; i < a->len; i++) {
		unsigned char ch = (unsigned char)a->str[i];
		if (ch <= 0x20 || ch >= 0x7f || strchr("(){\"\\", ch) != NULL) {
			imap_bad(c, "Invalid mailbox pattern");
			return NULL;
		}
	}
	struct imap_arg s = *a;
	s.type = IMAP_ARG_STRING;
	return imap_mailbox_arg(c, &s);
}

/* ---- the names LIST and LSUB look at ---- */

/* One name: an existing mailbox, a subscription, or only a parent of one. */
struct entry {
	char *name;
	const struct store_mailbox_info *info;   /* NULL: no such mailbox */
	bool subscribed;
};

struct entries {
	struct entry *v;
	size_t n, cap;
};

static void entries_add(struct entries *es, const char *name, size_t len,
			const struct store_mailbox_info *info, bool subscribed)
{
	if (es->n == es->cap) {
		es->cap = es->cap ? es->cap * 2 : 64;
		es->v = xrealloc(es->v, es->cap * sizeof *es->v);
	}
	es->v[es->n++] = (struct entry){ xstrndup(name, len), info, subscribed };
}

/* name and every parent of it ("a/b/c": "a", "a/b"). */
static void entries_add_tree(struct entries *es, const char *name,
			     const struct store_mailbox_info *info, bool subscribed)
{
	for (const char *p = strchr(name, SEP); p != NULL; p = strchr(p + 1, SEP))
		entries_add(es, name, (size_t)(p - name), NULL, false);
	entries_add(es, name, strlen(name), info, subscribed);
}

/* INBOX first, then bytewise: the store's order. The names below "x/" still
 * form one run, where has_descendant() finds them. */
static int name_cmp(const char *a, const char *b)
{
	bool ia = strcmp(a, "INBOX") == 0, ib = strcmp(b, "INBOX") == 0;
	if (ia || ib)
		return (int)ib - (int)ia;
	return strcmp(a, b);
}

static int entry_cmp(const void *a, const void *b)
{
	return name_cmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/* Sort, and merge the entries of the same name. */
static void entries_finish(struct entries *es)
{
	if (es->n == 0)
		return;
	qsort(es->v, es->n, sizeof *es->v, entry_cmp);
	size_t out = 0;
	for (size_t i = 1; i < es->n; i++) {
		struct entry *k = &es->v[out], *e = &es->v[i];
		if (strcmp(k->name, e->name) != 0) {
			es->v[++out] = *e;
			continue;
		}
		if (k->info == NULL)
			k->info = e->info;
		k->subscribed |= e->subscribed;
		free(e->name);
	}
	es->n = out + 1;
}

static void entries_free(struct entries *es)
{
	for (size_t i = 0; i < es->n; i++)
		free(es->v[i].name);
	free(es->v);
	es->v = NULL;
	es->n = es->cap = 0;
}

/* Whether a name below name satisfies pred. */
static bool has_descendant(const struct entries *es, const char *name,
			   bool (*pred)(const struct entry *e, const void *ctx), const void *ctx)
{
	char *key = xasprintf("%s%c", name, SEP);
	size_t klen = strlen(key), lo = 0, hi = es->n;
	while (lo < hi) {   /* the first entry not before key */
		size_t mid = lo + (hi - lo) / 2;
		if (name_cmp(es->v[mid].name, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	bool found = false;
	for (size_t i = lo; !found && i < es->n && strncmp(es->v[i].name, key, klen) == 0; i++)
		found = pred(&es->v[i], ctx);
	free(key);
	return found;
}

static bool exists(const struct entry *e, const void *ctx)
{
	(void)ctx;
	return e->info != NULL;
}

/* Patterns, compiled with the reference in front (RFC 9051 6.3.9: the
 * reference is a prefix; a pattern starting with the separator stands alone,
 * and then matches nothing here). */
struct patterns {
	struct imap_list_pattern **v;
	size_t n;
};

static void patterns_free(struct patterns *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		imap_list_pattern_free(&ps->v[i]);
	free(ps->v);
	ps->v = NULL;
	ps->n = 0;
}

/* pats: the pattern arguments (count of them). false after BAD. */
static bool patterns_compile(struct imap_cmd *c, const char *ref, const struct imap_arg *pats,
			     size_t count, struct patterns *ps, bool *has_pct)
{
	ps->v = xcalloc(count, sizeof *ps->v);
	ps->n = 0;
	for (size_t i = 0; i < count; i++) {
		char *pat = pattern_arg(c, &pats[i]);
		if (pat == NULL)
			return false;
		char *full = pat[0] == SEP ? xstrdup(pat) : xasprintf("%s%s", ref, pat);
		if (has_pct != NULL && strchr(pat, '%') != NULL)
			*has_pct = true;
		ps->v[ps->n] = imap_list_pattern_new(full, SEP);
		free(pat);
		free(full);
		if (ps->v[ps->n] == NULL) {
			imap_bad(c, "Mailbox pattern too long (at most %d bytes)",
				 IMAP_LIST_PATTERN_MAX);
			return false;
		}
		ps->n++;
	}
	return true;
}

/* Whether a pattern matches name; *pct_r: one that ends with "%" does. */
static bool patterns_match(const struct patterns *ps, const char *name, bool *pct_r)
{
	bool any = false;
	*pct_r = false;
	for (size_t i = 0; i < ps->n; i++) {
		if (imap_list_pattern_match(ps->v[i], name)) {
			any = true;
			*pct_r |= imap_list_pattern_ends_pct(ps->v[i]);
		}
	}
	return any;
}

/* ---- LIST ---- */

struct list_opts {
	bool sel_subscribed, sel_special, sel_recursive;
	bool ret_subscribed, ret_status;
	unsigned status_items;
};

static bool parse_select_opts(struct imap_cmd *c, const struct imap_arg *a, struct list_opts *o)
{
	bool base = false;
	for (size_t i = 0; i < a->count; i++) {
		const char *opt = imap_arg_atom(&a->list[i]);
		if (opt == NULL) {
			imap_bad(c, "Invalid LIST selection option");
			return false;
		}
		if (strcasecmp(opt, "SUBSCRIBED") == 0)
			base = o->sel_subscribed = true;
		else if (strcasecmp(opt, "SPECIAL-USE") == 0)
			base = o->sel_special = true;
		else if (strcasecmp(opt, "RECURSIVEMATCH") == 0)
			o->sel_recursive = true;
		else if (strcasecmp(opt, "REMOTE") != 0) {
			imap_bad(c, "Unknown LIST selection option %s", opt);
			return false;
		}
	}
	if (o->sel_recursive && !base) {
		imap_bad(c, "RECURSIVEMATCH needs SUBSCRIBED or SPECIAL-USE (RFC 5258 3)");
		return false;
	}
	return true;
}

static bool parse_return_opts(struct imap_cmd *c, const struct imap_arg *a, struct list_opts *o)
{
	for (size_t i = 0; i < a->count; i++) {
		const char *opt = imap_arg_atom(&a->list[i]);
		if (opt == NULL) {
			imap_bad(c, "Invalid LIST return option");
			return false;
		}
		if (strcasecmp(opt, "SUBSCRIBED") == 0)
			o->ret_subscribed = true;
		else if (strcasecmp(opt, "STATUS") == 0) {
			if (i + 1 >= a->count) {
				imap_bad(c, "Syntax: RETURN (STATUS (item ...))");
				return false;
			}
			if (!imap_status_items_parse(c, &a->list[++i], &o->status_items))
				return false;
			o->ret_status = true;
		} else if (strcasecmp(opt, "CHILDREN") != 0 && strcasecmp(opt, "SPECIAL-USE") != 0) {
			imap_bad(c, "Unknown LIST return option %s", opt);
			return false;
		}
	}
	return true;
}

/* The selection options (other than RECURSIVEMATCH) hold for e. Without
 * SUBSCRIBED only existing mailboxes are candidates. */
static bool selected(const struct entry *e, const void *ctx)
{
	const struct list_opts *o = ctx;
	if (o->sel_subscribed ? !e->subscribed : e->info == NULL)
		return false;
	return !o->sel_special || (e->info != NULL && e->info->special_use != STORE_SPECIAL_NONE);
}

/* "* LIST (attrs) "/" name [(CHILDINFO ...)]" and its STATUS. Returns -1
 * after NO. */
static int list_one(struct imap_cmd *c, const struct entries *es, const struct entry *e,
		    const struct list_opts *o, bool childinfo, bool noselect)
{
	struct buf attrs = BUF_INIT;
	if (noselect)
		buf_append_str(&attrs, " \\Noselect");
	else if (e->info == NULL)
		buf_append_str(&attrs, " \\NonExistent");
	if ((o->sel_subscribed || o->ret_subscribed) && e->subscribed)
		buf_append_str(&attrs, " \\Subscribed");
	bool children = e->info != NULL ? e->info->has_children
					: has_descendant(es, e->name, exists, NULL);
	buf_append_str(&attrs, children ? " \\HasChildren" : " \\HasNoChildren");
	if (e->info != NULL && e->info->special_use != STORE_SPECIAL_NONE)
		buf_appendf(&attrs, " %s", store_special_use_name(e->info->special_use));
	buf_appendf(&c->out, "* LIST (%s) \"%c\" ", buf_cstr(&attrs) + 1, SEP);
	buf_free(&attrs);
	imap_write_mailbox(&c->out, c->st, e->name);
	if (childinfo) {
		buf_append_str(&c->out, " (\"CHILDINFO\" (");
		if (o->sel_subscribed)
			buf_append_str(&c->out, o->sel_special ? "\"SUBSCRIBED\" " : "\"SUBSCRIBED\"");
		if (o->sel_special)
			buf_append_str(&c->out, "\"SPECIAL-USE\"");
		buf_append_str(&c->out, "))");
	}
	buf_append_str(&c->out, "\r\n");
	/* RFC 5819: STATUS follows the LIST of a selectable mailbox. */
	if (o->ret_status && e->info != NULL)
		return imap_status_write(c, NULL, e->info, o->status_items);
	return 0;
}

static void list_mailboxes(struct imap_cmd *c, const struct list_opts *o,
			   const struct patterns *ps)
{
	struct store_mailbox_list list = { 0 };
	char **subs = NULL;
	size_t n_subs = 0;
	char *error = NULL;
	if (store_mailbox_list(c->st->su, &list, &error) < 0 ||
	    (o->sel_subscribed && store_subscriptions(c->st->su, &subs, &n_subs, &error) < 0)) {
		imap_mailbox_failed(c, "Cannot list the mailboxes", error);
		store_mailbox_list_free(&list);
		return;
	}
	struct entries es = { 0 };
	for (size_t i = 0; i < list.count; i++)
		entries_add_tree(&es, list.items[i].name, &list.items[i],
				 list.items[i].subscribed);
	for (size_t i = 0; i < n_subs; i++)
		entries_add_tree(&es, subs[i], NULL, true);
	entries_finish(&es);

	for (size_t i = 0; i < es.n; i++) {
		const struct entry *e = &es.v[i];
		bool pct;
		if (!patterns_match(ps, e->name, &pct))
			continue;
		bool meets = selected(e, o);
		bool childinfo = o->sel_recursive && has_descendant(&es, e->name, selected, o);
		/* RFC 9051 6.3.9: a level matched by a trailing "%" that is only
		 * a parent is listed \Noselect (plain LIST only). */
		bool noselect = !meets && !childinfo && e->info == NULL && pct &&
				!o->sel_subscribed && !o->sel_special;
		if ((meets || childinfo || noselect) && list_one(c, &es, e, o, childinfo, noselect) < 0)
			break;
	}
	entries_free(&es);
	store_names_free(&subs, n_subs);
	store_mailbox_list_free(&list);
}

/* mbox-or-pat: one pattern or "(" patterns ")". */
void imap_cmd_list(struct imap_cmd *c)
{
	struct list_opts o = { 0 };
	const struct imap_arg *args = c->args;
	size_t n = c->count, i = 0;
	if (n > 0 && args[0].type == IMAP_ARG_LIST) {
		if (!parse_select_opts(c, &args[0], &o))
			return;
		i = 1;
	}
	if (n - i != 2 && n - i != 4) {
		imap_bad(c, "Syntax: LIST [(options)] reference pattern [RETURN (options)]");
		return;
	}
	const struct imap_arg *ref_arg = &args[i], *pat = &args[i + 1];
	if (n - i == 4) {
		const char *kw = imap_arg_atom(&args[i + 2]);
		if (kw == NULL || strcasecmp(kw, "RETURN") != 0 || args[i + 3].type != IMAP_ARG_LIST) {
			imap_bad(c, "Syntax: LIST [(options)] reference pattern [RETURN (options)]");
			return;
		}
		if (!parse_return_opts(c, &args[i + 3], &o))
			return;
	}
	const struct imap_arg *pats = pat;
	size_t n_pats = 1;
	if (pat->type == IMAP_ARG_LIST) {
		pats = pat->list;
		n_pats = pat->count;
		if (n_pats == 0 || n_pats > LIST_PATTERNS_MAX) {
			imap_bad(c, "Give 1 to %d mailbox patterns", LIST_PATTERNS_MAX);
			return;
		}
	} else if (pat->type == IMAP_ARG_STRING && pat->len == 0) {
		/* RFC 9051 6.3.9: the separator and the root of the (flat)
		 * reference, which here is always "". */
		buf_appendf(&c->out, "* LIST (\\Noselect) \"%c\" \"\"\r\n", SEP);
		return;
	}
	char *ref = pattern_arg(c, ref_arg);
	struct patterns ps = { 0 };
	if (ref != NULL && patterns_compile(c, ref, pats, n_pats, &ps, NULL))
		list_mailboxes(c, &o, &ps);
	patterns_free(&ps);
	free(ref);
}

/* ---- LSUB (RFC 3501 6.3.9; IMAP4rev1 only, kept for its clients) ---- */

/* Subscribed names the pattern matches, and their parents as \Noselect when
 * the pattern holds "%" (RFC 3501 6.3.9: "foo/bar" is subscribed, "foo" is
 * not: "%" lists "foo"). */
static void lsub_names(struct imap_cmd *c, const struct patterns *ps, bool has_pct)
{
	char **subs = NULL;
	size_t n_subs = 0;
	char *error = NULL;
	if (store_subscriptions(c->st->su, &subs, &n_subs, &error) < 0) {
		imap_mailbox_failed(c, "Cannot list the subscriptions", error);
		return;
	}
	struct entries es = { 0 };
	for (size_t i = 0; i < n_subs; i++)
		entries_add_tree(&es, subs[i], NULL, true);
	entries_finish(&es);
	for (size_t i = 0; i < es.n; i++) {
		const struct entry *e = &es.v[i];
		bool pct;
		if (!patterns_match(ps, e->name, &pct) || (!e->subscribed && !has_pct))
			continue;
		buf_appendf(&c->out, "* LSUB (%s) \"%c\" ", e->subscribed ? "" : "\\Noselect", SEP);
		imap_write_mailbox(&c->out, c->st, e->name);
		buf_append_str(&c->out, "\r\n");
	}
	entries_free(&es);
	store_names_free(&subs, n_subs);
}

void imap_cmd_lsub(struct imap_cmd *c)
{
	if (c->count != 2) {
		imap_bad(c, "Syntax: LSUB reference pattern");
		return;
	}
	char *ref = pattern_arg(c, &c->args[0]);
	struct patterns ps = { 0 };
	bool has_pct = false;
	if (ref != NULL && patterns_compile(c, ref, &c->args[1], 1, &ps, &has_pct))
		lsub_names(c, &ps, has_pct);
	patterns_free(&ps);
	free(ref);
}

