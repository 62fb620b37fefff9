/* The streaming structure parser. Bytes go in with mime_parser_feed() in
 * any split; the parser looks at one line at a time and keeps only the
 * first bytes of a body line (enough to see a boundary), the header fields
 * it needs (each up to max_header_line), the open parts and the tree.
 *
 * RFC 2046 5.1.1:
 *   multipart-body := [preamble CRLF] dash-boundary transport-padding CRLF
 *                     body-part *encapsulation close-delimiter
 *                     transport-padding [CRLF epilogue]
 *   encapsulation := delimiter transport-padding CRLF body-part
 *   delimiter := CRLF dash-boundary
 *   dash-boundary := "--" boundary
 *   close-delimiter := delimiter "--"
 * "The CRLF preceding the boundary delimiter line is conceptually attached
 * to the boundary", so a part's body ends before it. As in Dovecot and UW
 * imapd, a line matches when it starts with "--" boundary (what follows is
 * not checked), the innermost open boundary is tried first, a match of an
 * outer boundary ends the inner parts, a bare LF ends a line like CRLF,
 * and the boundary of a multipart whose close-delimiter was seen no longer
 * matches (its epilogue runs to the end of the enclosing part).
 */
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "mime/mime_int.h"

struct frame {
	struct mime_part *part;
	struct mime_message *msg;    /* the message this part is the root of, else NULL */
	char *boundary;              /* a multipart whose body is being read */
	size_t boundary_len;
	bool in_header;
	bool closed;                 /* its close-delimiter was seen */
	bool digest;                 /* multipart/digest */
	bool digest_child;           /* a part of a multipart/digest */
	uint64_t lf_at_header;       /* LFs before header_start */
	uint64_t lf_at_body;         /* LFs before body_start */
};

enum { FIELD_NONE = -1, FIELD_SKIP = -2 };

struct mime_parser {
	struct mime_limits limits;
	struct mime_message *msg;
	struct frame *stack;
	size_t depth, stack_cap;
	size_t n_parts;
	bool boundaries_off;         /* the part limit was hit */

	uint64_t offset;             /* bytes consumed */
	uint64_t lf_count;           /* LFs before the current line */
	uint64_t line_start;
	unsigned prev_eol;           /* end-of-line length of the previous line */
	uint64_t line_len;           /* bytes of the current line so far */
	unsigned char last;          /* the byte before the current one */
	struct buf line;             /* the first bytes of the current line */
	size_t line_keep;

	int field;                   /* the header field being read */
	struct buf value;
	struct buf fields[MF_COUNT]; /* the kept fields of this header */
	bool have[MF_COUNT];
};

static struct frame *top(struct mime_parser *p)
{
	return &p->stack[p->depth - 1];
}

static size_t body_keep(void)
{
	return MIME_MAX_BOUNDARY + 4;
}

static void set_line_keep(struct mime_parser *p)
{
	size_t keep = body_keep();
	if (p->depth > 0 && top(p)->in_header && p->limits.max_header_line > keep)
		keep = p->limits.max_header_line;
	p->line_keep = keep;
}

static struct frame *push(struct mime_parser *p, struct mime_part *part, struct mime_message *msg,
			  uint64_t header_start, uint64_t lf_at_header)
{
	if (p->depth == p->stack_cap) {
		p->stack_cap = p->stack_cap ? p->stack_cap * 2 : 8;
		p->stack = xrealloc(p->stack, p->stack_cap * sizeof *p->stack);
	}
	struct frame *f = &p->stack[p->depth++];
	memset(f, 0, sizeof *f);
	f->part = part;
	f->msg = msg;
	f->in_header = true;
	f->lf_at_header = lf_at_header;
	part->header_start = header_start;
	p->n_parts++;
	return f;
}

struct mime_parser *mime_parser_new(const struct mime_limits *limits)
{
	struct mime_parser *p = xcalloc(1, sizeof *p);
	p->limits.max_depth = MIME_DEFAULT_MAX_DEPTH;
	p->limits.max_parts = MIME_DEFAULT_MAX_PARTS;
	p->limits.max_header_line = MIME_DEFAULT_MAX_HEADER_LINE;
	if (limits != NULL) {
		if (limits->max_depth > 0)
			p->limits.max_depth = limits->max_depth;
		if (limits->max_parts > 0)
			p->limits.max_parts = limits->max_parts;
		if (limits->max_header_line > 0)
			p->limits.max_header_line = limits->max_header_line;
	}
	p->msg = xcalloc(1, sizeof *p->msg);
	p->field = FIELD_NONE;
	push(p, &p->msg->root, p->msg, 0, 0);
	set_line_keep(p);
	return p;
}

