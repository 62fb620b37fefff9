/* Client sessions: the plumbing every line-based protocol (SMTP, IMAP, POP3)
 * is built on. A session is one client connection in a worker: its socket,
 * TLS, input cut into lines, output, timers and limits. A protocol is a table
 * of callbacks; it never touches the socket or libevent itself.
 *
 * Life of a session
 *
 *   accept -> [TLS handshake on smtps/imaps/pop3s] -> on_connect (greeting)
 *          -> on_line ... (commands; on_raw for data the protocol asked for)
 *          -> the protocol closes (QUIT/LOGOUT), or the client goes away,
 *             or on_timeout / on_shutdown
 *          -> on_close (free the protocol's data)
 *
 *   A session refused for limits.max_connections / max_connections_per_ip
 *   gets on_busy instead of on_connect, and is closed once that is sent.
 *
 * Callbacks run on the worker's event loop, one at a time. Inside any of
 * them the protocol may write, close, pause input or start TLS; the session
 * stays valid until the callback returns, and on_close is called exactly once,
 * after the last protocol callback has returned.
 *
 * Input: one on_line per line (CRLF or bare LF, terminator stripped; the line
 * may contain NULs, hence the length; line[len] is always NUL). A line over
 * the limit gives on_line_too_long once, and reading goes on with the next
 * line. Commands a client pipelines are dispatched in order. While the
 * protocol has paused input (waiting for a password check on the thread pool,
 * say) nothing more is dispatched, and the socket is read only until a line's
 * worth is buffered. While the client is not reading our replies (more than
 * SESSION_OUTPUT_MAX bytes queued) nothing is dispatched and the socket is
 * not read until the output drains.
 *
 * Timeout: the idle timer (smtp.timeout, imap.timeout, pop3.timeout) restarts
 * whenever a line or raw chunk is dispatched; when it fires, on_timeout writes
 * a goodbye and the session closes. A client that stops reading our output is
 * closed when no byte could be written for that long.
 *
 * TLS: listeners with implicit TLS handshake before on_connect. On the others
 * the protocol answers its STARTTLS command with its "go ahead" reply and then
 * calls session_starttls(); the session discards every byte the client sent
 * after the command (so no pipelined cleartext command can be executed as if
 * it came over TLS - the CVE-2011-0411 class), handshakes, and dispatches
 * what comes next as usual. The protocol resets its own state (forgets EHLO,
 * its capability list changes with session->tls).
 *
 * Compression (IMAP COMPRESS=DEFLATE, RFC 4978): the protocol queues its OK
 * and calls session_compress(); from there on the session's output is
 * deflated and its input inflated by a filter stacked on top (over TLS when
 * TLS is up: compress, then encrypt). Bytes the client sent after the
 * command line are the start of its compressed stream. Decompressed input
 * is produced only as fast as the session takes it, within the same limits
 * as plain input.
 *
 * Logging: every line about a session carries its id; use
 * log_msg(level, s->proto->name, s->id, ...). The session itself logs
 * connect, TLS, timeouts and disconnect with byte counts and duration. */
#ifndef SUREL_SERVER_SESSION_H
#define SUREL_SERVER_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/ssl.h>

#include "core/log.h"
#include "server/limits.h"
#include "server/linereader.h"

struct auth_service;
struct bufferevent;
struct pool;
struct config;
struct event;
struct event_base;
struct evbuffer;
struct evbuffer_cb_entry;
struct listener_type;
struct session;
struct session_server;

/* Output queued beyond this stops input until it drains. */
#define SESSION_OUTPUT_MAX (1024 * 1024)
/* How long a closing session may take to flush its last replies. */
#define SESSION_FLUSH_TIMEOUT 5

struct protocol {
	const char *name;      /* log component: "smtp", "imap", "pop3" */
	size_t line_max;       /* longest line; 0 means limits.line_max (the
				  smaller of the two is used) */

