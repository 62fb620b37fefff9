/* Client sessions: socket, TLS, line dispatch, timers, limits.
 *
 * Life-time: a session holds one reference for being alive, and every entry
 * from libevent holds another while it runs. session_close() drops the first;
 * the session is torn down (on_close, socket closed, memory freed) when the
 * last reference goes, so a protocol may close a session in the middle of a
 * callback and still touch it until it returns. */
#include "server/session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/xmalloc.h"
#include "server/compress.h"
#include "server/listen.h"

/* Refused sessions a worker keeps at once to tell them they are refused;
 * beyond that a refused connection is closed without a word. */
#define SESSION_MAX_REFUSING 64
/* Room for the TLS records of a STARTTLS session below the filter. */
#define TLS_UNDERLYING_MAX (256 * 1024)
/* Room for compressed output below the compression filter: beyond it the
 * uncompressed output waits in the filter, where backpressure and
 * session_on_drain() see it. */
#define COMPRESS_UNDERLYING_MAX (64 * 1024)

struct session_server {
	struct event_base *base;
	const struct config *cfg;
	SSL_CTX *ssl_ctx;
	int limits_slot;
	struct session *head;
	unsigned count;
	unsigned refusing;
	void (*on_empty)(void *arg);
	void *on_empty_arg;
};

static void session_process_input(struct session *s);
static void session_finish_close(struct session *s);
static void flush_tls_alert(struct session *s);

/* ---- references ---- */

/* Byte counts are the protocol's (before compression); a compressed
 * session also gives what went over the wire (inside TLS). */
static void log_disconnect(struct session *s)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double duration = (double)(now.tv_sec - s->started.tv_sec) +
			  (double)(now.tv_nsec - s->started.tv_nsec) / 1e9;
	uint64_t in = s->bytes_in;
	struct buf z = BUF_INIT;
	if (s->compress != NULL) {
		const struct compress_stats *st = compress_stats(s->compress);
		in += st->in_plain;
		buf_appendf(&z, " compressed_in=%llu compressed_out=%llu",
			    (unsigned long long)st->in_wire, (unsigned long long)st->out_wire);
	}
	log_msg(LOGL_INFO, s->proto->name, s->id,
		"event=disconnect bytes_in=%llu bytes_out=%llu%s duration=%.3fs",
		(unsigned long long)in, (unsigned long long)s->bytes_out, buf_cstr(&z), duration);
	buf_free(&z);
}

static void session_destroy(struct session *s)
{
	struct session_server *srv = s->server;
	if (s->proto->on_close != NULL)
		s->proto->on_close(s);
	log_disconnect(s);
	if (s->compress != NULL)   /* freed with the filter, which may outlive us */
		compress_on_error(s->compress, NULL, NULL);
	if (s->drain_buf != NULL)
		evbuffer_remove_cb_entry(s->drain_buf, s->drain_cb);
	if (s->bev != NULL)
		bufferevent_free(s->bev);   /* closes the socket (and frees the TLS filter's bottom) */
	else if (s->fd >= 0)
		close(s->fd);
	if (s->idle_timer != NULL)
		event_free(s->idle_timer);
	if (s->flush_timer != NULL)
		event_free(s->flush_timer);
	if (s->kick != NULL)
		event_free(s->kick);
	if (s->counted)
		limits_release(srv->limits_slot, &s->limits_key);
	if (s->busy)
		srv->refusing--;
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		srv->head = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	linereader_free(&s->reader);
	free(s);
	if (--srv->count == 0 && srv->on_empty != NULL)
		srv->on_empty(srv->on_empty_arg);
}

static void session_ref(struct session *s)
{
	s->refs++;
}

static void session_unref(struct session *s)
{
	if (--s->refs == 0)
		session_destroy(s);
}

/* ---- output ---- */

/* Output queued in every layer of the stack. */
static size_t output_len(struct session *s)
{
	size_t n = 0;
	for (struct bufferevent *b = s->bev; b != NULL; b = bufferevent_get_underlying(b))
		n += evbuffer_get_length(bufferevent_get_output(b));
	return n;
}