/* ---- header fields ---- */

static void free_fields(struct mime_parser *p)
{
	for (int i = 0; i < MF_COUNT; i++) {
		buf_free(&p->fields[i]);
		p->have[i] = false;
	}
}

/* The value as kept: leading whitespace removed, NUL as U+FFFD (a C
 * string cannot hold it; Dovecot does the same). */
static char *clean_value(const struct buf *v, size_t *len_r)
{
	struct buf out = BUF_INIT;
	size_t i = 0;
	while (i < v->len && (v->data[i] == ' ' || v->data[i] == '\t'))
		i++;
	mime_buf_ready(&out, v->len - i);
	for (; i < v->len; i++) {
		if (v->data[i] == '\0')
			buf_append(&out, "\xEF\xBF\xBD", 3);
		else
			buf_putc(&out, v->data[i]);
	}
	*len_r = out.len;
	return buf_steal(&out);
}

static void flush_field(struct mime_parser *p)
{
	int idx = p->field;
	p->field = FIELD_NONE;
	if (idx < 0)
		return;
	size_t len;
	char *v = clean_value(&p->value, &len);
	buf_clear(&p->value);
	struct buf *f = &p->fields[idx];
	if (p->have[idx] && mime_field_is_address(idx)) {
		if (f->len + 1 + len <= p->limits.max_header_line) {
			buf_putc(f, '\n');
			buf_append(f, v, len);
		}
	} else if (!p->have[idx] || mime_field_last_wins(idx)) {
		buf_set(f, v, len);
		p->have[idx] = true;
	}
	free(v);
}

static void append_value(struct mime_parser *p, const char *s, size_t n)
{
	size_t room = p->limits.max_header_line > p->value.len
			      ? p->limits.max_header_line - p->value.len : 0;
	if (n > room) {
		n = room;
		p->msg->truncated = true;
	}
	buf_append(&p->value, s, n);
}

/*
 * RFC 5322 2.2:
 *   field-name = 1*ftext
 *   ftext      = %d33-57 / %d59-126   ; printable US-ASCII except ":"
 * obs-optional (4.5) allows WSP before the colon. A line without a colon
 * is not a field; it is skipped and the header goes on (as in Dovecot).
 */
static void start_field(struct mime_parser *p, const char *l, size_t n, bool cut)
{
	flush_field(p);
	const char *colon = memchr(l, ':', n);
	if (colon == NULL) {
		p->field = FIELD_SKIP;
		return;
	}
	size_t name_len = (size_t)(colon - l);
	while (name_len > 0 && (l[name_len - 1] == ' ' || l[name_len - 1] == '\t'))
		name_len--;
	int idx = mime_field_lookup(l, name_len);
	if (idx < 0) {
		p->field = FIELD_SKIP;
		return;
	}
	p->field = idx;
	buf_clear(&p->value);
	append_value(p, colon + 1, n - (size_t)(colon + 1 - l));
	if (cut)
		p->msg->truncated = true;
}

/* ---- the part tree ---- */

static const char *boundary_param(const struct mime_part *part)
{
	for (size_t i = 0; i < part->n_params; i++)
		if (strcasecmp(part->params[i].bs_name, "boundary") == 0)
			return part->params[i].bs_value;
	return NULL;
}

static bool is_message_type(const struct mime_part *part)
{
	return strcmp(part->type, "message") == 0 &&
	       (strcmp(part->subtype, "rfc822") == 0 || strcmp(part->subtype, "global") == 0);
}

/* The header of the top part ends; its body starts at body_start. Returns
 * true when that pushed the root of an encapsulated message. */
