/* The SMTP server engine as a worker sees it: the protocol table for the
 * smtp, submission, smtps and lmtp listeners (smtp_session.h), and what the
 * engine needs from the worker, given once after the fork: the event loop
 * (greeting delay), the thread pool (directory look-ups, spool commits) and
 * the spool's group committer. Without smtp_server_init() (a fuzzer, a
 * unit test) look-ups and commits run at once on the caller's thread. */
#ifndef SUREL_SMTP_SMTP_SERVER_H
#define SUREL_SMTP_SMTP_SERVER_H

struct config;
struct event_base;
struct pool;

void smtp_server_init(struct event_base *base, struct pool *pool, const struct config *cfg);
/* After pool_free() of the pool given to smtp_server_init(). Logs the group
 * commit counters. */
void smtp_server_free(void);

#endif
