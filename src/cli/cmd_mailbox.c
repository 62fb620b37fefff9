/* surel mailbox list|import|export: an account's mailboxes, migration from
 * and to Maildir and mbox. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account/directory.h"
#include "cli/cli.h"
#include "cli/cli_account.h"
#include "core/config.h"
#include "store/store.h"

static const char usage[] =
	"usage: surel mailbox list USER\n"
	"       surel mailbox import [--mailbox NAME] USER PATH\n"
	"       surel mailbox export [--format maildir|mbox] [--mailbox NAME] USER PATH\n"
	"import reads a Maildir (with Maildir++ subfolders; dovecot-uidlist UIDs are kept)\n"
	"or an mbox file (or a directory of NAME.mbox files). --mailbox NAME imports into\n"
	"NAME (subfolders below it) instead of INBOX, or exports only NAME.\n";

/* What every verb needs: the configuration, the account, its mail. */
struct mailbox_cli {
	struct config *cfg;
	struct store *store;
	struct store_user *user;
	char *address;
};

static void close_cli(struct mailbox_cli *c)
{
	store_user_close(&c->user);
	store_close(&c->store);
	config_free(&c->cfg);
	free(c->address);
}

/* Load the configuration, find USER in the directory, open its mail.
 * 0, or the exit status after printing why. */
static int open_cli(const char *address, struct mailbox_cli *c)
{
	memset(c, 0, sizeof *c);
	c->cfg = cli_load_config(cli_config_path);
	if (c->cfg == NULL)
		return EXIT_USAGE;
	struct directory *dir = NULL;
	struct account_info info = { 0 };
	char *error = NULL;
	int status = 0;
	if (directory_open_config(c->cfg, &dir, &error) < 0) {
		status = cli_fail(&error);
		goto out;
	}
	int rc = directory_find_account(dir, address, &info, &error);
	directory_close(&dir);
	if (rc < 0) {
		status = cli_fail(&error);
		goto out;
	}
	if (rc == 0) {
		status = cli_failf("no such account '%s'", address);
		goto out;
	}
	c->address = info.address;
	info.address = NULL;
	if (store_open_config(c->cfg, &c->store, &error) < 0 ||
	    store_user_open(c->store, info.id, &c->user, &error) < 0)
		status = cli_fail(&error);
out:
	account_info_clear(&info);
	if (status != 0)
		close_cli(c);
	return status;
}

/* ---- list ---- */

static int mailbox_list(int argc, char **argv)
{
	int status = cli_plain_args(argc, argv, 1, 1, usage);
	struct mailbox_cli c;
	if (status != 0 || (status = open_cli(argv[optind], &c)) != 0)
		return status;
	struct store_mailbox_list list;
	struct store_quota q;
	char *error = NULL;
	if (store_mailbox_list(c.user, &list, &error) < 0 ||
	    store_quota_usage(c.user, &q, &error) < 0) {
		status = cli_fail(&error);
	} else {
		printf("%-24s %-10s %8s %8s %12s %12s %8s %10s %s\n", "MAILBOX", "USE", "MESSAGES",
		       "UNSEEN", "SIZE", "UIDVALIDITY", "UIDNEXT", "MODSEQ", "SUBSCRIBED");
		for (size_t i = 0; i < list.count; i++) {
			const struct store_mailbox_info *m = &list.items[i];
			const char *use = store_special_use_name(m->special_use);
			printf("%-24s %-10s %8u %8u %12llu %12u %8u %10llu %s\n", m->name,
			       use != NULL ? use : "-", m->messages, m->unseen,
			       (unsigned long long)m->size, m->uidvalidity, m->uidnext,
			       (unsigned long long)m->highestmodseq, m->subscribed ? "yes" : "no");
		}
		printf("total: %llu messages, %llu bytes\n", (unsigned long long)q.messages,
		       (unsigned long long)q.bytes);
		store_mailbox_list_free(&list);
	}
	close_cli(&c);
	return status;
}

/* ---- import and export ---- */

enum { OPT_MAILBOX = 256, OPT_FORMAT };

static int mailbox_import(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mailbox", required_argument, NULL, OPT_MAILBOX },
		{ NULL, 0, NULL, 0 },
	};
	const char *into = NULL;
	int ch;
	optind = 0;
	while ((ch = cli_getopt(argc, argv, ":", opts)) != -1) {
		if (ch != OPT_MAILBOX)
			return cli_usage(usage);
		into = optarg;
	}
	if (argc - optind != 2)
		return cli_usage(usage);
	const char *path = argv[optind + 1];
	struct mailbox_cli c;
	int status = open_cli(argv[optind], &c);
	if (status != 0)
		return status;
	struct store_import_report r;
	char *error = NULL;
	if (store_import(c.user, path, into, &r, &error) < 0)
		status = cli_fail(&error);
	else
		printf("%s: imported %zu messages into %zu mailboxes (%zu kept their UIDs, "
		       "%zu unreadable files skipped)\n", c.address, r.messages, r.mailboxes,
		       r.uids_kept, r.skipped);
	close_cli(&c);
	return status;
}

static int mailbox_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mailbox", required_argument, NULL, OPT_MAILBOX },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ NULL, 0, NULL, 0 },
	};
	const char *only = NULL;
	enum store_export_format format = STORE_EXPORT_MAILDIR;
	int ch;
	optind = 0;
	while ((ch = cli_getopt(argc, argv, ":", opts)) != -1) {
		if (ch == OPT_MAILBOX) {
			only = optarg;
		} else if (ch == OPT_FORMAT && strcmp(optarg, "maildir") == 0) {
			format = STORE_EXPORT_MAILDIR;
		} else if (ch == OPT_FORMAT && strcmp(optarg, "mbox") == 0) {
			format = STORE_EXPORT_MBOX;
		} else {
			if (ch == OPT_FORMAT)
				fprintf(stderr, "surel: unknown format '%s' (maildir or mbox)\n", optarg);
			return cli_usage(usage);
		}
	}
	if (argc - optind != 2)
		return cli_usage(usage);
	const char *path = argv[optind + 1];
	struct mailbox_cli c;
	int status = open_cli(argv[optind], &c);
	if (status != 0)
		return status;
	size_t n = 0;
	char *error = NULL;
	if (store_export(c.user, path, format, only, &n, &error) < 0)
		status = cli_fail(&error);
	else
		printf("%s: exported %zu messages to %s\n", c.address, n, path);
	close_cli(&c);
	return status;
}

int cmd_mailbox(int argc, char **argv)
{
	static const struct cli_verb verbs[] = {
		{ "list", mailbox_list },
		{ "import", mailbox_import },
		{ "export", mailbox_export },
		{ NULL, NULL },
	};
	return cli_dispatch(verbs, argc, argv, usage);
}