/* The TLS filter: the top, or below the compression filter; NULL without TLS. */
static struct bufferevent *tls_bev(const struct session *s)
{
	for (struct bufferevent *b = s->bev; b != NULL; b = bufferevent_get_underlying(b))
		if (bufferevent_openssl_get_ssl(b) != NULL)
			return b;
	return NULL;
}

/* Where the write timeout goes: the top, except that the compression
 * filter's own (libevent's generic) write timer would run whether or not
 * anything is queued, so the layer below it keeps the timeout. */
static struct bufferevent *timeout_bev(struct session *s)
{
	return s->compress != NULL ? bufferevent_get_underlying(s->bev) : s->bev;
}

static void update_reading(struct session *s)
{
	bool want = (s->state == SESSION_OPEN || s->state == SESSION_HANDSHAKE) && !s->output_full;
	if (want)
		bufferevent_enable(s->bev, EV_READ);
	else
		bufferevent_disable(s->bev, EV_READ);
}

void session_write(struct session *s, const void *data, size_t len)
{
	if (s->state != SESSION_OPEN || len == 0)
		return;
	bufferevent_write(s->bev, data, len);
	s->bytes_out += len;
	if (!s->output_full && output_len(s) > SESSION_OUTPUT_MAX) {
		/* The client does not read our replies: stop reading its commands
		 * until it does. The write timeout ends a client that never does. */
		s->output_full = true;
		update_reading(s);
		log_msg(LOGL_DEBUG, s->proto->name, s->id, "event=output_full queued=%zu",
			output_len(s));
	}
}

void session_printf(struct session *s, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vappendf(&b, fmt, ap);
	va_end(ap);
	session_write(s, b.data, b.len);
	buf_free(&b);
}

/* ---- closing ---- */

void session_close(struct session *s)
{
	if (s->state == SESSION_CLOSED)
		return;
	s->state = SESSION_CLOSED;
	bufferevent_disable(s->bev, EV_READ | EV_WRITE);
	event_del(s->idle_timer);
	event_del(s->flush_timer);
	event_del(s->kick);
	session_unref(s);
}

bool session_is_closing(const struct session *s)
{
	return s->state == SESSION_CLOSING || s->state == SESSION_CLOSED;
}

static void drained_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct session *s = arg;
	if (info->n_deleted > 0 && evbuffer_get_length(buf) == 0)
		event_active(s->kick, EV_TIMEOUT, 0);
}

/* Closing: kick when buf (below the top of the stack) has drained. */
static void watch_drain(struct session *s, struct evbuffer *buf)
{
	if (s->drain_buf == buf)
		return;
	if (s->drain_buf != NULL)
		evbuffer_remove_cb_entry(s->drain_buf, s->drain_cb);
	s->drain_buf = buf;
	s->drain_cb = evbuffer_add_cb(buf, drained_cb, s);
}

/* Closing: close once every byte reached the kernel. */
static void session_finish_close(struct session *s)
{
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) > 0)
		return;   /* the write callback calls again */
	/* Below the filters (compression, TLS): watch the highest buffer that
	 * still holds output drain, then look again. */
	for (struct bufferevent *b = bufferevent_get_underlying(s->bev); b != NULL;
	     b = bufferevent_get_underlying(b)) {
		if (evbuffer_get_length(bufferevent_get_output(b)) > 0) {
			watch_drain(s, bufferevent_get_output(b));
			return;
		}
	}
	if (s->tls && !s->tls_shutdown) {
		/* A close_notify alert; we do not wait for the client's. */
		s->tls_shutdown = true;
		SSL_shutdown(bufferevent_openssl_get_ssl(tls_bev(s)));
		ERR_clear_error();
		if (output_len(s) > 0) {
			session_finish_close(s);
			return;
		}
	}
	session_close(s);
}

