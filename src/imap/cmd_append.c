/* APPEND, with MULTIAPPEND (RFC 9051 6.3.12; RFC 3502; RFC 4315 APPENDUID;
 * RFC 3516 literal8; RFC 7889 APPENDLIMIT).
 *
 *   append         = "APPEND" SP mailbox 1*append-message
 *   append-message = append-opts SP append-data
 *   append-opts    = [SP flag-list] [SP date-time]
 *   append-data    = literal / literal8
 *
 * The message literals were written to blobs while they arrived (the session
 * streams every top-level literal of APPEND after the mailbox name, see
 * imap_session.c); here they are committed, all of them with one sync of the
 * file system, and appended in one transaction: all or none (RFC 3502).
 * "OK [APPENDUID uidvalidity uid-set]". A target that does not exist:
 * NO [TRYCREATE]; over the account's quota: NO [OVERQUOTA]; a message of
 * zero octets: NO; a NUL byte in a literal (not a literal8): NO (RFC 3516 4.4:
 * such a message needs literal8). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "imap/imap_int.h"
#include "imap/imap_seqset.h"

#define APPEND_MAX_MESSAGES 1000

struct pending {
	unsigned flags;
	const char **keywords;
	size_t n_keywords;
	time_t date;
	struct imap_literal_blob *lb;
};

/* append-message *: false after BAD/NO. */
static bool parse_messages(struct imap_cmd *c, struct pending *msgs, size_t *n_r)
{
	size_t n = 0;
	for (size_t i = 1; i < c->count;) {
		if (n == APPEND_MAX_MESSAGES) {
			imap_no(c, "[LIMIT] At most %d messages in one APPEND", APPEND_MAX_MESSAGES);
			break;
		}
		struct pending *p = &msgs[n];
		*p = (struct pending){ 0 };
		if (c->args[i].type == IMAP_ARG_LIST) {
			if (!imap_parse_flags(c, &c->args[i], 1, &p->flags, &p->keywords,
					      &p->n_keywords))
				break;
			i++;
		}
		n++;   /* counted now so that its keywords are freed */
		if (i < c->count && c->args[i].type == IMAP_ARG_STRING && !c->args[i].literal) {
			if (!imap_parse_datetime(c->args[i].str, &p->date)) {
				imap_bad(c, "Invalid date-time");
				break;
			}
			i++;
		}
		if (i >= c->count || c->args[i].type != IMAP_ARG_EXTERNAL) {
			imap_bad(c, "Syntax: APPEND mailbox [(flags)] [date-time] literal ...");
			break;
		}
		p->lb = c->args[i].ext;
		i++;
	}
	*n_r = n;
	return c->result == NULL;
}

/* Each literal arrived whole and clean: false after NO. */
static bool check_literals(struct imap_cmd *c, struct pending *msgs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct imap_literal_blob *lb = msgs[i].lb;
		if (lb->writer == NULL) {
			log_msg(LOGL_ERROR, "imap", c->session_id, "event=append_failed error=\"%s\"",
				lb->error != NULL ? lb->error : "");
			imap_no(c, "[SERVERBUG] Cannot store the message");
			return false;
		}
		if (lb->size == 0) {
			imap_no(c, "Cannot append an empty message");
			return false;
		}
		if (lb->nul) {
			imap_no(c, "Message contains NUL bytes: send it as a literal8 (~{n})");
			return false;
		}
	}
	return true;
}

static void append_all(struct imap_cmd *c, struct store_mailbox *mb, struct pending *msgs,
		       size_t n)
{
	struct store_blob_writer **ws = xcalloc(n, sizeof *ws);
	struct store_blob **blobs = xcalloc(n, sizeof *blobs);
	struct store_append *apps = xcalloc(n, sizeof *apps);
	uint32_t *uids = xcalloc(n, sizeof *uids);
	char *error = NULL;
	for (size_t i = 0; i < n; i++) {
		ws[i] = msgs[i].lb->writer;
		msgs[i].lb->writer = NULL;   /* commit_many frees it either way */
	}
	if (store_blob_commit_many(ws, n, blobs, &error) < 0) {
		imap_no_store(c, "Cannot store the message", error);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		apps[i] = (struct store_append){ .blob = blobs[i], .flags = msgs[i].flags,
						 .keywords = msgs[i].keywords,
						 .n_keywords = msgs[i].n_keywords,
						 .internaldate = msgs[i].date };
	struct store_mailbox_info info = { 0 };
	if (store_append(mb, apps, n, c->st->quota_bytes, uids, &error) < 0) {
		imap_no_store(c, "APPEND failed", error);
	} else if (store_mailbox_status(mb, &info, &error) < 0) {
		free(error);
		imap_ok(c, "APPEND completed");
	} else {
		struct buf set = BUF_INIT;
		imap_seqset_write(uids, n, &set);
		imap_ok(c, "[APPENDUID %" PRIu32 " %s] APPEND completed", info.uidvalidity,
			buf_cstr(&set));
		buf_free(&set);
	}
	store_mailbox_info_clear(&info);
	for (size_t i = 0; i < n; i++)
		store_blob_free(&blobs[i]);
out:
	free(ws);
	free(blobs);
	free(apps);
	free(uids);
}

static void cmd_append(struct imap_cmd *c)
{
	struct imap_state *st = c->st;
	if (c->count < 2) {
		imap_bad(c, "Syntax: APPEND mailbox [(flags)] [date-time] literal");
		return;
	}
	struct pending *msgs = xcalloc(c->count, sizeof *msgs);
	size_t n = 0;
	char *name = NULL;
	struct store_mailbox *mb = NULL;
	char *error = NULL;
	if (!parse_messages(c, msgs, &n) || !check_literals(c, msgs, n))
		goto out;
	name = imap_mailbox_arg(c, &c->args[0]);
	if (name == NULL)
		goto out;
	if (store_mailbox_open(st->su, name, &mb, &error) < 0) {
		if (store_user_last_error(st->su) == STORE_ERR_NONEXISTENT) {
			free(error);
			imap_no(c, "[TRYCREATE] No such mailbox");
		} else {
			imap_no_store(c, "Cannot open the mailbox", error);
		}
		goto out;
	}
	append_all(c, mb, msgs, n);
out:
	store_mailbox_close(&mb);
	free(name);
	for (size_t i = 0; i < n; i++)
		free(msgs[i].keywords);
	free(msgs);
}

const struct imap_command_def imap_cmds_append[] = {
	{ "APPEND", IMAP_IN_LOGGED, 0, NULL, cmd_append },
	{ NULL, 0, 0, NULL, NULL },
};
