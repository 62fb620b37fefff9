/* FETCH and UID FETCH (RFC 9051 6.4.5, 7.5.2; RFC 3516 BINARY; RFC 7162
 * CHANGEDSINCE, VANISHED).
 *
 *   fetch     = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" /
 *               fetch-att / "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers]
 *   fetch-att = "ENVELOPE" / "FLAGS" / "INTERNALDATE" /
 *               "RFC822" [".HEADER" / ".SIZE" / ".TEXT"] /
 *               "BODY" ["STRUCTURE"] / "UID" /
 *               "BODY" section [partial] / "BODY.PEEK" section [partial] /
 *               "BINARY" [".PEEK"] section-binary [partial] /
 *               "BINARY.SIZE" section-binary / "MODSEQ"
 *   fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"
 *   fetch-modifier  = "CHANGEDSINCE" SP mod-sequence-value / "VANISHED"
 *
 * Sections are parsed and cut by imap_section.c. A message's bytes are the
 * store's prefix followed by its blob (mapped); BODY[] and RFC822 of a whole
 * message are copied straight from the two, other sections parse the MIME
 * tree first. A BODY[...] or BINARY[...] without .PEEK (or RFC822,
 * RFC822.TEXT) sets \Seen first, and the FETCH response of each message so
 * changed carries its FLAGS (RFC 9051 6.4.5).
 *
 * Large outputs are cut: after FETCH_STEP_BYTES of responses the command
 * hands over and goes on once the client has read them, so memory stays
 * bounded by one message plus that much. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"
#include "imap/imap_int.h"
#include "imap/imap_section.h"
#include "imap/imap_seqset.h"
#include "mime/mime.h"

#define FETCH_STEP_BYTES (256 * 1024)
#define FETCH_MAX_ITEMS 64

enum item_kind {
	ITEM_UID, ITEM_FLAGS, ITEM_INTERNALDATE, ITEM_RFC822_SIZE, ITEM_ENVELOPE, ITEM_BODY,
	ITEM_BODYSTRUCTURE, ITEM_RFC822, ITEM_RFC822_HEADER, ITEM_RFC822_TEXT, ITEM_SECTION,
	ITEM_MODSEQ, ITEM_EMAILID, ITEM_THREADID,
};

struct item {
	enum item_kind kind;
	struct imap_section sec;        /* ITEM_SECTION */
};

struct fetch {
	struct item items[FETCH_MAX_ITEMS];
	size_t n_items;
	unsigned what;                  /* STORE_FETCH_* */
	bool needs_body;                /* an item reads the message bytes */
	bool sets_seen;
	bool has_flags;
	uint64_t changedsince;
	bool vanished;
	struct store_uid_list uids;     /* the messages, ascending */
	size_t pos;                     /* next in uids */
	struct store_uid_range *ranges; /* uids as ranges, made once for every step */
	size_t n_ranges, range_pos;     /* ranges before range_pos are done */
	size_t seq_pos;                 /* where the last message was in the view */
	struct store_uid_list seen_changed;   /* got \Seen from this FETCH */
	/* the walk */
	struct imap_cmd *c;
	uint32_t last_uid;              /* the last message the walk visited */
	bool failed;
};

static void fetch_free(void *p)
{
	struct fetch *f = p;
	for (size_t i = 0; i < f->n_items; i++)
		if (f->items[i].kind == ITEM_SECTION)
			imap_section_clear(&f->items[i].sec);
	store_uid_list_free(&f->uids);
	store_uid_list_free(&f->seen_changed);
	free(f->ranges);
	free(f);
}

/* ---- parsing ---- */

