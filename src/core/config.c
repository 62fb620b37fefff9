#include "core/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/xmalloc.h"

static const struct setting settings[] = {
#define SETTING(type, section, key, def, min, max, choices, doc) \
	{ CFG_##type, #section, #key, def, min, max, choices, doc, offsetof(struct config, section##_##key) },
#include "core/config_keys.h"
#undef SETTING
};

#define N_SETTINGS (sizeof settings / sizeof settings[0])

const struct setting *config_settings(size_t *count_r)
{
	*count_r = N_SETTINGS;
	return settings;
}

static bool is_string_type(enum setting_type t)
{
	return t == CFG_STRING || t == CFG_ENUM || t == CFG_LISTEN;
}

static void *field(struct config *cfg, const struct setting *s)
{
	return (char *)cfg + s->offset;
}

static const void *cfield(const struct config *cfg, const struct setting *s)
{
	return (const char *)cfg + s->offset;
}

/* ---- value parsers ---- */

int config_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) { *out = true; return 0; }
		if (strcasecmp(s, no[i]) == 0) { *out = false; return 0; }
	}
	return -1;
}

/* A non-negative decimal integer followed by an optional unit letter. */
static int parse_scaled(const char *s, const char *units, const long long *mult, long long *out)
{
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || v > LLONG_MAX)
		return -1;
	long long m = 1;
	if (*end != '\0') {
		const char *u = strchr(units, *end);
		if (u == NULL || end[1] != '\0')
			return -1;
		m = mult[u - units];
	}
	if ((long long)v > LLONG_MAX / m)
		return -1;
	*out = (long long)v * m;
	return 0;
}

int config_parse_duration(const char *s, long long *out)
{
	static const long long mult[] = { 1, 60, 3600, 86400 };
	return parse_scaled(s, "smhd", mult, out);
}

int config_parse_size(const char *s, long long *out)
{
	static const long long mult[] = { 1024, 1024LL * 1024, 1024LL * 1024 * 1024,
					  1024, 1024LL * 1024, 1024LL * 1024 * 1024 };
	return parse_scaled(s, "KMGkmg", mult, out);
}

static int parse_int(const char *s, long long *out)
{
	const char *p = s[0] == '-' ? s + 1 : s;
	if (*p < '0' || *p > '9')
		return -1;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

static bool enum_allows(const char *choices, const char *v)
{
	size_t n = strlen(v);
	for (const char *p = choices; *p != '\0';) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && memcmp(p, v, n) == 0)
			return true;
		p += len + (bar ? 1 : 0);
	}
	return false;
}

/* ---- listen addresses ---- */

static int parse_one_listen(const char *item, size_t len, struct listen_addr *a, char **error_r)
{
	char text[sizeof a->text];
	if (len == 0 || len >= sizeof text) {
		*error_r = xasprintf("invalid listen address '%.*s'", (int)len, item);
		return -1;
	}
	memcpy(text, item, len);
	text[len] = '\0';

	if (text[0] == '/') {   /* a unix socket */
		memset(a, 0, sizeof *a);
		struct sockaddr_un *sun = (struct sockaddr_un *)&a->ss;
		if (len >= sizeof sun->sun_path) {
			*error_r = xasprintf("unix socket path too long '%s'", text);
			return -1;
		}
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, text, len + 1);
		a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
		snprintf(a->text, sizeof a->text, "%s", text);
		return 0;
	}
	char host[64];
	const char *port_s;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (close == NULL || close[1] != ':')
			goto bad;
		snprintf(host, sizeof host, "%.*s", (int)(close - text - 1), text + 1);
		port_s = close + 2;
	} else {
		const char *colon = strrchr(text, ':');
		if (colon == NULL || strchr(text, ':') != colon)
			goto bad;
		snprintf(host, sizeof host, "%.*s", (int)(colon - text), text);
		port_s = colon + 1;
	}
	long long port;
	if (parse_int(port_s, &port) < 0 || port < 1 || port > 65535) {
		*error_r = xasprintf("invalid port in listen address '%s'", text);
		return -1;
	}
	memset(a, 0, sizeof *a);
	struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;
	if (strcmp(host, "*") == 0) {
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sin->sin_port = htons((uint16_t)port);
		a->len = sizeof *sin;
	} else if (inet_pton(AF_INET, host, &sin->sin_addr) == 1 && text[0] != '[') {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		a->len = sizeof *sin;
	} else if (text[0] == '[' && inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		a->len = sizeof *sin6;
	} else {
		goto bad;
	}
	snprintf(a->text, sizeof a->text, "%s", text);
	return 0;
