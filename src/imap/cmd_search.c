/* SEARCH, SORT and THREAD, plain and UID (RFC 9051 6.4.4; RFC 4731
 * ESEARCH; RFC 5182 SEARCHRES; RFC 5256 SORT and THREAD; RFC 7162 MODSEQ).
 *
 *   search = "SEARCH" [search-return-opts] SP search-program
 *   sort   = ["UID" SP] "SORT" SP sort-criteria SP search-criteria
 *   thread = ["UID" SP] "THREAD" SP thread-alg SP search-criteria
 *
 * The program is parsed and matched by imap_search.c, sorted and threaded by
 * imap_sort.c; this file feeds them from the store. BODY and TEXT keys are
 * answered first by the full-text index, then one walk over the mailbox's
 * messages loads only what the program needs (flags alone for "UNSEEN"). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/xmalloc.h"
#include "imap/imap_int.h"
#include "imap/imap_search.h"
#include "imap/imap_seqset.h"
#include "imap/imap_sort.h"

enum search_kind { KIND_SEARCH, KIND_SORT, KIND_THREAD };

struct walk {
	struct imap_cmd *c;
	enum search_kind kind;
	struct imap_search_program *prog;
	struct imap_search_result res;
	struct imap_sort_program sort;
	enum imap_thread_alg alg;
	bool need_header;               /* SORT/THREAD read the header block */
	bool emailid;                   /* the program has EMAILID keys */
	struct imap_sort_msg *msgs;
	size_t n_msgs, cap_msgs;
	/* the header of the current message, read from its blob */
	const struct store_message *cur;
	struct store_blob *blob;
	struct buf header;
	bool failed;
};

/* The raw header of w->cur from its blob (prefix + blob up to the empty line). */
static int read_header(struct walk *w, const char **header_r, size_t *len_r)
{
	const struct store_message *m = w->cur;
	if (m->header != NULL) {
		*header_r = m->header;
		*len_r = m->header_len;
		return 0;
	}
	char *error = NULL;
	const void *data;
	size_t len;
	store_blob_free(&w->blob);
	if (store_blob_open(w->c->st->store, m->blob_id, &w->blob, &error) < 0 ||
	    store_blob_data(w->blob, &data, &len, &error) < 0) {
		log_msg(LOGL_ERROR, "imap", w->c->session_id,
			"event=search_header_failed uid=%" PRIu32 " error=\"%s\"", m->uid, error);
		free(error);
		return -1;
	}
	buf_clear(&w->header);
	buf_append(&w->header, m->prefix, m->prefix_len);
	const char *d = data;
	size_t end = len;
	for (size_t i = 0; i + 1 < len; i++) {
		if (d[i] == '\n' && (d[i + 1] == '\n' ||
				     (d[i + 1] == '\r' && i + 2 < len && d[i + 2] == '\n'))) {
			end = i + (d[i + 1] == '\n' ? 2 : 3);
			break;
		}
	}
	buf_append(&w->header, d, end);
	*header_r = w->header.data;
	*len_r = w->header.len;
	return 0;
}

static int get_header(void *ctx, const char **header_r, size_t *len_r)
{
	return read_header(ctx, header_r, len_r);
}

static void add_sort_msg(struct walk *w, uint32_t seq, const struct store_message *m)
{
	if (w->n_msgs == w->cap_msgs) {
		w->cap_msgs = w->cap_msgs ? w->cap_msgs * 2 : 64;
		w->msgs = xrealloc(w->msgs, w->cap_msgs * sizeof *w->msgs);
	}
	const char *header = NULL;
	size_t header_len = 0;
	if (w->need_header && read_header(w, &header, &header_len) < 0)
		header = NULL;
	imap_sort_msg_init(&w->msgs[w->n_msgs++], seq, m, header, header_len);
}

static int visit(void *ctx, const struct store_message *m)
{
	struct walk *w = ctx;
	struct imap_selected *sel = w->c->st->sel;
	uint32_t seq = imap_uid_to_seq(sel->uids.uids, sel->uids.count, m->uid);
	if (seq == 0)
		return 0;
	w->cur = m;
	char emailid[IMAP_EMAILID_LEN + 1];
	if (w->emailid)
		imap_emailid(m, emailid);
	struct imap_search_message sm = { .seq = seq, .msg = m, .get_header = get_header,
					  .get_header_ctx = w,
					  .recent = imap_is_recent(w->c->st, m->uid),
					  .emailid = w->emailid ? emailid : NULL };
	int r = imap_search_match(w->prog, &sm);
	if (r < 0) {
		w->failed = true;
		return -1;
	}
	if (r == 0)
		return 0;
	if (w->kind == KIND_SEARCH)
		imap_search_result_add(&w->res, seq, m->uid, m->modseq);
	else
		add_sort_msg(w, seq, m);
	return 0;
}

static void walk_free(struct walk *w)
{
	imap_search_free(&w->prog);
	imap_search_result_free(&w->res);
	for (size_t i = 0; i < w->n_msgs; i++)
		imap_sort_msg_clear(&w->msgs[i]);
	free(w->msgs);
	store_blob_free(&w->blob);
	buf_free(&w->header);
}

static bool parse_error(struct imap_cmd *c, const struct imap_search_error *e)
{
	if (e->badcharset)
		imap_no(c, "[BADCHARSET (UTF-8 US-ASCII)] %s", e->reason);
	else
		imap_bad(c, "%s%s", e->limit ? "[LIMIT] " : "", e->reason);
	return false;
}

