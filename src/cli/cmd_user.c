/* surel user add|del|list|show|passwd|enable|disable|quota|set: accounts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "account/addr.h"
#include "account/directory.h"
#include "cli/cli.h"
#include "cli/cli_account.h"
#include "core/config.h"
#include "store/store.h"

static const char usage[] =
	"usage: surel user add [--password-stdin | --generate | --hash HASH] [--quota SIZE]\n"
	"                      [--disabled] ADDRESS\n"
	"       surel user del ADDRESS             (the account and its mail)\n"
	"       surel user list [DOMAIN]\n"
	"       surel user show ADDRESS            (every setting of the account)\n"
	"       surel user passwd [--password-stdin | --generate | --hash HASH] ADDRESS\n"
	"       surel user enable ADDRESS\n"
	"       surel user disable ADDRESS\n"
	"       surel user quota ADDRESS SIZE      (SIZE: 0 for unlimited, 500M, 2G, ...)\n"
	"       surel user set [--pop3-delete-after-retr yes|no|default]\n"
	"                      [--pop3-deleted-to-trash yes|no|default] ADDRESS\n"
	"Without an option the password is asked twice on the terminal.\n"
	"A POP3 option set to 'default' follows the [pop3] setting of the same name.\n";

enum {
	OPT_STDIN = 256, OPT_GENERATE, OPT_HASH, OPT_QUOTA, OPT_DISABLED,
	OPT_POP3_DELETE_AFTER_RETR, OPT_POP3_DELETED_TO_TRASH,
};

/* What the options of add and passwd say. */
struct user_opts {
	enum cli_password_source source;
	int sources;               /* how many of the exclusive source options were given */
	const char *hash;
	const char *quota;
	bool disabled;
};

static const struct option add_options[] = {
	{ "password-stdin", no_argument, NULL, OPT_STDIN },
	{ "generate", no_argument, NULL, OPT_GENERATE },
	{ "hash", required_argument, NULL, OPT_HASH },
	{ "quota", required_argument, NULL, OPT_QUOTA },
	{ "disabled", no_argument, NULL, OPT_DISABLED },
	{ NULL, 0, NULL, 0 },
};

/* passwd takes the password options only. */
static const struct option passwd_options[] = {
	{ "password-stdin", no_argument, NULL, OPT_STDIN },
	{ "generate", no_argument, NULL, OPT_GENERATE },
	{ "hash", required_argument, NULL, OPT_HASH },
	{ NULL, 0, NULL, 0 },
};

static int apply_option(int c, struct user_opts *o)
{
	switch (c) {
	case OPT_STDIN:    o->source = CLI_PW_STDIN; o->sources++; return 0;
	case OPT_GENERATE: o->source = CLI_PW_GENERATE; o->sources++; return 0;
	case OPT_HASH:     o->source = CLI_PW_HASH; o->hash = optarg; o->sources++; return 0;
	case OPT_QUOTA:    o->quota = optarg; return 0;
	case OPT_DISABLED: o->disabled = true; return 0;
	default:           return -1;
	}
}

/* Options, then exactly one ADDRESS; 0 or the exit status. */
static int parse_user_opts(int argc, char **argv, const struct option *opts, struct user_opts *o)
{
	memset(o, 0, sizeof *o);
	o->source = CLI_PW_PROMPT;
	int c;
	optind = 0;
	while ((c = cli_getopt(argc, argv, ":", opts)) != -1)
		if (apply_option(c, o) < 0)
			return cli_usage(usage);
	if (o->sources > 1) {
		fprintf(stderr, "surel: --password-stdin, --generate and --hash exclude each other\n");
		return cli_usage(usage);
	}
	return argc - optind == 1 ? 0 : cli_usage(usage);
}


static int parse_quota(const char *text, long long *quota_r)
{
	if (config_parse_size(text, quota_r) < 0)
		return cli_failf("invalid size '%s' (a number of bytes with an optional K, M or G: "
				 "0 for unlimited, 500M, 2G)", text);
	return 0;
}

/* ---- add ---- */

