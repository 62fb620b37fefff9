/* Listening sockets: one per address of every `listen` key of the
 * configuration (smtp.listen, imaps.listen, ...). The master binds them
 * (as root, so ports below 1024 work) and the workers inherit them. An
 * address may be a unix socket path (lmtp.listen): made mode 0666, a stale
 * file left by a dead server replaced; it is not removed at exit. */
#ifndef SUREL_SERVER_LISTEN_H
#define SUREL_SERVER_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"

enum listener_tls {
	LISTENER_TLS_NONE,       /* cleartext, no STARTTLS (http) */
	LISTENER_TLS_STARTTLS,   /* cleartext, upgraded with STARTTLS / STLS */
	LISTENER_TLS_IMPLICIT,   /* TLS from the first byte (smtps, imaps, pop3s) */
};

enum listener_proto { LISTENER_SMTP, LISTENER_IMAP, LISTENER_POP3, LISTENER_HTTP };

/* What a kind of listener is; the name is the configuration section. */
struct listener_type {
	const char *name;            /* "smtp", "submission", "smtps", "imap", ... */
	enum listener_proto proto;
	enum listener_tls tls;
};

/* The type of a configuration section with a `listen` key, or NULL. */
const struct listener_type *listener_type_find(const char *section);
const char *listener_tls_name(enum listener_tls tls);

struct listener {
	const struct listener_type *type;
	struct listen_addr addr;
	int fd;
};

struct listener_set {
	struct listener *v;
	size_t n;
};

/* Bind every address of every CFG_LISTEN key of cfg into *set (which must be
 * empty). A socket of `reuse` (may be NULL) with the same address is taken
 * over instead of bound again (its fd becomes -1 there; on error it is given
 * back). On error
 * returns -1, closes what it opened and sets *error_r to one line naming the
 * file, line and key: "surel.conf:4: smtp.listen: 127.0.0.1:25: Address already in use". */
int listener_set_open(struct listener_set *set, const struct config *cfg,
		      struct listener_set *reuse, char **error_r);
/* Close every socket and empty the set. */
void listener_set_close(struct listener_set *set);
/* Log one line per listener: server event=listen proto=imap addr=... tls=starttls */
void listener_set_log(const struct listener_set *set);

#endif
