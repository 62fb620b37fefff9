/* IMAP sequence sets: parsing, and translation to the mailbox's UIDs (see
 * imap_seqset.h for the grammar).
 *
 * Both translations work on positions in the mailbox's UID array: each
 * range becomes a half-open span [from, to) of positions, the spans are
 * sorted and merged, and the UIDs at those positions are the result, so it
 * is sorted and coalesced however the set was written ("5,1:3,2"). */
#include "imap/imap_seqset.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmalloc.h"

/* ---- parsing ---- */

/* seq-number = nz-number / "*"
 * nz-number  = digit-nz *DIGIT     ; 1 .. 4294967295
 * Returns the position after it, or 0 for none ("*" as UINT32_MAX). */
static size_t seq_number(const char *s, size_t len, size_t i, uint32_t *n_r)
{
	if (i < len && s[i] == '*') {
		*n_r = UINT32_MAX;
		return i + 1;
	}
	if (i >= len || s[i] < '1' || s[i] > '9')
		return 0;
	uint64_t n = 0;
	while (i < len && s[i] >= '0' && s[i] <= '9') {
		n = n * 10 + (uint64_t)(s[i] - '0');
		if (n > UINT32_MAX)
			return 0;
		i++;
	}
	*n_r = (uint32_t)n;
	return i;
}

static void push_range(struct imap_seqset *set, size_t *cap, uint32_t lo, uint32_t hi)
{
	if (set->count == *cap) {
		*cap = *cap == 0 ? 8 : *cap * 2;
		set->ranges = xrealloc(set->ranges, *cap * sizeof set->ranges[0]);
	}
	if (lo > hi) {
		uint32_t t = lo;
		lo = hi;
		hi = t;
	}
	set->ranges[set->count++] = (struct store_uid_range){ lo, hi };
}

/* sequence-set = (seq-number / seq-range) ["," sequence-set]
 * seq-range    = seq-number ":" seq-number
 * sequence-set =/ seq-last-command    ; "$" (RFC 5182), alone */
bool imap_seqset_parse(const char *s, size_t len, struct imap_seqset *set_r,
		       const char **error_r)
{
	memset(set_r, 0, sizeof *set_r);
	if (len == 1 && s[0] == '$') {
		set_r->dollar = true;
		return true;
	}
	size_t i = 0, cap = 0;
	for (;;) {
		uint32_t lo, hi;
		size_t next = seq_number(s, len, i, &lo);
		if (next == 0)
			break;
		hi = lo;
		if (next < len && s[next] == ':')
			next = seq_number(s, len, next + 1, &hi);
		if (next == 0)
			break;
		if (set_r->count == IMAP_SEQSET_MAX_RANGES) {
			imap_seqset_free(set_r);
			*error_r = "Too many ranges in sequence set";
			return false;
		}
		push_range(set_r, &cap, lo, hi);
		if (next == len)
			return true;
		if (s[next] != ',')
			break;
		i = next + 1;
	}
	imap_seqset_free(set_r);
	*error_r = "Invalid sequence set";
	return false;
}

void imap_seqset_free(struct imap_seqset *set)
{
	xfree(&set->ranges);
	set->count = 0;
	set->dollar = false;
}

/* ---- translation ---- */

struct span {
	size_t from, to;   /* positions [from, to) in the UID array */
};

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	return x->from < y->from ? -1 : x->from > y->from;
}

static void uid_push(struct store_uid_list *out, uint32_t uid)
{
	if (out->count == out->cap) {
		out->cap = out->cap == 0 ? 64 : out->cap * 2;
		out->uids = xrealloc(out->uids, out->cap * sizeof out->uids[0]);
	}
	out->uids[out->count++] = uid;
}

