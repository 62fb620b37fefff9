/* The authentication service against a real surel.db, event loop and pool:
 * results, log lines, throttling and lockout, cancellation, and a loop that
 * keeps running while passwords are checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "account/auth.h"
#include "account/directory.h"
#include "account/password.h"
#include "account/throttle.h"
#include "core/config.h"
#include "core/log.h"
#include "core/pool.h"

/* ---- the data directory, made once ---- */

static char data_dir[] = "/tmp/surel-test-auth-XXXXXX";

static void add_account(struct directory *dir, const char *address, const char *password,
			bool enabled)
{
	char *err = NULL;
	char *hash = password_hash(password);
	assert_non_null(hash);
	if (directory_account_add(dir, address, hash, 0, enabled, &err) < 0)
		fail_msg("%s: %s", address, err);
	free(hash);
}

static int group_setup(void **state)
{
	assert_non_null(mkdtemp(data_dir));
	struct directory *dir = NULL;
	char *err = NULL;
	if (directory_open(data_dir, &dir, &err) < 0)
		fail_msg("directory_open: %s", err);
	assert_int_equal(directory_domain_add(dir, "example.org", &err), 0);
	add_account(dir, "alice@example.org", "alice-secret", true);
	add_account(dir, "bob@example.org", "bob-secret", false);   /* disabled */
	add_account(dir, "carol@example.org", "carol-secret", true);
	add_account(dir, "dave@example.org", "dave-secret", true);
	directory_close(&dir);
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", data_dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- one service per test ---- */

struct fixture {
	struct config *cfg;
	struct event_base *base;
	struct pool *pool;
	struct auth_service *svc;
	char log_path[64];
	int saved_stderr;
};

static void set(struct config *cfg, const char *key, const char *value)
{
	char *err = NULL;
	if (config_set(cfg, key, value, &err) < 0)
		fail_msg("%s: %s", key, err);
}

/* Every test starts with an empty throttle table and its log in a file. */
static struct fixture *fixture_new(const char *fail_delay, const char *lockout_failures,
				   unsigned threads)
{
	struct fixture *f = calloc(1, sizeof *f);
	f->cfg = config_defaults();
	set(f->cfg, "server.data_dir", data_dir);
	set(f->cfg, "auth.fail_delay", fail_delay);
	set(f->cfg, "auth.max_delay", "1s");
	set(f->cfg, "auth.lockout_failures", lockout_failures);
	set(f->cfg, "auth.lockout_time", "1h");
	assert_int_equal(auth_throttle_init_shared(256), 0);
	f->base = event_base_new();
	f->pool = pool_new(f->base, threads);
	f->svc = auth_service_new(f->base, f->pool, f->cfg);

	snprintf(f->log_path, sizeof f->log_path, "%s/log-XXXXXX", data_dir);
	int fd = mkstemp(f->log_path);
	assert_true(fd >= 0);
	f->saved_stderr = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
	log_setup(LOGT_STDERR, LOGL_DEBUG);
	return f;
}

/* The log so far (caller frees). */
static char *fixture_log(struct fixture *f)
{
	FILE *in = fopen(f->log_path, "r");
	assert_non_null(in);
	char *text = calloc(1, 1 << 20);
	size_t n = fread(text, 1, (1 << 20) - 1, in);
	text[n] = '\0';
	fclose(in);
	return text;
}

static void assert_logged(struct fixture *f, const char *line_part)
{
	char *log = fixture_log(f);
	if (strstr(log, line_part) == NULL)
		fail_msg("not in the log: '%s'\nlog:\n%s", line_part, log);
	free(log);
}

static void fixture_free(struct fixture *f, bool service_first)
{
	if (service_first) {
		auth_service_free(&f->svc);
		pool_free(&f->pool);
	} else {
		pool_free(&f->pool);
		auth_service_free(&f->svc);
	}
	assert_null(f->svc);
	event_base_free(f->base);
	config_free(&f->cfg);
	dup2(f->saved_stderr, STDERR_FILENO);
	close(f->saved_stderr);
	unlink(f->log_path);
	free(f);
}

/* ---- running one request ---- */

struct outcome {
	struct event_base *base;
	int calls;
	enum auth_result result;
	char address[256];
	bool enabled;
	bool hash_null;
	bool break_loop;
};

static void on_result(enum auth_result result, const struct account_info *account, void *arg)
{
	struct outcome *o = arg;
	o->calls++;
	o->result = result;
	if (account != NULL) {
		snprintf(o->address, sizeof o->address, "%s", account->address);
		o->enabled = account->enabled;
		o->hash_null = account->password_hash == NULL;
	}
	if (o->break_loop)
		event_base_loopbreak(o->base);
}

static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Dispatch until something breaks the loop, or 10 s. */
static void run_loop(struct event_base *base)
{
	struct event *watchdog = evtimer_new(base, watchdog_cb, base);
	struct timeval tv = { 10, 0 };
	evtimer_add(watchdog, &tv);
	event_base_dispatch(base);
	event_free(watchdog);
}

static enum auth_result verify(struct fixture *f, const char *user, const char *password,
			       const char *ip, const char *session, struct outcome *o,
			       double *elapsed_r)
{
	memset(o, 0, sizeof *o);
	o->base = f->base;
	o->break_loop = true;
	struct auth_request req = {
		.protocol = "imap", .username = user, .password = password,
		.remote_ip = ip, .session_id = session,
	};
	double start = now_s();
	struct auth_pending *p = auth_verify(f->svc, &req, on_result, o);
	assert_non_null(p);
	assert_int_equal(o->calls, 0);   /* never from inside auth_verify() */
	run_loop(f->base);
	if (elapsed_r != NULL)
		*elapsed_r = now_s() - start;
	assert_int_equal(o->calls, 1);
	return o->result;
}

/* A pool job that holds its thread until the gate is opened. */
struct ticker;
struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool open;
	struct ticker *ticker;
};

