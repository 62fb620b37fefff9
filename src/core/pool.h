/* A small thread pool for blocking or CPU-heavy work (password hashing, RSA
 * signing, fsync batches). work() runs on a pool thread; done() then runs on
 * the event loop's thread, so the loop itself never blocks.
 *
 * Finished jobs are queued and the loop is woken through an eventfd watched
 * by an event on `base`; done() callbacks run in the order the jobs finished.
 * The pool belongs to the thread that runs `base`: create, submit and free it
 * from there. */
#ifndef SUREL_CORE_POOL_H
#define SUREL_CORE_POOL_H

struct event_base;
struct pool;

/* threads >= 1. Failing to start a thread is fatal (like running out of memory). */
struct pool *pool_new(struct event_base *base, unsigned threads);
/* Stop accepting jobs, wait for queued and running jobs (their done()
 * callbacks are not run), join the threads, then free. */
void pool_free(struct pool **pool);
void pool_submit(struct pool *pool, void (*work)(void *arg), void (*done)(void *arg), void *arg);
/* Like pool_submit(), and when pool_free() drops the job instead of running
 * done(), discard(arg) is called (on pool_free's thread, after the threads are
 * joined) so that the owner of arg can release it. */
void pool_submit_ex(struct pool *pool, void (*work)(void *arg), void (*done)(void *arg),
		    void (*discard)(void *arg), void *arg);

#endif
