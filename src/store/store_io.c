/* Import and export: the entry points and what the Maildir and mbox code
 * share (line endings, files, batched appends). The store keeps messages
 * with CRLF lines, as IMAP sends them; Maildir and mbox files have LF. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "store/store_int.h"

#define IMPORT_BATCH 64   /* messages per transaction */

/* ---- line endings and files ---- */

int store_blob_from_unix(struct store *s, const void *data, size_t len,
			 struct store_blob_writer **w_r, char **error_r)
{
	/* Converted in memory and written at once: a write(2) per line costs
	 * more than the conversion. */
	struct buf crlf = BUF_INIT;
	buf_reserve(&crlf, len + len / 16 + 2);
	const char *p = data, *end = p + len, *start = p;
	for (; p < end; p++) {
		if (*p != '\n' || (p > (const char *)data && p[-1] == '\r'))
			continue;
		buf_append(&crlf, start, (size_t)(p - start));
		buf_append(&crlf, "\r\n", 2);
		start = p + 1;
	}
	buf_append(&crlf, start, (size_t)(end - start));
	struct store_blob_writer *w;
	int rc = store_blob_begin(s, &w, error_r);
	if (rc == 0 && (rc = store_blob_write(w, crlf.data != NULL ? crlf.data : "", crlf.len,
					      error_r)) < 0)
		store_blob_abort(&w);
	buf_free(&crlf);
	if (rc == 0)
		*w_r = w;
	return rc;
}

void store_crlf_to_lf(const void *data, size_t len, struct buf *out)
{
	const char *p = data, *end = p + len;
	buf_reserve(out, len);
	buf_append(out, "", 0);   /* buf_reserve alone leaves no NUL */
	while (p < end) {
		const char *cr = memchr(p, '\r', (size_t)(end - p));
		if (cr == NULL) {
			buf_append(out, p, (size_t)(end - p));
			break;
		}
		buf_append(out, p, (size_t)(cr - p));
		if (cr + 1 < end && cr[1] == '\n') {
			buf_putc(out, '\n');
			p = cr + 2;
		} else {
			buf_putc(out, '\r');
			p = cr + 1;
		}
	}
}


/* ---- batched appends ---- */

struct import_entry {
	struct store_blob_writer *writer;   /* written, committed at the flush */
	struct store_blob *blob;
	char **keywords;
	size_t n_keywords;
	struct store_append msg;
};

struct import_batch {
	struct store_user *user;
	struct store_mailbox *mb;
	struct import_entry e[IMPORT_BATCH];
	uint32_t uids[IMPORT_BATCH];
	size_t n;
};

static void batch_clear(struct import_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		store_blob_abort(&b->e[i].writer);
		store_blob_free(&b->e[i].blob);
		for (size_t k = 0; k < b->e[i].n_keywords; k++)
			free(b->e[i].keywords[k]);
		free(b->e[i].keywords);
	}
	memset(b->e, 0, sizeof b->e);
	b->n = 0;
}

/* The batch's blobs committed together (one sync pass for all), then
 * appended in one transaction: acknowledged when that commits. */
static int batch_flush(struct import_batch *b, char **error_r)
{
	if (b->n == 0)
		return 0;
	struct store_blob_writer *ws[IMPORT_BATCH];
	struct store_blob *blobs[IMPORT_BATCH];
	for (size_t i = 0; i < b->n; i++) {
		ws[i] = b->e[i].writer;
		b->e[i].writer = NULL;
	}
	int rc = store_blob_commit_many(ws, b->n, blobs, error_r);
	if (rc < 0) {
		b->user->last_error = STORE_ERR_INTERNAL;
	} else {
		struct store_append_uid a[IMPORT_BATCH];
		for (size_t i = 0; i < b->n; i++) {
			b->e[i].blob = blobs[i];
			b->e[i].msg.blob = blobs[i];
			a[i] = (struct store_append_uid){ .msg = &b->e[i].msg, .uid = b->uids[i] };
		}
		rc = store_append_uids(b->mb, a, b->n, 0, NULL, error_r);
	}
	batch_clear(b);
	return rc;
}

