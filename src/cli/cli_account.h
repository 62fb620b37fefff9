/* Shared by the administration commands (surel domain|user|alias):
 * opening the directory, option parsing, errors, reading passwords. */
#ifndef SUREL_CLI_CLI_ACCOUNT_H
#define SUREL_CLI_CLI_ACCOUNT_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

struct directory;

/* One verb of a command: `surel user add ...` runs add(argc, argv) with
 * argv[0] = "add". */
struct cli_verb {
	const char *name;
	int (*run)(int argc, char **argv);
};
/* Find argv[1] in verbs (ended by a NULL name) and run it; usage text on
 * stderr and EXIT_USAGE when there is none or it is unknown. */
int cli_dispatch(const struct cli_verb *verbs, int argc, char **argv, const char *usage);

/* getopt_long with our own messages ("surel: unknown option '--x'");
 * shortopts must start with ':'. Returns getopt_long's value. */
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts);
/* Print usage to stderr, return EXIT_USAGE. */
int cli_usage(const char *usage);
/* A verb without options: 0 when it has min..max arguments (from optind),
 * else usage and EXIT_USAGE. */
int cli_plain_args(int argc, char **argv, int min, int max, const char *usage);

/* Load the configuration (cli_config_path) and open its directory. NULL
 * after printing why, with *status_r the exit status (2 for a bad
 * configuration, 1 otherwise). */
struct directory *cli_open_directory(int *status_r);
/* Print "surel: ERROR", free it, return 1. */
int cli_fail(char **error);
/* Print "surel: FMT" and return 1. */
int cli_failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Bytes as "unlimited" (0), "2G", "500M", "64K" or "1234". */
void cli_format_size(long long bytes, char *out, size_t size);

/* Where the new password comes from (surel user add|passwd). */
enum cli_password_source {
	CLI_PW_PROMPT,      /* asked twice on /dev/tty, echo off */
	CLI_PW_STDIN,       /* --password-stdin: all of stdin, one trailing newline removed */
	CLI_PW_GENERATE,    /* --generate */
	CLI_PW_HASH,        /* --hash HASH: an existing hash */
};
struct cli_secret {
	char *password;     /* plaintext (wiped on clear); NULL for CLI_PW_HASH */
	char *hash;
};
/* Obtain the password and its hash. Returns 0, or prints why and returns
 * the exit status (1, or EXIT_USAGE when stdin is not a terminal). */
int cli_secret_get(enum cli_password_source source, const char *hash, struct cli_secret *out);
void cli_secret_clear(struct cli_secret *s);

#endif
