/* surel mime parse [--chunk N] FILE | surel mime text FILE
 * A developer command (not in the usage text): what the MIME parser makes
 * of a message file. `parse` prints the ENVELOPE, BODYSTRUCTURE and BODY
 * that IMAP would send and the part tree with byte offsets; `text` prints
 * what the full-text index would get. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/xmalloc.h"
#include "mime/mime.h"

static int mime_usage(void)
{
	fputs("usage: surel mime parse [--chunk N] FILE\n"
	      "       surel mime text FILE\n", stderr);
	return EXIT_USAGE;
}

static int read_file(const char *path, struct buf *out)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "surel: %s: %s\n", path, strerror(errno));
		return -1;
	}
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(out, chunk, n);
	bool failed = ferror(f) != 0;
	if (f != stdin)
		fclose(f);
	if (failed) {
		fprintf(stderr, "surel: %s: read error\n", path);
		return -1;
	}
	return 0;
}

static void print_part(const struct mime_part *part, const char *section)
{
	printf("PART %s %s/%s header=%llu-%llu body=%llu-%llu size=%llu lines=%llu", section,
	       part->type, part->subtype, (unsigned long long)part->header_start,
	       (unsigned long long)part->body_start, (unsigned long long)part->body_start,
	       (unsigned long long)part->body_end,
	       (unsigned long long)(part->body_end - part->body_start),
	       (unsigned long long)part->body_lines);
	if (part->encoding != NULL)
		printf(" encoding=%s", part->encoding);
	const char *cs = mime_param_get(part->params, part->n_params, "charset");
	if (cs != NULL)
		printf(" charset=%s", cs);
	const char *name = mime_param_get(part->disp_params, part->n_disp_params, "filename");
	if (name == NULL)
		name = mime_param_get(part->params, part->n_params, "name");
	if (name != NULL)
		printf(" filename=%s", name);
	putchar('\n');
}

static char *sub_section(const char *section, size_t n)
{
	return section[0] == '\0' ? xasprintf("%zu", n) : xasprintf("%s.%zu", section, n);
}

/* The body of a message whose part number is `section` ("" at the top):
 * a multipart body is section.TEXT and its parts section.1, section.2...;
 * any other body is section.1 (RFC 9051 6.4.5). */
static void print_tree(const struct mime_part *part, const char *section);

static void print_body(const struct mime_part *root, const char *section)
{
	if (root->n_children > 0 || strcmp(root->type, "multipart") == 0) {
		char *text = section[0] == '\0' ? xstrdup("TEXT") : xasprintf("%s.TEXT", section);
		print_part(root, text);
		free(text);
		for (size_t i = 0; i < root->n_children; i++) {
			char *sub = sub_section(section, i + 1);
			print_tree(&root->children[i], sub);
			free(sub);
		}
		return;
	}
	char *one = sub_section(section, 1);
	print_tree(root, one);
	free(one);
}

static void print_tree(const struct mime_part *part, const char *section)
{
	if (strcmp(part->type, "multipart") == 0) {
		print_body(part, section);
		return;
	}
	print_part(part, section);
	if (part->message != NULL)
		print_body(&part->message->root, section);
}

static int mime_parse_cmd(const char *path, size_t chunk)
{
	struct buf data = BUF_INIT;
	if (read_file(path, &data) < 0) {
		buf_free(&data);
		return 1;
	}
	struct mime_parser *p = mime_parser_new(NULL);
	if (chunk == 0)
		chunk = data.len > 0 ? data.len : 1;
	for (size_t off = 0; off < data.len; off += chunk)
		mime_parser_feed(p, data.data + off, data.len - off < chunk ? data.len - off : chunk);
	struct mime_message *m = mime_parser_finish(&p);

	struct buf out = BUF_INIT;
	buf_append_str(&out, "ENVELOPE ");
	mime_write_envelope(m, &out);
	buf_append_str(&out, "\nBODYSTRUCTURE ");
	mime_write_bodystructure(m, true, &out);
	buf_append_str(&out, "\nBODY ");
	mime_write_bodystructure(m, false, &out);
	buf_putc(&out, '\n');
	fwrite(out.data, 1, out.len, stdout);
	printf("SIZE %zu%s\n", data.len, m->truncated ? " truncated" : "");
	print_body(&m->root, "");
	buf_free(&out);
	mime_message_free(&m);
	buf_free(&data);
	return 0;
}

static int mime_text_cmd(const char *path)
{
	struct buf data = BUF_INIT, headers = BUF_INIT, body = BUF_INIT;
	if (read_file(path, &data) < 0) {
		buf_free(&data);
		return 1;
	}
	struct mime_message *m = mime_parse(data.data, data.len);
	mime_extract_text(m, data.data, data.len, &headers, &body);
	printf("HEADERS\n%s\nBODY\n%s\n", buf_cstr(&headers), buf_cstr(&body));
	mime_message_free(&m);
	buf_free(&headers);
	buf_free(&body);
	buf_free(&data);
	return 0;
}

int cmd_mime(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "parse") == 0) {
		size_t chunk = 0;
		int i = 2;
		if (argc == 5 && strcmp(argv[2], "--chunk") == 0) {
			char *end;
			unsigned long v = strtoul(argv[3], &end, 10);
			if (*end != '\0' || v == 0)
				return mime_usage();
			chunk = v;
			i = 4;
		}
		if (i != argc - 1)
			return mime_usage();
		return mime_parse_cmd(argv[i], chunk);
	}
	if (argc == 3 && strcmp(argv[1], "text") == 0)
		return mime_text_cmd(argv[2]);
	return mime_usage();
}
