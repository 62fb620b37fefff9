/* Privileges: the master may start as root; everything that touches client
 * input runs as server.user. */
#ifndef SUREL_CORE_PRIVS_H
#define SUREL_CORE_PRIVS_H

#include <stdbool.h>
#include <sys/types.h>

struct config;

/* Whether this process runs as root and so must drop to server.user. */
bool privs_are_root(void);
/* uid and gid of server.user; -1 with *error_r when the user does not exist. */
int privs_lookup(const struct config *cfg, uid_t *uid_r, gid_t *gid_r, char **error_r);
/* When root, give path to server.user (so that a file the CLI or master made
 * as root stays usable by the workers). No-op otherwise. */
int privs_chown_to_server(const struct config *cfg, const char *path, char **error_r);
/* When root: drop supplementary groups, then gid, then uid to server.user, and
 * verify that root cannot be regained. No-op otherwise. */
int privs_drop(const struct config *cfg, char **error_r);
/* Create the data directory (and parents) if missing, owned by server.user when root. */
int privs_make_data_dir(const struct config *cfg, char **error_r);

#endif
