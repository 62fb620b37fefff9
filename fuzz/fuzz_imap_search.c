/* libFuzzer target: IMAP SEARCH, SORT and THREAD. The input's first line
 * is given to the command parser as "t SEARCH <line>"; the arguments are
 * parsed as a SEARCH program and as SORT / THREAD criteria, a valid program
 * is matched against a fixed five-message mailbox and its answers written.
 * Each further line, "subject TAB message-id TAB references", describes a
 * message to sort and thread by both algorithms: every message must appear
 * exactly once in the thread list, whose parentheses must balance. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/imap_parser.h"
#include "imap/imap_search.h"
#include "imap/imap_sort.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MSGS 64

static const uint32_t box_uids[] = { 3, 5, 9, 10, 20 };
static const char *const kw[] = { "$Forwarded", "NonJunk" };
static const char box_header[] =
	"From: =?utf-8?q?Zo=C3=AB?= <zoe@example.org>\r\nTo: a@b, c@d\r\n"
	"Subject: Re: [list] hello\r\nX-Prio: 1\r\nReceived: a\r\n b\r\n\r\n";

static int get_header(void *ctx, const char **header_r, size_t *len_r)
{
	(void)ctx;
	*header_r = box_header;
	*len_r = sizeof box_header - 1;
	return 0;
}

static void box_message(uint32_t i, struct store_message *m)
{
	memset(m, 0, sizeof *m);
	m->uid = box_uids[i];
	m->modseq = 3 + i * 5 % 7;
	m->flags = i * 7 % 32;
	m->keywords = kw;
	m->n_keywords = i % 3;
	m->internaldate = (time_t)1704067200 + (time_t)i * 86400 * 3;
	m->sent_date = i % 2 ? m->internaldate - 3600 : 0;
	m->size = 50u * i;
	m->from = "Zo\xc3\xab <zoe@example.org>";
	m->to = i % 2 ? "a@b, c@d" : "";
	m->cc = m->bcc = "";
	m->subject = "Re: [list] hello";
	m->message_id = "<x@y>";
	m->header = i == 3 ? NULL : box_header;
	m->header_len = i == 3 ? 0 : sizeof box_header - 1;
}

static void search(struct imap_search_program *p)
{
	static const uint32_t saved_uids[] = { 5, 10 };
	struct store_uid_list saved = { (uint32_t *)saved_uids, 2, 2 };
	struct imap_search_mailbox mb = { box_uids, 5, &saved, 1704067200 + 30 * 86400 };
	for (size_t i = 0; i < imap_search_text_count(p); i++) {
		enum store_search_field field;
		const char *query;
		imap_search_text_key(p, i, &field, &query);
		struct store_uid_list l = { malloc(sizeof(uint32_t)), 1, 1 };
		l.uids[0] = box_uids[strlen(query) % 5];
		imap_search_set_text_result(p, i, &l);
	}
	imap_search_prepare(p, &mb);
	(void)imap_search_fetch_mask(p);
	struct imap_search_result res = { 0 };
	for (uint32_t i = 0; i < 5; i++) {
		struct store_message m;
		box_message(i, &m);
		struct imap_search_message sm = { i + 1, &m, i % 2 == 0, "e1", NULL, get_header, NULL };
		int r = imap_search_match(p, &sm);
		if (r < 0 || r > 1)
			abort();
		if (r == 1)
			imap_search_result_add(&res, i + 1, m.uid, m.modseq);
	}
	struct buf out = BUF_INIT;
	imap_search_write(p, &res, "t", false, false, &out);
	imap_search_write(p, &res, "t", true, true, &out);
	if (out.len > 0 && (out.len < 2 || memcmp(out.data + out.len - 2, "\r\n", 2) != 0))
		abort();
	struct store_uid_list kept = { 0 };
	imap_search_saved(p, &res, &kept);
	if (kept.count > res.uids.count)
		abort();
	store_uid_list_free(&kept);
	buf_free(&out);
	imap_search_result_free(&res);
}

static void programs(const struct imap_command *c)
{
	struct imap_search_program *p = NULL;
	struct imap_search_error err;
	if (imap_search_parse(c->args, c->count, &p, &err) == 0) {
		search(p);
		imap_search_free(&p);
	} else if (err.reason == NULL) {
		abort();
	}
	if (c->count > 0) {
		struct imap_sort_program sp;
		enum imap_thread_alg alg;
		const char *error;
		(void)imap_sort_parse(&c->args[0], &sp, &error);
		(void)imap_thread_parse(&c->args[0], &alg, &error);
		if (imap_search_parse_criteria(c->args + 1, c->count - 1, &p, &err) == 0)
			imap_search_free(&p);
	}
}

/* Every sequence number 1..n once, parentheses balanced. */
static void check_threads(const struct buf *out, size_t n)
{
	unsigned char seen[MAX_MSGS + 1] = { 0 };
	long depth = 0;
	for (size_t i = 0; i < out->len; i++) {
		char ch = out->data[i];
		if (ch == '(' || ch == ')') {
			depth += ch == '(' ? 1 : -1;
			if (depth < 0)
				abort();
		} else if (ch >= '1' && ch <= '9') {
			unsigned long v = strtoul(out->data + i, NULL, 10);
			if (v == 0 || v > n || seen[v]++)
				abort();
			while (i + 1 < out->len && out->data[i + 1] >= '0' && out->data[i + 1] <= '9')
				i++;
		}
	}
	for (size_t v = 1; v <= n; v++)
		if (!seen[v])
			abort();
	if (depth != 0)
		abort();
}