void session_close_after_flush(struct session *s)
{
	if (s->state == SESSION_CLOSING || s->state == SESSION_CLOSED)
		return;
	if (s->state == SESSION_HANDSHAKE) {
		session_close(s);
		return;
	}
	s->state = SESSION_CLOSING;
	event_del(s->idle_timer);
	struct evbuffer *in = bufferevent_get_input(s->bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	s->input_seen = 0;
	update_reading(s);
	struct timeval tv = { SESSION_FLUSH_TIMEOUT, 0 };
	evtimer_add(s->flush_timer, &tv);
	session_finish_close(s);
}

/* ---- timers ---- */

static void restart_idle_timer(struct session *s)
{
	struct timeval tv = { (time_t)s->timeout, 0 };
	evtimer_add(s->idle_timer, &tv);
}

void session_set_timeout(struct session *s, long long seconds)
{
	s->timeout = seconds;
	struct timeval tv = { (time_t)seconds, 0 };
	bufferevent_set_timeouts(timeout_bev(s), NULL, &tv);
	if (s->state == SESSION_OPEN || s->state == SESSION_HANDSHAKE)
		restart_idle_timer(s);
}

static void idle_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	session_ref(s);
	if (s->state == SESSION_HANDSHAKE) {
		log_msg(LOGL_INFO, s->proto->name, s->id, "event=timeout phase=tls_handshake");
		session_close(s);
	} else if (s->state == SESSION_OPEN) {
		log_msg(LOGL_INFO, s->proto->name, s->id, "event=timeout idle=%llds", s->timeout);
		s->proto->on_timeout(s);
		session_close_after_flush(s);
	}
	session_unref(s);
}

static void flush_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	log_msg(LOGL_INFO, s->proto->name, s->id, "event=flush_timeout queued=%zu", output_len(s));
	session_close(s);
}

/* Deferred work: input to dispatch after a pause, a drain to check, or a
 * broken compressed stream. */
/* The output has drained: run the protocol's session_on_drain() callback. */
static void run_drained(struct session *s)
{
	if (s->on_drained == NULL || s->state != SESSION_OPEN ||
	    evbuffer_get_length(bufferevent_get_output(s->bev)) > 0)
		return;
	void (*cb)(struct session *) = s->on_drained;
	s->on_drained = NULL;
	cb(s);
}

/* The client's compressed stream is invalid: nothing more it sends can be
 * read. Send what is queued and close. */
static bool compress_broken(struct session *s)
{
	const char *error = s->compress != NULL ? compress_error(s->compress) : NULL;
	if (error == NULL || s->state != SESSION_OPEN)
		return false;
	log_msg(LOGL_INFO, s->proto->name, s->id, "event=compress_error error=\"%s\"", error);
	session_close_after_flush(s);
	return true;
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	session_ref(s);
	if (compress_broken(s)) {
		/* closing */
	} else if (s->state == SESSION_CLOSING) {
		session_finish_close(s);
	} else if (s->state == SESSION_OPEN) {
		run_drained(s);
		session_process_input(s);
	}
	session_unref(s);
}

/* ---- input ---- */

static bool may_dispatch(const struct session *s)
{
	return s->state == SESSION_OPEN && !s->input_paused && !s->output_full;
}

/* The compression filter runs when the layer below it reads. Two cases
 * need a push from here once the line reader has taken what there was:
 * compressed bytes already waiting below (sent right after the COMPRESS
 * command, or left when the filter's buffer was full) and output the
 * decompressor holds because its limit stopped it. The filter's buffer
 * limit (the read watermark) still applies. True when input was added. */
static bool pump_compressed(struct session *s)
{
	if (s->compress == NULL)
		return false;
	struct bufferevent *under = bufferevent_get_underlying(s->bev);
	if (evbuffer_get_length(bufferevent_get_input(under)) == 0 &&
	    !compress_inflate_pending(s->compress))
		return false;
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t before = evbuffer_get_length(in);
	bufferevent_flush(s->bev, EV_READ, BEV_NORMAL);
	return evbuffer_get_length(in) > before;
}

/* Hand the next item to the protocol; LINEREADER_MORE when there is none.
 * The input buffer is looked up each time: a callback may have stacked the
 * compression filter, whose input is new. */
