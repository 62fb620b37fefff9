/* The subcommands of the `surel` program. Each takes the arguments after its
 * name (argv[0] is the subcommand) and returns the exit status:
 * 0 success, 1 the operation failed, 2 usage or configuration error. */
#ifndef SUREL_CLI_CLI_H
#define SUREL_CLI_CLI_H

#define EXIT_USAGE 2

struct config;

/* The file named by `surel -c FILE COMMAND` or SUREL_CONFIG; NULL for none. */
extern const char *cli_config_path;

int cmd_serve(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_domain(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_alias(int argc, char **argv);
int cmd_queue(int argc, char **argv);
int cmd_mailbox(int argc, char **argv);
int cmd_store(int argc, char **argv);
int cmd_mime(int argc, char **argv);

/* Shared by the subcommands: load the configuration named by -c FILE (or the
 * built-in defaults when path is NULL); on error print it and return NULL. */
struct config *cli_load_config(const char *path);

#endif
