/* mbox import and export, in the mboxrd form: each message starts with a
 * "From " line, a body line matching /^>*From / gets one more '>' when
 * written and loses one when read, and a blank line ends each message.
 *
 * Import reads one file into one mailbox, or a directory of NAME.mbox files
 * ("a/b.mbox" is mailbox "a/b"); INTERNALDATE comes from the "From " line,
 * flags from the Status: and X-Status: fields. Export writes one NAME.mbox
 * per mailbox. Messages are kept byte for byte (flags are not written back
 * into the message: use Maildir to carry them). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "core/fileio.h"
#include "store/store_int.h"

/* ---- import ---- */

static bool is_from_line(const char *p, const char *end)
{
	return end - p >= 5 && memcmp(p, "From ", 5) == 0;
}

/* ">From ", ">>From ", ...: a quoted body line. */
static bool is_quoted_from(const char *p, const char *end)
{
	while (p < end && *p == '>')
		p++;
	return is_from_line(p, end);
}

/* The flags in the header's Status: (R seen) and X-Status: (A answered,
 * F flagged, T draft, D deleted) fields. */
static unsigned header_flags(const char *msg, size_t len)
{
	unsigned flags = 0;
	const char *p = msg, *end = msg + len;
	while (p < end && *p != '\n' && !(*p == '\r' && p + 1 < end && p[1] == '\n')) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl != NULL ? nl : end;
		bool status = (size_t)(eol - p) > 7 && strncasecmp(p, "Status:", 7) == 0;
		bool xstatus = (size_t)(eol - p) > 9 && strncasecmp(p, "X-Status:", 9) == 0;
		for (const char *c = p + (status ? 7 : 9); (status || xstatus) && c < eol; c++) {
			if (status && *c == 'R')
				flags |= STORE_FLAG_SEEN;
			if (xstatus && *c == 'A')
				flags |= STORE_FLAG_ANSWERED;
			if (xstatus && *c == 'F')
				flags |= STORE_FLAG_FLAGGED;
			if (xstatus && *c == 'T')
				flags |= STORE_FLAG_DRAFT;
			if (xstatus && *c == 'D')
				flags |= STORE_FLAG_DELETED;
		}
		p = nl != NULL ? nl + 1 : end;
	}
	return flags;
}

/* "From sender Sat Jan  3 01:05:34 1996": the date after the sender. */
static time_t from_line_date(const char *line, const char *eol)
{
	const char *p = line + 5;
	while (p < eol && *p == ' ')
		p++;
	while (p < eol && *p != ' ')
		p++;
	while (p < eol && *p == ' ')
		p++;
	time_t t = store_parse_asctime(p, (size_t)(eol - p));
	return t > 0 ? t : 0;
}

static int import_one(struct store_user *u, struct import_batch *b, const char *msg,
		      size_t len, time_t date, struct store_import_report *r, char **error_r)
{
	/* Undo the quoting of body lines. */
	struct buf text = BUF_INIT;
	const char *p = msg, *end = msg + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *next = nl != NULL ? nl + 1 : end;
		if (*p == '>' && is_quoted_from(p, next))
			p++;
		buf_append(&text, p, (size_t)(next - p));
		p = next;
	}
	struct store_blob_writer *blob;
	int rc = store_blob_from_unix(u->store, text.data != NULL ? text.data : "", text.len, &blob,
				      error_r);
	if (rc == 0) {
		rc = import_add(b, blob, header_flags(buf_cstr(&text), text.len), NULL, 0, date, 0,
				error_r);
		r->messages++;
	}
	buf_free(&text);
	return rc;
}

static int import_file(struct store_user *u, const char *path, const char *name,
		       struct store_import_report *r, char **error_r)
{
	struct buf data = BUF_INIT;
	struct import_batch *b = NULL;
	if (fileio_read_file(path, &data, error_r) < 0)
		return -1;
	const char *p = buf_cstr(&data), *end = p + data.len;
	if (data.len > 0 && !is_from_line(p, end)) {
		buf_free(&data);
		return store_fail(u, STORE_ERR_CANNOT, error_r,
				  "%s: not an mbox file (it does not start with \"From \")", path);
	}
	int rc = import_begin(u, name, &b, error_r);
	while (rc == 0 && p < end) {
		/* p is at a "From " line */
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			break;
		time_t date = from_line_date(p, eol);
		const char *start = eol + 1, *q = start;
		while (q < end) {
			if (is_from_line(q, end) && (q == start || q[-1] == '\n'))
				break;
			const char *nl = memchr(q, '\n', (size_t)(end - q));
			q = nl != NULL ? nl + 1 : end;
		}
		/* The blank line before the next "From " (or the end) is the separator. */
		size_t len = (size_t)(q - start);
		if (len >= 2 && start[len - 1] == '\n' && start[len - 2] == '\n')
			len--;
		else if (len >= 3 && memcmp(start + len - 3, "\n\r\n", 3) == 0)
			len -= 2;
		rc = import_one(u, b, start, len, date, r, error_r);
		p = q;
	}
	if (rc == 0) {
		rc = import_end(&b, error_r);
		r->mailboxes++;
	}
	import_abort(&b);
	buf_free(&data);
	return rc;
}

