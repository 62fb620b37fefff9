/* A small thread pool for blocking or CPU-heavy work (password hashing, RSA
 * signing, fsync batches). work() runs on a pool thread; done() then runs on
 * the event loop's thread, so the loop itself never blocks. */
#ifndef SUREL_CORE_POOL_H
#define SUREL_CORE_POOL_H

struct event_base;
struct pool;

struct pool *pool_new(struct event_base *base, unsigned threads);
/* Wait for queued and running jobs (their done() callbacks are not run), then free. */
void pool_free(struct pool **pool);
void pool_submit(struct pool *pool, void (*work)(void *arg), void (*done)(void *arg), void *arg);

#endif
