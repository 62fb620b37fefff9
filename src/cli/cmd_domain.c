/* surel domain add|del|list: the domains we receive mail for. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account/addr.h"
#include "account/directory.h"
#include "cli/cli.h"
#include "cli/cli_account.h"

static const char usage[] =
	"usage: surel domain add DOMAIN\n"
	"       surel domain del [--force] DOMAIN\n"
	"       surel domain list\n";


static int domain_add(int argc, char **argv)
{
	int status = cli_plain_args(argc, argv, 1, 1, usage);
	if (status != 0)
		return status;
	struct directory *dir = cli_open_directory(&status);
	if (dir == NULL)
		return status;
	char *error = NULL;
	if (directory_domain_add(dir, argv[optind], &error) < 0)
		status = cli_fail(&error);
	directory_close(&dir);
	return status;
}

static int domain_del(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	bool force = false;
	int c;
	optind = 0;
	while ((c = cli_getopt(argc, argv, ":f", opts)) != -1) {
		if (c != 'f')
			return cli_usage(usage);
		force = true;
	}
	if (argc - optind != 1)
		return cli_usage(usage);
	int status = 0;
	struct directory *dir = cli_open_directory(&status);
	if (dir == NULL)
		return status;
	char *error = NULL;
	if (directory_domain_del(dir, argv[optind], force, &error) < 0)
		status = cli_fail(&error);
	directory_close(&dir);
	return status;
}

/* "xn--bcher-kva.example (bücher.example)", or just the name when it is
 * all ASCII. */
static void print_domain(const char *ascii)
{
	char *unicode = NULL, *error = NULL;
	if (addr_domain_to_unicode(ascii, &unicode, &error) < 0) {
		free(error);   /* stored names are valid A-labels; show it as it is */
		printf("%s\n", ascii);
		return;
	}
	if (strcmp(unicode, ascii) != 0)
		printf("%s (%s)\n", ascii, unicode);
	else
		printf("%s\n", ascii);
	free(unicode);
}

static int domain_list(int argc, char **argv)
{
	int status = cli_plain_args(argc, argv, 0, 0, usage);
	if (status != 0)
		return status;
	struct directory *dir = cli_open_directory(&status);
	if (dir == NULL)
		return status;
	struct string_list list;
	char *error = NULL;
	if (directory_domain_list(dir, &list, &error) < 0) {
		status = cli_fail(&error);
	} else {
		for (size_t i = 0; i < list.count; i++)
			print_domain(list.items[i]);
		string_list_free(&list);
	}
	directory_close(&dir);
	return status;
}

int cmd_domain(int argc, char **argv)
{
	static const struct cli_verb verbs[] = {
		{ "add", domain_add },
		{ "del", domain_del },
		{ "list", domain_list },
		{ NULL, NULL },
	};
	return cli_dispatch(verbs, argc, argv, usage);
}