static const struct {
	const char *name;
	enum item_kind kind;
	unsigned what;
	bool body;
} simple_items[] = {
	{ "UID", ITEM_UID, 0, false },
	{ "FLAGS", ITEM_FLAGS, 0, false },
	{ "INTERNALDATE", ITEM_INTERNALDATE, 0, false },
	{ "RFC822.SIZE", ITEM_RFC822_SIZE, 0, false },
	{ "ENVELOPE", ITEM_ENVELOPE, STORE_FETCH_ENVELOPE, false },
	{ "BODY", ITEM_BODY, STORE_FETCH_BODY, false },
	{ "BODYSTRUCTURE", ITEM_BODYSTRUCTURE, STORE_FETCH_BODYSTRUCTURE, false },
	{ "RFC822", ITEM_RFC822, 0, true },
	{ "RFC822.HEADER", ITEM_RFC822_HEADER, STORE_FETCH_HEADER, false },
	{ "RFC822.TEXT", ITEM_RFC822_TEXT, 0, true },
	{ "MODSEQ", ITEM_MODSEQ, 0, false },
	{ "EMAILID", ITEM_EMAILID, 0, false },     /* RFC 8474 */
	{ "THREADID", ITEM_THREADID, 0, false },
};

static bool add_item(struct imap_cmd *c, struct fetch *f, enum item_kind kind)
{
	for (size_t i = 0; i < f->n_items; i++)
		if (f->items[i].kind == kind && kind != ITEM_SECTION)
			return true;
	if (f->n_items == FETCH_MAX_ITEMS) {
		imap_bad(c, "[LIMIT] Too many FETCH items");
		return false;
	}
	f->items[f->n_items++] = (struct item){ .kind = kind };
	return true;
}

static bool parse_att(struct imap_cmd *c, struct fetch *f, const struct imap_arg *a)
{
	const char *name = imap_arg_atom(a);
	if (name == NULL) {
		imap_bad(c, "Invalid FETCH item");
		return false;
	}
	for (size_t i = 0; i < sizeof simple_items / sizeof simple_items[0]; i++) {
		if (strcasecmp(name, simple_items[i].name) != 0)
			continue;
		f->what |= simple_items[i].what;
		f->needs_body |= simple_items[i].body;
		if (simple_items[i].kind == ITEM_RFC822 || simple_items[i].kind == ITEM_RFC822_TEXT)
			f->sets_seen = true;
		if (simple_items[i].kind == ITEM_FLAGS)
			f->has_flags = true;
		return add_item(c, f, simple_items[i].kind);
	}
	if (strchr(name, '[') == NULL) {
		imap_bad(c, "Unknown FETCH item %.40s", name);
		return false;
	}
	if (!add_item(c, f, ITEM_SECTION))
		return false;
	struct item *it = &f->items[f->n_items - 1];
	const char *error;
	if (!imap_section_parse(name, a->len, &it->sec, &error)) {
		f->n_items--;
		imap_bad(c, "Invalid FETCH item: %s", error);
		return false;
	}
	if (!it->sec.peek && it->sec.kind != IMAP_FETCH_BINARY_SIZE)
		f->sets_seen = true;
	f->needs_body = true;
	return true;
}

/* fetch-modifiers */
static bool parse_modifiers(struct imap_cmd *c, struct fetch *f, const struct imap_arg *a)
{
	if (a->type != IMAP_ARG_LIST || a->count == 0) {
		imap_bad(c, "Syntax: FETCH modifiers (CHANGEDSINCE modseq [VANISHED])");
		return false;
	}
	for (size_t i = 0; i < a->count; i++) {
		const char *m = imap_arg_atom(&a->list[i]);
		if (m != NULL && strcasecmp(m, "CHANGEDSINCE") == 0 && i + 1 < a->count &&
		    imap_arg_number64(&a->list[i + 1], &f->changedsince) && f->changedsince > 0) {
			i++;
			continue;
		}
		if (m != NULL && strcasecmp(m, "VANISHED") == 0) {
			f->vanished = true;
			continue;
		}
		imap_bad(c, "Unknown FETCH modifier");
		return false;
	}
	if (f->vanished && (!c->uid || !c->st->qresync || f->changedsince == 0)) {
		imap_bad(c, "VANISHED needs UID FETCH, QRESYNC enabled and CHANGEDSINCE");
		return false;
	}
	c->st->condstore = true;   /* RFC 7162 3.1: CHANGEDSINCE enables CONDSTORE */
	return add_item(c, f, ITEM_MODSEQ);
}

