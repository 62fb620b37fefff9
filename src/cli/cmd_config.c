/* surel config show [-c FILE] | check FILE | docs */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/config.h"

struct config *cli_load_config(const char *path)
{
	if (path == NULL)
		return config_defaults();
	char *error = NULL;
	struct config *cfg = config_load(path, &error);
	if (cfg == NULL) {
		fprintf(stderr, "surel: %s\n", error);
		free(error);
	}
	return cfg;
}

static int config_usage(void)
{
	fputs("usage: surel config show [-c FILE]\n"
	      "       surel config check FILE\n"
	      "       surel config docs\n", stderr);
	return EXIT_USAGE;
}

int cmd_config(int argc, char **argv)
{
	if (argc < 2)
		return config_usage();
	const char *verb = argv[1];
	if (strcmp(verb, "docs") == 0 && argc == 2) {
		config_write_docs(stdout);
		return 0;
	}
	if (strcmp(verb, "check") == 0) {
		if (argc != 3)
			return config_usage();
		struct config *cfg = cli_load_config(argv[2]);
		if (cfg == NULL)
			return EXIT_USAGE;
		printf("%s: ok\n", argv[2]);
		config_free(&cfg);
		return 0;
	}
	if (strcmp(verb, "show") == 0) {
		const char *path = cli_config_path;
		int c;
		optind = 2;
		while ((c = getopt(argc, argv, "c:")) != -1) {
			if (c != 'c')
				return config_usage();
			path = optarg;
		}
		if (optind != argc)
			return config_usage();
		struct config *cfg = cli_load_config(path);
		if (cfg == NULL)
			return EXIT_USAGE;
		config_write_ini(cfg, stdout);
		config_free(&cfg);
		return 0;
	}
	return config_usage();
}
