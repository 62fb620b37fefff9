/* IMAP FETCH body sections: BODY[...], BINARY[...], BINARY.SIZE[...]. */
#include "imap/imap_section.h"

#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "imap/imap_args.h"

/* ---------------------------------------------------------------------
 * Parsing. From RFC 9051 section 9 (RFC 3501 has number/nz-number where
 * RFC 9051 has number64/nz-number64; RFC 3516 adds BINARY):
 *
 *   fetch-att       =/ "BODY" section [partial] /
 *                      "BODY.PEEK" section [partial] /
 *                      "BINARY" [".PEEK"] section-binary [partial] /
 *                      "BINARY.SIZE" section-binary
 *   section         = "[" [section-spec] "]"
 *   section-binary  = "[" [section-part] "]"
 *   section-spec    = section-msgtext / (section-part ["." section-text])
 *   section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list /
 *                     "TEXT"
 *   section-part    = nz-number *("." nz-number)
 *   section-text    = section-msgtext / "MIME"
 *   header-list     = "(" header-fld-name *(SP header-fld-name) ")"
 *   header-fld-name = astring
 *   partial         = "<" number64 "." nz-number64 ">"
 *   nz-number       = digit-nz *DIGIT        ; 0 < n < 4,294,967,296
 *   number64        = 1*DIGIT                ; 0 <= n <= 9,223,372,036,854,775,807
 *   nz-number64     = digit-nz *DIGIT        ; 0 < n <= 9,223,372,036,854,775,807
 *
 * A field name must also be one RFC 5322 3.6.8 allows:
 *   field-name = 1*ftext
 *   ftext      = %d33-57 / %d59-126          ; printable US-ASCII except ":"
 * --------------------------------------------------------------------- */

#define NZ_NUMBER_MAX UINT64_C(4294967295)
#define NUMBER64_MAX UINT64_C(9223372036854775807)

struct cursor {
	const char *s;
	size_t len, pos;
};

static bool at_end(const struct cursor *c)
{
	return c->pos >= c->len;
}

