/* The HTTP listener of a worker (evhttp). For now it answers the health
 * check only: GET /health -> 200 "ok"; everything else 404. The admin API,
 * JMAP and webmail come with their own issues. */
#ifndef SUREL_HTTP_HTTP_SERVER_H
#define SUREL_HTTP_HTTP_SERVER_H

#include <stddef.h>

struct config;
struct event_base;
struct http_server;

/* Serve HTTP on the listening sockets fds (the server closes them when freed);
 * idle connections end after http.timeout. */
struct http_server *http_server_new(struct event_base *base, const struct config *cfg,
				    const int *fds, size_t n);
/* Stop listening and close every connection. */
void http_server_free(struct http_server **srv);

#endif
