/* QUOTA (RFC 9208): one quota root, "", per account, holding every mailbox.
 *
 *   getquota      = "GETQUOTA" SP quota-root-name
 *   getquotaroot  = "GETQUOTAROOT" SP mailbox
 *   setquota      = "SETQUOTA" SP quota-root-name SP setquota-list
 *   setquota-list = "(" [setquota-resource *(SP setquota-resource)] ")"
 *   setquota-resource = resource-name SP resource-limit
 *   quota-root-name = astring
 *
 *   quota-response     = "QUOTA" SP quota-root-name SP quota-list
 *   quota-list         = "(" quota-resource *(SP quota-resource) ")"
 *   quota-resource     = resource-name SP resource-usage SP resource-limit
 *   quotaroot-response = "QUOTAROOT" SP mailbox *(SP quota-root-name)
 *
 * Choices:
 * - STORAGE is the sum of the messages' sizes in units of 1024 octets
 *   (RFC 9208 5.1), usage and limit both rounded up, so that the client sees
 *   "full" exactly when the account is.
 * - A resource is listed only with a limit (quota-resource has no form
 *   without one): the account's limit is on storage only
 *   (account quota_bytes), so MESSAGE is never listed, and an account
 *   without a limit gets `* QUOTA "" ()`. The root still exists then, so
 *   that GETQUOTAROOT answers the same way for every account.
 * - SETQUOTA is NO [CANNOT]: quotas are set by the administrator (surel
 *   user), and QUOTASET is not advertised (RFC 9208 4.1.3).
 * - GETQUOTA of any other root is NO [NONEXISTENT]; GETQUOTAROOT of a
 *   mailbox that does not exist is NO [NONEXISTENT] (from the store). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "imap/imap_int.h"

#define QUOTA_ROOT ""

static uint64_t kib_up(uint64_t bytes)
{
	return bytes / 1024 + (bytes % 1024 != 0);
}

/* `* QUOTA "" (STORAGE used limit)`; -1 after NO. */
static int write_quota(struct imap_cmd *c)
{
	struct store_quota q = { 0 };
	char *error = NULL;
	if (store_quota_usage(c->st->su, &q, &error) < 0) {
		imap_no_store(c, "Cannot read the quota usage", error);
		return -1;
	}
	buf_append_str(&c->out, "* QUOTA ");
	imap_write_astring(&c->out, QUOTA_ROOT, strlen(QUOTA_ROOT));
	buf_append_str(&c->out, " (");
	if (c->st->quota_bytes > 0)
		buf_appendf(&c->out, "STORAGE %" PRIu64 " %" PRIu64, kib_up(q.bytes),
			    kib_up((uint64_t)c->st->quota_bytes));
	buf_append_str(&c->out, ")\r\n");
	return 0;
}

/* A quota-root-name argument; false after BAD. */
static bool root_arg(struct imap_cmd *c, const struct imap_arg *a, const char **root_r)
{
	*root_r = imap_arg_astring(a);
	if (*root_r == NULL) {
		imap_bad(c, "Invalid quota root name");
		return false;
	}
	return true;
}

static void cmd_getquota(struct imap_cmd *c)
{
	const char *root;
	if (c->count != 1) {
		imap_bad(c, "Syntax: GETQUOTA root");
		return;
	}
	if (!root_arg(c, &c->args[0], &root))
		return;
	if (strcmp(root, QUOTA_ROOT) != 0) {
		imap_no(c, "[NONEXISTENT] No such quota root; the account's is \"\"");
		return;
	}
	write_quota(c);
}

static void cmd_getquotaroot(struct imap_cmd *c)
{
	if (c->count != 1) {
		imap_bad(c, "Syntax: GETQUOTAROOT mailbox");
		return;
	}
	char *name = imap_mailbox_arg(c, &c->args[0]);
	if (name == NULL)
		return;
	struct store_mailbox *mb = NULL;
	char *error = NULL;
	if (store_mailbox_open(c->st->su, name, &mb, &error) < 0) {
		imap_no_store(c, "No such mailbox", error);
	} else {
		buf_append_str(&c->out, "* QUOTAROOT ");
		imap_write_mailbox(&c->out, c->st, name);
		buf_putc(&c->out, ' ');
		imap_write_astring(&c->out, QUOTA_ROOT, strlen(QUOTA_ROOT));
		buf_append_str(&c->out, "\r\n");
		write_quota(c);
	}
	store_mailbox_close(&mb);
	free(name);
}

static void cmd_setquota(struct imap_cmd *c)
{
	const char *root;
	if (c->count != 2 || c->args[1].type != IMAP_ARG_LIST || c->args[1].count % 2 != 0) {
		imap_bad(c, "Syntax: SETQUOTA root (resource limit ...)");
		return;
	}
	if (!root_arg(c, &c->args[0], &root))
		return;
	const struct imap_arg *l = &c->args[1];
	for (size_t i = 0; i < l->count; i += 2) {
		uint64_t limit;
		if (imap_arg_atom(&l->list[i]) == NULL || !imap_arg_number64(&l->list[i + 1], &limit)) {
			imap_bad(c, "Syntax: SETQUOTA root (resource limit ...)");
			return;
		}
	}
	imap_no(c, "[CANNOT] Quotas are set by the administrator");
}

const struct imap_command_def imap_cmds_quota[] = {
	{ "GETQUOTA", IMAP_IN_LOGGED, 0, NULL, cmd_getquota },
	{ "GETQUOTAROOT", IMAP_IN_LOGGED, 0, NULL, cmd_getquotaroot },
	{ "SETQUOTA", IMAP_IN_LOGGED, 0, NULL, cmd_setquota },
	{ NULL, 0, 0, NULL, NULL },
};
