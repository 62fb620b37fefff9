/* Helpers shared by the MIME parser's unit tests (static: each test
 * program includes this once). */
#ifndef SUREL_TESTS_MIME_CHECK_H
#define SUREL_TESTS_MIME_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "mime/mime.h"

/* ---- a dump of everything the parser produced, to compare splits ---- */

static void dump_str(struct buf *out, const char *s)
{
	buf_appendf(out, " %s", s != NULL ? s : "-");
}

static void dump_params(struct buf *out, const struct mime_param *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf_appendf(out, " %s=%s|%s=%s", p[i].name, p[i].value, p[i].bs_name, p[i].bs_value);
}

static void dump_message(const struct mime_message *m, struct buf *out);

static void dump_part(const struct mime_part *p, struct buf *out)
{
	buf_appendf(out, "[%llu %llu %llu %llu %llu %s/%s %s/%s",
		    (unsigned long long)p->header_start, (unsigned long long)p->body_start,
		    (unsigned long long)p->body_end, (unsigned long long)p->header_lines,
		    (unsigned long long)p->body_lines, p->type, p->subtype, p->bs_type, p->bs_subtype);
	dump_params(out, p->params, p->n_params);
	dump_str(out, p->id);
	dump_str(out, p->description);
	dump_str(out, p->encoding);
	dump_str(out, p->md5);
	dump_str(out, p->disposition);
	dump_params(out, p->disp_params, p->n_disp_params);
	dump_str(out, p->language);
	dump_str(out, p->location);
	for (size_t i = 0; i < p->n_children; i++)
		dump_part(&p->children[i], out);
	if (p->message != NULL)
		dump_message(p->message, out);
	buf_putc(out, ']');
}

static void dump_message(const struct mime_message *m, struct buf *out)
{
	buf_appendf(out, "{%d", m->truncated);
	const char *f[] = { m->date, m->subject, m->from, m->sender, m->reply_to, m->to,
			    m->cc, m->bcc, m->in_reply_to, m->message_id, m->references };
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
		dump_str(out, f[i]);
	dump_part(&m->root, out);
	buf_putc(out, '}');
}

/* The dump, ENVELOPE, BODYSTRUCTURE and BODY of a parse in pieces of
 * `chunk` bytes (0: pieces of pseudo-random sizes). */
static char *parse_dump(const char *data, size_t len, size_t chunk, const struct mime_limits *lim)
{
	struct mime_parser *p = mime_parser_new(lim);
	unsigned seed = 12345;
	for (size_t off = 0; off < len;) {
		size_t n = chunk;
		if (n == 0) {
			seed = seed * 1103515245 + 12345;
			n = 1 + (seed >> 16) % 97;
		}
		if (n > len - off)
			n = len - off;
		mime_parser_feed(p, data + off, n);
		off += n;
	}
	struct mime_message *m = mime_parser_finish(&p);
	assert_null(p);
	struct buf out = BUF_INIT;
	dump_message(m, &out);
	buf_append_str(&out, "\nENVELOPE ");
	mime_write_envelope(m, &out);
	buf_append_str(&out, "\nBODYSTRUCTURE ");
	mime_write_bodystructure(m, true, &out);
	buf_append_str(&out, "\nBODY ");
	mime_write_bodystructure(m, false, &out);
	mime_message_free(&m);
	assert_null(m);
	return buf_steal(&out);
}

/* Every part inside its parent, its header before its body. */
static void check_tree(const char *name, const struct mime_part *p, uint64_t start, uint64_t end)
{
	if (p->header_start < start || p->header_start > p->body_start ||
	    p->body_start > p->body_end || p->body_end > end)
		fail_msg("%s: part %llu-%llu-%llu outside %llu-%llu", name,
			 (unsigned long long)p->header_start, (unsigned long long)p->body_start,
			 (unsigned long long)p->body_end, (unsigned long long)start,
			 (unsigned long long)end);
	for (size_t i = 0; i < p->n_children; i++) {
		check_tree(name, &p->children[i], p->body_start, p->body_end);
		if (i > 0 && p->children[i].header_start < p->children[i - 1].body_end)
			fail_msg("%s: parts overlap", name);
	}
	if (p->message != NULL) {
		if (p->message->root.header_start != p->body_start)
			fail_msg("%s: encapsulated message does not start the body", name);
		check_tree(name, &p->message->root, p->body_start, p->body_end);
	}
}

/* Whole, one byte at a time, and in other splits: the same result. */
static void check_splits(const char *name, const char *data, size_t len)
{
	struct mime_message *m = mime_parse(data, len);
	check_tree(name, &m->root, 0, len);
	if (m->root.body_end != len)
		fail_msg("%s: the root does not end at the end", name);
	mime_message_free(&m);

	char *whole = parse_dump(data, len, len > 0 ? len : 1, NULL);
	static const size_t chunks[] = { 1, 2, 3, 7, 64, 4096, 0 };
	for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
		if (chunks[i] == 1 && len > 4 * 1024 * 1024)
			continue;
		char *split = parse_dump(data, len, chunks[i], NULL);
		if (strcmp(whole, split) != 0)
			fail_msg("%s: chunks of %zu differ:\nwhole: %.2000s\nsplit: %.2000s", name,
				 chunks[i], whole, split);
		free(split);
	}
	free(whole);
}

#endif