static bool parse_macro(struct imap_cmd *c, struct fetch *f, const char *name)
{
	static const char *const fast[] = { "FLAGS", "INTERNALDATE", "RFC822.SIZE" };
	static const char *const all[] = { "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE" };
	static const char *const full[] = { "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE",
					    "BODY" };
	const char *const *list;
	size_t n;
	if (strcasecmp(name, "FAST") == 0) {
		list = fast;
		n = 3;
	} else if (strcasecmp(name, "ALL") == 0) {
		list = all;
		n = 4;
	} else if (strcasecmp(name, "FULL") == 0) {
		list = full;
		n = 5;
	} else {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		struct imap_arg a = { .type = IMAP_ARG_ATOM, .str = (char *)list[i],
				      .len = strlen(list[i]) };
		parse_att(c, f, &a);
	}
	return true;
}

/* Whether an item needs the message's size, blob or prefix (the store can
 * skip reading them for FLAGS, UID, MODSEQ, INTERNALDATE). */
static bool needs_content(const struct fetch *f)
{
	for (size_t i = 0; i < f->n_items; i++) {
		switch (f->items[i].kind) {
		case ITEM_UID:
		case ITEM_FLAGS:
		case ITEM_INTERNALDATE:
		case ITEM_MODSEQ:
		case ITEM_THREADID:
		case ITEM_ENVELOPE:
		case ITEM_BODY:
		case ITEM_BODYSTRUCTURE:
			break;
		case ITEM_RFC822_SIZE:
		case ITEM_EMAILID:         /* from the blob id and prefix */
		case ITEM_RFC822:
		case ITEM_RFC822_HEADER:   /* reads the blob when the header is not cached */
		case ITEM_RFC822_TEXT:
		case ITEM_SECTION:
			return true;
		}
	}
	return false;
}

static bool parse_fetch(struct imap_cmd *c, struct fetch *f)
{
	if (c->count < 2 || c->count > 3) {
		imap_bad(c, "Syntax: FETCH sequence-set items [(modifiers)]");
		return false;
	}
	const struct imap_arg *a = &c->args[1];
	if (c->uid && !add_item(c, f, ITEM_UID))
		return false;
	if (a->type == IMAP_ARG_LIST) {
		if (a->count == 0) {
			imap_bad(c, "Empty FETCH item list");
			return false;
		}
		for (size_t i = 0; i < a->count; i++)
			if (!parse_att(c, f, &a->list[i]))
				return false;
	} else if (a->type != IMAP_ARG_ATOM || !parse_macro(c, f, a->str)) {
		if (!parse_att(c, f, a))
			return false;
	}
	if (c->count == 3 && !parse_modifiers(c, f, &c->args[2]))
		return false;
	if (c->st->condstore && f->has_flags && !add_item(c, f, ITEM_MODSEQ))
		return false;
	if (!needs_content(f))
		f->what |= STORE_FETCH_NO_CONTENT;
	return c->result == NULL;
}

/* ---- one message ---- */

struct message_bytes {
	struct store_blob *blob;
	const char *data;           /* the whole message (prefix + blob) */
	size_t len;
	struct buf joined;          /* when there is a prefix */
	const char *blob_data;
	size_t blob_len;
	struct mime_message *mime;  /* parsed on demand */
};

static void message_bytes_free(struct message_bytes *mb)
{
	store_blob_free(&mb->blob);
	buf_free(&mb->joined);
	mime_message_free(&mb->mime);
}

static int load_bytes(struct imap_cmd *c, const struct store_message *m, struct message_bytes *mb)
{
	if (mb->blob != NULL)
		return 0;
	char *error = NULL;
	const void *data;
	if (store_blob_open(c->st->store, m->blob_id, &mb->blob, &error) < 0 ||
	    store_blob_data(mb->blob, &data, &mb->blob_len, &error) < 0) {
		log_msg(LOGL_ERROR, "imap", c->session_id,
			"event=fetch_failed uid=%" PRIu32 " error=\"%s\"", m->uid, error);
		free(error);
		store_blob_free(&mb->blob);
		return -1;
	}
	mb->blob_data = data;
	if (m->prefix_len == 0) {
		mb->data = data;
		mb->len = mb->blob_len;
	} else {
		buf_append(&mb->joined, m->prefix, m->prefix_len);
		buf_append(&mb->joined, data, mb->blob_len);
		mb->data = mb->joined.data;
		mb->len = mb->joined.len;
	}
	return 0;
}

