/* Helpers shared by surel domain|user|alias; see cli_account.h. */
#include "cli/cli_account.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account/directory.h"
#include "cli/cli.h"
#include "core/config.h"

int cli_usage(const char *usage)
{
	fputs(usage, stderr);
	return EXIT_USAGE;
}

int cli_dispatch(const struct cli_verb *verbs, int argc, char **argv, const char *usage)
{
	if (argc < 2)
		return cli_usage(usage);
	for (const struct cli_verb *v = verbs; v->name != NULL; v++)
		if (strcmp(argv[1], v->name) == 0)
			return v->run(argc - 1, argv + 1);
	fprintf(stderr, "surel: %s: unknown command '%s'\n", argv[0], argv[1]);
	return cli_usage(usage);
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts)
{
	opterr = 0;
	int c = getopt_long(argc, argv, shortopts, longopts, NULL);
	if (c == '?' && optopt != 0 && optopt != '?')
		fprintf(stderr, "surel: unknown option '-%c'\n", optopt);
	else if (c == '?')
		fprintf(stderr, "surel: unknown option '%s'\n", argv[optind - 1]);
	else if (c == ':')
		fprintf(stderr, "surel: option '%s' needs a value\n", argv[optind - 1]);
	return c;
}

int cli_plain_args(int argc, char **argv, int min, int max, const char *usage)
{
	static const struct option none[] = { { NULL, 0, NULL, 0 } };
	optind = 0;
	if (cli_getopt(argc, argv, ":", none) != -1)
		return cli_usage(usage);
	int n = argc - optind;
	return n >= min && n <= max ? 0 : cli_usage(usage);
}

struct directory *cli_open_directory(int *status_r)
{
	struct config *cfg = cli_load_config(cli_config_path);
	if (cfg == NULL) {
		*status_r = EXIT_USAGE;
		return NULL;
	}
	struct directory *dir = NULL;
	char *error = NULL;
	if (directory_open_config(cfg, &dir, &error) < 0)
		*status_r = cli_fail(&error);
	config_free(&cfg);
	return dir;
}

int cli_fail(char **error)
{
	fprintf(stderr, "surel: %s\n", *error);
	free(*error);
	*error = NULL;
	return 1;
}

int cli_failf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("surel: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 1;
}

void cli_format_size(long long bytes, char *out, size_t size)
{
	static const struct { long long mult; char unit; } units[] = {
		{ 1LL << 30, 'G' }, { 1LL << 20, 'M' }, { 1LL << 10, 'K' },
	};
	if (bytes == 0) {
		snprintf(out, size, "unlimited");
		return;
	}
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (bytes % units[i].mult == 0) {
			snprintf(out, size, "%lld%c", bytes / units[i].mult, units[i].unit);
			return;
		}
	}
	snprintf(out, size, "%lld", bytes);
}
