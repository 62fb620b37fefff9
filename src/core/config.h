/* The configuration: one INI file, every key with a default (config_keys.h). */
#ifndef SUREL_CORE_CONFIG_H
#define SUREL_CORE_CONFIG_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>

enum setting_type {
	CFG_STRING, CFG_INT, CFG_BOOL, CFG_DURATION, CFG_SIZE, CFG_ENUM, CFG_LISTEN,
};

#define CFG_FIELD_STRING   char *
#define CFG_FIELD_INT      long long
#define CFG_FIELD_BOOL     bool
#define CFG_FIELD_DURATION long long   /* seconds */
#define CFG_FIELD_SIZE     long long   /* bytes */
#define CFG_FIELD_ENUM     char *
#define CFG_FIELD_LISTEN   char *      /* validated; parse with config_listen_parse() */

struct config {
#define SETTING(type, section, key, def, min, max, choices, doc) CFG_FIELD_##type section##_##key;
#include "core/config_keys.h"
#undef SETTING
	char *path;   /* file it was read from, NULL for the defaults */
};

struct setting {
	enum setting_type type;
	const char *section;
	const char *key;
	const char *def;
	long long min, max;
	const char *choices;
	const char *doc;
	size_t offset;
};

/* The table, in declaration order. */
const struct setting *config_settings(size_t *count_r);

/* A configuration holding every default. */
struct config *config_defaults(void);
/* Read FILE over the defaults. On error returns NULL and sets *error_r to one
 * line naming file, line and key ("surel.conf:12: smtp.listen: ..."). */
struct config *config_load(const char *path, char **error_r);
void config_free(struct config **cfg);

/* Set one key from its text form ("smtp.listen", "127.0.0.1:25"). */
int config_set(struct config *cfg, const char *name, const char *value, char **error_r);

/* The effective configuration as an INI file, each key with its doc line. */
void config_write_ini(const struct config *cfg, FILE *out);
/* The Markdown reference of every key (docs/configuration.md). */
void config_write_docs(FILE *out);

/* Where a key was set, for error messages about its value found after
 * loading (a port in use, an unreadable certificate): "FILE:LINE: name", or
 * just "name" for a default. Caller frees. */
char *config_where(const struct config *cfg, const char *name);

/* The host name to announce: server.hostname or the system's. */
const char *config_hostname(const struct config *cfg);

/* One listen address from a CFG_LISTEN value. */
struct listen_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[128];    /* as written: "127.0.0.1:2525", "[::1]:2143", "/run/surel/lmtp" */
};
/* Parse "host:port, [v6]:port, /path, ..." (numeric hosts only, "*" for
 * every IPv4 address, "[::]" for every IPv6 one, an absolute path for a unix
 * socket). Empty means none. */
int config_listen_parse(const char *value, struct listen_addr **addrs_r, size_t *count_r,
			char **error_r);
/* Whether a listen address is a unix socket or on the loopback interface
 * (127.0.0.0/8, ::1): where a listener without authentication (LMTP) may be. */
bool config_listen_is_local(const struct listen_addr *a);

/* Value parsers shared with the table (exported for the unit tests). */
int config_parse_bool(const char *s, bool *out);
int config_parse_duration(const char *s, long long *out);
int config_parse_size(const char *s, long long *out);

#endif