/* "{n}\r\n" and the bytes [from, to) of prefix + blob. */
static void write_range(struct buf *out, const struct store_message *m,
			const struct message_bytes *mb, size_t from, size_t to)
{
	buf_appendf(out, "{%zu}\r\n", to - from);
	buf_append(out, mb->data + from, to - from);
}

static size_t header_end(const struct message_bytes *mb)
{
	const char *d = mb->data;
	for (size_t i = 0; i + 1 < mb->len; i++) {
		if (d[i] == '\n' && d[i + 1] == '\n')
			return i + 2;
		if (d[i] == '\n' && d[i + 1] == '\r' && i + 2 < mb->len && d[i + 2] == '\n')
			return i + 3;
	}
	return mb->len;
}

static int write_section(struct imap_cmd *c, const struct item *it, const struct store_message *m,
			 struct message_bytes *mb, struct fetch *f)
{
	if (mb->mime == NULL)
		mb->mime = mime_parse(mb->data, mb->len);
	struct buf bytes = BUF_INIT;
	uint64_t size = 0;
	bool unknown_cte = false;
	char *error = NULL;
	if (imap_section_fetch(&it->sec, mb->mime, mb->data, mb->len, &bytes, &size, &unknown_cte,
			       &error) < 0) {
		if (unknown_cte)
			imap_no(c, "[UNKNOWN-CTE] %s", error);
		else
			imap_no(c, "%s", error);
		free(error);
		buf_free(&bytes);
		f->failed = true;
		return -1;
	}
	imap_section_write_name(&it->sec, &c->out);
	buf_putc(&c->out, ' ');
	if (it->sec.kind == IMAP_FETCH_BINARY_SIZE)
		buf_appendf(&c->out, "%" PRIu64, size);
	else
		imap_write_literal(&c->out, bytes.data, bytes.len,
				   it->sec.kind == IMAP_FETCH_BINARY && bytes.len > 0 &&
					   memchr(bytes.data, '\0', bytes.len) != NULL);
	buf_free(&bytes);
	return 0;
}

/* v in decimal: FETCH writes several numbers per message, and vsnprintf
 * was a good part of the cost of a FLAGS-only FETCH. */
static void append_u64(struct buf *o, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof tmp;
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	buf_append(o, tmp + i, sizeof tmp - i);
}

/* The sequence number of uid (0: not in the view). The walk goes by
 * ascending UID, so the next message is most often the next in the view. */
static uint32_t uid_to_seq(struct fetch *f, const struct store_uid_list *view, uint32_t uid)
{
	size_t i = f->seq_pos;
	if (i < view->count && view->uids[i] == uid) {
		f->seq_pos = i + 1;
		return (uint32_t)(i + 1);
	}
	uint32_t seq = imap_uid_to_seq(view->uids, view->count, uid);
	if (seq != 0)
		f->seq_pos = seq;
	return seq;
}

