/* What the index caches of a message, from the MIME parser: ENVELOPE, BODY
 * and BODYSTRUCTURE, the raw header block, decoded header fields for SEARCH,
 * the Date, and the text for the full-text index. */
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "mime/mime.h"
#include "store/store_int.h"

static char *decoded(const char *raw)
{
	struct buf b = BUF_INIT;
	if (raw != NULL)
		mime_decode_header(raw, strlen(raw), &b);
	return buf_steal(&b);
}

static char *trimmed(const char *raw)
{
	if (raw == NULL)
		return xstrdup("");
	while (*raw == ' ' || *raw == '\t')
		raw++;
	size_t n = strlen(raw);
	while (n > 0 && (raw[n - 1] == ' ' || raw[n - 1] == '\t' || raw[n - 1] == '\r' ||
			 raw[n - 1] == '\n'))
		n--;
	return xstrndup(raw, n);
}

void store_meta_build(const void *data, size_t len, struct store_meta *m)
{
	memset(m, 0, sizeof *m);
	struct mime_message *mm = mime_parse(data, len);
	struct buf b = BUF_INIT;
	mime_write_envelope(mm, &b);
	m->envelope = buf_steal(&b);
	mime_write_bodystructure(mm, true, &b);
	m->bodystructure = buf_steal(&b);
	mime_write_bodystructure(mm, false, &b);
	m->body = buf_steal(&b);
	uint64_t hs = mm->root.header_start, he = mm->root.body_start;
	if (he >= hs && he <= len && he - hs <= STORE_HEADER_CACHE_MAX) {
		buf_append(&m->header, (const char *)data + hs, (size_t)(he - hs));
		m->header_cached = true;
	}
	m->from = decoded(mm->from);
	m->to = decoded(mm->to);
	m->cc = decoded(mm->cc);
	m->bcc = decoded(mm->bcc);
	m->subject = decoded(mm->subject);
	m->message_id = trimmed(mm->message_id);
	m->sent_date = 0;
	if (mm->date != NULL) {
		time_t t = store_parse_rfc5322_date(mm->date);
		m->sent_date = t > 0 ? t : 0;
	}
	mime_extract_text(mm, data, len, &m->fts_headers, &m->fts_body);
	mime_message_free(&mm);
}

void store_meta_clear(struct store_meta *m)
{
	free(m->envelope);
	free(m->bodystructure);
	free(m->body);
	buf_free(&m->header);
	free(m->from);
	free(m->to);
	free(m->cc);
	free(m->bcc);
	free(m->subject);
	free(m->message_id);
	buf_free(&m->fts_headers);
	buf_free(&m->fts_body);
	memset(m, 0, sizeof *m);
}

int store_message_meta(struct store_blob *b, const void *prefix, size_t prefix_len,
		       struct store_meta *own, const struct store_meta **meta_r, char **error_r)
{
	if (prefix_len == 0)
		return store_blob_meta(b, meta_r, error_r);
	const void *data;
	size_t len;
	if (store_blob_data(b, &data, &len, error_r) < 0)
		return -1;
	/* The parser wants one buffer: prefix and blob together. */
	struct buf all = BUF_INIT;
	buf_reserve(&all, prefix_len + len);
	buf_append(&all, prefix, prefix_len);
	buf_append(&all, data, len);
	store_meta_build(all.data, all.len, own);
	buf_free(&all);
	*meta_r = own;
	return 0;
}

int store_message_bytes(struct store *s, const struct store_message *m, struct buf *out,
			char **error_r)
{
	struct store_blob *b;
	const void *data;
	size_t len;
	if (store_blob_open(s, m->blob_id, &b, error_r) < 0)
		return -1;
	if (store_blob_data(b, &data, &len, error_r) < 0) {
		store_blob_free(&b);
		return -1;
	}
	buf_clear(out);
	buf_reserve(out, m->prefix_len + len);
	if (m->prefix_len > 0)
		buf_append(out, m->prefix, m->prefix_len);
	buf_append(out, data, len);
	store_blob_free(&b);
	return 0;
}
