#include "http/http_server.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "core/config.h"
#include "core/log.h"
#include "core/xmalloc.h"

struct http_server {
	struct evhttp *http;
};

static void reply(struct evhttp_request *req, int code, const char *reason, const char *body)
{
	struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
	evhttp_add_header(headers, "Content-Type", "text/plain; charset=utf-8");
	evhttp_add_header(headers, "Cache-Control", "no-store");
	struct evbuffer *out = evbuffer_new();
	if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
		evbuffer_add(out, body, strlen(body));
	evhttp_send_reply(req, code, reason, out);
	evbuffer_free(out);
}

static void request_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	bool get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
	int code;
	if (path != NULL && strcmp(path, "/health") == 0 && get) {
		code = 200;
		reply(req, code, "OK", "ok\n");
	} else if (path != NULL && strcmp(path, "/health") == 0) {
		code = 405;
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		reply(req, code, "Method Not Allowed", "method not allowed\n");
	} else {
		code = 404;
		reply(req, code, "Not Found", "not found\n");
	}
	log_debug("http", "event=request path=\"%s\" status=%d", path != NULL ? path : "", code);
}

struct http_server *http_server_new(struct event_base *base, const struct config *cfg,
				    const int *fds, size_t n)
{
	struct http_server *srv = xcalloc(1, sizeof *srv);
	srv->http = evhttp_new(base);
	if (srv->http == NULL) {
		log_error("http", "event=error error=\"evhttp_new failed\"");
		free(srv);
		return NULL;
	}
	evhttp_set_timeout(srv->http, (int)cfg->http_timeout);
	evhttp_set_max_headers_size(srv->http, 64 * 1024);
	evhttp_set_max_body_size(srv->http, 1024 * 1024);
	evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
				   EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(srv->http, request_cb, srv);
	for (size_t i = 0; i < n; i++)
		if (evhttp_accept_socket_with_handle(srv->http, fds[i]) == NULL)
			log_error("http", "event=listen_failed fd=%d", fds[i]);
	return srv;
}

void http_server_free(struct http_server **srvp)
{
	struct http_server *srv = *srvp;
	if (srv == NULL)
		return;
	evhttp_free(srv->http);   /* closes the listening sockets and connections */
	free(srv);
	*srvp = NULL;
}