static int write_item(struct imap_cmd *c, struct fetch *f, const struct item *it,
		      const struct store_message *m, struct message_bytes *mb)
{
	struct buf *o = &c->out;
	switch (it->kind) {
	case ITEM_UID:
		buf_append(o, "UID ", 4);
		append_u64(o, m->uid);
		break;
	case ITEM_FLAGS:
		buf_append_str(o, "FLAGS ");
		imap_write_flags(o, m->flags, m->keywords, m->n_keywords,
				 imap_is_recent(c->st, m->uid));
		break;
	case ITEM_INTERNALDATE:
		buf_append_str(o, "INTERNALDATE ");
		imap_write_datetime(o, m->internaldate);
		break;
	case ITEM_RFC822_SIZE:
		buf_append_str(o, "RFC822.SIZE ");
		append_u64(o, m->size);
		break;
	case ITEM_MODSEQ:
		buf_append(o, "MODSEQ (", 8);
		append_u64(o, m->modseq);
		buf_putc(o, ')');
		break;
	case ITEM_EMAILID: {
		char id[IMAP_EMAILID_LEN + 1];
		imap_emailid(m, id);
		buf_appendf(o, "EMAILID (%s)", id);
		break;
	}
	case ITEM_THREADID: buf_append_str(o, "THREADID NIL"); break;   /* RFC 8474 5.2 */
	case ITEM_ENVELOPE:
		buf_append_str(o, "ENVELOPE ");
		buf_append_str(o, m->envelope ? m->envelope : "NIL");
		break;
	case ITEM_BODY:
		buf_append_str(o, "BODY ");
		buf_append_str(o, m->body ? m->body : "NIL");
		break;
	case ITEM_BODYSTRUCTURE:
		buf_append_str(o, "BODYSTRUCTURE ");
		buf_append_str(o, m->bodystructure ? m->bodystructure : "NIL");
		break;
	case ITEM_RFC822_HEADER:
		buf_append_str(o, "RFC822.HEADER ");
		if (m->header != NULL) {
			imap_write_literal(o, m->header, m->header_len, false);
			break;
		}
		if (load_bytes(c, m, mb) < 0)
			return -1;
		write_range(o, m, mb, 0, header_end(mb));
		break;
	case ITEM_RFC822:
		if (load_bytes(c, m, mb) < 0)
			return -1;
		buf_append_str(o, "RFC822 ");
		write_range(o, m, mb, 0, mb->len);
		break;
	case ITEM_RFC822_TEXT:
		if (load_bytes(c, m, mb) < 0)
			return -1;
		buf_append_str(o, "RFC822.TEXT ");
		write_range(o, m, mb, header_end(mb), mb->len);
		break;
	case ITEM_SECTION:
		if (load_bytes(c, m, mb) < 0)
			return -1;
		return write_section(c, it, m, mb, f);
	}
	return 0;
}

static int fetch_one(void *ctx, const struct store_message *m)
{
	struct fetch *f = ctx;
	struct imap_cmd *c = f->c;
	struct imap_selected *sel = c->st->sel;
	f->last_uid = m->uid;
	uint32_t seq = uid_to_seq(f, &sel->uids, m->uid);
	if (seq == 0 || (f->changedsince > 0 && m->modseq <= f->changedsince))
		return 0;
	size_t start = c->out.len;
	struct message_bytes mb = { 0 };
	buf_append(&c->out, "* ", 2);
	append_u64(&c->out, seq);
	buf_append(&c->out, " FETCH (", 8);
	bool first = true;
	for (size_t i = 0; i < f->n_items; i++) {
		if (!first)
			buf_putc(&c->out, ' ');
		first = false;
		if (write_item(c, f, &f->items[i], m, &mb) < 0) {
			message_bytes_free(&mb);
			buf_truncate(&c->out, start);
			if (f->failed)
				return -1;
			return 0;   /* the blob is gone (expunged meanwhile): skip it */
		}
	}
	if (!f->has_flags && imap_uid_in(&f->seen_changed, m->uid)) {
		buf_append_str(&c->out, " FLAGS ");
		imap_write_flags(&c->out, m->flags, m->keywords, m->n_keywords,
				 imap_is_recent(c->st, m->uid));
	}
	buf_append_str(&c->out, ")\r\n");
	message_bytes_free(&mb);
	return c->out.len >= FETCH_STEP_BYTES ? 1 : 0;
}

/* ---- the command ---- */

static int seen_changed(void *ctx, const struct store_message *m)
{
	struct fetch *f = ctx;
	struct store_uid_list *l = &f->seen_changed;
	if (l->count == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 32;
		l->uids = xrealloc(l->uids, l->cap * sizeof *l->uids);
	}
	l->uids[l->count++] = m->uid;
	imap_sync_own(f->c->st->sel, m->modseq);
	return 0;
}

static int set_seen(struct imap_cmd *c, struct fetch *f)
{
	size_t n;
	struct store_uid_range *r = imap_uid_list_ranges(f->uids.uids, f->uids.count, &n);
	struct store_uidset set = { r, n };
	struct store_flag_change ch = { .op = STORE_FLAGS_ADD, .flags = STORE_FLAG_SEEN };
	char *error = NULL;
	int ret = store_set_flags(c->st->sel->mb, &set, &ch, seen_changed, f, NULL, &error);
	free(r);
	if (ret < 0)
		imap_no_store(c, "Cannot set \\Seen", error);
	return ret;
}

static int nothing(void *ctx, const struct store_message *m)
{
	return 0;
}