static enum linereader_result dispatch_one(struct session *s)
{
	const char *data;
	size_t len;
	enum linereader_result r = linereader_next(&s->reader, bufferevent_get_input(s->bev),
						   &data, &len);
	if (r != LINEREADER_MORE)
		restart_idle_timer(s);
	switch (r) {
	case LINEREADER_LINE:
		s->proto->on_line(s, data, len);
		break;
	case LINEREADER_TOO_LONG:
		log_msg(LOGL_INFO, s->proto->name, s->id, "event=line_too_long max=%zu",
			s->reader.max);
		s->proto->on_line_too_long(s);
		break;
	case LINEREADER_RAW:
		s->proto->on_raw(s, data, len, linereader_raw_left(&s->reader));
		break;
	case LINEREADER_DATA:
		s->proto->on_data(s, data, len, false);
		break;
	case LINEREADER_DATA_END:
		s->proto->on_data(s, NULL, 0, true);
		break;
	case LINEREADER_MORE:
		break;
	}
	return r;
}

static void session_process_input(struct session *s)
{
	/* Compressed input is counted by the filter (compress_stats). */
	size_t now = evbuffer_get_length(bufferevent_get_input(s->bev));
	if (now > s->input_seen && s->compress == NULL)
		s->bytes_in += now - s->input_seen;
	while (may_dispatch(s)) {
		if (dispatch_one(s) == LINEREADER_MORE && !pump_compressed(s))
			break;
	}
	if (s->state == SESSION_CLOSING || s->state == SESSION_CLOSED) {
		s->input_seen = 0;
		return;
	}
	/* After STARTTLS s->bev is the TLS filter, with its own input. */
	s->input_seen = evbuffer_get_length(bufferevent_get_input(s->bev));
}

void session_read_raw(struct session *s, uint64_t n)
{
	if (s->proto->on_raw == NULL) {
		log_msg(LOGL_ERROR, s->proto->name, s->id, "event=bug reason=\"raw read without on_raw\"");
		abort();
	}
	linereader_set_raw(&s->reader, n);
}

void session_read_data(struct session *s)
{
	if (s->proto->on_data == NULL) {
		log_msg(LOGL_ERROR, s->proto->name, s->id, "event=bug reason=\"data read without on_data\"");
		abort();
	}
	linereader_set_data(&s->reader);
}

void session_on_drain(struct session *s, void (*cb)(struct session *s))
{
	s->on_drained = cb;
	if (s->state == SESSION_OPEN && evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		event_active(s->kick, EV_TIMEOUT, 0);
}

void session_pause_input(struct session *s)
{
	s->input_paused = true;
}

void session_resume_input(struct session *s)
{
	if (!s->input_paused)
		return;
	s->input_paused = false;
	if (s->state == SESSION_OPEN)
		event_active(s->kick, EV_TIMEOUT, 0);
}

/* ---- libevent callbacks ---- */

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	session_ref(s);
	if (s->state == SESSION_OPEN) {
		session_process_input(s);
	} else if (s->state == SESSION_CLOSING) {
		struct evbuffer *in = bufferevent_get_input(bev);
		evbuffer_drain(in, evbuffer_get_length(in));
	}
	session_unref(s);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	session_ref(s);
	if (s->state == SESSION_CLOSING) {
		session_finish_close(s);
		session_unref(s);
		return;
	}
	run_drained(s);
	if (s->state != SESSION_CLOSING && s->state != SESSION_CLOSED && s->output_full &&
	    output_len(s) <= SESSION_OUTPUT_MAX / 2) {
		s->output_full = false;
		update_reading(s);
		session_process_input(s);
	}
	session_unref(s);
}

static void log_tls_error(struct session *s, const char *what)
{
	struct buf msg = BUF_INIT;
	struct bufferevent *tls = tls_bev(s);
	unsigned long e;
	while (tls != NULL && (e = bufferevent_get_openssl_error(tls)) != 0) {
		if (ERR_GET_LIB(e) == 0)
			continue;   /* libevent's own record of SSL_get_error(), not a reason */
		char text[256];
		ERR_error_string_n(e, text, sizeof text);
		if (msg.len > 0)
			buf_append_str(&msg, "; ");
		buf_append_str(&msg, text);
	}
	if (msg.len == 0)
		buf_append_str(&msg, what);
	log_msg(LOGL_INFO, s->proto->name, s->id, "event=tls_error error=\"%s\"", buf_cstr(&msg));
	buf_free(&msg);
}

