/* STORE and UID STORE (RFC 9051 6.4.6; RFC 7162 UNCHANGEDSINCE).
 *
 *   store           = "STORE" SP sequence-set [store-modifiers] SP store-att-flags
 *   store-modifiers = SP "(" "UNCHANGEDSINCE" SP mod-sequence-valzer ")"
 *   store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP
 *                     (flag-list / (flag *(SP flag)))
 *
 * Without .SILENT every message of the set gets "* n FETCH (FLAGS (...))"
 * with its flags after the change (also when they did not change), with UID
 * for UID STORE and MODSEQ once CONDSTORE is enabled. Messages left alone
 * because their MODSEQ is above UNCHANGEDSINCE are listed in the tagged
 * OK [MODIFIED set] (RFC 7162 3.1.3). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"
#include "imap/imap_int.h"
#include "imap/imap_seqset.h"

struct store_ctx {
	struct imap_cmd *c;
	const struct store_uid_list *modified;
};

static int note_own(void *ctx, const struct store_message *m)
{
	struct imap_cmd *c = ctx;
	imap_sync_own(c->st->sel, m->modseq);
	return 0;
}

static int write_flags(void *arg, const struct store_message *m)
{
	struct store_ctx *x = arg;
	struct imap_cmd *c = x->c;
	struct imap_selected *sel = c->st->sel;
	uint32_t seq = imap_uid_to_seq(sel->uids.uids, sel->uids.count, m->uid);
	if (seq == 0 || imap_uid_in(x->modified, m->uid))
		return 0;
	buf_appendf(&c->out, "* %" PRIu32 " FETCH (", seq);
	if (c->uid)
		buf_appendf(&c->out, "UID %" PRIu32 " ", m->uid);
	buf_append_str(&c->out, "FLAGS ");
	imap_write_flags(&c->out, m->flags, m->keywords, m->n_keywords,
			 imap_is_recent(c->st, m->uid));
	if (c->st->condstore)
		buf_appendf(&c->out, " MODSEQ (%" PRIu64 ")", m->modseq);
	buf_append_str(&c->out, ")\r\n");
	return 0;
}

/* ["+" / "-"] "FLAGS" [".SILENT"] */
static bool parse_action(const char *a, enum store_flag_op *op, bool *silent)
{
	*op = STORE_FLAGS_REPLACE;
	if (*a == '+' || *a == '-') {
		*op = *a == '+' ? STORE_FLAGS_ADD : STORE_FLAGS_REMOVE;
		a++;
	}
	*silent = strcasecmp(a, "FLAGS.SILENT") == 0;
	return *silent || strcasecmp(a, "FLAGS") == 0;
}

/* [MODIFIED set]: UIDs for UID STORE, else sequence numbers. */
static void write_modified(struct imap_cmd *c, const struct store_uid_list *modified)
{
	struct imap_selected *sel = c->st->sel;
	struct store_uid_list out = { 0 };
	out.uids = xcalloc(modified->count + 1, sizeof *out.uids);
	for (size_t i = 0; i < modified->count; i++) {
		uint32_t v = c->uid ? modified->uids[i]
				    : imap_uid_to_seq(sel->uids.uids, sel->uids.count, modified->uids[i]);
		if (v != 0)
			out.uids[out.count++] = v;
	}
	struct buf set = BUF_INIT;
	imap_seqset_write(out.uids, out.count, &set);
	imap_ok(c, "[MODIFIED %s] Conditional STORE failed for some messages", buf_cstr(&set));
	buf_free(&set);
	free(out.uids);
}

static void cmd_store(struct imap_cmd *c)
{
	struct imap_selected *sel = c->st->sel;
	size_t i = 1;
	struct store_flag_change ch = { 0 };
	if (c->count >= 3 && c->args[1].type == IMAP_ARG_LIST) {
		const struct imap_arg *m = &c->args[1];
		const char *name = m->count == 2 ? imap_arg_atom(&m->list[0]) : NULL;
		if (name == NULL || strcasecmp(name, "UNCHANGEDSINCE") != 0 ||
		    !imap_arg_number64(&m->list[1], &ch.unchangedsince)) {
			imap_bad(c, "Syntax: STORE set (UNCHANGEDSINCE modseq) FLAGS ...");
			return;
		}
		c->st->condstore = true;
		i = 2;
	}
	bool silent;
	const char *action = i < c->count ? imap_arg_atom(&c->args[i]) : NULL;
	if (action == NULL || i + 1 >= c->count || !parse_action(action, &ch.op, &silent)) {
		imap_bad(c, "Syntax: STORE set [+|-]FLAGS[.SILENT] (flags)");
		return;
	}
	const char **keywords = NULL;
	if (!imap_parse_flags(c, &c->args[i + 1], c->count - i - 1, &ch.flags, &keywords,
			      &ch.n_keywords))
		return;
	ch.keywords = keywords;
	struct store_uid_list uids = { 0 }, modified = { 0 };
	if (!imap_cmd_uidset(c, &c->args[0], &uids)) {
		free(keywords);
		return;
	}
	if (sel->readonly) {
		imap_no(c, "[READ-ONLY] The mailbox is read-only");
	} else if (uids.count > 0) {
		size_t n;
		struct store_uid_range *r = imap_uid_list_ranges(uids.uids, uids.count, &n);
		struct store_uidset set = { r, n };
		char *error = NULL;
		if (store_set_flags(sel->mb, &set, &ch, note_own, c, &modified, &error) < 0) {
			imap_no_store(c, "STORE failed", error);
		} else {
			struct store_ctx x = { c, &modified };
			if (!silent && store_fetch(sel->mb, &set, 0, write_flags, &x, &error) < 0)
				free(error);   /* the change is made; the echo is lost */
			if (modified.count > 0)
				write_modified(c, &modified);
		}
		free(r);
	}
	free(keywords);
	store_uid_list_free(&uids);
	store_uid_list_free(&modified);
}

const struct imap_command_def imap_cmds_store[] = {
	{ "STORE", IMAP_IN_SELECTED, IMAP_CMD_UID | IMAP_CMD_NO_EXPUNGE, NULL, cmd_store },
	{ NULL, 0, 0, NULL, NULL },
};