bad:
	*error_r = xasprintf("invalid listen address '%s' (want host:port or [ipv6]:port)", text);
	return -1;
}

bool config_listen_is_local(const struct listen_addr *a)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->ss;
	switch (a->ss.ss_family) {
	case AF_UNIX: return true;
	case AF_INET: return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	case AF_INET6: return IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
	}
	return false;
}

int config_listen_parse(const char *value, struct listen_addr **addrs_r, size_t *count_r,
			char **error_r)
{
	struct listen_addr *addrs = NULL;
	size_t n = 0;
	const char *p = value;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		size_t len = strcspn(p, ", \t");
		addrs = xrealloc(addrs, (n + 1) * sizeof *addrs);
		if (parse_one_listen(p, len, &addrs[n], error_r) < 0) {
			free(addrs);
			return -1;
		}
		n++;
		p += len;
	}
	*addrs_r = addrs;
	*count_r = n;
	return 0;
}

/* ---- setting values ---- */

static int set_value(struct config *cfg, const struct setting *s, const char *value, char **error_r)
{
	long long v;
	bool b;
	switch (s->type) {
	case CFG_STRING:
		break;
	case CFG_ENUM:
		if (!enum_allows(s->choices, value)) {
			*error_r = xasprintf("'%s' is not one of %s", value, s->choices);
			return -1;
		}
		break;
	case CFG_LISTEN: {
		struct listen_addr *addrs;
		size_t n;
		if (config_listen_parse(value, &addrs, &n, error_r) < 0)
			return -1;
		/* LMTP takes mail without authentication for any local
		 * recipient: only trusted local MTAs may reach it. */
		for (size_t i = 0; strcmp(s->section, "lmtp") == 0 && i < n; i++) {
			if (!config_listen_is_local(&addrs[i])) {
				*error_r = xasprintf("%s: LMTP has no authentication and must listen on "
						     "a loopback address or a unix socket only",
						     addrs[i].text);
				free(addrs);
				return -1;
			}
		}
		free(addrs);
		break;
	}
	case CFG_BOOL:
		if (config_parse_bool(value, &b) < 0) {
			*error_r = xasprintf("'%s' is not a boolean (yes or no)", value);
			return -1;
		}
		*(bool *)field(cfg, s) = b;
		return 0;
	case CFG_INT:
	case CFG_DURATION:
	case CFG_SIZE: {
		int r = s->type == CFG_INT ? parse_int(value, &v)
			: s->type == CFG_DURATION ? config_parse_duration(value, &v)
			: config_parse_size(value, &v);
		if (r < 0) {
			static const char *const what[] = {
				[CFG_INT] = "an integer",
				[CFG_DURATION] = "a duration (e.g. 30s, 5m, 2h, 1d)",
				[CFG_SIZE] = "a size (e.g. 512, 64K, 25M, 1G)",
			};
			*error_r = xasprintf("'%s' is not %s", value, what[s->type]);
			return -1;
		}
		if (v < s->min || v > s->max) {
			*error_r = xasprintf("%s is out of range (%lld to %lld)", value, s->min, s->max);
			return -1;
		}
		*(long long *)field(cfg, s) = v;
		return 0;
	}
	}
	char **sp = field(cfg, s);
	free(*sp);
	*sp = xstrdup(value);
	return 0;
}

static const struct setting *find_setting(const char *section, const char *key)
{
	for (size_t i = 0; i < N_SETTINGS; i++)
		if (strcmp(settings[i].section, section) == 0 && strcmp(settings[i].key, key) == 0)
			return &settings[i];
	return NULL;
}