static void gate_work(void *arg)
{
	struct gate *g = arg;
	pthread_mutex_lock(&g->lock);
	while (!g->open)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

static void gate_done(void *arg)
{
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->open = true;
	pthread_cond_signal(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

/* Run the loop until the throttle has counted `failures` for ip, or 5 s. */
static void pump_until_failures(struct fixture *f, const char *ip, uint32_t failures)
{
	char key[THROTTLE_KEY_MAX];
	throttle_ip_key(ip, key);
	for (int i = 0; i < 500; i++) {
		if (throttle_lookup(throttle_table_default(), key).failures >= failures)
			return;
		event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(10000);
	}
	fail_msg("%s: fewer than %u failures counted", ip, failures);
}

/* Run the loop for `usec` microseconds. */
static void run_for(struct fixture *f, long usec)
{
	struct event *stop = evtimer_new(f->base, watchdog_cb, f->base);
	struct timeval tv = { usec / 1000000, usec % 1000000 };
	evtimer_add(stop, &tv);
	event_base_dispatch(f->base);
	event_free(stop);
}

/* ---- tests ---- */

static void test_results_and_log(void **state)
{
	struct fixture *f = fixture_new("0", "100", 2);
	struct outcome o;
	const char *ip = "192.0.2.1";

	assert_int_equal(verify(f, "alice@example.org", "alice-secret", ip, "s0000001", &o, NULL), AUTH_OK);
	assert_string_equal(o.address, "alice@example.org");
	assert_true(o.enabled);
	assert_true(o.hash_null);
	assert_logged(f, " auth session=s0000001 event=ok protocol=imap user=alice@example.org ip=192.0.2.1\n");

	/* The directory normalises the address. */
	assert_int_equal(verify(f, "Alice@EXAMPLE.org", "alice-secret", ip, NULL, &o, NULL), AUTH_OK);
	assert_string_equal(o.address, "alice@example.org");

	assert_int_equal(verify(f, "alice@example.org", "wrong", ip, "s0000002", &o, NULL), AUTH_FAILED);
	assert_int_equal(o.address[0], '\0');
	assert_logged(f, " auth session=s0000002 event=fail protocol=imap user=alice@example.org "
			 "ip=192.0.2.1 reason=bad-password failures=1 delay=0s\n");

	assert_int_equal(verify(f, "nobody@example.org", "x", ip, "s0000003", &o, NULL), AUTH_FAILED);
	assert_logged(f, "session=s0000003 event=fail protocol=imap user=nobody@example.org "
			 "ip=192.0.2.1 reason=no-such-user failures=2 delay=0s\n");

	/* A disabled account fails even with its right password. */
	assert_int_equal(verify(f, "bob@example.org", "bob-secret", ip, "s0000004", &o, NULL), AUTH_FAILED);
	assert_logged(f, "session=s0000004 event=fail protocol=imap user=bob@example.org "
			 "ip=192.0.2.1 reason=disabled failures=3 delay=0s\n");

	assert_int_equal(verify(f, "not an address", "x", ip, NULL, &o, NULL), AUTH_FAILED);
	assert_int_equal(verify(f, "", "", ip, NULL, &o, NULL), AUTH_FAILED);

	/* Client input cannot forge a log line or field, and is capped. */
	assert_int_equal(verify(f, "evil user\r\n2026 info auth event=ok", "x", ip, "s0000005", &o, NULL),
			 AUTH_FAILED);
	assert_logged(f, "session=s0000005 event=fail protocol=imap user=evil?user??2026?info?auth?event=ok "
			 "ip=192.0.2.1 reason=no-such-user");
	char long_user[1001], want[400];
	memset(long_user, 'x', 1000);
	long_user[1000] = '\0';
	assert_int_equal(verify(f, long_user, "x", ip, "s0000006", &o, NULL), AUTH_FAILED);
	snprintf(want, sizeof want, "session=s0000006 event=fail protocol=imap user=%.256s ip=192.0.2.1", long_user);
	assert_logged(f, want);
	fixture_free(f, true);
}

/* Lockout: IP and account, refused without the pool, success resets the account. */
static void test_lockout(void **state)
{
	struct fixture *f = fixture_new("0", "3", 1);
	struct outcome o;

	/* A success clears the account's count (from several IPs, so that no
	 * IP reaches 3 here). */
	assert_int_equal(verify(f, "carol@example.org", "bad", "198.51.100.1", NULL, &o, NULL), AUTH_FAILED);
	assert_int_equal(verify(f, "carol@example.org", "bad", "198.51.100.2", NULL, &o, NULL), AUTH_FAILED);
	assert_int_equal(verify(f, "carol@example.org", "carol-secret", "198.51.100.3", NULL, &o, NULL), AUTH_OK);
	assert_int_equal(verify(f, "carol@example.org", "bad", "198.51.100.3", NULL, &o, NULL), AUTH_FAILED);
	assert_int_equal(verify(f, "carol@example.org", "bad", "198.51.100.4", NULL, &o, NULL), AUTH_FAILED);
	assert_int_equal(verify(f, "carol@example.org", "carol-secret", "198.51.100.5", NULL, &o, NULL), AUTH_OK);

	/* Three failures lock the account, whatever the IP and password. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(verify(f, "carol@example.org", "bad", "2001:db8:a::1", NULL, &o, NULL),
				 AUTH_FAILED);
	assert_logged(f, "user=carol@example.org ip=2001:db8:a::1 reason=bad-password failures=3 delay=0s");
	assert_int_equal(verify(f, "carol@example.org", "carol-secret", "203.0.113.9", "s0000010", &o, NULL),
			 AUTH_LOCKED);
	assert_logged(f, "session=s0000010 event=fail protocol=imap user=carol@example.org ip=203.0.113.9 "
			 "reason=locked failures=3 delay=0s\n");
	/* The IP's /64 is locked too, for every account. */
	assert_int_equal(verify(f, "dave@example.org", "dave-secret", "2001:db8:a::ffff", NULL, &o, NULL),
			 AUTH_LOCKED);
	/* Another account from another IP is not. */
	assert_int_equal(verify(f, "dave@example.org", "dave-secret", "2001:db8:b::1", NULL, &o, NULL),
			 AUTH_OK);

	/* Locked requests never reach the pool: they are answered while its
	 * only thread is held busy. */
	struct gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, NULL };
	pool_submit(f->pool, gate_work, gate_done, &g);
	assert_int_equal(verify(f, "carol@example.org", "carol-secret", "192.0.2.201", NULL, &o, NULL),
			 AUTH_LOCKED);
	gate_open(&g);
	fixture_free(f, false);
}

/* A failure's reply waits on a timer while the loop runs other events. */
struct ticker {
	struct event *ev;
	int ticks;
};

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ticker *t = arg;
	t->ticks++;
}

static void test_delay_keeps_loop_running(void **state)
{
	struct fixture *f = fixture_new("1s", "100", 2);
	struct ticker t = { NULL, 0 };
	t.ev = event_new(f->base, -1, EV_PERSIST, tick_cb, &t);
	struct timeval period = { 0, 10000 };
	event_add(t.ev, &period);
	struct outcome o;
	double elapsed;
	assert_int_equal(verify(f, "dave@example.org", "bad", "192.0.2.50", NULL, &o, &elapsed), AUTH_FAILED);
	assert_true(elapsed >= 0.95);       /* auth.fail_delay = 1s */
	assert_true(t.ticks >= 20);         /* the loop was free meanwhile */
	assert_logged(f, "user=dave@example.org ip=192.0.2.50 reason=bad-password failures=1 delay=1s");
	/* A success is not delayed, even after failures. */
	assert_int_equal(verify(f, "dave@example.org", "dave-secret", "192.0.2.50", NULL, &o, &elapsed),
			 AUTH_OK);
	assert_true(elapsed < 0.9);
	event_free(t.ev);
	fixture_free(f, true);
}

/* While hashes are computed the loop goes on: the callback comes only after
 * the loop has run other events, with the pool held busy until it has. */
static void gate_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gate *g = arg;
	if (++g->ticker->ticks == 5)
		gate_open(g);
}