static int add_account(struct directory *dir, const char *address, const struct user_opts *o,
		       long long quota)
{
	char *error = NULL;
	if (directory_account_check_new(dir, address, &error) < 0)
		return cli_fail(&error);   /* before asking for a password in vain */
	struct cli_secret secret;
	int status = cli_secret_get(o->source, o->hash, &secret);
	if (status != 0)
		return status;
	if (directory_account_add(dir, address, secret.hash, quota, !o->disabled, &error) < 0)
		status = cli_fail(&error);
	else if (secret.password != NULL && o->source == CLI_PW_GENERATE)
		printf("%s\n", secret.password);   /* shown once, never stored */
	cli_secret_clear(&secret);
	return status;
}

static int user_add(int argc, char **argv)
{
	struct user_opts o;
	long long quota = 0;
	int status = parse_user_opts(argc, argv, add_options, &o);
	if (status != 0)
		return status;
	const char *address = argv[optind];
	if (o.quota != NULL && parse_quota(o.quota, &quota) != 0)
		return 1;
	struct directory *dir = cli_open_directory(&status);
	if (dir == NULL)
		return status;
	status = add_account(dir, address, &o, quota);
	directory_close(&dir);
	return status;
}

/* ---- passwd ---- */

/* The account must exist before a password is asked for. */
static int require_account(struct directory *dir, const char *address)
{
	char *norm = NULL, *error = NULL;
	if (addr_normalize(address, strlen(address), &norm, &error) < 0)
		return cli_fail(&error);
	struct account_info info = { 0 };
	int rc = directory_find_account(dir, norm, &info, &error);
	if (rc < 0)
		cli_fail(&error);
	else if (rc == 0)
		cli_failf("no such account '%s'", norm);
	account_info_clear(&info);
	free(norm);
	return rc == 1 ? 0 : 1;
}

static int user_passwd(int argc, char **argv)
{
	struct user_opts o;
	int status = parse_user_opts(argc, argv, passwd_options, &o);
	if (status != 0)
		return status;
	const char *address = argv[optind];
	struct directory *dir = cli_open_directory(&status);
	if (dir == NULL)
		return status;
	struct cli_secret secret = { NULL, NULL };
	char *error = NULL;
	status = require_account(dir, address);
	if (status == 0)
		status = cli_secret_get(o.source, o.hash, &secret);
	if (status == 0 && directory_account_set_password(dir, address, secret.hash, &error) < 0)
		status = cli_fail(&error);
	else if (status == 0 && o.source == CLI_PW_GENERATE)
		printf("%s\n", secret.password);
	cli_secret_clear(&secret);
	directory_close(&dir);
	return status;
}

/* ---- del ---- */

/* The mail of the account with this id, once the account is gone. When
 * that fails the account stays deleted: say what is left and how to clean
 * it up (docs/storage.md), exit 1. */
static int delete_mail(const char *address, long long id)
{
	struct config *cfg = cli_load_config(cli_config_path);
	if (cfg == NULL) {
		fprintf(stderr, "surel: account '%s' deleted, but not its mail (users/%lld in the "
			"data directory)\n", address, id);
		return 1;
	}
	struct store *s = NULL;
	char *error = NULL;
	int status = 0;
	if (store_open_config(cfg, &s, &error) < 0 || store_user_delete(s, id, &error) < 0) {
		fprintf(stderr, "surel: account '%s' deleted, but not its mail: %s\n"
			"surel: remove %s/users/%lld, then run 'surel store check --repair'\n",
			address, error, cfg->server_data_dir, id);
		free(error);
		status = 1;
	}
	store_close(&s);
	config_free(&cfg);
	return status;
}

/* The account first (no new mail is delivered to it from then on), then
 * its mail. */
static int delete_account(const char *address)
{
	int status = 0;
	struct directory *dir = cli_open_directory(&status);
	if (dir == NULL)
		return status;
	struct account_info info = { 0 };
	char *error = NULL;
	if (directory_find_account(dir, address, &info, &error) < 0 ||
	    directory_account_del(dir, address, &error) < 0)
		status = cli_fail(&error);
	directory_close(&dir);
	if (status == 0 && info.id > 0)
		status = delete_mail(info.address, info.id);
	account_info_clear(&info);
	return status;
}