/* BODY and TEXT keys through the full-text index. */
static bool text_keys(struct imap_cmd *c, struct walk *w)
{
	for (size_t i = 0; i < imap_search_text_count(w->prog); i++) {
		enum store_search_field field;
		const char *query;
		struct store_uid_list uids = { 0 };
		char *error = NULL;
		imap_search_text_key(w->prog, i, &field, &query);
		if (store_search_text(c->st->sel->mb, field, query, &uids, &error) < 0) {
			imap_no_store(c, "SEARCH failed", error);
			return false;
		}
		imap_search_set_text_result(w->prog, i, &uids);
		store_uid_list_free(&uids);
	}
	return true;
}

static bool run_walk(struct imap_cmd *c, struct walk *w, unsigned mask)
{
	struct imap_selected *sel = c->st->sel;
	struct imap_search_mailbox mb = { sel->uids.uids, sel->uids.count, &sel->saved,
					  time(NULL) };
	if (!text_keys(c, w))
		return false;
	imap_search_prepare(w->prog, &mb);
	w->emailid = imap_search_uses_emailid(w->prog);
	char *error = NULL;
	mask |= imap_search_fetch_mask(w->prog);
	/* BODY/TEXT answered by the index: read only the messages it found. */
	const struct store_uid_list *cand = imap_search_candidates(w->prog);
	if (cand != NULL && cand->count == 0)
		return true;
	size_t n = 0;
	struct store_uid_range *ranges =
		cand != NULL ? imap_uid_list_ranges(cand->uids, cand->count, &n) : NULL;
	struct store_uidset set = { ranges, n };
	int r = store_fetch(sel->mb, cand != NULL ? &set : NULL, mask, visit, w, &error);
	free(ranges);
	if (r < 0) {
		imap_no_store(c, "SEARCH failed", error);
		return false;
	}
	return true;
}

static void cmd_search(struct imap_cmd *c)
{
	struct walk w = { .c = c, .kind = KIND_SEARCH };
	struct imap_search_error err = { 0 };
	if (c->count == 0) {
		imap_bad(c, "Syntax: SEARCH [RETURN (...)] [CHARSET x] keys");
		return;
	}
	if (imap_search_parse(c->args, c->count, &w.prog, &err) < 0) {
		parse_error(c, &err);
		return;
	}
	if (imap_search_has_modseq(w.prog))
		c->st->condstore = true;   /* RFC 7162 3.1: MODSEQ enables CONDSTORE */
	if (run_walk(c, &w, 0)) {
		imap_search_write(w.prog, &w.res, c->tag, c->uid, c->st->rev2, &c->out);
		if (imap_search_return(w.prog) & IMAP_SEARCH_RET_SAVE)
			imap_search_saved(w.prog, &w.res, &c->st->sel->saved);
	} else if (imap_search_return(w.prog) & IMAP_SEARCH_RET_SAVE) {
		c->st->sel->saved.count = 0;   /* RFC 5182 2.1: a failed SAVE empties "$" */
	}
	walk_free(&w);
}

static void cmd_sort(struct imap_cmd *c)
{
	struct walk w = { .c = c, .kind = KIND_SORT };
	struct imap_search_error err = { 0 };
	const char *error;
	if (c->count < 3) {
		imap_bad(c, "Syntax: SORT (criteria) charset keys");
		return;
	}
	if (imap_sort_parse(&c->args[0], &w.sort, &error) < 0) {
		imap_bad(c, "%s", error);
		return;
	}
	if (imap_search_parse_criteria(c->args + 1, c->count - 1, &w.prog, &err) < 0) {
		parse_error(c, &err);
		return;
	}
	unsigned mask = imap_sort_fetch_mask(&w.sort) | STORE_FETCH_SEARCH;
	w.need_header = (mask & STORE_FETCH_HEADER) != 0;
	if (run_walk(c, &w, mask)) {
		imap_sort(w.msgs, w.n_msgs, &w.sort);
		buf_append_str(&c->out, "* SORT");
		for (size_t i = 0; i < w.n_msgs; i++)
			buf_appendf(&c->out, " %" PRIu32, c->uid ? w.msgs[i].uid : w.msgs[i].seq);
		buf_append_str(&c->out, "\r\n");
	}
	walk_free(&w);
}

static void cmd_thread(struct imap_cmd *c)
{
	struct walk w = { .c = c, .kind = KIND_THREAD };
	struct imap_search_error err = { 0 };
	const char *error;
	if (c->count < 3) {
		imap_bad(c, "Syntax: THREAD algorithm charset keys");
		return;
	}
	if (imap_thread_parse(&c->args[0], &w.alg, &error) < 0) {
		imap_bad(c, "%s", error);
		return;
	}
	if (imap_search_parse_criteria(c->args + 1, c->count - 1, &w.prog, &err) < 0) {
		parse_error(c, &err);
		return;
	}
	unsigned mask = imap_thread_fetch_mask(w.alg) | STORE_FETCH_SEARCH;
	w.need_header = (mask & STORE_FETCH_HEADER) != 0;
	if (run_walk(c, &w, mask)) {
		buf_append_str(&c->out, w.n_msgs > 0 ? "* THREAD " : "* THREAD");
		imap_thread(w.msgs, w.n_msgs, w.alg, c->uid, &c->out);
		buf_append_str(&c->out, "\r\n");
	}
	walk_free(&w);
}

const struct imap_command_def imap_cmds_search[] = {
	{ "SEARCH", IMAP_IN_SELECTED, IMAP_CMD_UID | IMAP_CMD_NO_EXPUNGE, NULL, cmd_search },
	{ "SORT", IMAP_IN_SELECTED, IMAP_CMD_UID | IMAP_CMD_NO_EXPUNGE, NULL, cmd_sort },
	{ "THREAD", IMAP_IN_SELECTED, IMAP_CMD_UID | IMAP_CMD_NO_EXPUNGE, NULL, cmd_thread },
	{ NULL, 0, 0, NULL, NULL },
};
