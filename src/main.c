/* surel: one program, subcommands for the server and its administration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/log.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
};

static const struct command commands[] = {
	{ "serve",  cmd_serve,  "serve [-c FILE]            run the mail server in the foreground" },
	{ "config", cmd_config, "config show|check|docs     print, validate or document the configuration" },
	{ "domain", cmd_domain, "domain add|del|list        manage the domains we receive mail for" },
	{ "user",   cmd_user,   "user add|del|list|passwd   manage accounts" },
	{ "alias",  cmd_alias,  "alias add|del|list         manage aliases and catch-alls" },
	{ "queue",  cmd_queue,  "queue list|show|delete     messages waiting in the spool" },
	{ "mailbox", cmd_mailbox, "mailbox list|import|export an account's mailboxes; Maildir and mbox migration" },
	{ "store",  cmd_store,  "store check|gc             verify and repair the mail store, collect unused blobs" },
	{ "mime",   cmd_mime,   NULL /* developer: mime parse FILE, mime text FILE */ },
};

static void usage(FILE *out)
{
	fputs("usage: surel COMMAND [ARGS]\n\ncommands:\n", out);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (commands[i].help != NULL)   /* NULL: a hidden developer command */
			fprintf(out, "  surel %s\n", commands[i].help);
	fputs("  surel version              print the version\n\n"
	      "surel -c FILE COMMAND (or SUREL_CONFIG=FILE) reads FILE; without it the built-in\n"
	      "defaults are used.\n",
	      out);
}

const char *cli_config_path;

int main(int argc, char **argv)
{
	/* surel [-c FILE] COMMAND ...; SUREL_CONFIG names the file too. */
	cli_config_path = getenv("SUREL_CONFIG");
	if (argc >= 3 && strcmp(argv[1], "-c") == 0) {
		cli_config_path = argv[2];
		argv[2] = argv[0];
		argc -= 2;
		argv += 2;
	}
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("surel %s\n", SUREL_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(argv[1], commands[i].name) == 0) {
			log_set_process(strcmp(argv[1], "serve") == 0 ? "master" : "cli");
			return commands[i].run(argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "surel: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
