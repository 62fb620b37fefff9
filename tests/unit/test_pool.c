/* The thread pool: every job runs, done() runs on the loop's thread, jobs run
 * in parallel, pool_free() waits for queued jobs without running done(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/pool.h"

/* ---- many jobs ---- */

#define MANY 2000

struct many {
	struct event_base *base;
	pthread_t loop_thread;
	atomic_int worked;
	int done;             /* only touched on the loop's thread */
	int done_off_loop;
	atomic_int on_loop_in_work;
	bool seen[MANY];
};

struct many_job {
	struct many *m;
	int index;
};

static void many_work(void *arg)
{
	struct many_job *j = arg;
	if (pthread_equal(pthread_self(), j->m->loop_thread))
		atomic_fetch_add(&j->m->on_loop_in_work, 1);
	atomic_fetch_add(&j->m->worked, 1);
}

static void many_done(void *arg)
{
	struct many_job *j = arg;
	struct many *m = j->m;
	if (!pthread_equal(pthread_self(), m->loop_thread))
		m->done_off_loop++;
	assert_false(m->seen[j->index]);
	m->seen[j->index] = true;
	free(j);
	if (++m->done == MANY)
		event_base_loopbreak(m->base);
}

static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

static void test_many_jobs(void **state)
{
	static struct many m;
	memset(&m, 0, sizeof m);
	m.base = event_base_new();
	m.loop_thread = pthread_self();
	struct pool *pool = pool_new(m.base, 4);
	for (int i = 0; i < MANY; i++) {
		struct many_job *j = malloc(sizeof *j);
		j->m = &m;
		j->index = i;
		pool_submit(pool, many_work, many_done, j);
	}
	struct event *watchdog = evtimer_new(m.base, watchdog_cb, m.base);
	struct timeval tv = { 20, 0 };
	evtimer_add(watchdog, &tv);
	event_base_dispatch(m.base);

	assert_int_equal(m.done, MANY);
	assert_int_equal(atomic_load(&m.worked), MANY);
	assert_int_equal(m.done_off_loop, 0);
	assert_int_equal(atomic_load(&m.on_loop_in_work), 0);
	for (int i = 0; i < MANY; i++)
		assert_true(m.seen[i]);
	pool_free(&pool);
	assert_null(pool);
	event_free(watchdog);
	event_base_free(m.base);
}

/* ---- parallelism: two jobs that each wait for the other ---- */

struct rendezvous {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int arrived;
	int met;        /* jobs that saw the other one arrive */
	int done;
	struct event_base *base;
};

static void meet_work(void *arg)
{
	struct rendezvous *r = arg;
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 10;
	pthread_mutex_lock(&r->lock);
	r->arrived++;
	pthread_cond_broadcast(&r->cond);
	int err = 0;
	while (r->arrived < 2 && err != ETIMEDOUT)
		err = pthread_cond_timedwait(&r->cond, &r->lock, &deadline);
	if (r->arrived >= 2)
		r->met++;
	pthread_mutex_unlock(&r->lock);
}

static void meet_done(void *arg)
{
	struct rendezvous *r = arg;
	if (++r->done == 2)
		event_base_loopbreak(r->base);
}

static void test_parallel(void **state)
{
	struct rendezvous r = { .arrived = 0 };
	pthread_mutex_init(&r.lock, NULL);
	pthread_cond_init(&r.cond, NULL);
	r.base = event_base_new();
	struct pool *pool = pool_new(r.base, 2);
	pool_submit(pool, meet_work, meet_done, &r);
	pool_submit(pool, meet_work, meet_done, &r);
	event_base_dispatch(r.base);
	assert_int_equal(r.done, 2);
	assert_int_equal(r.met, 2);     /* both were running at the same time */
	pool_free(&pool);
	event_base_free(r.base);
	pthread_cond_destroy(&r.cond);
	pthread_mutex_destroy(&r.lock);
}

/* ---- pool_free with jobs still queued ---- */

struct drain {
	atomic_int worked;
	atomic_int discarded;
	int done;
	atomic_bool first_started;
};

static void slow_work(void *arg)
{
	struct drain *d = arg;
	atomic_store(&d->first_started, true);
	usleep(20000);
	atomic_fetch_add(&d->worked, 1);
}

static void drain_done(void *arg)
{
	struct drain *d = arg;
	d->done++;
}

static void drain_discard(void *arg)
{
	struct drain *d = arg;
	atomic_fetch_add(&d->discarded, 1);
}

static void test_free_with_queued_jobs(void **state)
{
	struct drain d = { .done = 0 };
	struct event_base *base = event_base_new();
	struct pool *pool = pool_new(base, 1);
	for (int i = 0; i < 10; i++)
		pool_submit_ex(pool, slow_work, drain_done, drain_discard, &d);
	for (int i = 0; i < 5; i++)
		pool_submit(pool, slow_work, drain_done, &d);
	while (!atomic_load(&d.first_started))
		usleep(1000);
	/* One job runs, fourteen are queued: pool_free waits for all of them. */
	pool_free(&pool);
	assert_null(pool);
	assert_int_equal(atomic_load(&d.worked), 15);
	assert_int_equal(atomic_load(&d.discarded), 10);
	/* The loop never ran, and the wake-up event is gone with the pool. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(d.done, 0);
	event_base_free(base);
}

/* A pool freed while idle, and one freed right after its done() ran. */
static void test_free_idle(void **state)
{
	struct event_base *base = event_base_new();
	struct pool *pool = pool_new(base, 3);
	pool_free(&pool);
	assert_null(pool);
	pool_free(&pool);   /* NULL is fine */
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_jobs),
		cmocka_unit_test(test_parallel),
		cmocka_unit_test(test_free_with_queued_jobs),
		cmocka_unit_test(test_free_idle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
