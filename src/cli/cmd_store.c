/* surel store check|gc: maintenance of the mail store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_account.h"
#include "core/config.h"
#include "store/store.h"

static const char usage[] =
	"usage: surel store check [--repair] [--grace SECONDS]\n"
	"       surel store gc [--grace SECONDS]\n"
	"check verifies every user index against the blob store (exit status 1 when it\n"
	"finds a problem it did not repair); --repair puts right what it finds and removes\n"
	"unreferenced blobs and temporary files older than the grace period (default 3600).\n"
	"gc removes blobs whose last reference went more than the grace period ago.\n";

#define DEFAULT_GRACE 3600L

enum { OPT_REPAIR = 256, OPT_GRACE };

static int parse_opts(int argc, char **argv, bool allow_repair, bool *repair, long *grace)
{
	static const struct option opts[] = {
		{ "repair", no_argument, NULL, OPT_REPAIR },
		{ "grace", required_argument, NULL, OPT_GRACE },
		{ NULL, 0, NULL, 0 },
	};
	*repair = false;
	*grace = DEFAULT_GRACE;
	int ch;
	optind = 0;
	while ((ch = cli_getopt(argc, argv, ":", opts)) != -1) {
		if (ch == OPT_REPAIR && allow_repair) {
			*repair = true;
		} else if (ch == OPT_GRACE) {
			long long v;
			if (config_parse_duration(optarg, &v) < 0 || v < 0) {
				fprintf(stderr, "surel: invalid duration '%s'\n", optarg);
				return cli_usage(usage);
			}
			*grace = (long)v;
		} else {
			return cli_usage(usage);
		}
	}
	return optind == argc ? 0 : cli_usage(usage);
}

static struct store *open_store(int *status_r)
{
	struct config *cfg = cli_load_config(cli_config_path);
	if (cfg == NULL) {
		*status_r = EXIT_USAGE;
		return NULL;
	}
	struct store *s = NULL;
	char *error = NULL;
	if (store_open_config(cfg, &s, &error) < 0)
		*status_r = cli_fail(&error);
	config_free(&cfg);
	return s;
}

static int store_check_cmd(int argc, char **argv)
{
	bool repair;
	long grace;
	int status = parse_opts(argc, argv, true, &repair, &grace);
	if (status != 0)
		return status;
	struct store *s = open_store(&status);
	if (s == NULL)
		return status;
	struct store_check_report r;
	char *error = NULL;
	if (store_check(s, repair, grace, &r, &error) < 0) {
		status = cli_fail(&error);
	} else {
		size_t problems = r.missing_blobs + r.refcount_fixed + r.orphans + r.temp_files +
				  r.index_fixed;
		printf("users: %zu\nblobs: %zu\nmissing blobs: %zu\nwrong reference counts: %zu\n"
		       "orphan blobs: %zu\nstale temporary files: %zu\nindex fixes: %zu\n",
		       r.users, r.blobs, r.missing_blobs, r.refcount_fixed, r.orphans,
		       r.temp_files, r.index_fixed);
		if (repair)
			printf("blobs removed: %zu\nresult: %s\n", r.collected,
			       problems ? "repaired" : "ok");
		else
			printf("result: %s\n", problems ? "problems found (run with --repair)" : "ok");
		status = problems > 0 && !repair ? 1 : 0;
	}
	store_close(&s);
	return status;
}

static int store_gc_cmd(int argc, char **argv)
{
	bool repair;
	long grace;
	int status = parse_opts(argc, argv, false, &repair, &grace);
	if (status != 0)
		return status;
	struct store *s = open_store(&status);
	if (s == NULL)
		return status;
	size_t n = 0;
	char *error = NULL;
	if (store_gc(s, grace, &n, &error) < 0)
		status = cli_fail(&error);
	else
		printf("blobs removed: %zu\n", n);
	store_close(&s);
	return status;
}

int cmd_store(int argc, char **argv)
{
	static const struct cli_verb verbs[] = {
		{ "check", store_check_cmd },
		{ "gc", store_gc_cmd },
		{ NULL, NULL },
	};
	return cli_dispatch(verbs, argc, argv, usage);
}
