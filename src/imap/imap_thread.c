/* THREAD (RFC 5256 section 4): ORDEREDSUBJECT and REFERENCES, written as
 * the thread list of the THREAD response. Trees are arrays of nodes linked
 * by index and walked without recursion: a reply chain may be as deep as
 * the mailbox is large. */
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "imap/imap_search_int.h"
#include "imap/imap_sort.h"

#define NONE ((size_t)-1)
/* References of one message taken into account: the last ones (the parent
 * is the last). Bounds the work a hostile References field can cause. */
#define THREAD_MAX_REFS 1000

int imap_thread_parse(const struct imap_arg *arg, enum imap_thread_alg *alg_r,
		      const char **error_r)
{
	/* thread-alg = "ORDEREDSUBJECT" / "REFERENCES" / thread-alg-ext */
	if (arg->type == IMAP_ARG_ATOM && imap_word_eq(arg->str, arg->len, "ORDEREDSUBJECT")) {
		*alg_r = IMAP_THREAD_ORDEREDSUBJECT;
		return 0;
	}
	if (arg->type == IMAP_ARG_ATOM && imap_word_eq(arg->str, arg->len, "REFERENCES")) {
		*alg_r = IMAP_THREAD_REFERENCES;
		return 0;
	}
	*error_r = "Unknown thread algorithm";
	return -1;
}

unsigned imap_thread_fetch_mask(enum imap_thread_alg alg)
{
	return alg == IMAP_THREAD_REFERENCES ? STORE_FETCH_SEARCH | STORE_FETCH_HEADER
					     : STORE_FETCH_SEARCH;
}

/* ---- the tree ---- */

struct node {
	size_t msg;                   /* index in msgs; NONE: a dummy */
	size_t parent, first, last, next;
	char *id;                     /* its Message-ID, when it has one in the table */
};

/* String -> node index, open addressing. Keys are not owned. */
struct strmap {
	const char **keys;
	size_t *vals;
	size_t cap, count;
};

struct thread {
	const struct imap_sort_msg *msgs;
	size_t n;
	struct node *nodes;
	size_t count, cap;
	struct strmap ids;
};