static char peek_char(const struct cursor *c)
{
	return at_end(c) ? '\0' : c->s[c->pos];
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static char ascii_upper(char ch)
{
	return ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch;
}

static char ascii_lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

/* Consume `word` (any case) if it comes next. */
static bool take_word(struct cursor *c, const char *word)
{
	size_t n = strlen(word);
	if (c->len - c->pos < n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (ascii_upper(c->s[c->pos + i]) != word[i])
			return false;
	c->pos += n;
	return true;
}

static bool take_char(struct cursor *c, char ch)
{
	if (peek_char(c) != ch || at_end(c))
		return false;
	c->pos++;
	return true;
}

/* number (nonzero=false) or nz-number (nonzero=true), at most max. */
static bool take_number(struct cursor *c, bool nonzero, uint64_t max, uint64_t *n_r)
{
	if (!is_digit(peek_char(c)) || (nonzero && peek_char(c) == '0'))
		return false;
	uint64_t n = 0;
	while (is_digit(peek_char(c))) {
		unsigned d = (unsigned)(c->s[c->pos] - '0');
		if (n > (max - d) / 10)
			return false;
		n = n * 10 + d;
		c->pos++;
	}
	*n_r = n;
	return true;
}

/* "BODY" / "BODY.PEEK" / "BINARY" / "BINARY.PEEK" / "BINARY.SIZE", then "[" */
static bool parse_kind(struct cursor *c, struct imap_section *sec)
{
	if (take_word(c, "BODY")) {
		sec->kind = IMAP_FETCH_BODY;
		sec->peek = take_word(c, ".PEEK");
	} else if (take_word(c, "BINARY")) {
		sec->kind = IMAP_FETCH_BINARY;
		if (take_word(c, ".SIZE"))
			sec->kind = IMAP_FETCH_BINARY_SIZE;
		else
			sec->peek = take_word(c, ".PEEK");
	} else {
		return false;
	}
	return take_char(c, '[');
}

/* section-part = nz-number *("." nz-number); stops before a "." that is not
 * followed by a digit (the start of section-text). */
static bool parse_part(struct cursor *c, struct imap_section *sec)
{
	size_t start = c->pos;
	for (;;) {
		uint64_t n;
		if (!take_number(c, true, NZ_NUMBER_MAX, &n))
			return false;
		if (peek_char(c) != '.' || c->pos + 1 >= c->len || !is_digit(c->s[c->pos + 1]))
			break;
		c->pos++;
	}
	sec->part = xstrndup(c->s + start, c->pos - start);
	return true;
}

static bool is_ftext(unsigned char ch)
{
	return ch >= 33 && ch <= 126 && ch != ':';
}

static bool valid_field_name(const struct buf *name)
{
	if (name->len == 0)
		return false;
	for (size_t i = 0; i < name->len; i++)
		if (!is_ftext((unsigned char)name->data[i]))
			return false;
	return true;
}

/* header-list = "(" header-fld-name *(SP header-fld-name) ")" */
static bool parse_header_list(struct cursor *c, struct imap_section *sec, const char **error_r)
{
	if (!take_char(c, '(')) {
		*error_r = "Missing header field list";
		return false;
	}
	struct buf name = BUF_INIT;
	bool ok = false;
	for (;;) {
		const char *err = NULL;
		size_t pos = c->pos;
		enum imap_arg_result r = imap_parse_astring(c->s, c->len, &pos, &name, &err);
		if (r != IMAP_ARG_OK) {
			*error_r = r == IMAP_ARG_LITERAL ? "Literal in header field list"
							 : "Invalid header field list";
			break;
		}
		if (!valid_field_name(&name)) {
			*error_r = "Invalid header field name";
			break;
		}
		c->pos = pos;
		sec->fields = xrealloc(sec->fields, (sec->n_fields + 1) * sizeof *sec->fields);
		sec->fields[sec->n_fields++] = xstrndup(name.data, name.len);
		if (take_char(c, ')')) {
			ok = true;
			break;
		}
		if (!take_char(c, ' ')) {
			*error_r = "Invalid header field list";
			break;
		}
	}
	buf_free(&name);
	return ok;
}

/* section-msgtext (with_mime=false) or section-text (with_mime=true).
 * "HEADER.FIELDS.NOT" is tried before its prefixes. */
static bool parse_text(struct cursor *c, struct imap_section *sec, bool with_mime,
		       const char **error_r)
{
	if (take_word(c, "HEADER.FIELDS.NOT ")) {
		sec->text = IMAP_SECTION_HEADER_FIELDS_NOT;
		return parse_header_list(c, sec, error_r);
	}
	if (take_word(c, "HEADER.FIELDS ")) {
		sec->text = IMAP_SECTION_HEADER_FIELDS;
		return parse_header_list(c, sec, error_r);
	}
	if (take_word(c, "HEADER"))
		sec->text = IMAP_SECTION_HEADER;
	else if (take_word(c, "TEXT"))
		sec->text = IMAP_SECTION_TEXT;
	else if (with_mime && take_word(c, "MIME"))
		sec->text = IMAP_SECTION_MIME;
	else {
		*error_r = with_mime ? "Invalid section text" : "Invalid section";
		return false;
	}
	return true;
}

/* The inside of the brackets, up to and including "]". */
static bool parse_section(struct cursor *c, struct imap_section *sec, const char **error_r)
{
	if (is_digit(peek_char(c))) {
		if (!parse_part(c, sec)) {
			*error_r = "Invalid section part number";
			return false;
		}
		if (sec->kind == IMAP_FETCH_BODY && take_char(c, '.') &&
		    !parse_text(c, sec, true, error_r))
			return false;
	} else {
		sec->part = xstrdup("");
		/* MIME alone: section-msgtext has no MIME (it needs a part). */
		if (sec->kind == IMAP_FETCH_BODY && peek_char(c) != ']' &&
		    !parse_text(c, sec, false, error_r))
			return false;
	}
	if (!take_char(c, ']')) {
		*error_r = sec->kind == IMAP_FETCH_BODY ? "Invalid section"
							: "BINARY takes only a part number";
		return false;
	}
	return true;
}

/* partial = "<" number64 "." nz-number64 ">" */
static bool parse_partial(struct cursor *c, struct imap_section *sec, const char **error_r)
{
	if (!take_char(c, '<'))
		return true;
	if (sec->kind == IMAP_FETCH_BINARY_SIZE) {
		*error_r = "BINARY.SIZE takes no partial";
		return false;
	}
	if (!take_number(c, false, NUMBER64_MAX, &sec->offset) || !take_char(c, '.') ||
	    !take_number(c, true, NUMBER64_MAX, &sec->length) || !take_char(c, '>')) {
		*error_r = "Invalid partial";
		return false;
	}
	sec->partial = true;
	return true;
}

bool imap_section_parse(const char *atom, size_t len, struct imap_section *sec,
			const char **error_r)
{
	struct cursor c = { atom, len, 0 };
	memset(sec, 0, sizeof *sec);
	if (!parse_kind(&c, sec)) {
		*error_r = "Invalid fetch attribute";
		return false;
	}
	if (!parse_section(&c, sec, error_r) || !parse_partial(&c, sec, error_r))
		goto fail;
	if (!at_end(&c)) {
		*error_r = "Junk after the section";
		goto fail;
	}
	return true;
fail:
	imap_section_clear(sec);
	return false;
}

void imap_section_clear(struct imap_section *sec)
{
	for (size_t i = 0; i < sec->n_fields; i++)
		free(sec->fields[i]);
	free(sec->fields);
	free(sec->part);
	memset(sec, 0, sizeof *sec);
}

/* ---------------------------------------------------------------------
 * The response's name (RFC 9051 7.5.2):
 *   msg-att-static =/ "BODY" section ["<" number ">"] SP nstring /
 *                     "BINARY" section-binary SP (nstring / literal8) /
 *                     "BINARY.SIZE" section-binary SP number
 * The ABNF of RFC 9051 gives BINARY no origin, but its prose in 7.5.2
 * ("BINARY[<section-binary>]<<number>>") and RFC 3516 section 9 do, and
 * so does Dovecot: a partial BINARY shows its origin too (erratum 7246 is
 * only "Reported").
 * --------------------------------------------------------------------- */

static const char *const text_names[] = {
	[IMAP_SECTION_ALL] = "",
	[IMAP_SECTION_HEADER] = "HEADER",
	[IMAP_SECTION_HEADER_FIELDS] = "HEADER.FIELDS",
	[IMAP_SECTION_HEADER_FIELDS_NOT] = "HEADER.FIELDS.NOT",
	[IMAP_SECTION_TEXT] = "TEXT",
	[IMAP_SECTION_MIME] = "MIME",
};

static const char *const kind_names[] = {
	[IMAP_FETCH_BODY] = "BODY",
	[IMAP_FETCH_BINARY] = "BINARY",
	[IMAP_FETCH_BINARY_SIZE] = "BINARY.SIZE",
};

/* ATOM-CHAR: any CHAR except "(" / ")" / "{" / SP / CTL / "%" / "*" /
 * DQUOTE / "\" / "]". Field names are ftext, so only these need quoting. */
static bool is_atom_char(char ch)
{
	return ch > 0x20 && ch < 0x7f && strchr("(){%*\"\\]", ch) == NULL;
}

/* astring: an atom when it can be, else a quoted string. */
static void write_field_name(const char *name, struct buf *out)
{
	bool atom = true;
	for (const char *p = name; *p != '\0'; p++)
		atom = atom && is_atom_char(*p);
	if (!atom)
		buf_putc(out, '"');
	for (const char *p = name; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			buf_putc(out, '\\');
		buf_putc(out, ascii_upper(*p));
	}
	if (!atom)
		buf_putc(out, '"');
}

void imap_section_write_name(const struct imap_section *sec, struct buf *out)
{
	buf_append_str(out, kind_names[sec->kind]);
	buf_putc(out, '[');
	buf_append_str(out, sec->part);
	if (sec->text != IMAP_SECTION_ALL) {
		if (sec->part[0] != '\0')
			buf_putc(out, '.');
		buf_append_str(out, text_names[sec->text]);
	}
	if (sec->n_fields > 0) {
		buf_append_str(out, " (");
		for (size_t i = 0; i < sec->n_fields; i++) {
			if (i > 0)
				buf_putc(out, ' ');
			write_field_name(sec->fields[i], out);
		}
		buf_putc(out, ')');
	}
	buf_putc(out, ']');
	if (sec->partial)
		buf_appendf(out, "<%llu>", (unsigned long long)sec->offset);
}

/* ---------------------------------------------------------------------
 * Extraction (RFC 9051 6.4.5, BODY[<section>]<<partial>>):
 *
 *   "Every message has at least one part number. Non-[MIME-IMB] messages,
 *   and non-multipart [MIME-IMB] messages with no encapsulated message,
 *   only have a part 1." mime_find_part() does that numbering; "1" of a
 *   single-part message is its body.
 *
 *   "The HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, and TEXT part specifiers
 *   can be the sole part specifier or can be prefixed by one or more numeric
 *   part specifiers, provided that the numeric part specifier refers to a
 *   part of type MESSAGE/RFC822 or MESSAGE/GLOBAL." They then name the
 *   encapsulated message's header and body (part->message->root).
 *
 *   "The MIME part specifier refers to the [MIME-IMB] header for this part."
 *
 *   BODY[N] without a text is the part's body: for a message/rfc822 part
 *   the whole encapsulated message, for a multipart its body with the
 *   boundaries.
 *
 *   "Subsetting does not exclude the [RFC-5322] delimiting blank line
 *   between the header and the body; the blank line is included in all
 *   header fetches, except in the case of a message that has no body and
 *   no blank line."
 *
 * RFC 9051 does not say what a section the message does not have gives.
 * As Dovecot and UW imapd, BODY gives the empty string: a FETCH over many
 * messages of different shapes then still succeeds. BINARY of a part that
 * does not exist is an error (the engine answers NO), as decoding has
 * nothing to work on; [UNKNOWN-CTE] (RFC 9051 7.1) is kept for encodings.
 * --------------------------------------------------------------------- */

struct range {
	uint64_t start, end;
};

static struct range clip(uint64_t start, uint64_t end, size_t len)
{
	struct range r = { start, end };
	if (r.end > len)
		r.end = len;
	if (r.start > r.end)
		r.start = r.end;
	return r;
}

/* The partial <offset.length> of n bytes: [*start, *start + *count). */
static void partial_window(const struct imap_section *sec, uint64_t n, uint64_t *start,
			   uint64_t *count)
{
	*start = 0;
	*count = n;
	if (!sec->partial)
		return;
	*start = sec->offset < n ? sec->offset : n;
	uint64_t left = n - *start;
	*count = sec->length < left ? sec->length : left;
}

/* Keep only the partial of the bytes out holds after `base`. */
static void apply_partial_tail(const struct imap_section *sec, struct buf *out, size_t base)
{
	uint64_t start, count;
	partial_window(sec, out->len - base, &start, &count);
	if (start > 0)
		memmove(out->data + base, out->data + base + start, (size_t)count);
	buf_truncate(out, base + (size_t)count);
}

static void append_range(const struct imap_section *sec, struct range r, const char *msg,
			 struct buf *out)
{
	uint64_t start, count;
	partial_window(sec, r.end - r.start, &start, &count);
	buf_append(out, msg + r.start + start, (size_t)count);
}

/* The part whose header or body the section names; NULL when the message
 * has no such section. */
static const struct mime_part *target_part(const struct imap_section *sec,
					   const struct mime_message *m)
{
	const struct mime_part *part = mime_find_part(m, sec->part);
	if (part == NULL || sec->part[0] == '\0')
		return part;
	switch (sec->text) {
	case IMAP_SECTION_ALL:
	case IMAP_SECTION_MIME:
		return part;
	default:
		/* NULL as well past the parser's depth limit. */
		return part->message != NULL ? &part->message->root : NULL;
	}
}

/* ---- HEADER.FIELDS[.NOT] ---- */

/* Field names ordered by their lower-case bytes, to look up each header
 * line in log n: a long list against a long header stays cheap. */
static int name_order(const char *a, size_t alen, const char *b)
{
	for (size_t i = 0; i < alen; i++) {
		if (b[i] == '\0')
			return 1;
		unsigned char ca = (unsigned char)ascii_lower(a[i]);
		unsigned char cb = (unsigned char)ascii_lower(b[i]);
		if (ca != cb)
			return ca < cb ? -1 : 1;
	}
	return b[alen] == '\0' ? 0 : -1;
}

static int cmp_names(const void *a, const void *b)
{
	const char *sa = *(const char *const *)a, *sb = *(const char *const *)b;
	return name_order(sa, strlen(sa), sb);
}

static bool name_listed(const char *const *sorted, size_t n, const char *name, size_t len)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = name_order(name, len, sorted[mid]);
		if (r == 0)
			return true;
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}

static bool is_wsp(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* The field name of a header line that starts a field: the bytes before
 * ":" without trailing WSP (RFC 5322 4.5.3 obs-optional allows WSP before
 * the colon). A line without ":" has no name and matches nothing. */
static size_t field_name_len(const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len);
	if (colon == NULL)
		return 0;
	size_t n = (size_t)(colon - line);
	while (n > 0 && is_wsp(line[n - 1]))
		n--;
	return n;
}

static bool is_blank_line(const char *line, size_t len)
{
	return (len == 1 && line[0] == '\n') || (len == 2 && line[0] == '\r' && line[1] == '\n');
}

/* The header h[0..hlen) filtered: each field whole (continuation lines
 * included), in message order, kept when listed (or, for .NOT, when not),
 * then the blank line that ends the header when there is one. */
static void filter_header(const struct imap_section *sec, const char *h, size_t hlen,
			  struct buf *out)
{
	bool not = sec->text == IMAP_SECTION_HEADER_FIELDS_NOT;
	const char **sorted = xmalloc((sec->n_fields + 1) * sizeof *sorted);
	for (size_t i = 0; i < sec->n_fields; i++)
		sorted[i] = sec->fields[i];
	qsort(sorted, sec->n_fields, sizeof *sorted, cmp_names);

	bool keep = not;   /* continuation lines before any field: nameless */
	size_t pos = 0;
	while (pos < hlen) {
		const char *line = h + pos;
		const char *nl = memchr(line, '\n', hlen - pos);
		size_t n = nl != NULL ? (size_t)(nl - line) + 1 : hlen - pos;
		if (is_blank_line(line, n)) {
			buf_append(out, line, n);
			break;
		}
		if (!is_wsp(line[0])) {
			size_t name_len = field_name_len(line, n);
			bool listed = name_len > 0 &&
				      name_listed(sorted, sec->n_fields, line, name_len);
			keep = listed != not;
		}
		if (keep)
			buf_append(out, line, n);
		pos += n;
	}
	free(sorted);
}

/* ---- BODY ---- */

static void fetch_body(const struct imap_section *sec, const struct mime_message *m,
		       const char *msg, size_t len, struct buf *out)
{
	const struct mime_part *p = target_part(sec, m);
	if (p == NULL)
		return;
	struct range head = clip(p->header_start, p->body_start, len);
	struct range body = clip(p->body_start, p->body_end, len);
	switch (sec->text) {
	case IMAP_SECTION_ALL:
		/* BODY[] is the whole message, store prefix included: its size
		 * is RFC822.SIZE. */
		append_range(sec, sec->part[0] == '\0' ? clip(0, len, len) : body, msg, out);
		break;
	case IMAP_SECTION_HEADER:
	case IMAP_SECTION_MIME:
		append_range(sec, head, msg, out);
		break;
	case IMAP_SECTION_TEXT:
		append_range(sec, body, msg, out);
		break;
	case IMAP_SECTION_HEADER_FIELDS:
	case IMAP_SECTION_HEADER_FIELDS_NOT: {
		size_t base = out->len;
		filter_header(sec, msg + head.start, (size_t)(head.end - head.start), out);
		apply_partial_tail(sec, out, base);
		break;
	}
	}
}

/* ---- BINARY (RFC 3516 4.2, RFC 9051 6.4.5) ----
 *
 * BINARY[N] is part N's body with its Content-Transfer-Encoding removed.
 * BINARY[] (the whole message) is its header as it is, then its body
 * decoded, as Dovecot does; a multipart's own encoding can only be an
 * identity one (RFC 2045 6.4), so there it is BODY[]. */
static int decode_section(const struct imap_section *sec, const struct mime_message *m,
			  const char *msg, size_t len, struct buf *out, bool *unknown_cte,
			  char **error_r)
{
	const struct mime_part *p = mime_find_part(m, sec->part);
	if (p == NULL) {
		*error_r = xasprintf("No such message part: %s", sec->part);
		return -1;
	}
	if (p->body_start > p->body_end || p->body_end > len) {
		*error_r = xstrdup("The message part lies outside the message");
		return -1;
	}
	if (sec->part[0] == '\0')
		buf_append(out, msg, (size_t)p->body_start);
	if (mime_decode_body(p, msg, len, out, error_r) < 0) {
		*unknown_cte = true;
		return -1;
	}
	return 0;
}

int imap_section_fetch(const struct imap_section *sec, const struct mime_message *m,
		       const char *msg, size_t len, struct buf *out, uint64_t *size_r,
		       bool *unknown_cte, char **error_r)
{
	*unknown_cte = false;
	if (sec->kind == IMAP_FETCH_BINARY_SIZE) {
		struct buf tmp = BUF_INIT;
		int ret = decode_section(sec, m, msg, len, &tmp, unknown_cte, error_r);
		*size_r = tmp.len;
		buf_free(&tmp);
		return ret;
	}
	size_t base = out->len;
	if (sec->kind == IMAP_FETCH_BODY) {
		fetch_body(sec, m, msg, len, out);
	} else {
		if (decode_section(sec, m, msg, len, out, unknown_cte, error_r) < 0) {
			buf_truncate(out, base);
			return -1;
		}
		apply_partial_tail(sec, out, base);
	}
	if (size_r != NULL)
		*size_r = out->len - base;
	return 0;
}