static void start_protocol(struct session *s)
{
	if (s->busy) {
		s->proto->on_busy(s);
		session_close_after_flush(s);
	} else {
		s->proto->on_connect(s);
	}
}

static void tls_ready(struct session *s)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
	s->tls = true;
	s->state = SESSION_OPEN;
	log_msg(LOGL_INFO, s->proto->name, s->id, "event=tls version=%s cipher=%s",
		SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	restart_idle_timer(s);
	if (!s->proto_started) {
		s->proto_started = true;
		start_protocol(s);
	} else {
		session_process_input(s);
	}
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	session_ref(s);
	if (s->state == SESSION_CLOSED) {
		/* nothing: a late event */
	} else if (what & BEV_EVENT_CONNECTED) {
		if (s->state == SESSION_HANDSHAKE)
			tls_ready(s);
	} else if (s->state == SESSION_HANDSHAKE) {
		log_tls_error(s, (what & BEV_EVENT_EOF) ? "connection closed during handshake"
			      : "handshake failed");
		flush_tls_alert(s);
		session_close(s);
	} else if (what & BEV_EVENT_EOF) {
		/* The client may only have shut down its half: send what we owe. */
		session_close_after_flush(s);
	} else if (what & BEV_EVENT_TIMEOUT) {
		log_msg(LOGL_INFO, s->proto->name, s->id, "event=timeout reason=not_reading queued=%zu",
			output_len(s));
		session_close(s);
	} else if (what & BEV_EVENT_ERROR) {
		if (s->tls)
			log_tls_error(s, strerror(EVUTIL_SOCKET_ERROR()));
		else
			log_msg(LOGL_DEBUG, s->proto->name, s->id, "event=socket_error error=\"%s\"",
				strerror(EVUTIL_SOCKET_ERROR()));
		session_close(s);
	}
	session_unref(s);
}

static void setup_bev(struct session *s)
{
	bufferevent_setcb(s->bev, read_cb, write_cb, event_cb, s);
	/* Bounded input: a whole line at the limit, with room to spare. */
	bufferevent_setwatermark(s->bev, EV_READ, 0, s->reader.max + 4096);
	struct timeval tv = { (time_t)s->timeout, 0 };
	bufferevent_set_timeouts(timeout_bev(s), NULL, &tv);
	if (bufferevent_openssl_get_ssl(s->bev) != NULL)
		bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/* ---- TLS ---- */

/* TLS over `under` (a socket bufferevent), for implicit TLS and STARTTLS
 * alike: a filter whose records go through `under`'s buffers (see
 * session_accept for why not an OpenSSL socket bufferevent). NULL on
 * failure (out of memory). */
static struct bufferevent *tls_filter_new(struct session *s, struct bufferevent *under, SSL *ssl)
{
	struct bufferevent *top = bufferevent_openssl_filter_new(
		s->server->base, under, ssl, BUFFEREVENT_SSL_ACCEPTING,
		BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (top == NULL)
		return NULL;
	/* After the filter is made: it resets the read watermark of `under`. */
	bufferevent_setwatermark(under, EV_READ, 0, TLS_UNDERLYING_MAX);
	bufferevent_setwatermark(under, EV_WRITE, 0, TLS_UNDERLYING_MAX);
	return top;
}

/* A failed handshake: OpenSSL's alert (protocol_version, say) sits in the
 * output of the socket bufferevent below the filter. Hand it to the kernel
 * before the socket closes. That buffer's front is frozen (only the socket
 * bufferevent itself drains it), so thaw it for the one write. */
static void flush_tls_alert(struct session *s)
{
	struct bufferevent *under = bufferevent_get_underlying(s->bev);
	if (under == NULL)
		return;
	struct evbuffer *out = bufferevent_get_output(under);
	if (evbuffer_get_length(out) == 0)
		return;
	evbuffer_unfreeze(out, 1);
	(void)evbuffer_write(out, bufferevent_getfd(under));
	evbuffer_freeze(out, 1);
}

/* ---- STARTTLS ---- */

static bool loopback_ip(const char *ip)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, ip, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, ip, &a6) != 1)
		return false;
	if (IN6_IS_ADDR_LOOPBACK(&a6))
		return true;
	return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
}

