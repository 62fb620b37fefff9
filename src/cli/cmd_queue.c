/* surel queue [held] list|show|delete: what is in the spool, and what local
 * delivery put aside in spool/hold/ (a Delivered-To loop, a recipient gone
 * since acceptance: queue/spool.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_account.h"
#include "core/config.h"
#include "core/xmalloc.h"
#include "queue/spool.h"

static const char usage[] =
	"usage: surel queue [held] list\n"
	"       surel queue [held] show ID\n"
	"       surel queue [held] delete ID\n"
	"list prints one line per queued message (id, time, size, sender, recipients);\n"
	"show prints its envelope and the message; delete removes it without delivery.\n"
	"With held, the same for the messages delivery put aside (spool/hold/).\n";

/* "surel queue held ...": work on spool/hold/ instead of the spool. */
static bool held;

/* DATA_DIR/spool of the configuration, or NULL after printing why. */
static char *spool_dir(int *status_r)
{
	struct config *cfg = cli_load_config(cli_config_path);
	if (cfg == NULL) {
		*status_r = EXIT_USAGE;
		return NULL;
	}
	char *dir = held ? xasprintf("%s/%s/%s", cfg->server_data_dir, SPOOL_DIR, SPOOL_HOLD_DIR)
		       : xasprintf("%s/%s", cfg->server_data_dir, SPOOL_DIR);
	config_free(&cfg);
	return dir;
}

/* Whether the entry id has left dir (delivered or deleted meanwhile). */
static bool gone(const char *dir, const char *id)
{
	char *path = xasprintf("%s/%s.env", dir, id);
	bool missing = access(path, F_OK) < 0 && errno == ENOENT;
	free(path);
	return missing;
}

static int queue_list(int argc, char **argv)
{
	int status = cli_plain_args(argc, argv, 0, 0, usage);
	if (status != 0)
		return status;
	char *dir = spool_dir(&status);
	if (dir == NULL)
		return status;
	struct spool_iter *it = NULL;
	char *error = NULL;
	if (spool_iter_open(dir, &it, &error) < 0) {
		free(dir);
		return cli_fail(&error);
	}
	const char *id;
	size_t n = 0;
	while ((id = spool_iter_next(it)) != NULL) {
		struct spool_envelope env;
		if (spool_read_envelope(dir, id, &env, &error) < 0 && gone(dir, id)) {
			xfree(&error);   /* delivered while we were listing */
			continue;
		}
		if (error != NULL) {
			fprintf(stderr, "surel: %s\n", error);
			xfree(&error);
			status = 1;
			continue;
		}
		char when[32];
		time_t t = (time_t)env.received;
		struct tm tm;
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
		printf("%s  %s  %8lld  <%s>", env.id, when, env.size, env.sender);
		for (size_t i = 0; i < env.nrcpts; i++)
			printf("%s%s", i == 0 ? "  " : ", ", env.rcpts[i].address);
		printf("\n");
		spool_envelope_clear(&env);
		n++;
	}
	spool_iter_close(&it);
	if (n == 0)
		printf(held ? "nothing is held\n" : "queue is empty\n");
	free(dir);
	return status;
}

static int queue_show(int argc, char **argv)
{
	int status = cli_plain_args(argc, argv, 1, 1, usage);
	if (status != 0)
		return status;
	char *dir = spool_dir(&status);
	if (dir == NULL)
		return status;
	const char *id = argv[optind];
	char *error = NULL;
	struct spool_envelope env;
	if (spool_read_envelope(dir, id, &env, &error) < 0) {
		free(dir);
		return cli_fail(&error);
	}
	struct buf text = BUF_INIT;
	spool_envelope_format(&env, &text);
	fwrite(text.data, 1, text.len, stdout);
	buf_free(&text);
	spool_envelope_clear(&env);
	printf("\n");
	int fd = spool_open_message(dir, id, &error);
	free(dir);
	if (fd < 0)
		return cli_fail(&error);
	char chunk[65536];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		fwrite(chunk, 1, (size_t)n, stdout);
	close(fd);
	return 0;
}

static int queue_delete(int argc, char **argv)
{
	int status = cli_plain_args(argc, argv, 1, 1, usage);
	if (status != 0)
		return status;
	char *dir = spool_dir(&status);
	if (dir == NULL)
		return status;
	char *error = NULL;
	if (spool_remove(dir, argv[optind], &error) < 0)
		status = cli_fail(&error);
	free(dir);
	return status;
}

static const struct cli_verb queue_verbs[] = {
	{ "list", queue_list },
	{ "show", queue_show },
	{ "delete", queue_delete },
	{ NULL, NULL },
};

static int queue_held(int argc, char **argv)
{
	held = true;
	return cli_dispatch(queue_verbs, argc, argv, usage);
}

int cmd_queue(int argc, char **argv)
{
	static const struct cli_verb verbs[] = {
		{ "list", queue_list },
		{ "show", queue_show },
		{ "delete", queue_delete },
		{ "held", queue_held },
		{ NULL, NULL },
	};
	return cli_dispatch(verbs, argc, argv, usage);
}
