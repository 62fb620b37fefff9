/* SORT (RFC 5256 section 3, RFC 5957): the base subject, sort criteria,
 * the per-message record and the sort itself. THREAD is in imap_thread.c. */
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "imap/imap_search_int.h"
#include "imap/imap_sort.h"
#include "mime/mime.h"

/* ---- base subject (RFC 5256 2.1) ----
 *
 *   subject         = *subj-leader [subj-middle] *subj-trailer
 *   subj-refwd      = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
 *   subj-blob       = "[" *BLOBCHAR "]" *WSP
 *   subj-fwd        = subj-fwd-hdr subject subj-fwd-trl
 *   subj-fwd-hdr    = "[fwd:"
 *   subj-fwd-trl    = "]"
 *   subj-leader     = (*subj-blob subj-refwd) / WSP
 *   subj-middle     = *subj-blob (subj-base / subj-fwd)
 *                   ; last subj-blob is subj-base if subj-base would
 *                   ; otherwise be empty
 *   subj-trailer    = "(fwd)" / WSP
 *   subj-base       = NONWSP *(*WSP NONWSP)
 *                   ; can be a subj-blob
 *   BLOBCHAR        = %x01-5a / %x5c / %x5e-ff
 *                   ; any CHAR8 except '[' and ']'
 *
 * (1) Decode (the store's subject is decoded UTF-8), tabs and line breaks
 *     to spaces, runs of spaces to one.
 * (2) Remove subj-trailer at the end, repeatedly.
 * (3) Remove subj-leader at the start, repeatedly.
 * (4) Remove a leading subj-blob when what is left is a non-empty subj-base.
 * (5) Repeat (3) and (4) until nothing changes.
 * (6) If the text is subj-fwd-hdr ... subj-fwd-trl, remove them and repeat
 *     from (2). */

struct subj {
	const char *d;
	size_t s, e;              /* the text left: d[s..e) */
	bool refwd;
};

/* subj-blob at p: the position after it (and its WSP), or 0. */
static size_t blob_end(const struct subj *x, size_t p)
{
	if (p >= x->e || x->d[p] != '[')
		return 0;
	for (size_t q = p + 1; q < x->e; q++) {
		if (x->d[q] == '[')
			return 0;
		if (x->d[q] == ']') {
			q++;
			while (q < x->e && x->d[q] == ' ')
				q++;
			return q;
		}
	}
	return 0;
}

/* subj-refwd at p: the position after its ":", or 0. */
static size_t refwd_end(const struct subj *x, size_t p)
{
	size_t q;
	if (x->e - p >= 3 && imap_word_eq(x->d + p, 3, "fwd"))
		q = p + 3;
	else if (x->e - p >= 2 && (imap_word_eq(x->d + p, 2, "fw") ||
				   imap_word_eq(x->d + p, 2, "re")))
		q = p + 2;
	else
		return 0;
	while (q < x->e && x->d[q] == ' ')
		q++;
	size_t b = blob_end(x, q);
	if (b != 0)
		q = b;
	return q < x->e && x->d[q] == ':' ? q + 1 : 0;
}

/* Step 2. */
static void strip_trailers(struct subj *x)
{
	for (;;) {
		if (x->e > x->s && x->d[x->e - 1] == ' ') {
			x->e--;
		} else if (x->e - x->s >= 5 && imap_word_eq(x->d + x->e - 5, 5, "(fwd)")) {
			x->e -= 5;
			x->refwd = true;
		} else {
			return;
		}
	}
}

/* Step 3: subj-leader = (*subj-blob subj-refwd) / WSP, repeatedly. */
static void strip_leaders(struct subj *x)
{
	for (;;) {
		if (x->s < x->e && x->d[x->s] == ' ') {
			x->s++;
			continue;
		}
		size_t p = x->s, b;
		while ((b = blob_end(x, p)) != 0)
			p = b;
		size_t r = refwd_end(x, p);
		if (r == 0)
			return;
		x->s = r;
		x->refwd = true;
	}
}

/* Step 4. */
static bool strip_blob(struct subj *x)
{
	size_t b = blob_end(x, x->s);
	if (b == 0 || b >= x->e)
		return false;
	x->s = b;
	return true;
}

/* Step 6. */
static bool strip_fwd(struct subj *x)
{
	if (x->e - x->s < 6 || !imap_word_eq(x->d + x->s, 5, "[fwd:") || x->d[x->e - 1] != ']')
		return false;
	x->s += 5;
	x->e -= 1;
	return true;
}

/* Step 1. */
static void normalise_space(const char *subject, struct buf *out)
{
	bool space = false;
	for (const char *p = subject; *p != '\0'; p++) {
		bool ws = *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n';
		if (ws && space)
			continue;
		buf_putc(out, ws ? ' ' : *p);
		space = ws;
	}
}

