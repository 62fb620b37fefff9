/* libFuzzer target: the MIME parser. The input is parsed whole and in
 * pieces of varying sizes; both must give the same ENVELOPE, BODYSTRUCTURE
 * and BODY. Then every part is decoded, the text extracted, and the input
 * read as a header value and as an address list. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "mime/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void write_all(const struct mime_message *m, struct buf *out)
{
	mime_write_envelope(m, out);
	buf_putc(out, '\n');
	mime_write_bodystructure(m, true, out);
	buf_putc(out, '\n');
	mime_write_bodystructure(m, false, out);
}

static void decode_parts(const struct mime_part *p, const uint8_t *data, size_t size, int depth)
{
	struct buf out = BUF_INIT;
	char *err = NULL;
	if (mime_decode_body(p, data, size, &out, &err) < 0)
		free(err);
	buf_free(&out);
	if (p->body_start > p->body_end || p->body_end > size || p->header_start > p->body_start)
		abort();
	for (size_t i = 0; i < p->n_children; i++) {
		const struct mime_part *c = &p->children[i];
		if (c->header_start < p->body_start || c->body_end > p->body_end)
			abort();
		decode_parts(c, data, size, depth + 1);
	}
	if (p->message != NULL) {
		if (p->message->root.header_start != p->body_start)
			abort();
		decode_parts(&p->message->root, data, size, depth + 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_message *whole = mime_parse(data, size);

	/* The same bytes in pieces of 1 to 16 bytes, sizes taken from the data. */
	struct mime_parser *p = mime_parser_new(NULL);
	for (size_t off = 0, i = 0; off < size; i++) {
		size_t n = 1 + (data[i % size] & 15);
		if (n > size - off)
			n = size - off;
		mime_parser_feed(p, data + off, n);
		off += n;
	}
	struct mime_message *split = mime_parser_finish(&p);

	struct buf a = BUF_INIT, b = BUF_INIT;
	write_all(whole, &a);
	write_all(split, &b);
	if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
		abort();
	if (whole->root.body_end != size)
		abort();

	decode_parts(&whole->root, data, size, 0);
	struct buf h = BUF_INIT, t = BUF_INIT;
	mime_extract_text(whole, data, size, &h, &t);
	static const char *const sections[] = { "", "1", "2", "1.1", "2.1", "1.2.3" };
	for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
		(void)mime_find_part(whole, sections[i]);

	/* The input as one header value and as an address list. */
	struct buf dec = BUF_INIT;
	mime_decode_header((const char *)data, size, &dec);
	struct mime_address *list;
	size_t n;
	mime_address_parse((const char *)data, size, &list, &n);
	mime_address_list_free(&list, &n);

	buf_free(&dec);
	buf_free(&h);
	buf_free(&t);
	buf_free(&a);
	buf_free(&b);
	mime_message_free(&whole);
	mime_message_free(&split);
	return 0;
}