static void test_loop_runs_during_check(void **state)
{
	struct fixture *f = fixture_new("0", "100", 1);
	struct ticker t = { NULL, 0 };
	struct gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, &t };
	pool_submit(f->pool, gate_work, gate_done, &g);
	t.ev = event_new(f->base, -1, EV_PERSIST, gate_tick_cb, &g);
	struct timeval period = { 0, 1000 };
	event_add(t.ev, &period);
	struct outcome o;
	assert_int_equal(verify(f, "alice@example.org", "alice-secret", "192.0.2.60", NULL, &o, NULL), AUTH_OK);
	assert_true(t.ticks >= 5);

	/* Several hashes in flight at once, all answered, loop ticking. */
	struct fixture *f2 = fixture_new("0", "100", 4);
	struct outcome many[8];
	struct ticker t2 = { NULL, 0 };
	t2.ev = event_new(f2->base, -1, EV_PERSIST, tick_cb, &t2);
	event_add(t2.ev, &period);
	for (int i = 0; i < 8; i++) {
		memset(&many[i], 0, sizeof many[i]);
		many[i].base = f2->base;
		struct auth_request req = { .protocol = "smtp", .username = "alice@example.org",
					    .password = i % 2 ? "alice-secret" : "nope",
					    .remote_ip = "192.0.2.61" };
		auth_verify(f2->svc, &req, on_result, &many[i]);
	}
	double deadline = now_s() + 10;
	for (;;) {
		int called = 0;
		for (int i = 0; i < 8; i++)
			called += many[i].calls;
		if (called == 8 || now_s() > deadline)
			break;
		event_base_loop(f2->base, EVLOOP_ONCE);
	}
	assert_true(t2.ticks > 0);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(many[i].calls, 1);
		assert_int_equal(many[i].result, i % 2 ? AUTH_OK : AUTH_FAILED);
	}
	event_free(t2.ev);
	event_free(t.ev);
	fixture_free(f2, false);
	fixture_free(f, true);
}