static bool end_header(struct mime_parser *p, uint64_t body_start, uint64_t lf_at_body)
{
	flush_field(p);
	struct frame *f = top(p);
	struct mime_part *part = f->part;
	part->body_start = body_start;
	part->header_lines = lf_at_body - f->lf_at_header;
	f->lf_at_body = lf_at_body;
	f->in_header = false;
	char *fields[MF_COUNT];
	size_t lens[MF_COUNT];
	for (int i = 0; i < MF_COUNT; i++) {
		fields[i] = p->have[i] ? p->fields[i].data : NULL;
		lens[i] = p->fields[i].len;
	}
	mime_part_from_fields(part, f->msg, fields, lens, f->digest_child);
	free_fields(p);

	bool depth_ok = p->depth - 1 < p->limits.max_depth;
	if (mime_part_is_multipart(part)) {
		const char *b = boundary_param(part);
		if (b == NULL || strlen(b) > MIME_MAX_BOUNDARY)
			return false;
		if (!depth_ok) {
			p->msg->truncated = true;
			return false;
		}
		f->boundary = xstrdup(b);
		f->boundary_len = strlen(b);
		f->digest = strcmp(part->subtype, "digest") == 0;
		return false;
	}
	if (!is_message_type(part))
		return false;
	if (!depth_ok || p->n_parts >= p->limits.max_parts) {
		p->msg->truncated = true;
		return false;
	}
	part->message = xcalloc(1, sizeof *part->message);
	push(p, &part->message->root, part->message, body_start, lf_at_body);
	return true;
}

/* End the top part at `end` (LFs before it: lf_end). A part still in its
 * header first gets its header parsed (which may open an encapsulated
 * message, ended in turn by the caller's loop). */
static void close_top(struct mime_parser *p, uint64_t end, uint64_t lf_end)
{
	struct frame *f = top(p);
	if (f->in_header) {
		uint64_t start = end > f->part->header_start ? end : f->part->header_start;
		uint64_t lf = lf_end > f->lf_at_header ? lf_end : f->lf_at_header;
		if (end_header(p, start, lf))
			return;
		f = top(p);
	}
	struct mime_part *part = f->part;
	if (end > part->body_start) {
		part->body_end = end;
		part->body_lines = lf_end - f->lf_at_body;
	} else {
		part->body_end = part->body_start;
		part->body_lines = 0;
	}
	free(f->boundary);
	p->depth--;
}

/* The frame whose boundary starts this line. Several may: the longest
 * boundary wins, the innermost among equals (Dovecot does the same; with
 * "ab" outside "a", a line "--ab" belongs to the outer one). */
static int find_boundary(struct mime_parser *p, bool *close_r)
{
	const char *l = p->line.data;
	size_t n = p->line.len;
	int best = -1;
	if (p->boundaries_off || n < 2 || l[0] != '-' || l[1] != '-')
		return -1;
	for (size_t i = p->depth; i-- > 0;) {
		const struct frame *f = &p->stack[i];
		if (f->boundary == NULL || f->closed || n - 2 < f->boundary_len ||
		    memcmp(l + 2, f->boundary, f->boundary_len) != 0)
			continue;
		if (best < 0 || p->stack[best].boundary_len < f->boundary_len)
			best = (int)i;
	}
	if (best >= 0) {
		size_t blen = p->stack[best].boundary_len;
		*close_r = n - 2 - blen >= 2 && l[2 + blen] == '-' && l[3 + blen] == '-';
	}
	return best;
}

/* A boundary line of stack[k]; the next line starts at `next`. */
static void on_boundary(struct mime_parser *p, size_t k, bool close, uint64_t next,
			uint64_t lf_next)
{
	if (!close && p->n_parts >= p->limits.max_parts) {
		/* The rest of the message stays in the part now open. */
		p->msg->truncated = true;
		p->boundaries_off = true;
		return;
	}
	/* The line break before the boundary belongs to it, unless it ends
	 * a header line (or the header's empty line): a header keeps its
	 * line breaks, as in Dovecot. */
	const struct frame *t = top(p);
	bool after_header = t->in_header || t->part->body_start == p->line_start;
	uint64_t end = after_header ? p->line_start : p->line_start - p->prev_eol;
	uint64_t lf_end = after_header ? p->lf_count : p->lf_count - (p->prev_eol > 0 ? 1 : 0);
	while (p->depth - 1 > k)
		close_top(p, end, lf_end);
	struct frame *f = &p->stack[k];
	if (close) {
		f->closed = true;
		return;
	}
	struct mime_part *mp = f->part;
	mp->children = xrealloc(mp->children, (mp->n_children + 1) * sizeof *mp->children);
	struct mime_part *child = &mp->children[mp->n_children++];
	memset(child, 0, sizeof *child);
	bool digest = f->digest;
	struct frame *cf = push(p, child, NULL, next, lf_next);
	cf->digest_child = digest;
}