int config_set(struct config *cfg, const char *name, const char *value, char **error_r)
{
	const char *dot = strchr(name, '.');
	const struct setting *s = NULL;
	if (dot != NULL) {
		char section[64];
		snprintf(section, sizeof section, "%.*s", (int)(dot - name), name);
		s = find_setting(section, dot + 1);
	}
	if (s == NULL) {
		*error_r = xasprintf("%s: unknown key", name);
		return -1;
	}
	char *err = NULL;
	if (set_value(cfg, s, value, &err) < 0) {
		*error_r = xasprintf("%s: %s", name, err);
		free(err);
		return -1;
	}
	return 0;
}

struct config *config_defaults(void)
{
	struct config *cfg = xcalloc(1, sizeof *cfg);
	for (size_t i = 0; i < N_SETTINGS; i++) {
		char *err = NULL;
		if (set_value(cfg, &settings[i], settings[i].def, &err) < 0) {
			/* A default that does not parse is a bug in config_keys.h. */
			fprintf(stderr, "surel: bad default for %s.%s: %s\n",
				settings[i].section, settings[i].key, err);
			abort();
		}
	}
	return cfg;
}

void config_free(struct config **cfgp)
{
	struct config *cfg = *cfgp;
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < N_SETTINGS; i++)
		if (is_string_type(settings[i].type))
			free(*(char **)field(cfg, &settings[i]));
	free(cfg->path);
	free(cfg);
	*cfgp = NULL;
}

struct load_ctx {
	struct config *cfg;
	char *error;        /* the first error, without file and line */
};

static int on_ini_key(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *ctx = user;
	if (ctx->error != NULL)
		return 1;   /* report only the first error */
	char *full = xasprintf("%s.%s", section, name);
	int r = config_set(ctx->cfg, full, value, &ctx->error);
	free(full);
	return r == 0;
}

struct config *config_load(const char *path, char **error_r)
{
	struct load_ctx ctx = { config_defaults(), NULL };
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		*error_r = xasprintf("%s: cannot read: %s", path, strerror(errno));
		config_free(&ctx.cfg);
		return NULL;
	}
	int line = ini_parse_file(f, on_ini_key, &ctx);
	fclose(f);
	if (line != 0) {
		if (ctx.error != NULL)
			*error_r = xasprintf("%s:%d: %s", path, line, ctx.error);
		else
			*error_r = xasprintf("%s:%d: syntax error (expected [section] or key = value)",
					     path, line);
		free(ctx.error);
		config_free(&ctx.cfg);
		return NULL;
	}
	ctx.cfg->path = xstrdup(path);
	return ctx.cfg;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* The last line of cfg->path that sets name (inih keeps the last value). */
static int key_line(const char *path, const char *name)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	char section[128] = "", line[4096];
	int lineno = 0, found = 0;
	while (fgets(line, sizeof line, f) != NULL) {
		lineno++;
		char *t = trim(line);
		if (*t == '[') {
			char *close = strchr(t, ']');
			if (close != NULL)
				snprintf(section, sizeof section, "%.*s", (int)(close - t - 1), t + 1);
			continue;
		}
		char *eq = strpbrk(t, "=:");
		if (eq == NULL || *t == '#' || *t == ';')
			continue;
		*eq = '\0';
		char full[256];
		snprintf(full, sizeof full, "%s.%s", trim(section), trim(t));
		if (strcmp(full, name) == 0)
			found = lineno;
	}
	fclose(f);
	return found;
}

char *config_where(const struct config *cfg, const char *name)
{
	int line = cfg->path ? key_line(cfg->path, name) : 0;
	if (line > 0)
		return xasprintf("%s:%d: %s", cfg->path, line, name);
	return xstrdup(name);
}

const char *config_hostname(const struct config *cfg)
{
	static char host[256];
	if (cfg->server_hostname[0] != '\0')
		return cfg->server_hostname;
	if (host[0] == '\0' && gethostname(host, sizeof host - 1) < 0)
		snprintf(host, sizeof host, "localhost");
	return host;
}

/* ---- printing ---- */

