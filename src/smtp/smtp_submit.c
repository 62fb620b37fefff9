/* Submission's rules on the message itself (RFC 6409 8), on the submission
 * and smtps listeners only:
 *
 *   - the From header's addresses must belong to the authenticated account
 *     (submission.from_check): "owned", as MAIL FROM (the account, a
 *     plus-address of it, an alias reaching it); "domain", any address in
 *     the account's domain; "off". Else, at the end of the data,
 *     "550 5.7.1 <a>: From header address not owned by user U" (or "not in
 *     domain D of user U"), and a message without a From address
 *     "550 5.7.1 Message refused: no From header";
 *   - a message without Message-ID or Date gets them (RFC 6409 8.2, 8.3),
 *     right after our Received header.
 *
 * To add fields before the header block, the block is held back while it
 * arrives (up to SMTP_HEADER_HOLD_MAX octets; past that it is written as it
 * is, and only the fields seen so far count), then written after the added
 * fields. The fields are found line by line as RFC 5322 2.2 has them:
 *
 *   field      = field-name ":" unstructured CRLF
 *   field-name = 1*ftext            (obs-optional allows WSP before ":")
 *   folding    = a line that starts with SP or HTAB continues the field
 *
 * and the header ends at the first empty line. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/xmalloc.h"
#include "mime/mime.h"
#include "smtp/smtp_int.h"

#define SMTP_HEADER_HOLD_MAX (256 * 1024)

void smtp_header_clear(struct smtp_header_scan *h)
{
	buf_free(&h->header);
	xfree(&h->from);
	h->active = false;
	h->has_message_id = false;
	h->has_date = false;
	h->next_line = 0;
	h->in_from = false;
	h->next = NULL;
}

void smtp_header_begin(struct session *s, struct smtp_state *st)
{
	smtp_header_clear(&st->hdr);
	st->hdr.active = true;
}

static void from_append(struct smtp_header_scan *h, const char *v, size_t len, bool new_field)
{
	struct buf b = BUF_INIT;
	if (h->from != NULL) {
		buf_append_str(&b, h->from);
		if (new_field)
			buf_putc(&b, ',');
	}
	buf_append(&b, v, len);
	free(h->from);
	h->from = xstrdup(buf_cstr(&b));
	buf_free(&b);
}

/* One line of the header (without its line end). Returns false at the
 * empty line that ends the header. */
static bool header_line(struct smtp_header_scan *h, const char *p, size_t len)
{
	if (len == 0)
		return false;
	if (p[0] == ' ' || p[0] == '\t') {
		if (h->in_from)
			from_append(h, p, len, false);
		return true;
	}
	h->in_from = false;
	const char *colon = memchr(p, ':', len);
	if (colon == NULL)
		return true;   /* not a field: the client's problem, kept as sent */
	size_t nlen = (size_t)(colon - p);
	while (nlen > 0 && (p[nlen - 1] == ' ' || p[nlen - 1] == '\t'))
		nlen--;
	const char *v = colon + 1;
	size_t vlen = len - (size_t)(v - p);
	if (nlen == 4 && strncasecmp(p, "from", 4) == 0) {
		h->in_from = true;
		from_append(h, v, vlen, true);
	} else if (nlen == 10 && strncasecmp(p, "message-id", 10) == 0) {
		h->has_message_id = true;
	} else if (nlen == 4 && strncasecmp(p, "date", 4) == 0) {
		h->has_date = true;
	}
	return true;
}

/* Look at the complete lines not yet seen; at_end: the last line may have
 * no line end. Returns true once the header's end was found. */
static bool scan(struct smtp_header_scan *h, bool at_end)
{
	const char *data = h->header.data != NULL ? h->header.data : "";
	size_t len = h->header.len;
	while (h->next_line < len) {
		const char *line = data + h->next_line;
		const char *nl = memchr(line, '\n', len - h->next_line);
		if (nl == NULL && !at_end)
			return false;
		size_t llen = nl != NULL ? (size_t)(nl - line) : len - h->next_line;
		h->next_line += llen + (nl != NULL ? 1 : 0);
		if (llen > 0 && line[llen - 1] == '\r')
			llen--;
		if (!header_line(h, line, llen))
			return true;
	}
	return false;
}