/* One complete line (eol: 2 for CRLF, 1 for LF, 0 at the end of input);
 * p->line holds its first bytes, content_len is its length without eol. */
static void handle_line(struct mime_parser *p, uint64_t content_len, unsigned eol)
{
	uint64_t next = p->line_start + content_len + eol;
	uint64_t lf_next = p->lf_count + (eol > 0 ? 1 : 0);
	const char *l = p->line.data;
	bool close;
	int k;

	if (!top(p)->in_header) {
		if ((k = find_boundary(p, &close)) >= 0)
			on_boundary(p, (size_t)k, close, next, lf_next);
		return;
	}
	if (content_len == 0) {
		/* The empty line that ends the header. */
		end_header(p, next, lf_next);
		return;
	}
	if (l[0] == ' ' || l[0] == '\t') {
		/* RFC 5322 2.2.3: unfolding removes the CRLF before WSP. */
		if (p->field >= 0)
			append_value(p, l, p->line.len);
		return;
	}
	if ((k = find_boundary(p, &close)) >= 0) {
		on_boundary(p, (size_t)k, close, next, lf_next);
		return;
	}
	start_field(p, l, p->line.len, content_len > p->line.len);
}

static void end_line(struct mime_parser *p, unsigned eol)
{
	uint64_t content_len = p->line_len - (eol == 2 ? 1 : 0);
	if (p->line.len > content_len)
		buf_truncate(&p->line, (size_t)content_len);
	handle_line(p, content_len, eol);
	if (eol > 0)
		p->lf_count++;
	p->line_start += p->line_len + (eol > 0 ? 1 : 0);
	p->prev_eol = eol;
	p->line_len = 0;
	buf_clear(&p->line);
	set_line_keep(p);
}

void mime_parser_feed(struct mime_parser *p, const void *data, size_t len)
{
	const unsigned char *d = data;
	size_t i = 0;
	mime_buf_ready(&p->line, 0);
	while (i < len) {
		if (d[i] == '\n') {
			end_line(p, p->last == '\r' ? 2 : 1);
			p->last = '\n';
			p->offset++;
			i++;
			continue;
		}
		if (p->line.len >= p->line_keep) {
			/* The rest of a long line: only its end matters. */
			const unsigned char *nl = memchr(d + i, '\n', len - i);
			size_t n = nl != NULL ? (size_t)(nl - (d + i)) : len - i;
			p->line_len += n;
			p->offset += n;
			p->last = d[i + n - 1];
			i += n;
			continue;
		}
		buf_putc(&p->line, (char)d[i]);
		p->line_len++;
		p->offset++;
		p->last = d[i];
		i++;
	}
}

size_t mime_parser_buffered(const struct mime_parser *p)
{
	size_t n = p->line.cap + p->value.cap + p->stack_cap * sizeof *p->stack;
	for (size_t i = 0; i < p->depth; i++)
		n += p->stack[i].boundary_len;
	for (int i = 0; i < MF_COUNT; i++)
		n += p->fields[i].cap;
	return n;
}

struct mime_message *mime_parser_finish(struct mime_parser **pp)
{
	struct mime_parser *p = *pp;
	if (p->line_len > 0)
		end_line(p, 0);
	while (p->depth > 0)
		close_top(p, p->offset, p->lf_count);
	flush_field(p);
	free_fields(p);
	struct mime_message *m = p->msg;
	buf_free(&p->line);
	buf_free(&p->value);
	free(p->stack);
	xfree(pp);
	return m;
}

struct mime_message *mime_parse(const void *data, size_t len)
{
	struct mime_parser *p = mime_parser_new(NULL);
	mime_parser_feed(p, data, len);
	return mime_parser_finish(&p);
}