static void format_value(const struct config *cfg, const struct setting *s, struct buf *out)
{
	const void *f = cfield(cfg, s);
	switch (s->type) {
	case CFG_BOOL:
		buf_append_str(out, *(const bool *)f ? "yes" : "no");
		break;
	case CFG_INT:
		buf_appendf(out, "%lld", *(const long long *)f);
		break;
	case CFG_DURATION: {
		long long v = *(const long long *)f;
		if (v != 0 && v % 86400 == 0) buf_appendf(out, "%lldd", v / 86400);
		else if (v != 0 && v % 3600 == 0) buf_appendf(out, "%lldh", v / 3600);
		else if (v != 0 && v % 60 == 0) buf_appendf(out, "%lldm", v / 60);
		else buf_appendf(out, "%llds", v);
		break;
	}
	case CFG_SIZE: {
		long long v = *(const long long *)f;
		if (v != 0 && v % (1LL << 30) == 0) buf_appendf(out, "%lldG", v >> 30);
		else if (v != 0 && v % (1LL << 20) == 0) buf_appendf(out, "%lldM", v >> 20);
		else if (v != 0 && v % (1LL << 10) == 0) buf_appendf(out, "%lldK", v >> 10);
		else buf_appendf(out, "%lld", v);
		break;
	}
	default:
		buf_append_str(out, *(char *const *)f);
		break;
	}
}

void config_write_ini(const struct config *cfg, FILE *out)
{
	struct buf v = BUF_INIT;
	const char *section = "";
	fprintf(out, "# surel effective configuration (%s)\n",
		cfg->path ? cfg->path : "built-in defaults");
	for (size_t i = 0; i < N_SETTINGS; i++) {
		const struct setting *s = &settings[i];
		if (strcmp(section, s->section) != 0) {
			section = s->section;
			fprintf(out, "\n[%s]\n", section);
		}
		buf_clear(&v);
		format_value(cfg, s, &v);
		fprintf(out, "# %s\n%s = %s\n", s->doc, s->key, buf_cstr(&v));
	}
	buf_free(&v);
}

void config_write_docs(FILE *out)
{
	static const char *const type_names[] = {
		[CFG_STRING] = "string", [CFG_INT] = "integer", [CFG_BOOL] = "boolean",
		[CFG_DURATION] = "duration", [CFG_SIZE] = "size", [CFG_ENUM] = "one of",
		[CFG_LISTEN] = "addresses",
	};
	fputs("# Configuration reference\n\n"
	      "<!-- Generated by `surel config docs` from src/core/config_keys.h; "
	      "a test keeps this file equal to its output. -->\n\n"
	      "Surel reads one INI file (`surel serve -c FILE`). Every key has a default, so "
	      "the file holds only what differs. Keys are written `key = value` under a "
	      "`[section]` header; `#` and `;` start comments.\n\n"
	      "Types: a *duration* is a number of seconds or a number with `s`, `m`, `h` or `d`; "
	      "a *size* is a number of bytes or a number with `K`, `M` or `G` (powers of 1024); "
	      "*addresses* is a comma-separated list of `host:port` or `[ipv6]:port` "
	      "(`*:25` for every IPv4 address, `[::]:25` for every IPv6 one), empty to disable "
	      "the listener.\n\n"
	      "`surel config show [-c FILE]` prints the effective configuration; "
	      "`surel config check FILE` validates a file.\n", out);
	const char *section = "";
	struct buf v = BUF_INIT;
	for (size_t i = 0; i < N_SETTINGS; i++) {
		const struct setting *s = &settings[i];
		if (strcmp(section, s->section) != 0) {
			section = s->section;
			fprintf(out, "\n## [%s]\n\n| key | type | default | range | description |\n"
				"|---|---|---|---|---|\n", section);
		}
		buf_clear(&v);
		if (s->type == CFG_ENUM)
			buf_append_str(&v, s->choices);
		else if (s->type == CFG_DURATION)
			buf_appendf(&v, "%llds–%llds", s->min, s->max);
		else if (s->type == CFG_INT || s->type == CFG_SIZE)
			buf_appendf(&v, "%lld–%lld", s->min, s->max);
		for (char *p = v.data; p != NULL && *p != '\0'; p++)
			if (*p == '|')
				*p = '/';
		if (s->def[0] == '\0')
			fprintf(out, "| `%s.%s` | %s | *(empty)* | %s | %s |\n", s->section, s->key,
				type_names[s->type], buf_cstr(&v), s->doc);
		else
			fprintf(out, "| `%s.%s` | %s | `%s` | %s | %s |\n", s->section, s->key,
				type_names[s->type], s->def, buf_cstr(&v), s->doc);
	}
	buf_free(&v);
}