static size_t str_hash(const char *s)
{
	size_t h = 14695981039346656037u;
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

static size_t strmap_slot(const struct strmap *m, const char *key)
{
	size_t i = str_hash(key) & (m->cap - 1);
	while (m->keys[i] != NULL && strcmp(m->keys[i], key) != 0)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static size_t strmap_get(const struct strmap *m, const char *key)
{
	if (m->cap == 0)
		return NONE;
	size_t i = strmap_slot(m, key);
	return m->keys[i] != NULL ? m->vals[i] : NONE;
}

static void strmap_put(struct strmap *m, const char *key, size_t val);

static void strmap_grow(struct strmap *m)
{
	struct strmap old = *m;
	m->cap = old.cap ? old.cap * 2 : 64;
	m->count = 0;
	m->keys = xcalloc(m->cap, sizeof *m->keys);
	m->vals = xcalloc(m->cap, sizeof *m->vals);
	for (size_t i = 0; i < old.cap; i++)
		if (old.keys[i] != NULL)
			strmap_put(m, old.keys[i], old.vals[i]);
	free(old.keys);
	free(old.vals);
}

static void strmap_put(struct strmap *m, const char *key, size_t val)
{
	if ((m->count + 1) * 2 > m->cap)
		strmap_grow(m);
	size_t i = strmap_slot(m, key);
	if (m->keys[i] == NULL)
		m->count++;
	m->keys[i] = key;
	m->vals[i] = val;
}

static void strmap_free(struct strmap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof *m);
}

static size_t node_new(struct thread *t, size_t msg)
{
	if (t->count == t->cap) {
		t->cap = t->cap ? t->cap * 2 : t->n + 16;
		t->nodes = xrealloc(t->nodes, t->cap * sizeof *t->nodes);
	}
	t->nodes[t->count] = (struct node){ msg, NONE, NONE, NONE, NONE, NULL };
	return t->count++;
}

static void link_child(struct thread *t, size_t parent, size_t child)
{
	struct node *p = &t->nodes[parent];
	t->nodes[child].parent = parent;
	t->nodes[child].next = NONE;
	if (p->last == NONE)
		p->first = child;
	else
		t->nodes[p->last].next = child;
	p->last = child;
}

static void unlink_child(struct thread *t, size_t child)
{
	size_t parent = t->nodes[child].parent, prev = NONE;
	if (parent == NONE)
		return;
	struct node *p = &t->nodes[parent];
	for (size_t c = p->first; c != child; c = t->nodes[c].next)
		prev = c;
	if (prev == NONE)
		p->first = t->nodes[child].next;
	else
		t->nodes[prev].next = t->nodes[child].next;
	if (p->last == child)
		p->last = prev;
	t->nodes[child].parent = t->nodes[child].next = NONE;
}

/* Whether making child a child of parent would close a loop: parent is
 * child or below it. A child without children (a message threaded before
 * its replies, the usual case) needs no walk up a long chain. */
static bool would_loop(const struct thread *t, size_t parent, size_t child)
{
	if (t->nodes[child].first == NONE)
		return parent == child;
	for (size_t a = parent; a != NONE; a = t->nodes[a].parent)
		if (a == child)
			return true;
	return false;
}

/* ---- message ids ----
 *   msg-id = [CFWS] "<" id-left "@" id-right ">" [CFWS]   (RFC 5322 3.6.4)
 * Taken loosely: anything between "<" and ">" holding an "@", whitespace
 * removed (folded ids). */
static bool next_msgid(const char *s, size_t *pos, struct buf *out)
{
	const char *p = s + *pos;
	for (;;) {
		const char *lt = strchr(p, '<');
		const char *gt = lt != NULL ? strchr(lt + 1, '>') : NULL;
		if (gt == NULL) {
			*pos = strlen(s);
			return false;
		}
		const char *lt2 = memchr(lt + 1, '<', (size_t)(gt - lt - 1));
		if (lt2 != NULL) {
			p = lt2;
			continue;
		}
		buf_clear(out);
		for (const char *c = lt + 1; c < gt; c++)
			if (*c != ' ' && *c != '\t' && *c != '\r' && *c != '\n')
				buf_putc(out, *c);
		p = gt + 1;
		if (out->len > 0 && memchr(out->data, '@', out->len) != NULL) {
			*pos = (size_t)(p - s);
			return true;
		}
	}
}

/* The container of id, a new dummy when there is none. */
static size_t id_node(struct thread *t, const char *id)
{
	size_t c = strmap_get(&t->ids, id);
	if (c != NONE)
		return c;
	c = node_new(t, NONE);
	t->nodes[c].id = xstrdup(id);
	strmap_put(&t->ids, t->nodes[c].id, c);
	return c;
}

/* Step 1A: the message's container. A message without a valid id, or
 * with the id of an earlier message, gets one of its own. */
static size_t message_node(struct thread *t, size_t i, struct buf *tmp)
{
	size_t pos = 0;
	const char *mid = t->msgs[i].message_id;
	if (mid == NULL || !next_msgid(mid, &pos, tmp))
		return node_new(t, i);
	size_t c = strmap_get(&t->ids, tmp->data);
	if (c != NONE && t->nodes[c].msg != NONE)
		return node_new(t, i);
	if (c == NONE)
		c = id_node(t, tmp->data);
	t->nodes[c].msg = i;
	return c;
}

/* The message's references: References, else the first id of In-Reply-To.
 * Only the last THREAD_MAX_REFS are kept. */
static size_t message_refs(const struct imap_sort_msg *m, char ***refs_r, struct buf *tmp)
{
	size_t n = 0, pos = 0;
	char **refs = NULL;
	while (m->references != NULL && next_msgid(m->references, &pos, tmp)) {
		if (n == THREAD_MAX_REFS) {
			free(refs[0]);
			memmove(refs, refs + 1, (n - 1) * sizeof *refs);
			n--;
		}
		refs = xrealloc(refs, (n + 1) * sizeof *refs);
		refs[n++] = xstrdup(tmp->data);
	}
	pos = 0;
	if (n == 0 && m->in_reply_to != NULL && next_msgid(m->in_reply_to, &pos, tmp)) {
		refs = xmalloc(sizeof *refs);
		refs[n++] = xstrdup(tmp->data);
	}
	*refs_r = refs;
	return n;
}

/* Steps 1B and 1C for one message. */
static void link_message(struct thread *t, size_t i, struct buf *tmp)
{
	size_t c = message_node(t, i, tmp), prev = NONE;
	char **refs;
	size_t n = message_refs(&t->msgs[i], &refs, tmp);
	for (size_t r = 0; r < n; r++) {
		size_t rc = id_node(t, refs[r]);
		/* 1B: link the references in order, keeping existing links,
		 * never closing a loop. */
		if (prev != NONE && t->nodes[rc].parent == NONE && !would_loop(t, prev, rc))
			link_child(t, prev, rc);
		prev = rc;
		free(refs[r]);
	}
	free(refs);
	/* 1C: the last reference is the parent; a loop leaves things as
	 * they are. */
	if (prev == NONE) {
		unlink_child(t, c);
	} else if (t->nodes[c].parent != prev && !would_loop(t, prev, c)) {
		unlink_child(t, c);
		link_child(t, prev, c);
	}
}

/* ---- traversal ---- */

/* Every node under root (root included), children before their parent. */
static size_t *post_order(const struct thread *t, size_t root, size_t *n_r)
{
	size_t *stack = xmalloc(t->count * sizeof *stack), *out = xmalloc(t->count * sizeof *out);
	size_t sp = 0, n = 0;
	stack[sp++] = root;
	while (sp > 0) {
		size_t x = stack[--sp];
		out[n++] = x;
		for (size_t c = t->nodes[x].first; c != NONE; c = t->nodes[c].next)
			stack[sp++] = c;
	}
	free(stack);
	for (size_t i = 0; i < n / 2; i++) {
		size_t tmp = out[i];
		out[i] = out[n - 1 - i];
		out[n - 1 - i] = tmp;
	}
	*n_r = n;
	return out;
}

static size_t child_count(const struct thread *t, size_t x)
{
	size_t k = 0;
	for (size_t c = t->nodes[x].first; c != NONE; c = t->nodes[c].next)
		k++;
	return k;
}

/* Step 3 for the children of x (theirs are done already):
 *   A: a dummy without children goes;
 *   B: a dummy with children gives them to x, unless x is the root and
 *      it has more than one. */
static void prune_children(struct thread *t, size_t x, size_t root)
{
	size_t c = t->nodes[x].first;
	t->nodes[x].first = t->nodes[x].last = NONE;
	while (c != NONE) {
		size_t next = t->nodes[c].next;
		struct node *cn = &t->nodes[c];
		if (cn->msg != NONE || (x == root && child_count(t, c) > 1)) {
			link_child(t, x, c);
		} else {
			size_t g = cn->first;
			cn->parent = cn->first = cn->last = NONE;
			while (g != NONE) {
				size_t gn = t->nodes[g].next;
				link_child(t, x, g);
				g = gn;
			}
		}
		c = next;
	}
}

/* ---- dates and sorting (steps 4 and 6) ---- */

/* The message a node stands for: itself, or a dummy's first child. */
static size_t node_msg(const struct thread *t, size_t x)
{
	while (t->nodes[x].msg == NONE && t->nodes[x].first != NONE)
		x = t->nodes[x].first;
	return t->nodes[x].msg;
}

static int cmp_msg_date(const struct imap_sort_msg *a, const struct imap_sort_msg *b)
{
	time_t da = a->sent_date != 0 ? a->sent_date : a->internaldate;
	time_t db = b->sent_date != 0 ? b->sent_date : b->internaldate;
	if (da != db)
		return da < db ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int cmp_nodes(const void *x, const void *y, void *ctx)
{
	const struct thread *t = ctx;
	size_t a = node_msg(t, *(const size_t *)x), b = node_msg(t, *(const size_t *)y);
	if (a == NONE || b == NONE)
		return (a == NONE) - (b == NONE);
	return cmp_msg_date(&t->msgs[a], &t->msgs[b]);
}

static void sort_children(struct thread *t, size_t x)
{
	size_t k = child_count(t, x);
	if (k < 2)
		return;
	size_t *v = xmalloc(k * sizeof *v), i = 0;
	for (size_t c = t->nodes[x].first; c != NONE; c = t->nodes[c].next)
		v[i++] = c;
	qsort_r(v, k, sizeof *v, cmp_nodes, t);
	t->nodes[x].first = t->nodes[x].last = NONE;
	for (i = 0; i < k; i++)
		link_child(t, x, v[i]);
	free(v);
}

/* Sort every set of siblings under root, the deepest first. */
static void sort_tree(struct thread *t, size_t root)
{
	size_t n, *order = post_order(t, root, &n);
	for (size_t i = 0; i < n; i++)
		sort_children(t, order[i]);
	free(order);
}

/* ---- step 5: subjects ---- */

static const char *node_subject(const struct thread *t, size_t x)
{
	size_t m = node_msg(t, x);
	return m != NONE && t->msgs[m].base_subject != NULL ? t->msgs[m].base_subject : "";
}

static bool is_dummy(const struct thread *t, size_t x)
{
	return t->nodes[x].msg == NONE;
}

static bool is_reply(const struct thread *t, size_t x)
{
	return !is_dummy(t, x) && t->msgs[t->nodes[x].msg].reply_or_fwd;
}

/* 5B: the message each base subject gathers under. */
static void subject_table(const struct thread *t, const size_t *roots, size_t k,
			  const char **subj, struct strmap *table)
{
	for (size_t i = 0; i < k; i++) {
		size_t x = roots[i], cur;
		if (subj[i][0] == '\0')
			continue;
		cur = strmap_get(table, subj[i]);
		if (cur == NONE || (!is_dummy(t, cur) && is_dummy(t, x)) ||
		    (is_reply(t, cur) && !is_reply(t, x)))
			strmap_put(table, subj[i], x);
	}
}

/* 5C: merge x (at roots[i]) into the thread the table holds for its
 * subject. Returns whether x left the root. */
static bool merge_subject(struct thread *t, size_t *roots, size_t *pos, size_t x,
			  const char *subj, struct strmap *table)
{
	size_t cur = strmap_get(table, subj);
	if (cur == NONE || cur == x)
		return false;
	if (is_dummy(t, cur) && is_dummy(t, x)) {
		size_t g = t->nodes[x].first;
		while (g != NONE) {
			size_t gn = t->nodes[g].next;
			link_child(t, cur, g);
			g = gn;
		}
		t->nodes[x].first = t->nodes[x].last = NONE;
	} else if (is_dummy(t, cur) || (is_reply(t, x) && !is_reply(t, cur))) {
		link_child(t, cur, x);
	} else {
		size_t d = node_new(t, NONE);
		roots[pos[cur]] = d;
		pos[d] = pos[cur];
		link_child(t, d, cur);
		link_child(t, d, x);
		strmap_put(table, subj, d);
	}
	return true;
}

static void group_subjects(struct thread *t, size_t root)
{
	size_t k = child_count(t, root), i = 0;
	size_t *roots = xmalloc((k + 1) * sizeof *roots);
	size_t *pos = xmalloc((t->count + k + 1) * sizeof *pos);
	const char **subj = xmalloc((k + 1) * sizeof *subj);
	bool *gone = xcalloc(k + 1, sizeof *gone);
	for (size_t c = t->nodes[root].first; c != NONE; c = t->nodes[c].next, i++) {
		roots[i] = c;
		pos[c] = i;
		subj[i] = node_subject(t, c);
	}
	for (i = 0; i < k; i++)
		t->nodes[roots[i]].parent = t->nodes[roots[i]].next = NONE;
	t->nodes[root].first = t->nodes[root].last = NONE;
	struct strmap table = { 0 };
	subject_table(t, roots, k, subj, &table);
	for (i = 0; i < k; i++)
		if (subj[i][0] != '\0')
			gone[i] = merge_subject(t, roots, pos, roots[i], subj[i], &table);
	for (i = 0; i < k; i++)
		if (!gone[i])
			link_child(t, root, roots[i]);
	strmap_free(&table);
	free(gone);
	free(subj);
	free(pos);
	free(roots);
}

/* ---- output ---- */

static uint32_t node_id(const struct thread *t, size_t x, bool uid)
{
	const struct imap_sort_msg *m = &t->msgs[t->nodes[x].msg];
	return uid ? m->uid : m->seq;
}

/* One thread-list's content for the tree at x: a chain is written "1 2 3",
 * a node with several children "1 (2)(3)", a dummy "(2)(3)". The stack
 * holds, for each open "(", the sibling that comes after it. */
static void write_tree(const struct thread *t, size_t x, bool uid, struct buf *out)
{
	size_t *stack = xmalloc(t->count * sizeof *stack), sp = 0;
	for (;;) {
		const struct node *nx = &t->nodes[x];
		size_t kids = child_count(t, x);
		if (nx->msg != NONE)
			buf_appendf(out, "%u", (unsigned)node_id(t, x, uid));
		if (kids == 1) {
			if (nx->msg != NONE)
				buf_putc(out, ' ');
			x = nx->first;
			continue;
		}
		if (kids > 1) {
			buf_append_str(out, nx->msg != NONE ? " (" : "(");
			stack[sp++] = t->nodes[nx->first].next;
			x = nx->first;
			continue;
		}
		/* A leaf: close the groups that end here, open the next one. */
		bool more = false;
		while (sp > 0 && !more) {
			buf_putc(out, ')');
			size_t s = stack[--sp];
			if (s != NONE) {
				buf_putc(out, '(');
				stack[sp++] = t->nodes[s].next;
				x = s;
				more = true;
			}
		}
		if (!more)
			break;
	}
	free(stack);
}

static void write_forest(const struct thread *t, size_t root, bool uid, struct buf *out)
{
	for (size_t c = t->nodes[root].first; c != NONE; c = t->nodes[c].next) {
		buf_putc(out, '(');
		write_tree(t, c, uid, out);
		buf_putc(out, ')');
	}
}

/* ---- REFERENCES ---- */

static int cmp_seq_index(const void *x, const void *y, void *ctx)
{
	const struct imap_sort_msg *msgs = ctx;
	uint32_t a = msgs[*(const size_t *)x].seq, b = msgs[*(const size_t *)y].seq;
	return a < b ? -1 : a > b;
}

static void thread_references(struct thread *t, bool uid, struct buf *out)
{
	struct buf tmp = BUF_INIT;
	size_t *order = xmalloc((t->n + 1) * sizeof *order);
	for (size_t i = 0; i < t->n; i++)
		order[i] = i;
	/* Step 1, in sequence order: the first of duplicate ids keeps it. */
	qsort_r(order, t->n, sizeof *order, cmp_seq_index, (void *)t->msgs);
	for (size_t i = 0; i < t->n; i++)
		link_message(t, order[i], &tmp);
	free(order);
	buf_free(&tmp);
	/* Step 2: the parentless under one root. */
	size_t root = node_new(t, NONE), count = t->count;
	for (size_t c = 0; c + 1 < count; c++)
		if (t->nodes[c].parent == NONE)
			link_child(t, root, c);
	/* Step 3. */
	size_t n, *po = post_order(t, root, &n);
	for (size_t i = 0; i < n; i++)
		prune_children(t, po[i], root);
	free(po);
	/* Step 4: the threads by date (a dummy by its first child's). */
	for (size_t c = t->nodes[root].first; c != NONE; c = t->nodes[c].next)
		sort_children(t, c);
	sort_children(t, root);
	/* Steps 5 and 6. */
	group_subjects(t, root);
	sort_tree(t, root);
	write_forest(t, root, uid, out);
}

/* ---- ORDEREDSUBJECT ----
 * By base subject, then sent date: each subject one thread, the first
 * message at the top, the second its child, the others the second's
 * siblings; threads by the sent date of their first message. */

static int cmp_subject_date(const void *x, const void *y, void *ctx)
{
	const struct imap_sort_msg *msgs = ctx;
	const struct imap_sort_msg *a = &msgs[*(const size_t *)x], *b = &msgs[*(const size_t *)y];
	int c = strcmp(a->base_subject != NULL ? a->base_subject : "",
		       b->base_subject != NULL ? b->base_subject : "");
	return c != 0 ? c : cmp_msg_date(a, b);
}

static bool same_subject(const struct imap_sort_msg *a, const struct imap_sort_msg *b)
{
	return strcmp(a->base_subject != NULL ? a->base_subject : "",
		      b->base_subject != NULL ? b->base_subject : "") == 0;
}

static void thread_orderedsubject(struct thread *t, bool uid, struct buf *out)
{
	size_t *order = xmalloc((t->n + 1) * sizeof *order);
	for (size_t i = 0; i < t->n; i++)
		order[i] = i;
	qsort_r(order, t->n, sizeof *order, cmp_subject_date, (void *)t->msgs);
	size_t root = node_new(t, NONE), top = NONE;
	for (size_t i = 0; i < t->n; i++) {
		size_t x = node_new(t, order[i]);
		if (top != NONE && same_subject(&t->msgs[order[i - 1]], &t->msgs[order[i]])) {
			link_child(t, top, x);
		} else {
			link_child(t, root, x);
			top = x;
		}
	}
	free(order);
	sort_children(t, root);
	write_forest(t, root, uid, out);
}

void imap_thread(const struct imap_sort_msg *msgs, size_t n, enum imap_thread_alg alg, bool uid,
		 struct buf *out)
{
	struct thread t = { msgs, n, NULL, 0, 0, { 0 } };
	if (alg == IMAP_THREAD_REFERENCES)
		thread_references(&t, uid, out);
	else
		thread_orderedsubject(&t, uid, out);
	for (size_t i = 0; i < t.count; i++)
		free(t.nodes[i].id);
	free(t.nodes);
	strmap_free(&t.ids);
}