	/* The client is connected (and TLS is up on implicit-TLS listeners):
	 * allocate s->data if needed, send the greeting. */
	void (*on_connect)(struct session *s);
	/* One complete line. */
	void (*on_line)(struct session *s, const char *line, size_t len);
	/* A line exceeded the limit: reply with the protocol's error. */
	void (*on_line_too_long)(struct session *s);
	/* Raw bytes asked for with session_read_raw(): called with chunks until
	 * `left` (bytes still to come after this chunk) is 0. May be NULL for a
	 * protocol that never asks. */
	void (*on_raw)(struct session *s, const char *data, size_t len, uint64_t left);
	/* SMTP DATA text asked for with session_read_data(): called with
	 * unstuffed lines (end == false), then once with end == true after the
	 * "." line. May be NULL for a protocol that never asks. */
	void (*on_data)(struct session *s, const char *data, size_t len, bool end);
	/* Idle for too long: write a goodbye. The session then closes. */
	void (*on_timeout)(struct session *s);
	/* The server is stopping: write a goodbye. The session then closes. */
	void (*on_shutdown)(struct session *s);
	/* Refused for limits (instead of on_connect, s->data is NULL): write the
	 * reply. The session then closes. */
	void (*on_busy)(struct session *s);
	/* The session is going away: cancel pending work (a password check on
	 * the pool, say) and free s->data. May be NULL. */
	void (*on_close)(struct session *s);
};

/* A listening socket's kind of session, as the worker hands it over. */
struct session_listener {
	const struct listener_type *type;   /* smtp, submission, smtps, ... */
	const struct protocol *proto;
	long long timeout;                  /* idle timeout, seconds */
	struct auth_service *auth;          /* the worker's login service */
	struct pool *pool;                  /* the worker's thread pool */
};

enum session_state {
	SESSION_HANDSHAKE,   /* TLS handshake (implicit TLS or after STARTTLS) */
	SESSION_OPEN,        /* dispatching input */
	SESSION_CLOSING,     /* flushing the last output, input ignored */
	SESSION_CLOSED,      /* on_close done; freed when callbacks unwind */
};

struct session {
	/* ---- read-only for protocols ---- */
	char id[SESSION_ID_LEN + 1];
	char remote[80];                  /* "198.51.100.7:50432", "[2001:db8::1]:50432" */
	char remote_ip[48];               /* "198.51.100.7" */
	char local[80];                   /* address the client connected to */
	const struct listener_type *listener;
	const struct protocol *proto;
	const struct config *cfg;
	struct auth_service *auth;        /* the worker's login service (auth.h);
					     NULL where there is none (a fuzzer) */
	struct pool *pool;                /* the worker's thread pool for blocking
					     work (pool.h); NULL in a fuzzer */
	bool tls;                         /* TLS is up */
	bool busy;                        /* refused for limits */

	/* ---- the protocol's own ---- */
	void *data;

	/* ---- private to session.c ---- */
	struct session_server *server;
	struct session *prev, *next;      /* the server's list */
	enum session_state state;
	unsigned refs;
	struct bufferevent *bev;          /* the top of the stack: compression filter,
					     TLS filter, socket (those that are up) */
	struct compress *compress;        /* the compression filter's (it owns it) */
	int fd;
	struct linereader reader;
	long long timeout;
	struct event *idle_timer;
	struct event *flush_timer;
	struct event *kick;               /* deferred input dispatch / drain check /
					     compression error */
	struct evbuffer *drain_buf;       /* closing: output below the filters */
	struct evbuffer_cb_entry *drain_cb;
	void (*on_drained)(struct session *s);   /* session_on_drain() */
	bool proto_started;               /* on_connect / on_busy called */
	bool tls_shutdown;                /* close_notify sent */
	bool input_paused;                /* by the protocol */
	bool output_full;                 /* backpressure: waiting for output to drain */
	bool counted;                     /* holds a limits count under limits_key */
	struct limits_key limits_key;
	size_t input_seen;                /* input bytes already counted in bytes_in */
	uint64_t bytes_in, bytes_out;
	struct timespec started;
};

