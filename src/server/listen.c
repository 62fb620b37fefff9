#include "server/listen.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmalloc.h"

static const struct listener_type types[] = {
	{ "smtp",       LISTENER_SMTP, LISTENER_TLS_STARTTLS },
	{ "submission", LISTENER_SMTP, LISTENER_TLS_STARTTLS },
	{ "smtps",      LISTENER_SMTP, LISTENER_TLS_IMPLICIT },
	{ "lmtp",       LISTENER_SMTP, LISTENER_TLS_NONE },   /* loopback or unix only */
	{ "imap",       LISTENER_IMAP, LISTENER_TLS_STARTTLS },
	{ "imaps",      LISTENER_IMAP, LISTENER_TLS_IMPLICIT },
	{ "pop3",       LISTENER_POP3, LISTENER_TLS_STARTTLS },
	{ "pop3s",      LISTENER_POP3, LISTENER_TLS_IMPLICIT },
	{ "http",       LISTENER_HTTP, LISTENER_TLS_NONE },
};

const struct listener_type *listener_type_find(const char *section)
{
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (strcmp(types[i].name, section) == 0)
			return &types[i];
	return NULL;
}

const char *listener_tls_name(enum listener_tls tls)
{
	switch (tls) {
	case LISTENER_TLS_STARTTLS: return "starttls";
	case LISTENER_TLS_IMPLICIT: return "implicit";
	case LISTENER_TLS_NONE: break;
	}
	return "none";
}

static bool same_addr(const struct listen_addr *a, const struct listen_addr *b)
{
	return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

/* A unix socket path left by a server that is gone: remove it (a live one
 * is "Address already in use"). */
static void remove_stale_socket(const struct listen_addr *addr)
{
	struct stat st;
	const struct sockaddr_un *sun = (const struct sockaddr_un *)&addr->ss;
	if (lstat(sun->sun_path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (connect(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0 &&
	    errno == ECONNREFUSED)
		unlink(sun->sun_path);
	close(fd);
}

static int bind_one(const struct listen_addr *addr, int *fd_r, char **error_r)
{
	bool unix_socket = addr->ss.ss_family == AF_UNIX;
	if (unix_socket)
		remove_stale_socket(addr);
	int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*error_r = xstrdup(strerror(errno));
		return -1;
	}
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    (addr->ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) ||
	    bind(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0 ||
	    /* Workers run as server.user and the client is another user
	     * (postfix): who may connect is the directory's permissions. */
	    (unix_socket && chmod(((const struct sockaddr_un *)&addr->ss)->sun_path, 0666) < 0) ||
	    listen(fd, 511) < 0) {
		*error_r = xstrdup(strerror(errno));
		close(fd);
		return -1;
	}
	*fd_r = fd;
	return 0;
}

/* A socket stays open across a reload when its address is still listed, even
 * under another section (its type is only what we do with a connection). */
static int take_over(struct listener_set *reuse, const struct listen_addr *addr)
{
	if (reuse == NULL)
		return -1;
	for (size_t i = 0; i < reuse->n; i++) {
		struct listener *l = &reuse->v[i];
		if (l->fd >= 0 && same_addr(&l->addr, addr)) {
			int fd = l->fd;
			l->fd = -1;
			return fd;
		}
	}
	return -1;
}

static int open_key(struct listener_set *set, const struct config *cfg,
		    const struct setting *s, struct listener_set *reuse, char **error_r)
{
	const struct listener_type *type = listener_type_find(s->section);
	const char *value = *(char *const *)((const char *)cfg + s->offset);
	char *name = xasprintf("%s.%s", s->section, s->key);
	struct listen_addr *addrs = NULL;
	size_t n = 0;
	char *err = NULL;
	int ret = 0;
	if (type == NULL) {
		/* A listen key this table does not know is a bug, not a user error. */
		*error_r = xasprintf("%s: no server for this listener", name);
		ret = -1;
	} else if (config_listen_parse(value, &addrs, &n, &err) < 0) {
		char *where = config_where(cfg, name);
		*error_r = xasprintf("%s: %s", where, err);
		free(where);
		ret = -1;
	}
	for (size_t i = 0; ret == 0 && i < n; i++) {
		int fd = take_over(reuse, &addrs[i]);
		if (fd < 0 && bind_one(&addrs[i], &fd, &err) < 0) {
			char *where = config_where(cfg, name);
			*error_r = xasprintf("%s: %s: %s", where, addrs[i].text, err);
			free(where);
			ret = -1;
			break;
		}
		set->v = xrealloc(set->v, (set->n + 1) * sizeof set->v[0]);
		set->v[set->n++] = (struct listener){ type, addrs[i], fd };
	}
	free(err);
	free(addrs);
	free(name);
	return ret;
}

int listener_set_open(struct listener_set *set, const struct config *cfg,
		      struct listener_set *reuse, char **error_r)
{
	size_t count;
	const struct setting *settings = config_settings(&count);
	for (size_t i = 0; i < count; i++) {
		if (settings[i].type != CFG_LISTEN)
			continue;
		if (open_key(set, cfg, &settings[i], reuse, error_r) < 0) {
			/* Give taken-over sockets back rather than closing them. */
			for (size_t j = 0; j < set->n; j++) {
				for (size_t k = 0; reuse != NULL && k < reuse->n; k++) {
					if (reuse->v[k].fd < 0 &&
					    same_addr(&reuse->v[k].addr, &set->v[j].addr)) {
						reuse->v[k].fd = set->v[j].fd;
						set->v[j].fd = -1;
						break;
					}
				}
			}
			listener_set_close(set);
			return -1;
		}
	}
	return 0;
}

void listener_set_close(struct listener_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->v[i].fd >= 0)
			close(set->v[i].fd);
	xfree(&set->v);
	set->n = 0;
}

void listener_set_log(const struct listener_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		const struct listener *l = &set->v[i];
		log_info("server", "event=listen proto=%s addr=%s tls=%s", l->type->name,
			 l->addr.text, listener_tls_name(l->type->tls));
	}
}
