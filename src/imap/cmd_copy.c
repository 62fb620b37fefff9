/* COPY and MOVE, plain and UID (RFC 9051 6.4.7, 6.4.8; RFC 6851 MOVE;
 * RFC 4315 COPYUID).
 *
 *   copy = "COPY" SP sequence-set SP mailbox
 *   move = "MOVE" SP sequence-set SP mailbox
 *
 * The messages keep their flags and internal dates and get new UIDs in the
 * target, in the same order: "OK [COPYUID uidvalidity source-uids target-uids]"
 * (for MOVE an untagged "* OK [COPYUID ...]" before the EXPUNGE responses,
 * RFC 6851 4.3). A target that does not exist: NO [TRYCREATE]. MOVE into the
 * selected mailbox itself is refused with NO [CANNOT]. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "imap/imap_int.h"
#include "imap/imap_seqset.h"

static void write_copyuid(struct buf *out, const struct store_copy_result *r)
{
	buf_appendf(out, "[COPYUID %" PRIu32 " ", r->uidvalidity);
	imap_seqset_write(r->src_uids.uids, r->src_uids.count, out);
	buf_putc(out, ' ');
	/* target UIDs in the order of the source ones: not a sorted set, but
	 * new UIDs are given in that order, so they are ascending too. */
	imap_seqset_write(r->dst_uids.uids, r->dst_uids.count, out);
	buf_putc(out, ']');
}

static void copy_or_move(struct imap_cmd *c, bool move)
{
	struct imap_state *st = c->st;
	if (c->count != 2) {
		imap_bad(c, "Syntax: %s sequence-set mailbox", c->name);
		return;
	}
	struct store_uid_list uids = { 0 };
	if (!imap_cmd_uidset(c, &c->args[0], &uids))
		return;
	char *name = imap_mailbox_arg(c, &c->args[1]);
	if (name == NULL) {
		store_uid_list_free(&uids);
		return;
	}
	struct store_mailbox *dst = NULL;
	char *error = NULL;
	if (move && st->sel->readonly) {
		imap_no(c, "[READ-ONLY] The mailbox is read-only");
	} else if (store_mailbox_open(st->su, name, &dst, &error) < 0) {
		if (store_user_last_error(st->su) == STORE_ERR_NONEXISTENT) {
			free(error);
			imap_no(c, "[TRYCREATE] No such mailbox");
		} else {
			imap_no_store(c, "Cannot open the target mailbox", error);
		}
	} else if (move && strcmp(name, st->sel->name) == 0) {
		imap_no(c, "[CANNOT] The messages are already in that mailbox");
	} else if (uids.count == 0) {
		imap_ok(c, "%s completed: no messages", c->name);   /* RFC 9051 6.4.7 */
	} else {
		size_t n;
		struct store_uid_range *r = imap_uid_list_ranges(uids.uids, uids.count, &n);
		struct store_uidset set = { r, n };
		struct store_copy_result res = { 0 };
		int ret = move ? store_move(st->sel->mb, &set, dst, &res, &error)
			       : store_copy(st->sel->mb, &set, dst, st->quota_bytes, &res, &error);
		if (ret < 0) {
			imap_no_store(c, move ? "MOVE failed" : "COPY failed", error);
		} else if (res.src_uids.count == 0) {
			imap_ok(c, "%s completed: no messages", c->name);
		} else if (!move) {
			struct buf code = BUF_INIT;
			write_copyuid(&code, &res);
			imap_ok(c, "%s COPY completed", buf_cstr(&code));
			buf_free(&code);
		} else {
			buf_append_str(&c->out, "* OK ");
			write_copyuid(&c->out, &res);
			buf_append_str(&c->out, " Moved\r\n");
			if (imap_sync(c, true) == 0)
				imap_sync_expunged(c, &res.src_uids);
		}
		store_copy_result_free(&res);
		free(r);
	}
	store_mailbox_close(&dst);
	free(name);
	store_uid_list_free(&uids);
}

static void cmd_copy(struct imap_cmd *c)
{
	copy_or_move(c, false);
}

static void cmd_move(struct imap_cmd *c)
{
	copy_or_move(c, true);
}

const struct imap_command_def imap_cmds_copy[] = {
	{ "COPY", IMAP_IN_SELECTED, IMAP_CMD_UID, NULL, cmd_copy },
	{ "MOVE", IMAP_IN_SELECTED, IMAP_CMD_UID, NULL, cmd_move },
	{ NULL, 0, 0, NULL, NULL },
};
