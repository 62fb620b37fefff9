/* surel serve [-c FILE]: run the mail server in the foreground. */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "server/master.h"

static int serve_usage(void)
{
	fputs("usage: surel serve [-c FILE]\n", stderr);
	return EXIT_USAGE;
}

int cmd_serve(int argc, char **argv)
{
	const char *path = cli_config_path;
	int c;
	optind = 1;
	while ((c = getopt(argc, argv, "c:")) != -1) {
		if (c != 'c')
			return serve_usage();
		path = optarg;
	}
	if (optind != argc)
		return serve_usage();
	return master_run(path);
}
