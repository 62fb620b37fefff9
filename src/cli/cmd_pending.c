/* Placeholder entry points, replaced part by part as each lands. */
#include <stdio.h>

#include "cli/cli.h"

static int pending(const char *what)
{
	fprintf(stderr, "surel: '%s' is not built yet\n", what);
	return 1;
}

int cmd_serve(int argc, char **argv) { return pending("serve"); }
int cmd_domain(int argc, char **argv) { return pending("domain"); }
int cmd_user(int argc, char **argv) { return pending("user"); }
int cmd_alias(int argc, char **argv) { return pending("alias"); }