/* "subject TAB message-id TAB references" */
static void record(struct imap_sort_msg *rec, uint32_t seq, const char *line, size_t len)
{
	struct buf subject = BUF_INIT, header = BUF_INIT;
	const char *tab = memchr(line, '\t', len);
	size_t slen = tab != NULL ? (size_t)(tab - line) : len;
	buf_append(&subject, line, slen);
	const char *rest = tab != NULL ? tab + 1 : line + len;
	size_t rlen = (size_t)(line + len - rest);
	const char *tab2 = memchr(rest, '\t', rlen);
	size_t idlen = tab2 != NULL ? (size_t)(tab2 - rest) : rlen;
	buf_append_str(&header, "Message-ID: ");
	buf_append(&header, rest, idlen);
	buf_append_str(&header, "\r\nReferences: ");
	if (tab2 != NULL)
		buf_append(&header, tab2 + 1, (size_t)(line + len - tab2 - 1));
	buf_append_str(&header, "\r\n\r\n");
	struct store_message m = { .uid = seq * 2, .internaldate = 1000 + seq % 5,
				   .sent_date = seq % 3 == 0 ? 0 : (time_t)(seq % 7),
				   .subject = buf_cstr(&subject) };
	imap_sort_msg_init(rec, seq, &m, header.data, header.len);
	buf_free(&subject);
	buf_free(&header);
}

static void threads(const char *s, size_t len)
{
	struct imap_sort_msg *msgs = calloc(MAX_MSGS, sizeof *msgs);
	size_t n = 0;
	while (len > 0 && n < MAX_MSGS) {
		const char *lf = memchr(s, '\n', len);
		size_t l = lf != NULL ? (size_t)(lf - s) : len;
		if (memchr(s, '\0', l) == NULL) {
			record(&msgs[n], (uint32_t)(n + 1), s, l);
			n++;
		}
		s += l + (lf != NULL);
		len -= l + (lf != NULL);
	}
	struct buf out = BUF_INIT;
	imap_thread(msgs, n, IMAP_THREAD_REFERENCES, false, &out);
	check_threads(&out, n);
	buf_clear(&out);
	imap_thread(msgs, n, IMAP_THREAD_ORDEREDSUBJECT, false, &out);
	check_threads(&out, n);
	struct imap_sort_program sp = { .count = 3 };
	sp.crit[0].key = IMAP_SORT_SUBJECT;
	sp.crit[1].key = IMAP_SORT_DATE;
	sp.crit[1].reverse = true;
	sp.crit[2].key = IMAP_SORT_DISPLAYFROM;
	imap_sort(msgs, n, &sp);
	for (size_t i = 0; i < n; i++)
		imap_sort_msg_clear(&msgs[i]);
	buf_free(&out);
	free(msgs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	const char *lf = memchr(s, '\n', size);
	size_t first = lf != NULL ? (size_t)(lf - s) : size;
	struct buf line = BUF_INIT;
	buf_append_str(&line, "t SEARCH ");
	buf_append(&line, s, first);
	struct imap_parser *p = imap_parser_new(NULL);
	if (imap_parser_line(p, line.data, line.len) == IMAP_PARSE_COMMAND)
		programs(imap_parser_command(p));
	imap_parser_free(&p);
	if (memchr(s, '\0', first) == NULL) {
		struct buf b = BUF_INIT;
		buf_append(&b, s, first);
		struct buf base = BUF_INIT;
		imap_base_subject(buf_cstr(&b), &base, NULL);
		if (base.len > b.len)
			abort();
		buf_free(&base);
		buf_free(&b);
	}
	buf_free(&line);
	if (lf != NULL)
		threads(lf + 1, size - first - 1);
	return 0;
}