/* Write the added fields and what was held back; stop holding back. */
static void flush(struct session *s, struct smtp_state *st)
{
	struct smtp_header_scan *h = &st->hdr;
	struct buf add = BUF_INIT;
	if (!h->has_message_id)
		buf_appendf(&add, "Message-ID: <%s@%s>\r\n", st->queue_id, smtp_hostname(s));
	if (!h->has_date) {
		char date[64];
		smtp_date_now(date, sizeof date);
		buf_appendf(&add, "Date: %s\r\n", date);
	}
	if (add.len > 0)
		log_msg(LOGL_INFO, "smtp", s->id, "event=header_added message_id=%s date=%s",
			h->has_message_id ? "no" : "yes", h->has_date ? "no" : "yes");
	smtp_data_write(st, add.data, add.len);
	smtp_data_write(st, h->header.data, h->header.len);
	buf_free(&add);
	buf_free(&h->header);
	h->active = false;
}

bool smtp_header_take(struct session *s, struct smtp_state *st, const char *data, size_t len)
{
	struct smtp_header_scan *h = &st->hdr;
	if (!h->active)
		return false;
	buf_append(&h->header, data, len);
	if (scan(h, false) || h->header.len > SMTP_HEADER_HOLD_MAX)
		flush(s, st);
	return true;
}

void smtp_header_end(struct session *s, struct smtp_state *st)
{
	if (!st->hdr.active || st->too_big || st->msg == NULL)
		return;
	scan(&st->hdr, true);
	flush(s, st);
}

/* ---- the From check ---- */

static void from_checked(struct session *s, struct smtp_lookup_result *r)
{
	struct smtp_state *st = s->data;
	void (*next)(struct session *s) = st->hdr.next;
	st->hdr.next = NULL;
	if (r->reply[0] == '2') {
		next(s);
		return;
	}
	log_msg(LOGL_INFO, "smtp", s->id, "event=data_refused reason=from_header reply=\"%s\"",
		r->reply);
	smtp_reply(s, "%s", r->reply);
	smtp_txn_reset(st);
	smtp_check_errors(s);
}

static void refuse(struct session *s, struct smtp_state *st, const char *reply)
{
	struct smtp_lookup_result r = { .reply = xstrdup(reply) };
	from_checked(s, &r);
	smtp_lookup_result_clear(&r);
}

/* The addresses of the From fields as "local@domain" (groups skipped). */
static size_t from_addresses(const char *value, char ***list_r)
{
	struct mime_address *a = NULL;
	size_t n = 0, count = 0;
	char **list = NULL;
	if (value != NULL)
		mime_address_parse(value, strlen(value), &a, &n);
	for (size_t i = 0; i < n; i++) {
		if (a[i].mailbox == NULL || a[i].domain == NULL)
			continue;   /* a group's start or end */
		list = xrealloc(list, (count + 1) * sizeof *list);
		list[count++] = xasprintf("%s@%s", a[i].mailbox, a[i].domain);
	}
	mime_address_list_free(&a, &n);
	*list_r = list;
	return count;
}

void smtp_check_from(struct session *s, struct smtp_state *st, void (*next)(struct session *s))
{
	const char *policy = s->cfg->submission_from_check;
	if (strcmp(policy, "off") == 0 || st->user == NULL) {
		next(s);
		return;
	}
	st->hdr.next = next;
	char **addrs = NULL;
	size_t n = from_addresses(st->hdr.from, &addrs);
	if (n == 0) {
		refuse(s, st, "550 5.7.1 Message refused: no From header address");
	} else if (strcmp(policy, "domain") == 0) {
		const char *at = strrchr(st->user, '@');
		const char *domain = at != NULL ? at + 1 : "";
		const char *bad = NULL;
		for (size_t i = 0; i < n && bad == NULL; i++) {
			const char *d = strrchr(addrs[i], '@') + 1;
			if (strcasecmp(d, domain) != 0)
				bad = addrs[i];
		}
		if (bad == NULL) {
			st->hdr.next = NULL;
			next(s);
		} else {
			char *reply = xasprintf("550 5.7.1 <%s>: From header address not in domain %s "
						"of user %s", bad, domain, st->user);
			refuse(s, st, reply);
			free(reply);
		}
	} else {
		st->phase = SMTP_PHASE_COMMIT;
		smtp_lookup_from(s, addrs, n, from_checked);
	}
	for (size_t i = 0; i < n; i++)
		free(addrs[i]);
	free(addrs);
}