/* Sort and merge the spans, then list their UIDs into out (replaced). */
static void spans_to_uids(struct span *spans, size_t n_spans, const uint32_t *uids,
			  struct store_uid_list *out)
{
	out->count = 0;
	qsort(spans, n_spans, sizeof spans[0], span_cmp);
	size_t done = 0;   /* positions below it are in out already */
	for (size_t i = 0; i < n_spans; i++) {
		size_t from = spans[i].from > done ? spans[i].from : done;
		for (size_t k = from; k < spans[i].to; k++)
			uid_push(out, uids[k]);
		if (spans[i].to > done)
			done = spans[i].to;
	}
}

void imap_seqset_to_uids(const struct imap_seqset *set, const uint32_t *uids, size_t n,
			 struct store_uid_list *out)
{
	struct span *spans = xmalloc((set->count ? set->count : 1) * sizeof *spans);
	size_t n_spans = 0;
	for (size_t i = 0; n > 0 && i < set->count; i++) {
		uint64_t lo = set->ranges[i].lo, hi = set->ranges[i].hi;
		if (hi == UINT32_MAX)   /* "*": the last message, so "5:*" is "n:5" */
			hi = n;
		if (lo > hi) {
			uint64_t t = lo;
			lo = hi;
			hi = t;
		}
		if (lo > n)
			continue;   /* beyond the last message */
		if (hi > n)
			hi = n;
		spans[n_spans++] = (struct span){ (size_t)lo - 1, (size_t)hi };
	}
	spans_to_uids(spans, n_spans, uids, out);
	free(spans);
}

/* The first position whose UID is >= uid (n when none). */
static size_t lower_bound(const uint32_t *uids, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void imap_seqset_uids(const struct imap_seqset *set, const uint32_t *uids, size_t n,
		      struct store_uid_list *out)
{
	struct span *spans = xmalloc((set->count ? set->count : 1) * sizeof *spans);
	size_t n_spans = 0;
	for (size_t i = 0; n > 0 && i < set->count; i++) {
		uint32_t lo = set->ranges[i].lo, hi = set->ranges[i].hi;
		if (hi == UINT32_MAX)   /* "*": the largest UID, so "500:*" is "300:500" */
			hi = uids[n - 1];
		if (lo > hi) {
			uint32_t t = lo;
			lo = hi;
			hi = t;
		}
		size_t from = lower_bound(uids, n, lo);
		size_t to = hi == UINT32_MAX ? n : lower_bound(uids, n, hi + 1);
		if (from < to)
			spans[n_spans++] = (struct span){ from, to };
	}
	spans_to_uids(spans, n_spans, uids, out);
	free(spans);
}

uint32_t imap_uid_to_seq(const uint32_t *uids, size_t n, uint32_t uid)
{
	size_t i = lower_bound(uids, n, uid);
	if (i == n || uids[i] != uid)
		return 0;
	return (uint32_t)(i + 1);
}

/* ---- writing ---- */

/* The number of UIDs from uids[i] on that follow each other (1 at least). */
static size_t run_length(const uint32_t *uids, size_t n, size_t i)
{
	size_t k = i + 1;
	while (k < n && uids[k - 1] != UINT32_MAX && uids[k] == uids[k - 1] + 1)
		k++;
	return k - i;
}

void imap_seqset_write(const uint32_t *uids, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n;) {
		size_t run = run_length(uids, n, i);
		if (i > 0)
			buf_putc(out, ',');
		if (run == 1)
			buf_appendf(out, "%u", uids[i]);
		else
			buf_appendf(out, "%u:%u", uids[i], uids[i + run - 1]);
		i += run;
	}
}

struct store_uid_range *imap_uid_list_ranges(const uint32_t *uids, size_t n, size_t *count_r)
{
	/* Never NULL, even for no UIDs: a NULL set means every message. */
	struct store_uid_range *r = xmalloc((n ? n : 1) * sizeof *r);
	size_t count = 0;
	for (size_t i = 0; i < n;) {
		size_t run = run_length(uids, n, i);
		r[count++] = (struct store_uid_range){ uids[i], uids[i + run - 1] };
		i += run;
	}
	*count_r = count;
	return r;
}