/* RFC 7162 3.2.6: UID FETCH ... (CHANGEDSINCE m VANISHED) first lists the
 * UIDs of the set expunged since m. */
static void write_vanished(struct imap_cmd *c, struct fetch *f)
{
	struct store_uid_list vanished = { 0 }, in_set = { 0 };
	struct imap_seqset set = { 0 };
	const char *why;
	char *error = NULL;
	const char *text = imap_arg_atom(&c->args[0]);
	if (text == NULL || !imap_seqset_parse(text, strlen(text), &set, &why))
		return;
	if (store_changes_since(c->st->sel->mb, f->changedsince, nothing, NULL, &vanished,
				&error) < 0) {
		free(error);
		imap_seqset_free(&set);
		return;
	}
	for (size_t i = 0; i < vanished.count; i++) {
		for (size_t k = 0; k < set.count; k++) {
			if (vanished.uids[i] >= set.ranges[k].lo && vanished.uids[i] <= set.ranges[k].hi) {
				if (in_set.count == in_set.cap) {
					in_set.cap = in_set.cap ? in_set.cap * 2 : 32;
					in_set.uids = xrealloc(in_set.uids, in_set.cap * sizeof *in_set.uids);
				}
				in_set.uids[in_set.count++] = vanished.uids[i];
				break;
			}
		}
	}
	if (in_set.count > 0) {
		buf_append_str(&c->out, "* VANISHED (EARLIER) ");
		imap_seqset_write(in_set.uids, in_set.count, &c->out);
		buf_append_str(&c->out, "\r\n");
	}
	imap_seqset_free(&set);
	store_uid_list_free(&vanished);
	store_uid_list_free(&in_set);
}

/* The ranges of the UIDs from f->pos on: those of every UID are made once,
 * and each step starts from the one holding uids[pos], cut at it. */
static struct store_uidset step_set(struct fetch *f)
{
	if (f->ranges == NULL)
		f->ranges = imap_uid_list_ranges(f->uids.uids, f->uids.count, &f->n_ranges);
	uint32_t first = f->uids.uids[f->pos];
	while (f->range_pos < f->n_ranges && f->ranges[f->range_pos].hi < first)
		f->range_pos++;
	if (f->range_pos < f->n_ranges && f->ranges[f->range_pos].lo < first)
		f->ranges[f->range_pos].lo = first;
	return (struct store_uidset){ f->ranges + f->range_pos, f->n_ranges - f->range_pos };
}

static void fetch_step(struct imap_cmd *c, struct fetch *f)
{
	struct store_uidset set = step_set(f);
	char *error = NULL;
	f->c = c;
	int ret = store_fetch(c->st->sel->mb, &set, f->what, fetch_one, f, &error);
	if (ret < 0) {
		if (!f->failed)
			imap_no_store(c, "FETCH failed", error);
		else
			free(error);
		return;
	}
	/* The walk stopped after a message (output full) or at the end: store_fetch
	 * visits only existing messages, so skip past the last UID it saw. */
	if (ret > 0) {
		while (f->pos < f->uids.count && f->uids.uids[f->pos] <= f->last_uid)
			f->pos++;
		if (f->pos < f->uids.count) {
			c->more = true;
			return;
		}
	}
	f->pos = f->uids.count;
}

static void cmd_fetch(struct imap_cmd *c)
{
	struct fetch *f = c->ctx;
	if (f == NULL) {
		f = xcalloc(1, sizeof *f);
		c->ctx = f;
		c->ctx_free = fetch_free;
		f->c = c;
		if (!parse_fetch(c, f) || !imap_cmd_uidset(c, &c->args[0], &f->uids))
			return;
		if (f->vanished)
			write_vanished(c, f);
		if (f->uids.count == 0)
			return;
		if (f->sets_seen && !c->st->sel->readonly && set_seen(c, f) < 0)
			return;
	}
	fetch_step(c, f);
}

const struct imap_command_def imap_cmds_fetch[] = {
	{ "FETCH", IMAP_IN_SELECTED, IMAP_CMD_UID | IMAP_CMD_NO_EXPUNGE, NULL, cmd_fetch },
	{ NULL, 0, 0, NULL, NULL },
};
