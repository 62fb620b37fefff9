/* Placeholder entry points, replaced part by part as each lands. */
#include <stdio.h>

#include "cli/cli.h"

static int pending(const char *what)
{
	fprintf(stderr, "surel: '%s' is not built yet\n", what);
	return 1;
}

int cmd_serve(int argc, char **argv) { return pending("serve"); }