/* Every *.mbox under dir (rel: the path below the top, "" there). */
static int import_tree(struct store_user *u, const char *dir, const char *rel, const char *into,
		       struct store_import_report *r, char **error_r)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return store_fail(u, STORE_ERR_NONEXISTENT, error_r, "%s: %s", dir, strerror(errno));
	struct dirent *de;
	int rc = 0;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char *path = xasprintf("%s/%s", dir, de->d_name);
		char *sub = xasprintf("%s%s%s", rel, *rel ? "/" : "", de->d_name);
		struct stat st;
		size_t nl = strlen(de->d_name);
		bool there = stat(path, &st) == 0;
		if (there && S_ISDIR(st.st_mode)) {
			rc = import_tree(u, path, sub, into, r, error_r);
		} else if (there && S_ISREG(st.st_mode) && nl > 5 && strcmp(de->d_name + nl - 5, ".mbox") == 0) {
			sub[strlen(sub) - 5] = '\0';
			char *name = into != NULL ? xasprintf("%s/%s", into, sub) : xstrdup(sub);
			rc = import_file(u, path, name, r, error_r);
			free(name);
		}
		free(sub);
		free(path);
	}
	closedir(d);
	return rc;
}

int mbox_import(struct store_user *u, const char *path, const char *into,
		struct store_import_report *r, char **error_r)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return import_tree(u, path, "", into, r, error_r);
	return import_file(u, path, into != NULL ? into : "INBOX", r, error_r);
}

/* ---- export ---- */

struct export_ctx {
	struct store *store;
	FILE *f;
	size_t n;
	char **error_r;
};

static int export_message(void *ctx, const struct store_message *m)
{
	struct export_ctx *x = ctx;
	struct buf raw = BUF_INIT;   /* prefix + blob */
	if (store_message_bytes(x->store, m, &raw, x->error_r) < 0) {
		buf_free(&raw);
		return -1;
	}
	struct buf text = BUF_INIT, out = BUF_INIT;
	store_crlf_to_lf(raw.data != NULL ? raw.data : "", raw.len, &text);
	buf_free(&raw);
	buf_append_str(&out, "From MAILER-DAEMON ");
	store_format_asctime(m->internaldate, &out);
	buf_putc(&out, '\n');
	const char *p = buf_cstr(&text), *end = p + text.len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *next = nl != NULL ? nl + 1 : end;
		if (is_quoted_from(p, next))
			buf_putc(&out, '>');
		buf_append(&out, p, (size_t)(next - p));
		p = next;
	}
	if (text.len > 0 && text.data[text.len - 1] != '\n')
		buf_putc(&out, '\n');
	buf_putc(&out, '\n');
	int rc = fwrite(out.data, 1, out.len, x->f) == out.len ? 0 : -1;
	if (rc < 0)
		*x->error_r = xasprintf("write: %s", strerror(errno));
	else
		x->n++;
	buf_free(&text);
	buf_free(&out);
	return rc;
}

/* mkdir -p for the directories of a/b/c.mbox below path. */
static int make_parents(const char *path, const char *name, char **error_r)
{
	for (const char *s = strchr(name, '/'); s != NULL; s = strchr(s + 1, '/')) {
		char *dir = xasprintf("%s/%.*s", path, (int)(s - name), name);
		int rc = mkdir(dir, 0750) < 0 && errno != EEXIST ? -1 : 0;
		if (rc < 0)
			*error_r = xasprintf("%s: cannot create: %s", dir, strerror(errno));
		free(dir);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int export_mailbox(struct store_user *u, const char *path, const char *name, size_t *n_r,
			  char **error_r)
{
	struct store_mailbox *mb;
	if (store_mailbox_open(u, name, &mb, error_r) < 0)
		return -1;
	char *file = xasprintf("%s/%s.mbox", path, name);
	struct export_ctx x = { .store = u->store, .error_r = error_r };
	int rc = make_parents(path, name, error_r);
	if (rc == 0 && (x.f = fopen(file, "we")) == NULL) {
		*error_r = xasprintf("%s: %s", file, strerror(errno));
		rc = -1;
	}
	if (rc == 0)
		rc = store_fetch(mb, NULL, 0, export_message, &x, error_r);
	if (x.f != NULL && fclose(x.f) != 0 && rc == 0) {
		*error_r = xasprintf("%s: %s", file, strerror(errno));
		rc = -1;
	}
	*n_r += x.n;
	free(file);
	store_mailbox_close(&mb);
	return rc;
}

int mbox_export(struct store_user *u, const char *path, const char *only, size_t *n_r,
		char **error_r)
{
	if (only != NULL)
		return export_mailbox(u, path, only, n_r, error_r);
	struct store_mailbox_list list;
	if (store_mailbox_list(u, &list, error_r) < 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < list.count; i++)
		rc = export_mailbox(u, path, list.items[i].name, n_r, error_r);
	store_mailbox_list_free(&list);
	return rc;
}