bool session_password_allowed(const struct session *s)
{
	return s->tls || (s->cfg->auth_plaintext_loopback && loopback_ip(s->remote_ip));
}

struct event_base *session_base(const struct session *s)
{
	return s->server->base;
}

SSL *session_ssl(const struct session *s)
{
	return s->tls && s->state != SESSION_CLOSED ? bufferevent_openssl_get_ssl(tls_bev(s)) : NULL;
}

bool session_can_starttls(const struct session *s)
{
	/* Never TLS over compression: RFC 4978 wants compress, then encrypt. */
	return s->listener->tls == LISTENER_TLS_STARTTLS && !s->tls && s->compress == NULL &&
	       s->server->ssl_ctx != NULL && s->state == SESSION_OPEN;
}

void session_starttls(struct session *s)
{
	if (!session_can_starttls(s)) {
		log_msg(LOGL_ERROR, s->proto->name, s->id, "event=bug reason=\"STARTTLS not possible\"");
		session_close(s);
		return;
	}
	struct bufferevent *under = s->bev;
	/* Whatever the client sent after the command was sent in cleartext:
	 * never let it count as coming over TLS. */
	struct evbuffer *in = bufferevent_get_input(under);
	size_t dropped = evbuffer_get_length(in);
	evbuffer_drain(in, dropped);
	linereader_reset(&s->reader);
	if (dropped > 0)
		log_msg(LOGL_INFO, s->proto->name, s->id, "event=starttls_discard bytes=%zu", dropped);

	SSL *ssl = SSL_new(s->server->ssl_ctx);
	if (ssl == NULL) {
		log_msg(LOGL_ERROR, s->proto->name, s->id, "event=tls_error error=\"SSL_new failed\"");
		session_close(s);
		return;
	}
	bufferevent_set_timeouts(under, NULL, NULL);
	/* The reply already queued in `under` goes out before the first TLS
	 * byte, which the filter appends behind it. */
	struct bufferevent *top = tls_filter_new(s, under, ssl);
	if (top == NULL) {
		log_msg(LOGL_ERROR, s->proto->name, s->id, "event=tls_error error=\"filter failed\"");
		session_close(s);
		return;
	}
	s->bev = top;
	s->state = SESSION_HANDSHAKE;
	s->input_seen = 0;
	setup_bev(s);
	restart_idle_timer(s);
	log_msg(LOGL_INFO, s->proto->name, s->id, "event=starttls");
}

/* ---- compression ---- */

static void compress_error_cb(void *arg)
{
	struct session *s = arg;
	event_active(s->kick, EV_TIMEOUT, 0);   /* compress_broken() */
}

/* TLS compression (CRIME; off in OpenSSL 3 unless asked for): the same
 * algorithm twice would only cost CPU. */
static bool tls_compresses(const struct session *s)
{
	SSL *ssl = session_ssl(s);
	return ssl != NULL && SSL_get_current_compression(ssl) != NULL;
}

bool session_compressed(const struct session *s)
{
	return s->compress != NULL;
}

bool session_can_compress(const struct session *s)
{
	return s->state == SESSION_OPEN && s->compress == NULL && !tls_compresses(s);
}

void session_compress(struct session *s)
{
	if (!session_can_compress(s)) {
		log_msg(LOGL_ERROR, s->proto->name, s->id, "event=bug reason=\"COMPRESS not possible\"");
		session_close(s);
		return;
	}
	struct bufferevent *under = s->bev;
	struct compress *z = compress_new();
	/* Over the socket, or over the TLS filter: what we write is compressed,
	 * then encrypted (RFC 4978 section 3). The reply already queued in
	 * `under` goes out as it is, before the first compressed byte. */
	struct bufferevent *top = bufferevent_filter_new(under, compress_filter_in,
							 compress_filter_out,
							 BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS,
							 compress_filter_free, z);
	if (top == NULL) {
		compress_free(&z);
		log_msg(LOGL_ERROR, s->proto->name, s->id, "event=error error=\"compression filter failed\"");
		session_close(s);
		return;
	}
	/* RFC 4978 section 3: the client compresses "starting with the first
	 * command after COMPRESS" (and may send it only after our OK). Unlike
	 * after STARTTLS, there is no boundary of trust to protect: whatever it
	 * sent after the command line is the start of its compressed stream.
	 * It stays in `under`'s input, which the filter reads first; the line
	 * reader holds no input between two lines. */
	size_t early = evbuffer_get_length(bufferevent_get_input(under));
	s->bytes_in -= early;   /* counted again once inflated */
	bufferevent_setwatermark(under, EV_WRITE, 0, COMPRESS_UNDERLYING_MAX);
	compress_on_error(z, compress_error_cb, s);
	s->compress = z;
	s->bev = top;
	s->input_seen = 0;
	setup_bev(s);   /* the write timeout goes back on `under` (timeout_bev) */
	log_msg(LOGL_INFO, s->proto->name, s->id, "event=compress algorithm=deflate early_bytes=%zu",
		early);
	if (early > 0)
		event_active(s->kick, EV_TIMEOUT, 0);
}

