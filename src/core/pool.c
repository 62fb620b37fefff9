/* The thread pool: N threads take jobs from one mutex+condvar queue; a
 * finished job moves to the completion queue and the loop is woken through
 * an eventfd, whose event runs done() on the loop's thread. */
#include "core/pool.h"

#include <assert.h>
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/xmalloc.h"

struct job {
	struct job *next;
	void (*work)(void *arg);
	void (*done)(void *arg);
	void (*discard)(void *arg);
	void *arg;
};

/* A singly linked FIFO. */
struct job_list {
	struct job *head, *tail;
};

struct pool {
	struct event_base *base;
	struct event *wake_ev;
	int wake_fd;

	pthread_mutex_t lock;      /* guards everything below */
	pthread_cond_t cond;       /* signalled when a job is queued or on stop */
	struct job_list queue;     /* submitted, not yet started */
	struct job_list completed; /* work() finished, done() not yet run */
	bool stopping;

	pthread_t *threads;
	unsigned nthreads;
};

static void list_push(struct job_list *l, struct job *j)
{
	j->next = NULL;
	if (l->tail != NULL)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
}

static struct job *list_pop(struct job_list *l)
{
	struct job *j = l->head;
	if (j != NULL) {
		l->head = j->next;
		if (l->head == NULL)
			l->tail = NULL;
		j->next = NULL;
	}
	return j;
}

static _Noreturn void pool_fatal(const char *what, int err)
{
	char msg[160];
	int n = snprintf(msg, sizeof msg, "surel: pool: %s: %s\n", what, strerror(err));
	if (n > 0)
		(void)!write(STDERR_FILENO, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
	abort();
}

static void wake_loop(struct pool *pool)
{
	uint64_t one = 1;
	/* EAGAIN means the counter is already non-zero: the loop will wake anyway. */
	while (write(pool->wake_fd, &one, sizeof one) < 0) {
		if (errno == EAGAIN)
			break;
		if (errno != EINTR)
			pool_fatal("eventfd write", errno);
	}
}

static void *pool_thread(void *ctx)
{
	struct pool *pool = ctx;
	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (pool->queue.head == NULL && !pool->stopping)
			pthread_cond_wait(&pool->cond, &pool->lock);
		struct job *j = list_pop(&pool->queue);
		if (j == NULL)
			break;   /* stopping and nothing left to do */
		pthread_mutex_unlock(&pool->lock);

		j->work(j->arg);

		pthread_mutex_lock(&pool->lock);
		bool was_empty = pool->completed.head == NULL;
		list_push(&pool->completed, j);
		if (was_empty && !pool->stopping)
			wake_loop(pool);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

/* On the loop's thread: run done() for every finished job. */
static void pool_wake_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct pool *pool = ctx;
	uint64_t count;
	(void)!read(fd, &count, sizeof count);

	pthread_mutex_lock(&pool->lock);
	struct job_list batch = pool->completed;
	pool->completed.head = pool->completed.tail = NULL;
	pthread_mutex_unlock(&pool->lock);

	struct job *j;
	while ((j = list_pop(&batch)) != NULL) {
		if (j->done != NULL)
			j->done(j->arg);
		free(j);
	}
}

struct pool *pool_new(struct event_base *base, unsigned threads)
{
	assert(threads >= 1);
	struct pool *pool = xcalloc(1, sizeof *pool);
	pool->base = base;
	pool->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pool->wake_fd < 0)
		pool_fatal("eventfd", errno);
	pool->wake_ev = event_new(base, pool->wake_fd, EV_READ | EV_PERSIST, pool_wake_cb, pool);
	if (pool->wake_ev == NULL || event_add(pool->wake_ev, NULL) < 0)
		pool_fatal("event_add", EINVAL);
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->cond, NULL);

	pool->threads = xcalloc(threads, sizeof *pool->threads);
	for (unsigned i = 0; i < threads; i++) {
		int err = pthread_create(&pool->threads[i], NULL, pool_thread, pool);
		if (err != 0)
			pool_fatal("pthread_create", err);
		pool->nthreads++;
	}
	return pool;
}

void pool_submit_ex(struct pool *pool, void (*work)(void *arg), void (*done)(void *arg),
		    void (*discard)(void *arg), void *arg)
{
	struct job *j = xmalloc(sizeof *j);
	j->work = work;
	j->done = done;
	j->discard = discard;
	j->arg = arg;
	pthread_mutex_lock(&pool->lock);
	assert(!pool->stopping);   /* submitting to a pool being freed is a bug */
	list_push(&pool->queue, j);
	pthread_cond_signal(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
}

void pool_submit(struct pool *pool, void (*work)(void *arg), void (*done)(void *arg), void *arg)
{
	pool_submit_ex(pool, work, done, NULL, arg);
}

void pool_free(struct pool **poolp)
{
	struct pool *pool = *poolp;
	if (pool == NULL)
		return;
	*poolp = NULL;

	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
	for (unsigned i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);

	/* Every job has run its work(); drop the done() callbacks. */
	struct job *j;
	while ((j = list_pop(&pool->completed)) != NULL) {
		if (j->discard != NULL)
			j->discard(j->arg);
		free(j);
	}
	assert(pool->queue.head == NULL);

	event_free(pool->wake_ev);
	close(pool->wake_fd);
	pthread_cond_destroy(&pool->cond);
	pthread_mutex_destroy(&pool->lock);
	free(pool->threads);
	free(pool);
}
