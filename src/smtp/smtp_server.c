/* What a worker gives the SMTP engine; see smtp_server.h. One worker
 * process serves its sessions on one loop, so this is per process. */
#include "smtp/smtp_server.h"

#include <stdint.h>
#include <stdlib.h>

#include "core/config.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "queue/spool.h"
#include "smtp/smtp_int.h"

static struct {
	struct event_base *base;
	struct pool *pool;
	struct spool_committer *committer;
} server;

void smtp_server_init(struct event_base *base, struct pool *pool, const struct config *cfg)
{
	server.base = base;
	server.pool = pool;
	char *dir = xasprintf("%s/%s", cfg->server_data_dir, SPOOL_DIR);
	server.committer = spool_committer_new(pool, dir, cfg->smtp_group_commit);
	free(dir);
}

void smtp_server_free(void)
{
	if (server.committer != NULL) {
		uint64_t messages, batches;
		spool_committer_stats(server.committer, &messages, &batches);
		if (messages > 0)
			log_info("smtp", "event=spool_stats messages=%llu batches=%llu",
				 (unsigned long long)messages, (unsigned long long)batches);
	}
	spool_committer_free(&server.committer);
	server.base = NULL;
	server.pool = NULL;
}

struct event_base *smtp_server_base(void)
{
	return server.base;
}

struct pool *smtp_server_pool(void)
{
	return server.pool;
}

struct spool_committer *smtp_server_committer(const struct session *s)
{
	if (server.committer == NULL) {
		/* No worker (a fuzzer, a test): commit at once. */
		char *dir = xasprintf("%s/%s", s->cfg->server_data_dir, SPOOL_DIR);
		server.committer = spool_committer_new(NULL, dir, false);
		free(dir);
	}
	return server.committer;
}
