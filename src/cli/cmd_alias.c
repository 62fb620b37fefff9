/* surel alias add|del|list: aliases and catch-alls. */
#include <stdio.h>

#include "account/directory.h"
#include "cli/cli.h"
#include "cli/cli_account.h"

static const char usage[] =
	"usage: surel alias add SOURCE TARGET [TARGET...]\n"
	"       surel alias del SOURCE [TARGET]\n"
	"       surel alias list [DOMAIN]\n"
	"SOURCE is an address in one of our domains, or @DOMAIN for a catch-all.\n";

static int alias_add(int argc, char **argv)
{
	int status = cli_plain_args(argc, argv, 2, argc, usage);
	if (status != 0)
		return status;
	struct directory *dir = cli_open_directory(&status);
	if (dir == NULL)
		return status;
	char *error = NULL;
	const char *const *targets = (const char *const *)argv + optind + 1;
	if (directory_alias_add(dir, argv[optind], targets, (size_t)(argc - optind - 1), &error) < 0)
		status = cli_fail(&error);
	directory_close(&dir);
	return status;
}

static int alias_del(int argc, char **argv)
{
	int status = cli_plain_args(argc, argv, 1, 2, usage);
	if (status != 0)
		return status;
	const char *target = optind + 1 < argc ? argv[optind + 1] : NULL;
	struct directory *dir = cli_open_directory(&status);
	if (dir == NULL)
		return status;
	char *error = NULL;
	if (directory_alias_del(dir, argv[optind], target, &error) < 0)
		status = cli_fail(&error);
	directory_close(&dir);
	return status;
}

static int alias_list(int argc, char **argv)
{
	int status = cli_plain_args(argc, argv, 0, 1, usage);
	if (status != 0)
		return status;
	const char *domain = optind < argc ? argv[optind] : NULL;
	struct directory *dir = cli_open_directory(&status);
	if (dir == NULL)
		return status;
	struct alias_list list;
	char *error = NULL;
	if (directory_alias_list(dir, domain, &list, &error) < 0) {
		status = cli_fail(&error);
	} else {
		for (size_t i = 0; i < list.count; i++)
			printf("%s -> %s\n", list.items[i].source, list.items[i].target);
		alias_list_free(&list);
	}
	directory_close(&dir);
	return status;
}

int cmd_alias(int argc, char **argv)
{
	static const struct cli_verb verbs[] = {
		{ "add", alias_add },
		{ "del", alias_del },
		{ "list", alias_list },
		{ NULL, NULL },
	};
	return cli_dispatch(verbs, argc, argv, usage);
}