/* ---- enable, disable, quota ---- */

enum account_change { CHANGE_ENABLE, CHANGE_DISABLE, CHANGE_QUOTA };

static int change_account(enum account_change what, const char *address, long long quota)
{
	int status = 0;
	struct directory *dir = cli_open_directory(&status);
	if (dir == NULL)
		return status;
	char *error = NULL;
	int rc = 0;
	switch (what) {
	case CHANGE_ENABLE:
	case CHANGE_DISABLE:
		rc = directory_account_set_enabled(dir, address, what == CHANGE_ENABLE, &error);
		break;
	case CHANGE_QUOTA:
		rc = directory_account_set_quota(dir, address, quota, &error);
		break;
	}
	if (rc < 0)
		status = cli_fail(&error);
	directory_close(&dir);
	return status;
}

static int user_del(int argc, char **argv)
{
	int status = cli_plain_args(argc, argv, 1, 1, usage);
	return status != 0 ? status : delete_account(argv[optind]);
}

static int user_enable(int argc, char **argv)
{
	int status = cli_plain_args(argc, argv, 1, 1, usage);
	return status != 0 ? status : change_account(CHANGE_ENABLE, argv[optind], 0);
}

static int user_disable(int argc, char **argv)
{
	int status = cli_plain_args(argc, argv, 1, 1, usage);
	return status != 0 ? status : change_account(CHANGE_DISABLE, argv[optind], 0);
}

static int user_quota(int argc, char **argv)
{
	int status = cli_plain_args(argc, argv, 2, 2, usage);
	if (status != 0)
		return status;
	long long quota;
	if (parse_quota(argv[optind + 1], &quota) != 0)
		return 1;
	return change_account(CHANGE_QUOTA, argv[optind], quota);
}

/* ---- set ---- */

static const struct option set_options[] = {
	{ "pop3-delete-after-retr", required_argument, NULL, OPT_POP3_DELETE_AFTER_RETR },
	{ "pop3-deleted-to-trash", required_argument, NULL, OPT_POP3_DELETED_TO_TRASH },
	{ NULL, 0, NULL, 0 },
};

/* yes|no (or any boolean the configuration takes) or default. */
static int parse_opt(const char *option, const char *text, enum account_opt *out)
{
	bool b;
	if (strcasecmp(text, "default") == 0)
		*out = ACCOUNT_OPT_DEFAULT;
	else if (config_parse_bool(text, &b) == 0)
		*out = b ? ACCOUNT_OPT_YES : ACCOUNT_OPT_NO;
	else
		return cli_failf("invalid value '%s' for --%s (yes, no or default)", text, option);
	return 0;
}

/* Options, then exactly one ADDRESS; 0 or the exit status. Every value is
 * checked before the database is opened. */
static int parse_set_opts(int argc, char **argv, struct account_pop3 *change)
{
	*change = (struct account_pop3){ ACCOUNT_OPT_KEEP, ACCOUNT_OPT_KEEP };
	const char *values[2] = { NULL, NULL };
	int c;
	optind = 0;
	while ((c = cli_getopt(argc, argv, ":", set_options)) != -1) {
		if (c == OPT_POP3_DELETE_AFTER_RETR)
			values[0] = optarg;
		else if (c == OPT_POP3_DELETED_TO_TRASH)
			values[1] = optarg;
		else
			return cli_usage(usage);
	}
	if (argc - optind != 1)
		return cli_usage(usage);
	if (values[0] == NULL && values[1] == NULL) {
		fprintf(stderr, "surel: nothing to set: give --pop3-delete-after-retr "
			"or --pop3-deleted-to-trash\n");
		return cli_usage(usage);
	}
	if (values[0] != NULL &&
	    parse_opt(set_options[0].name, values[0], &change->delete_after_retr) != 0)
		return 1;
	if (values[1] != NULL &&
	    parse_opt(set_options[1].name, values[1], &change->deleted_to_trash) != 0)
		return 1;
	return 0;
}