/* ---- accepting ---- */

static void format_addr(const struct sockaddr *sa, socklen_t len, char *ip, size_t iplen,
			char *full, size_t fulllen)
{
	char port[8];
	if (getnameinfo(sa, len, ip, (socklen_t)iplen, port, sizeof port,
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(ip, iplen, "?");
		snprintf(port, sizeof port, "?");
	}
	if (sa->sa_family == AF_INET6)
		snprintf(full, fulllen, "[%s]:%s", ip, port);
	else
		snprintf(full, fulllen, "%s:%s", ip, port);
}

static const char *const refusal[] = {
	[LIMITS_OK] = "ok",
	[LIMITS_TOTAL] = "max_connections",
	[LIMITS_PER_IP] = "max_connections_per_ip",
	[LIMITS_FULL] = "table_full",
};

void session_accept(struct session_server *srv, const struct session_listener *l, int fd,
		    const struct sockaddr *sa, socklen_t salen)
{
	struct session *s = xcalloc(1, sizeof *s);
	log_new_session_id(s->id);
	format_addr(sa, salen, s->remote_ip, sizeof s->remote_ip, s->remote, sizeof s->remote);
	struct sockaddr_storage local;
	socklen_t local_len = sizeof local;
	char local_ip[sizeof s->remote_ip];
	if (getsockname(fd, (struct sockaddr *)&local, &local_len) == 0)
		format_addr((struct sockaddr *)&local, local_len, local_ip, sizeof local_ip,
			    s->local, sizeof s->local);
	s->listener = l->type;
	s->proto = l->proto;
	s->cfg = srv->cfg;
	s->auth = l->auth;
	s->pool = l->pool;
	s->server = srv;
	s->fd = fd;
	s->refs = 1;
	s->timeout = l->timeout;
	/* Replies are written whole (a bufferevent gathers each one), so
	 * Nagle's algorithm only holds back the last, short segment of a large
	 * reply until the client's delayed ACK (40 ms on Linux): half of the
	 * FETCH 1:* (FLAGS) of 20,000 messages over loopback took 50 ms
	 * instead of 8. */
	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
		int one = 1;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	clock_gettime(CLOCK_MONOTONIC, &s->started);
	size_t max = (size_t)srv->cfg->limits_line_max;
	if (l->proto->line_max != 0 && l->proto->line_max < max)
		max = l->proto->line_max;
	linereader_init(&s->reader, max);

	limits_key_from_sockaddr(sa, &s->limits_key);
	enum limits_result lr = limits_acquire(srv->limits_slot, &s->limits_key);
	s->counted = lr == LIMITS_OK;
	s->busy = !s->counted;
	log_msg(LOGL_INFO, l->proto->name, s->id, "event=connect from=%s listener=%s", s->remote,
		l->type->name);
	if (s->busy) {
		bool mute = srv->refusing >= SESSION_MAX_REFUSING;
		log_msg(LOGL_INFO, l->proto->name, s->id, "event=busy limit=%s%s", refusal[lr],
			mute ? " action=close" : "");
		if (mute) {
			close(fd);
			linereader_free(&s->reader);
			free(s);
			return;
		}
		srv->refusing++;
	}

	bool implicit = l->type->tls == LISTENER_TLS_IMPLICIT;
	int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
	if (implicit) {
		/* The same stack as after STARTTLS: a TLS filter over a socket
		 * bufferevent, one mechanism for both. With
		 * bufferevent_openssl_socket_new() a POP3 RETR reply written from a
		 * pool callback was once seen left unsent under a full test run
		 * (cause not confirmed: libevent 2.1's socket mode parks writes
		 * when SSL_write wants to read); the filter only appends records
		 * to `under`, which always writes. */
		SSL *ssl = srv->ssl_ctx != NULL ? SSL_new(srv->ssl_ctx) : NULL;
		struct bufferevent *under = ssl != NULL ? bufferevent_socket_new(srv->base, fd, opts)
							: NULL;
		if (under != NULL) {
			s->fd = -1;   /* `under` owns it now */
			s->bev = tls_filter_new(s, under, ssl);
			if (s->bev == NULL)
				bufferevent_free(under);   /* closes the socket */
		} else if (ssl != NULL) {
			SSL_free(ssl);
		}
		s->state = SESSION_HANDSHAKE;
	} else {
		s->bev = bufferevent_socket_new(srv->base, fd, opts);
		s->state = SESSION_OPEN;
	}
	s->idle_timer = evtimer_new(srv->base, idle_timer_cb, s);
	s->flush_timer = evtimer_new(srv->base, flush_timer_cb, s);
	s->kick = event_new(srv->base, -1, 0, kick_cb, s);
	s->next = srv->head;
	if (srv->head != NULL)
		srv->head->prev = s;
	srv->head = s;
	srv->count++;
	if (s->bev == NULL || s->idle_timer == NULL || s->flush_timer == NULL || s->kick == NULL) {
		log_msg(LOGL_ERROR, l->proto->name, s->id, "event=error error=\"cannot set up the connection\"");
		s->state = SESSION_CLOSED;
		session_unref(s);
		return;
	}
	s->fd = -1;   /* the bufferevent owns it now */
	setup_bev(s);
	restart_idle_timer(s);
	if (s->state == SESSION_OPEN) {
		session_ref(s);
		s->proto_started = true;
		start_protocol(s);
		session_unref(s);
	}
}

/* ---- the worker's set of sessions ---- */

struct session_server *session_server_new(struct event_base *base, const struct config *cfg,
					  SSL_CTX *ssl_ctx, int limits_slot)
{
	struct session_server *srv = xcalloc(1, sizeof *srv);
	srv->base = base;
	srv->cfg = cfg;
	srv->ssl_ctx = ssl_ctx;
	srv->limits_slot = limits_slot;
	return srv;
}

unsigned session_server_count(const struct session_server *srv)
{
	return srv->count;
}

void session_server_on_empty(struct session_server *srv, void (*cb)(void *arg), void *arg)
{
	srv->on_empty = cb;
	srv->on_empty_arg = arg;
	if (srv->count == 0 && cb != NULL)
		cb(arg);
}

/* Hold every session while calling fn on each: fn may close any of them. */
static void for_each_session(struct session_server *srv, void (*fn)(struct session *s))
{
	size_t n = 0;
	struct session **all = xcalloc(srv->count + 1, sizeof *all);
	for (struct session *s = srv->head; s != NULL; s = s->next) {
		session_ref(s);
		all[n++] = s;
	}
	for (size_t i = 0; i < n; i++)
		fn(all[i]);
	for (size_t i = 0; i < n; i++)
		session_unref(all[i]);
	free(all);
}

static void shutdown_one(struct session *s)
{
	if (s->state == SESSION_HANDSHAKE) {
		session_close(s);
	} else if (s->state == SESSION_OPEN) {
		log_msg(LOGL_DEBUG, s->proto->name, s->id, "event=shutdown");
		s->proto->on_shutdown(s);
		session_close_after_flush(s);
	}
}

void session_server_shutdown(struct session_server *srv)
{
	for_each_session(srv, shutdown_one);
}

void session_server_free(struct session_server **srvp)
{
	struct session_server *srv = *srvp;
	if (srv == NULL)
		return;
	srv->on_empty = NULL;
	for_each_session(srv, session_close);
	free(srv);
	*srvp = NULL;
}