void imap_base_subject(const char *subject, struct buf *out, bool *reply_or_fwd_r)
{
	struct buf b = BUF_INIT;
	normalise_space(subject != NULL ? subject : "", &b);
	struct subj x = { b.data != NULL ? b.data : "", 0, b.len, false };
	do {
		strip_trailers(&x);
		size_t before;
		do {
			before = x.s;
			strip_leaders(&x);
			strip_blob(&x);
		} while (x.s != before);
	} while (strip_fwd(&x));
	buf_append(out, x.d + x.s, x.e - x.s);
	if (reply_or_fwd_r != NULL)
		*reply_or_fwd_r = x.refwd;
	buf_free(&b);
}

/* ---- sort criteria ----
 *   sort-criteria = "(" sort-criterion *(SP sort-criterion) ")"
 *   sort-criterion = ["REVERSE" SP] sort-key
 *   sort-key = "ARRIVAL" / "CC" / "DATE" / "FROM" / "SIZE" /
 *              "SUBJECT" / "TO"                              (RFC 5256)
 *   sort-key =/ "DISPLAYFROM" / "DISPLAYTO"                  (RFC 5957) */

static const char *const sort_key_names[] = {
	[IMAP_SORT_ARRIVAL] = "ARRIVAL", [IMAP_SORT_CC] = "CC", [IMAP_SORT_DATE] = "DATE",
	[IMAP_SORT_FROM] = "FROM", [IMAP_SORT_SIZE] = "SIZE", [IMAP_SORT_SUBJECT] = "SUBJECT",
	[IMAP_SORT_TO] = "TO", [IMAP_SORT_DISPLAYFROM] = "DISPLAYFROM",
	[IMAP_SORT_DISPLAYTO] = "DISPLAYTO",
};

static int sort_key(const struct imap_arg *a)
{
	if (a->type != IMAP_ARG_ATOM)
		return -1;
	for (size_t k = 0; k < sizeof sort_key_names / sizeof sort_key_names[0]; k++)
		if (imap_word_eq(a->str, a->len, sort_key_names[k]))
			return (int)k;
	return -1;
}

int imap_sort_parse(const struct imap_arg *arg, struct imap_sort_program *prog_r,
		    const char **error_r)
{
	memset(prog_r, 0, sizeof *prog_r);
	if (arg->type != IMAP_ARG_LIST || arg->count == 0) {
		*error_r = "Sort criteria must be a list";
		return -1;
	}
	for (size_t i = 0; i < arg->count; i++) {
		const struct imap_arg *a = &arg->list[i];
		bool reverse = a->type == IMAP_ARG_ATOM && imap_word_eq(a->str, a->len, "REVERSE");
		if (reverse && ++i == arg->count) {
			*error_r = "REVERSE without a sort key";
			return -1;
		}
		int key = sort_key(&arg->list[i]);
		if (key < 0) {
			*error_r = "Unknown sort key";
			return -1;
		}
		if (prog_r->count == IMAP_SORT_MAX_CRITERIA) {
			*error_r = "Too many sort criteria";
			return -1;
		}
		prog_r->crit[prog_r->count].key = (enum imap_sort_key)key;
		prog_r->crit[prog_r->count++].reverse = reverse;
	}
	return 0;
}

unsigned imap_sort_fetch_mask(const struct imap_sort_program *prog)
{
	unsigned mask = 0;
	for (size_t i = 0; i < prog->count; i++) {
		switch (prog->crit[i].key) {
		case IMAP_SORT_SUBJECT:
		case IMAP_SORT_DATE:
			mask |= STORE_FETCH_SEARCH;
			break;
		case IMAP_SORT_ARRIVAL:
		case IMAP_SORT_SIZE:
			break;
		default:
			mask |= STORE_FETCH_HEADER;
			break;
		}
	}
	return mask;
}

/* ---- the record ---- */

enum rec_field { RF_SUBJECT, RF_FROM, RF_TO, RF_CC, RF_DFROM, RF_DTO, RF_MSGID, RF_IRT,
		 RF_REFS, RF_COUNT };

/* The first address of the first field called name: its casemapped
 * mailbox, and its display form (RFC 5957: the decoded display name, or
 * mailbox@host without one). Group names are skipped. */
static void first_address(const char *hdr, size_t len, const char *name, struct buf *mailbox,
			  struct buf *display)
{
	size_t pos = 0, vlen;
	const char *v;
	if (hdr == NULL || !imap_header_find(hdr, len, &pos, name, &v, &vlen))
		return;
	struct mime_address *list;
	size_t n;
	mime_address_parse(v, vlen, &list, &n);
	for (size_t i = 0; i < n; i++) {
		const struct mime_address *a = &list[i];
		if (a->domain == NULL || a->mailbox == NULL)
			continue;
		imap_casemap(a->mailbox, strlen(a->mailbox), mailbox);
		struct buf d = BUF_INIT;
		if (a->name != NULL)
			mime_decode_header(a->name, strlen(a->name), &d);
		if (d.len == 0)
			buf_appendf(&d, "%s@%s", a->mailbox, a->domain);
		if (display != NULL)
			imap_casemap(d.data, d.len, display);
		buf_free(&d);
		break;
	}
	mime_address_list_free(&list, &n);
}

