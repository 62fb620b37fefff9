/* SEARCH evaluation, one message at a time, and the untagged answer
 * (RFC 9051 7.3.4 SEARCH, RFC 4731 / RFC 9051 7.3.4 ESEARCH, RFC 7162
 * 3.1.5 MODSEQ in both). */
#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"
#include "imap/imap_search_int.h"
#include "mime/mime.h"

/* ---- preparation ---- */

static void uid_list_push(struct store_uid_list *l, uint32_t uid)
{
	if (l->count == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->uids = xrealloc(l->uids, l->cap * sizeof *l->uids);
	}
	l->uids[l->count++] = uid;
}

static void uid_list_copy(const struct store_uid_list *from, struct store_uid_list *to)
{
	for (size_t i = 0; from != NULL && i < from->count; i++)
		uid_list_push(to, from->uids[i]);
}

static int cmp_uid(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void uid_list_sort(struct store_uid_list *l)
{
	if (l->count > 1)
		qsort(l->uids, l->count, sizeof *l->uids, cmp_uid);
}

/* A sequence set gives the UIDs of those messages; "$" is a UID set for
 * SEARCH as for UID SEARCH (RFC 5182 2.1). */
static void prepare_set(struct search_node *n, const struct imap_search_mailbox *mb)
{
	store_uid_list_free(&n->uids);
	memset(&n->uids, 0, sizeof n->uids);
	if (n->set.dollar)
		uid_list_copy(mb->saved, &n->uids);
	else if (n->type == SK_SEQSET)
		imap_seqset_to_uids(&n->set, mb->uids, mb->count, &n->uids);
	else
		imap_seqset_uids(&n->set, mb->uids, mb->count, &n->uids);
	uid_list_sort(&n->uids);
}

void imap_search_prepare(struct imap_search_program *prog, const struct imap_search_mailbox *mb)
{
	prog->now = mb->now;
	for (size_t i = 0; i < prog->count; i++) {
		struct search_node *n = &prog->nodes[i];
		if (n->type == SK_SEQSET || n->type == SK_UIDSET)
			prepare_set(n, mb);
	}
}

unsigned imap_search_fetch_mask(const struct imap_search_program *prog)
{
	unsigned mask = 0;
	for (size_t i = 0; i < prog->count; i++) {
		switch (prog->nodes[i].type) {
		case SK_FROM: case SK_TO: case SK_CC: case SK_BCC: case SK_SUBJECT:
		case SK_SENTBEFORE: case SK_SENTON: case SK_SENTSINCE:
			mask |= STORE_FETCH_SEARCH;
			break;
		case SK_HEADER:
			mask |= STORE_FETCH_HEADER;
			break;
		default:
			break;
		}
	}
	return mask;
}

/* ---- BODY / TEXT ---- */

size_t imap_search_text_count(const struct imap_search_program *prog)
{
	return prog->n_text;
}

void imap_search_text_key(const struct imap_search_program *prog, size_t i,
			  enum store_search_field *field_r, const char **query_r)
{
	assert(i < prog->n_text);
	const struct search_node *n = &prog->nodes[prog->text_nodes[i]];
	*field_r = (enum store_search_field)n->num;
	*query_r = n->query;
}

void imap_search_set_text_result(struct imap_search_program *prog, size_t i,
				 struct store_uid_list *uids)
{
	assert(i < prog->n_text);
	store_uid_list_free(&prog->text_results[i]);
	prog->text_results[i] = *uids;
	memset(uids, 0, sizeof *uids);
	uid_list_sort(&prog->text_results[i]);
	prog->text_set[i] = true;
}

/* ---- matching ---- */

struct match {
	struct imap_search_program *p;
	const struct imap_search_message *m;
	const char *hdr;
	size_t hdr_len;
	bool hdr_loaded;
};

static int eval(struct match *mt, size_t idx);

/* The casemapped haystack contains the casemapped needle. */
static bool text_contains(struct imap_search_program *p, const char *hay, size_t len,
			  const char *needle)
{
	size_t nl = strlen(needle);
	if (nl == 0)
		return true;
	buf_clear(&p->scratch);
	imap_casemap(hay, len, &p->scratch);
	return memmem(p->scratch.data != NULL ? p->scratch.data : "", p->scratch.len,
		      needle, nl) != NULL;
}

static bool field_contains(struct imap_search_program *p, const char *field, const char *needle)
{
	const char *s = field != NULL ? field : "";
	return text_contains(p, s, strlen(s), needle);
}

static int load_header(struct match *mt)
{
	const struct imap_search_message *m = mt->m;
	if (mt->hdr_loaded)
		return 0;
	if (m->msg->header != NULL) {
		mt->hdr = m->msg->header;
		mt->hdr_len = m->msg->header_len;
	} else if (m->get_header == NULL ||
		   m->get_header(m->get_header_ctx, &mt->hdr, &mt->hdr_len) < 0) {
		return -1;
	}
	mt->hdr_loaded = true;
	return 0;
}

/* HEADER name value: any field of that name whose decoded value holds the
 * string; "" matches a field that is there (RFC 9051 6.4.4). */
static int match_header(struct match *mt, const struct search_node *n)
{
	if (load_header(mt) < 0)
		return -1;
	struct imap_search_program *p = mt->p;
	size_t pos = 0, vlen;
	const char *v;
	while (imap_header_find(mt->hdr, mt->hdr_len, &pos, n->str, &v, &vlen)) {
		if (n->value[0] == '\0')
			return 1;
		buf_clear(&p->decoded);
		mime_decode_header(v, vlen, &p->decoded);
		if (text_contains(p, p->decoded.data != NULL ? p->decoded.data : "", p->decoded.len,
				  n->value))
			return 1;
	}
	return 0;
}

static bool has_keyword(const struct store_message *msg, const char *kw)
{
	for (size_t i = 0; i < msg->n_keywords; i++)
		if (strcasecmp(msg->keywords[i], kw) == 0)
			return true;
	return false;
}

/* Dates compare calendar days in UTC; a message without a Date: field
 * (sent_date 0) is taken as sent at its INTERNALDATE (RFC 5256 2.2). */
static bool match_day(enum search_key type, time_t t, int64_t day)
{
	int64_t d = imap_time_day(t);
	switch (type) {
	case SK_BEFORE:
	case SK_SENTBEFORE:
		return d < day;
	case SK_ON:
	case SK_SENTON:
		return d == day;
	default:
		return d >= day;
	}
}

/* WITHIN (RFC 5032): YOUNGER n is an INTERNALDATE at most n seconds ago,
 * OLDER n one more than n seconds ago; the two are complements. */
static bool match_within(const struct imap_search_program *p, const struct search_node *n,
			 time_t date)
{
	int64_t age = (int64_t)p->now - (int64_t)date;
	bool younger = age <= (int64_t)n->num;
	return n->type == SK_YOUNGER ? younger : !younger;
}

static int eval_list(struct match *mt, const struct search_node *n)
{
	for (size_t c = n->first; c != SEARCH_NONE; c = mt->p->nodes[c].next) {
		int r = eval(mt, c);
		if (r <= 0)
			return r;
	}
	return 1;
}

static int eval_logic(struct match *mt, const struct search_node *n)
{
	int r = eval(mt, n->first);
	if (n->type == SK_NOT)
		return r < 0 ? r : !r;
	if (r != 0)
		return r;
	return eval(mt, mt->p->nodes[n->first].next);
}

static bool eval_id(const char *have, const char *want)
{
	return have != NULL && strcmp(have, want) == 0;
}

static int eval_text_key(struct match *mt, const struct search_node *n)
{
	const struct store_message *msg = mt->m->msg;
	const char *field;
	switch (n->type) {
	case SK_FROM: field = msg->from; break;
	case SK_TO: field = msg->to; break;
	case SK_CC: field = msg->cc; break;
	case SK_BCC: field = msg->bcc; break;
	default: field = msg->subject; break;
	}
	return field_contains(mt->p, field, n->str);
}

static int eval(struct match *mt, size_t idx)
{
	const struct search_node *n = &mt->p->nodes[idx];
	const struct store_message *msg = mt->m->msg;
	time_t sent = msg->sent_date != 0 ? msg->sent_date : msg->internaldate;
	switch (n->type) {
	case SK_ALL: return 1;
	case SK_AND: return eval_list(mt, n);
	case SK_OR: case SK_NOT: return eval_logic(mt, n);
	case SK_FLAG: return ((msg->flags & n->num) != 0) == n->want;
	case SK_RECENT: return mt->m->recent == n->want;
	case SK_NEW: return mt->m->recent && !(msg->flags & STORE_FLAG_SEEN);
	case SK_KEYWORD: return has_keyword(msg, n->str) == n->want;
	case SK_BEFORE: case SK_ON: case SK_SINCE:
		return match_day(n->type, msg->internaldate, n->day);
	case SK_SENTBEFORE: case SK_SENTON: case SK_SENTSINCE:
		return match_day(n->type, sent, n->day);
	case SK_FROM: case SK_TO: case SK_CC: case SK_BCC: case SK_SUBJECT:
		return eval_text_key(mt, n);
	case SK_HEADER: return match_header(mt, n);
	case SK_TEXT:
		assert(mt->p->text_set[n->text]);
		return imap_uid_in(&mt->p->text_results[n->text], msg->uid);
	case SK_LARGER: return msg->size > n->num;
	case SK_SMALLER: return msg->size < n->num;
	case SK_SEQSET: case SK_UIDSET: return imap_uid_in(&n->uids, msg->uid);
	case SK_OLDER: case SK_YOUNGER: return match_within(mt->p, n, msg->internaldate);
	case SK_MODSEQ: return msg->modseq >= n->num;
	case SK_EMAILID: return eval_id(mt->m->emailid, n->str);
	case SK_THREADID: return eval_id(mt->m->threadid, n->str);
	}
	return 0;
}

int imap_search_match(struct imap_search_program *prog, const struct imap_search_message *m)
{
	struct match mt = { prog, m, NULL, 0, false };
	return eval(&mt, prog->root);
}

/* ---- the result ---- */

void imap_search_result_add(struct imap_search_result *r, uint32_t seq, uint32_t uid,
			    uint64_t modseq)
{
	if (r->seqs.count == 0)
		r->first_modseq = modseq;
	r->last_modseq = modseq;
	if (modseq > r->highest_modseq)
		r->highest_modseq = modseq;
	uid_list_push(&r->seqs, seq);
	uid_list_push(&r->uids, uid);
}

void imap_search_result_free(struct imap_search_result *r)
{
	store_uid_list_free(&r->seqs);
	store_uid_list_free(&r->uids);
	memset(r, 0, sizeof *r);
}

/*   mailbox-data =/ "SEARCH" *(SP nz-number) [SP search-sort-mod-seq]
 *   search-sort-mod-seq = "(" "MODSEQ" SP mod-sequence-value ")"
 *                                                   (RFC 3501, RFC 7162) */
static void write_search(const struct imap_search_program *prog,
			 const struct store_uid_list *ids, const struct imap_search_result *r,
			 struct buf *out)
{
	buf_append_str(out, "* SEARCH");
	for (size_t i = 0; i < ids->count; i++)
		buf_appendf(out, " %" PRIu32, ids->uids[i]);
	if (prog->has_modseq && ids->count > 0)
		buf_appendf(out, " (MODSEQ %" PRIu64 ")", r->highest_modseq);
	buf_append_str(out, "\r\n");
}

/* The MODSEQ of an ESEARCH answer: of every match when ALL or COUNT was
 * asked, else of the MIN / MAX messages returned (RFC 7162 3.1.5). */
static uint64_t esearch_modseq(unsigned ret, const struct imap_search_result *r)
{
	if (ret & (IMAP_SEARCH_RET_ALL | IMAP_SEARCH_RET_COUNT))
		return r->highest_modseq;
	uint64_t m = 0;
	if ((ret & IMAP_SEARCH_RET_MIN) && r->first_modseq > m)
		m = r->first_modseq;
	if ((ret & IMAP_SEARCH_RET_MAX) && r->last_modseq > m)
		m = r->last_modseq;
	return m;
}

static void write_tag(const char *tag, struct buf *out)
{
	buf_append_str(out, " (TAG \"");
	for (const char *t = tag; *t != '\0'; t++) {
		if (*t == '"' || *t == '\\')
			buf_putc(out, '\\');
		buf_putc(out, *t);
	}
	buf_append_str(out, "\")");
}

/*   esearch-response = "ESEARCH" [search-correlator] [SP "UID"]
 *                      *(SP search-return-data)
 *   search-correlator = SP "(" "TAG" SP tag-string ")"
 *   search-return-data = "MIN" SP nz-number / "MAX" SP nz-number /
 *                        "ALL" SP sequence-set / "COUNT" SP number /
 *                        search-ret-data-ext          (RFC 9051, RFC 4731)
 *   search-return-data =/ "MODSEQ" SP mod-sequence-value   (RFC 7162)
 * MIN, MAX and ALL are left out when nothing matched; COUNT 0 is not. */
static void write_esearch(const struct imap_search_program *prog, unsigned ret,
			  const struct store_uid_list *ids, const struct imap_search_result *r,
			  const char *tag, bool uid, struct buf *out)
{
	buf_append_str(out, "* ESEARCH");
	if (tag != NULL)
		write_tag(tag, out);
	if (uid)
		buf_append_str(out, " UID");
	if (ids->count > 0 && (ret & IMAP_SEARCH_RET_MIN))
		buf_appendf(out, " MIN %" PRIu32, ids->uids[0]);
	if (ids->count > 0 && (ret & IMAP_SEARCH_RET_MAX))
		buf_appendf(out, " MAX %" PRIu32, ids->uids[ids->count - 1]);
	if (ids->count > 0 && (ret & IMAP_SEARCH_RET_ALL)) {
		buf_append_str(out, " ALL ");
		imap_seqset_write(ids->uids, ids->count, out);
	}
	if (ret & IMAP_SEARCH_RET_COUNT)
		buf_appendf(out, " COUNT %zu", ids->count);
	if (prog->has_modseq && ids->count > 0)
		buf_appendf(out, " MODSEQ %" PRIu64, esearch_modseq(ret, r));
	buf_append_str(out, "\r\n");
}

void imap_search_write(const struct imap_search_program *prog, const struct imap_search_result *r,
		       const char *tag, bool uid, bool rev2, struct buf *out)
{
	const struct store_uid_list *ids = uid ? &r->uids : &r->seqs;
	if (!prog->has_return && !rev2) {
		write_search(prog, ids, r, out);
		return;
	}
	unsigned ret = prog->has_return ? prog->ret : IMAP_SEARCH_RET_ALL;
	if (ret == IMAP_SEARCH_RET_SAVE)
		return;
	write_esearch(prog, ret, ids, r, tag, uid, out);
}

void imap_search_saved(const struct imap_search_program *prog, const struct imap_search_result *r,
		       struct store_uid_list *out)
{
	unsigned ret = prog->ret;
	const struct store_uid_list *u = &r->uids;
	store_uid_list_free(out);
	memset(out, 0, sizeof *out);
	if (u->count == 0)
		return;
	bool minmax_only = (ret & (IMAP_SEARCH_RET_MIN | IMAP_SEARCH_RET_MAX)) &&
			   !(ret & (IMAP_SEARCH_RET_ALL | IMAP_SEARCH_RET_COUNT));
	if (!minmax_only) {
		uid_list_copy(u, out);
		return;
	}
	if (ret & IMAP_SEARCH_RET_MIN)
		uid_list_push(out, u->uids[0]);
	if ((ret & IMAP_SEARCH_RET_MAX) && !(u->count == 1 && (ret & IMAP_SEARCH_RET_MIN)))
		uid_list_push(out, u->uids[u->count - 1]);
}

/* ---- candidates ---- */

static const struct store_uid_list *text_result(const struct imap_search_program *prog,
						const struct search_node *n)
{
	if (n->type != SK_TEXT || !n->want || n->text >= prog->n_text || !prog->text_set[n->text])
		return NULL;
	return &prog->text_results[n->text];
}

const struct store_uid_list *imap_search_candidates(const struct imap_search_program *prog)
{
	if (prog->root == SEARCH_NONE)
		return NULL;
	const struct search_node *root = &prog->nodes[prog->root];
	if (root->type != SK_AND)
		return text_result(prog, root);
	const struct store_uid_list *best = NULL;
	for (size_t i = root->first; i != SEARCH_NONE; i = prog->nodes[i].next) {
		const struct store_uid_list *l = text_result(prog, &prog->nodes[i]);
		if (l != NULL && (best == NULL || l->count < best->count))
			best = l;
	}
	return best;
}

bool imap_search_uses_emailid(const struct imap_search_program *prog)
{
	for (size_t i = 0; i < prog->count; i++)
		if (prog->nodes[i].type == SK_EMAILID)
			return true;
	return false;
}