int import_begin(struct store_user *u, const char *name, struct import_batch **b_r,
		 char **error_r)
{
	if (store_mailbox_create(u, name, STORE_SPECIAL_NONE, error_r) < 0) {
		if (store_user_last_error(u) != STORE_ERR_ALREADYEXISTS)
			return -1;
		xfree(error_r);
	}
	struct import_batch *b = xcalloc(1, sizeof *b);
	b->user = u;
	if (store_mailbox_open(u, name, &b->mb, error_r) < 0) {
		free(b);
		return -1;
	}
	*b_r = b;
	return 0;
}

struct store_mailbox *import_mailbox(struct import_batch *b)
{
	return b->mb;
}

int import_add(struct import_batch *b, struct store_blob_writer *writer, unsigned flags,
	       const char *const *keywords, size_t n_keywords, time_t internaldate, uint32_t uid,
	       char **error_r)
{
	struct import_entry *e = &b->e[b->n];
	e->writer = writer;
	e->keywords = xcalloc(n_keywords ? n_keywords : 1, sizeof *e->keywords);
	for (size_t i = 0; i < n_keywords && e->n_keywords < STORE_KEYWORDS_MAX; i++)
		if (store_keyword_valid(keywords[i]))
			e->keywords[e->n_keywords++] = xstrdup(keywords[i]);
	e->msg = (struct store_append){
		.flags = flags & STORE_FLAGS_ALL,
		.keywords = (const char *const *)e->keywords, .n_keywords = e->n_keywords,
		.internaldate = internaldate,
	};
	b->uids[b->n] = uid;
	b->n++;
	return b->n == IMPORT_BATCH ? batch_flush(b, error_r) : 0;
}

int import_flush(struct import_batch *b, char **error_r)
{
	return batch_flush(b, error_r);
}

int import_end(struct import_batch **bp, char **error_r)
{
	struct import_batch *b = *bp;
	int rc = batch_flush(b, error_r);
	import_abort(bp);
	return rc;
}

void import_abort(struct import_batch **bp)
{
	struct import_batch *b = *bp;
	if (b == NULL)
		return;
	batch_clear(b);
	store_mailbox_close(&b->mb);
	free(b);
	*bp = NULL;
}

/* ---- entry points ---- */

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int store_import(struct store_user *u, const char *path, const char *into,
		 struct store_import_report *report_r, char **error_r)
{
	memset(report_r, 0, sizeof *report_r);
	u->last_error = STORE_ERR_NONE;
	struct stat st;
	if (stat(path, &st) < 0)
		return store_fail(u, STORE_ERR_NONEXISTENT, error_r, "%s: %s", path, strerror(errno));
	char *cur = xasprintf("%s/cur", path);
	bool maildir = is_dir(cur);
	free(cur);
	int rc = maildir ? maildir_import(u, path, into, report_r, error_r)
			 : mbox_import(u, path, into, report_r, error_r);
	log_info("store", "event=import user=%lld path=\"%s\" format=%s result=%s mailboxes=%zu "
		 "messages=%zu uids_kept=%zu skipped=%zu", u->id, path, maildir ? "maildir" : "mbox",
		 rc == 0 ? "ok" : "error", report_r->mailboxes, report_r->messages,
		 report_r->uids_kept, report_r->skipped);
	return rc;
}

int store_export(struct store_user *u, const char *path, enum store_export_format format,
		 const char *only, size_t *messages_r, char **error_r)
{
	size_t n = 0;
	u->last_error = STORE_ERR_NONE;
	if (mkdir(path, 0750) < 0 && errno != EEXIST)
		return store_fail(u, STORE_ERR_CANNOT, error_r, "%s: cannot create: %s", path,
				  strerror(errno));
	char *norm = NULL;
	if (only != NULL && store_mailbox_name_normalize(only, &norm, error_r) < 0) {
		u->last_error = STORE_ERR_CANNOT;
		return -1;
	}
	int rc = format == STORE_EXPORT_MAILDIR ? maildir_export(u, path, norm, &n, error_r)
						: mbox_export(u, path, norm, &n, error_r);
	free(norm);
	if (rc < 0 && u->last_error == STORE_ERR_NONE)
		u->last_error = STORE_ERR_INTERNAL;
	log_info("store", "event=export user=%lld path=\"%s\" format=%s result=%s messages=%zu",
		 u->id, path, format == STORE_EXPORT_MAILDIR ? "maildir" : "mbox",
		 rc == 0 ? "ok" : "error", n);
	if (messages_r != NULL)
		*messages_r = n;
	return rc;
}