static bool raw_field(const char *hdr, size_t len, const char *name, struct buf *out)
{
	size_t pos = 0, vlen;
	const char *v;
	if (hdr == NULL || !imap_header_find(hdr, len, &pos, name, &v, &vlen))
		return false;
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	buf_append(out, v, vlen);
	return true;
}

void imap_sort_msg_init(struct imap_sort_msg *rec, uint32_t seq, const struct store_message *m,
			const char *header, size_t header_len)
{
	struct buf f[RF_COUNT];
	bool present[RF_COUNT] = { false };
	memset(rec, 0, sizeof *rec);
	for (size_t i = 0; i < RF_COUNT; i++)
		buf_init(&f[i]);
	rec->seq = seq;
	rec->uid = m->uid;
	rec->internaldate = m->internaldate;
	rec->sent_date = m->sent_date;
	rec->size = m->size;

	struct buf base = BUF_INIT;
	imap_base_subject(m->subject, &base, &rec->reply_or_fwd);
	imap_casemap(base.data != NULL ? base.data : "", base.len, &f[RF_SUBJECT]);
	buf_free(&base);
	first_address(header, header_len, "From", &f[RF_FROM], &f[RF_DFROM]);
	first_address(header, header_len, "To", &f[RF_TO], &f[RF_DTO]);
	first_address(header, header_len, "Cc", &f[RF_CC], NULL);
	present[RF_MSGID] = raw_field(header, header_len, "Message-ID", &f[RF_MSGID]);
	present[RF_IRT] = raw_field(header, header_len, "In-Reply-To", &f[RF_IRT]);
	present[RF_REFS] = raw_field(header, header_len, "References", &f[RF_REFS]);

	/* One allocation: the strings one after the other, NUL-separated. */
	size_t off[RF_COUNT], total = 0;
	for (size_t i = 0; i < RF_COUNT; i++) {
		off[i] = total;
		total += f[i].len + 1;
	}
	rec->storage_ = xmalloc(total);
	for (size_t i = 0; i < RF_COUNT; i++) {
		if (f[i].len > 0)
			memcpy(rec->storage_ + off[i], f[i].data, f[i].len);
		rec->storage_[off[i] + f[i].len] = '\0';
		buf_free(&f[i]);
	}
	const char *s = rec->storage_;
	rec->base_subject = s + off[RF_SUBJECT];
	rec->from = s + off[RF_FROM];
	rec->to = s + off[RF_TO];
	rec->cc = s + off[RF_CC];
	rec->display_from = s + off[RF_DFROM];
	rec->display_to = s + off[RF_DTO];
	rec->message_id = present[RF_MSGID] ? s + off[RF_MSGID] : NULL;
	rec->in_reply_to = present[RF_IRT] ? s + off[RF_IRT] : NULL;
	rec->references = present[RF_REFS] ? s + off[RF_REFS] : NULL;
}

void imap_sort_msg_clear(struct imap_sort_msg *rec)
{
	free(rec->storage_);
	memset(rec, 0, sizeof *rec);
}

/* ---- sorting ---- */

static int cmp_num(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static int cmp_time(time_t a, time_t b)
{
	return a < b ? -1 : a > b;
}

static int cmp_str(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "");
}

/* RFC 5256 2.2: the sent date is the Date: field, or INTERNALDATE without one. */
static time_t sent_date(const struct imap_sort_msg *m)
{
	return m->sent_date != 0 ? m->sent_date : m->internaldate;
}

static int cmp_key(enum imap_sort_key key, const struct imap_sort_msg *a,
		   const struct imap_sort_msg *b)
{
	switch (key) {
	case IMAP_SORT_ARRIVAL: return cmp_time(a->internaldate, b->internaldate);
	case IMAP_SORT_CC: return cmp_str(a->cc, b->cc);
	case IMAP_SORT_DATE: return cmp_time(sent_date(a), sent_date(b));
	case IMAP_SORT_FROM: return cmp_str(a->from, b->from);
	case IMAP_SORT_SIZE: return cmp_num(a->size, b->size);
	case IMAP_SORT_SUBJECT: return cmp_str(a->base_subject, b->base_subject);
	case IMAP_SORT_TO: return cmp_str(a->to, b->to);
	case IMAP_SORT_DISPLAYFROM: return cmp_str(a->display_from, b->display_from);
	case IMAP_SORT_DISPLAYTO: return cmp_str(a->display_to, b->display_to);
	}
	return 0;
}

static int cmp_msgs(const void *x, const void *y, void *ctx)
{
	const struct imap_sort_program *prog = ctx;
	const struct imap_sort_msg *a = x, *b = y;
	for (size_t i = 0; i < prog->count; i++) {
		int c = cmp_key(prog->crit[i].key, a, b);
		if (c != 0)
			return prog->crit[i].reverse ? -c : c;
	}
	return cmp_num(a->seq, b->seq);
}

void imap_sort(struct imap_sort_msg *msgs, size_t n, const struct imap_sort_program *prog)
{
	if (n > 1)
		qsort_r(msgs, n, sizeof *msgs, cmp_msgs, (void *)prog);
}