/* ---- for protocols ---- */

/* Queue output (nothing after the session started closing). */
void session_write(struct session *s, const void *data, size_t len);
void session_printf(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Close at once; queued output is dropped. */
void session_close(struct session *s);
/* Stop reading, send what is queued, then close (after at most
 * SESSION_FLUSH_TIMEOUT seconds). */
void session_close_after_flush(struct session *s);
bool session_is_closing(const struct session *s);

/* Change the idle timeout (seconds) and restart the timer. */
void session_set_timeout(struct session *s, long long seconds);

/* Hand the next n bytes of input to on_raw instead of cutting lines (IMAP
 * literal, SMTP BDAT chunk). Call from on_line; n == 0 does nothing. */
void session_read_raw(struct session *s, uint64_t n);

/* Hand the input to on_data as SMTP DATA text (linereader.h, data mode)
 * up to and including the "." line. Call from on_line. */
void session_read_data(struct session *s);
static inline const struct linereader_data_stats *session_data_stats(const struct session *s)
{
	return linereader_data_stats(&s->reader);
}

/* Stop dispatching input (the protocol waits for some work to finish), and
 * resume: anything buffered meanwhile is dispatched from the event loop. */
void session_pause_input(struct session *s);
void session_resume_input(struct session *s);

/* Call cb once, from the event loop, when the output queued so far has
 * been handed on (to the socket, or to the bounded buffer below the TLS or
 * compression filter): for a protocol that streams a large reply in chunks
 * while input is paused.
 * Not called once the session is closing. */
void session_on_drain(struct session *s, void (*cb)(struct session *s));

/* The worker's event loop, for a protocol's own events (a store watch). */
struct event_base *session_base(const struct session *s);

/* The TLS connection once s->tls is true (version and cipher for a Received
 * header, channel binding), else NULL. */
SSL *session_ssl(const struct session *s);

/* Whether the client may send a password on this connection: TLS is up, or
 * it connects from loopback and auth.plaintext_loopback allows that. */
bool session_password_allowed(const struct session *s);

/* Whether STARTTLS can be offered: a STARTTLS listener, TLS not yet up. */
bool session_can_starttls(const struct session *s);
/* After the protocol queued its "go ahead" reply: send it, discard buffered
 * input, start the TLS handshake. The protocol must not dispatch anything
 * until its next callback. */
void session_starttls(struct session *s);

/* Whether compression can start: not yet on, and TLS does not compress. */
bool session_can_compress(const struct session *s);
/* Whether the session's stream is compressed (session_compress() was called). */
bool session_compressed(const struct session *s);
/* After the protocol queued its OK: everything written from here on is
 * deflated, everything read after the command line is inflated. Call from
 * on_line (the line that asked for it). */
void session_compress(struct session *s);

/* ---- for the worker ---- */

/* All sessions of one worker. ssl_ctx is used for implicit TLS and STARTTLS;
 * limits_slot is the worker's slot in the shared limits. */
struct session_server *session_server_new(struct event_base *base, const struct config *cfg,
					  SSL_CTX *ssl_ctx, int limits_slot);
/* Close every session at once and free. */
void session_server_free(struct session_server **srv);
/* Take over an accepted socket. */
void session_accept(struct session_server *srv, const struct session_listener *l, int fd,
		    const struct sockaddr *sa, socklen_t salen);
unsigned session_server_count(const struct session_server *srv);
/* The server is stopping: on_shutdown for every session (sessions still in
 * their TLS handshake are just closed). */
void session_server_shutdown(struct session_server *srv);
/* Call cb once the number of sessions drops to 0 (now, if it is 0). */
void session_server_on_empty(struct session_server *srv, void (*cb)(void *arg), void *arg);

#endif