/* A cancelled request never calls back, but its failure still counts. */
static void test_cancel(void **state)
{
	struct fixture *f = fixture_new("1s", "100", 1);
	struct outcome o = { .base = f->base };
	struct auth_request req = { .protocol = "imap", .username = "dave@example.org",
				    .password = "bad", .remote_ip = "192.0.2.70" };
	struct auth_pending *p = auth_verify(f->svc, &req, on_result, &o);
	auth_cancel(&p);
	assert_null(p);
	auth_cancel(&p);   /* NULL is fine */
	pump_until_failures(f, "192.0.2.70", 1);

	/* Cancelled while its reply waits on the delay timer. */
	p = auth_verify(f->svc, &req, on_result, &o);
	pump_until_failures(f, "192.0.2.70", 2);
	auth_cancel(&p);
	run_for(f, 1300000);   /* the 1 s timer would have fired */
	assert_int_equal(o.calls, 0);
	fixture_free(f, true);
}

/* Freeing the service (or the pool) with requests in flight drops them:
 * no callback, no leak (AddressSanitizer watches), in either order. */
static void test_free_with_pending(void **state)
{
	for (int order = 0; order < 2; order++) {
		struct fixture *f = fixture_new("1s", "100", 1);
		struct outcome o[3] = { { .base = f->base }, { .base = f->base }, { .base = f->base } };
		struct auth_request req = { .protocol = "imap", .username = "alice@example.org",
					    .password = "bad", .remote_ip = "192.0.2.80" };
		for (int i = 0; i < 3; i++)
			auth_verify(f->svc, &req, on_result, &o[i]);
		fixture_free(f, order == 0);
		for (int i = 0; i < 3; i++)
			assert_int_equal(o[i].calls, 0);
	}
	/* The service freed while done() callbacks are queued on a live loop. */
	struct fixture *f = fixture_new("0", "100", 2);
	struct outcome o = { .base = f->base };
	struct auth_request req = { .protocol = "imap", .username = "alice@example.org",
				    .password = "alice-secret", .remote_ip = "192.0.2.81" };
	auth_verify(f->svc, &req, on_result, &o);
	auth_service_free(&f->svc);
	run_for(f, 300000);
	assert_int_equal(o.calls, 0);
	fixture_free(f, true);

	/* The service freed while a reply waits on its delay timer. */
	f = fixture_new("1s", "100", 1);
	req.password = "bad";
	req.remote_ip = "192.0.2.82";
	auth_verify(f->svc, &req, on_result, &o);
	pump_until_failures(f, "192.0.2.82", 1);
	auth_service_free(&f->svc);
	run_for(f, 1300000);
	assert_int_equal(o.calls, 0);
	fixture_free(f, true);
}

