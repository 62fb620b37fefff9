/* Text for the full-text index: decoded header values and the text of every
 * part of type "text" (HTML reduced to its text), all in UTF-8. */
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"
#include "mime/mime_int.h"

static void add_header(struct buf *out, const char *raw)
{
	if (raw == NULL)
		return;
	struct buf dec = BUF_INIT;
	mime_decode_header(raw, strlen(raw), &dec);
	if (dec.len > 0) {
		if (out->len > 0)
			buf_putc(out, '\n');
		buf_append(out, dec.data, dec.len);
	}
	buf_free(&dec);
}

static void add_headers(const struct mime_message *m, struct buf *out)
{
	add_header(out, m->from);
	add_header(out, m->to);
	add_header(out, m->cc);
	add_header(out, m->bcc);
	add_header(out, m->subject);
}

/* Append the UTF-8 encoding of a code point (invalid ones as U+FFFD). */
static void put_utf8(struct buf *out, unsigned long cp)
{
	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		cp = 0xFFFD;
	if (cp < 0x80) {
		buf_putc(out, (char)cp);
	} else if (cp < 0x800) {
		buf_putc(out, (char)(0xC0 | (cp >> 6)));
		buf_putc(out, (char)(0x80 | (cp & 0x3F)));
	} else if (cp < 0x10000) {
		buf_putc(out, (char)(0xE0 | (cp >> 12)));
		buf_putc(out, (char)(0x80 | ((cp >> 6) & 0x3F)));
		buf_putc(out, (char)(0x80 | (cp & 0x3F)));
	} else {
		buf_putc(out, (char)(0xF0 | (cp >> 18)));
		buf_putc(out, (char)(0x80 | ((cp >> 12) & 0x3F)));
		buf_putc(out, (char)(0x80 | ((cp >> 6) & 0x3F)));
		buf_putc(out, (char)(0x80 | (cp & 0x3F)));
	}
}

static const struct {
	const char *name;
	unsigned long cp;
} entities[] = {
	{ "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' }, { "apos", '\'' },
	{ "nbsp", 0xA0 }, { "copy", 0xA9 }, { "reg", 0xAE }, { "euro", 0x20AC },
	{ "mdash", 0x2014 }, { "ndash", 0x2013 }, { "hellip", 0x2026 },
};

/* An entity at s (after '&'); returns the bytes used, 0 if none. */
static size_t html_entity(const char *s, size_t len, struct buf *out)
{
	size_t i = 0;
	if (len > 0 && s[0] == '#') {
		unsigned long cp = 0;
		bool hex = len > 1 && (s[1] == 'x' || s[1] == 'X');
		i = hex ? 2 : 1;
		size_t start = i;
		while (i < len && i < 10) {
			int v = hex ? mime_hexval((unsigned char)s[i])
				    : (s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1);
			if (v < 0)
				break;
			cp = cp * (hex ? 16 : 10) + (unsigned long)v;
			i++;
		}
		if (i == start)
			return 0;
		put_utf8(out, cp);
		return i < len && s[i] == ';' ? i + 1 : i;
	}
	for (size_t e = 0; e < sizeof entities / sizeof entities[0]; e++) {
		size_t n = strlen(entities[e].name);
		if (n < len && strncmp(s, entities[e].name, n) == 0 && s[n] == ';') {
			put_utf8(out, entities[e].cp);
			return n + 1;
		}
	}
	return 0;
}

static bool tag_is(const char *tag, size_t len, const char *name)
{
	size_t n = strlen(name);
	return len >= n && strncasecmp(tag, name, n) == 0 &&
	       (len == n || !((tag[n] >= 'a' && tag[n] <= 'z') || (tag[n] >= 'A' && tag[n] <= 'Z')));
}

/* HTML to text: tags go (a block tag becomes a line break), the content of
 * script and style goes, entities are decoded. */
static void html_to_text(const char *s, size_t len, struct buf *out)
{
	size_t i = 0;
	while (i < len) {
		if (s[i] == '<') {
			const char *gt = memchr(s + i, '>', len - i);
			size_t end = gt != NULL ? (size_t)(gt - s) + 1 : len;
			const char *tag = s + i + 1;
			size_t tlen = end - i - 1;
			const char *skip_to = NULL;
			if (tag_is(tag, tlen, "script"))
				skip_to = "</script";
			else if (tag_is(tag, tlen, "style"))
				skip_to = "</style";
			if (tag_is(tag, tlen, "br") || tag_is(tag, tlen, "p") ||
			    tag_is(tag, tlen, "/p") || tag_is(tag, tlen, "div") ||
			    tag_is(tag, tlen, "/div") || tag_is(tag, tlen, "tr") ||
			    tag_is(tag, tlen, "li"))
				buf_putc(out, '\n');
			i = end;
			if (skip_to != NULL) {
				size_t n = strlen(skip_to);
				while (i + n <= len && strncasecmp(s + i, skip_to, n) != 0)
					i++;
				if (i + n > len)
					i = len;
			}
			continue;
		}
		if (s[i] == '&') {
			size_t used = html_entity(s + i + 1, len - i - 1, out);
			if (used > 0) {
				i += used + 1;
				continue;
			}
		}
		buf_putc(out, s[i++]);
	}
}

static void add_text_part(const struct mime_part *part, const void *data, size_t len,
			  struct buf *out)
{
	struct buf raw = BUF_INIT, utf8 = BUF_INIT;
	char *err = NULL;
	if (mime_decode_body(part, data, len, &raw, &err) < 0) {
		xfree(&err);
		/* An unknown encoding: the bytes as they are. */
		buf_clear(&raw);
		if (part->body_end <= len)
			buf_append(&raw, (const char *)data + part->body_start,
				   (size_t)(part->body_end - part->body_start));
	}
	mime_charset_to_utf8(mime_part_charset(part), raw.data, raw.len, &utf8);
	if (out->len > 0)
		buf_putc(out, '\n');
	if (strcmp(part->subtype, "html") == 0)
		html_to_text(utf8.data, utf8.len, out);
	else
		buf_append(out, utf8.data, utf8.len);
	buf_free(&raw);
	buf_free(&utf8);
}

static void walk(const struct mime_part *part, const void *data, size_t len, struct buf *out)
{
	if (part->message != NULL) {
		/* An attached message: its headers are part of our body. */
		struct buf hdr = BUF_INIT;
		add_headers(part->message, &hdr);
		if (hdr.len > 0) {
			if (out->len > 0)
				buf_putc(out, '\n');
			buf_append(out, hdr.data, hdr.len);
		}
		buf_free(&hdr);
		walk(&part->message->root, data, len, out);
		return;
	}
	for (size_t i = 0; i < part->n_children; i++)
		walk(&part->children[i], data, len, out);
	if (part->n_children == 0 && strcmp(part->type, "text") == 0)
		add_text_part(part, data, len, out);
}

void mime_extract_text(const struct mime_message *m, const void *data, size_t len,
		       struct buf *headers_out, struct buf *body_out)
{
	add_headers(m, headers_out);
	walk(&m->root, data, len, body_out);
	/* Both are valid UTF-8 even when they are empty. */
	mime_buf_ready(headers_out, 0);
	mime_buf_ready(body_out, 0);
}