static int user_set(int argc, char **argv)
{
	struct account_pop3 change;
	int status = parse_set_opts(argc, argv, &change);
	if (status != 0)
		return status;
	struct directory *dir = cli_open_directory(&status);
	if (dir == NULL)
		return status;
	char *error = NULL;
	if (directory_account_set_pop3(dir, argv[optind], &change, &error) < 0)
		status = cli_fail(&error);
	directory_close(&dir);
	return status;
}

/* ---- show ---- */

/* "yes", "no", or "default (yes)" with the global value. */
static const char *opt_text(enum account_opt opt, bool global)
{
	switch (opt) {
	case ACCOUNT_OPT_YES: return "yes";
	case ACCOUNT_OPT_NO: return "no";
	case ACCOUNT_OPT_DEFAULT:
	case ACCOUNT_OPT_KEEP: break;
	}
	return global ? "default (yes)" : "default (no)";
}

static void print_account(const struct account_info *a, const struct config *cfg)
{
	char size[32];
	cli_format_size(a->quota_bytes, size, sizeof size);
	printf("address: %s\n"
	       "id: %lld\n"
	       "quota: %s\n"
	       "status: %s\n"
	       "pop3-delete-after-retr: %s\n"
	       "pop3-deleted-to-trash: %s\n",
	       a->address, a->id, size, a->enabled ? "enabled" : "disabled",
	       opt_text(a->pop3.delete_after_retr, cfg->pop3_delete_after_retr),
	       opt_text(a->pop3.deleted_to_trash, cfg->pop3_deleted_to_trash));
}

static int user_show(int argc, char **argv)
{
	int status = cli_plain_args(argc, argv, 1, 1, usage);
	if (status != 0)
		return status;
	/* The configuration too: a default is shown with the value it gives. */
	struct config *cfg = cli_load_config(cli_config_path);
	if (cfg == NULL)
		return EXIT_USAGE;
	struct directory *dir = NULL;
	char *norm = NULL, *error = NULL;
	struct account_info info = { 0 };
	const char *address = argv[optind];
	if (addr_normalize(address, strlen(address), &norm, &error) < 0 ||
	    directory_open_config(cfg, &dir, &error) < 0) {
		status = cli_fail(&error);
	} else {
		int rc = directory_find_account(dir, norm, &info, &error);
		if (rc < 0)
			status = cli_fail(&error);
		else if (rc == 0)
			status = cli_failf("no such account '%s'", norm);
		else
			print_account(&info, cfg);
	}
	account_info_clear(&info);
	free(norm);
	directory_close(&dir);
	config_free(&cfg);
	return status;
}

/* ---- list ---- */

static int user_list(int argc, char **argv)
{
	int status = cli_plain_args(argc, argv, 0, 1, usage);
	if (status != 0)
		return status;
	const char *domain = optind < argc ? argv[optind] : NULL;
	struct directory *dir = cli_open_directory(&status);
	if (dir == NULL)
		return status;
	struct account_list list;
	char *error = NULL;
	if (directory_account_list(dir, domain, &list, &error) < 0) {
		status = cli_fail(&error);
	} else {
		for (size_t i = 0; i < list.count; i++) {
			char size[32];
			cli_format_size(list.items[i].quota_bytes, size, sizeof size);
			printf("%s\t%s\t%s\n", list.items[i].address, size,
			       list.items[i].enabled ? "enabled" : "disabled");
		}
		account_list_free(&list);
	}
	directory_close(&dir);
	return status;
}

int cmd_user(int argc, char **argv)
{
	static const struct cli_verb verbs[] = {
		{ "add", user_add },
		{ "del", user_del },
		{ "list", user_list },
		{ "show", user_show },
		{ "passwd", user_passwd },
		{ "enable", user_enable },
		{ "disable", user_disable },
		{ "quota", user_quota },
		{ "set", user_set },
		{ NULL, NULL },
	};
	return cli_dispatch(verbs, argc, argv, usage);
}