static void test_tempfail(void **state)
{
	struct fixture *f = fixture_new("0", "100", 1);
	auth_service_free(&f->svc);
	set(f->cfg, "server.data_dir", "/nonexistent/surel-data");
	f->svc = auth_service_new(f->base, f->pool, f->cfg);
	struct outcome o;
	assert_int_equal(verify(f, "alice@example.org", "alice-secret", "192.0.2.90", "s0000020", &o, NULL),
			 AUTH_TEMPFAIL);
	assert_logged(f, "session=s0000020 event=fail protocol=imap user=alice@example.org ip=192.0.2.90 "
			 "reason=tempfail failures=0 delay=0s");
	assert_logged(f, " auth session=s0000020 event=directory-error error=");
	fixture_free(f, true);
}

/* The dummy hash that unknown users are checked against must cost what
 * real hashes cost: same algorithm and parameters as password_hash(). */
static void test_dummy_hash_cost(void **state)
{
	char *h = password_hash("x");
	assert_non_null(h);
	if (strncmp(h, "$y$j9T$", 7) != 0)
		fail_msg("password_hash() now makes '%.7s...': update AUTH_DUMMY_HASH in auth.c", h);
	free(h);
	assert_string_equal(auth_result_name(AUTH_OK), "ok");
	assert_string_equal(auth_result_name(AUTH_LOCKED), "locked");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_results_and_log),
		cmocka_unit_test(test_lockout),
		cmocka_unit_test(test_delay_keeps_loop_running),
		cmocka_unit_test(test_loop_runs_during_check),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_free_with_pending),
		cmocka_unit_test(test_tempfail),
		cmocka_unit_test(test_dummy_hash_cost),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
