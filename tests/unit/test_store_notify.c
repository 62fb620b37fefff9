/* Change notification across processes (a child changes the mailbox, the
 * parent's watcher fires within a second) and full-text search. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>

#include "store_fixture.h"

struct watch_state {
	struct event_base *base;
	int fired;
};

static void on_change(void *ctx)
{
	struct watch_state *w = ctx;
	w->fired++;
	event_base_loopbreak(w->base);
}

enum child_op { OP_APPEND, OP_FLAG, OP_EXPUNGE, OP_CREATE };

/* A child process does op on user 1's INBOX and exits. */
static pid_t child(const struct fx *f, enum child_op op)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid != 0)
		return pid;
	struct store *s;
	struct store_user *u;
	struct store_mailbox *mb;
	char *err = NULL;
	if (store_open(f->dir, &s, &err) < 0 || store_user_open(s, 1, &u, &err) < 0 ||
	    store_mailbox_open(u, "INBOX", &mb, &err) < 0)
		_exit(1);
	int rc = 0;
	if (op == OP_APPEND) {
		struct store_blob_writer *w;
		struct store_blob *b;
		const char *text = "Subject: from the child\r\n\r\nhello\r\n";
		rc = store_blob_begin(s, &w, &err);
		if (rc == 0)
			rc = store_blob_write(w, text, strlen(text), &err);
		if (rc == 0)
			rc = store_blob_commit(&w, &b, &err);
		struct store_append a = { .blob = b };
		if (rc == 0)
			rc = store_append(mb, &a, 1, 0, NULL, &err);
	} else if (op == OP_FLAG || op == OP_EXPUNGE) {
		struct store_flag_change ch = { .op = STORE_FLAGS_ADD, .flags = STORE_FLAG_DELETED };
		rc = store_set_flags(mb, NULL, &ch, NULL, NULL, NULL, &err);
		if (rc == 0 && op == OP_EXPUNGE)
			rc = store_expunge(mb, NULL, NULL, &err);
	} else {
		rc = store_mailbox_create(u, "From child", STORE_SPECIAL_NONE, &err);
	}
	_exit(rc == 0 ? 0 : 2);
}

/* Run the loop until the watcher fires or a second has passed; returns how
 * long it took (seconds) or -1 when it did not fire. */
static double wait_for_change(struct watch_state *w)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct timeval one = { 1, 0 };
	w->fired = 0;
	event_base_loopexit(w->base, &one);
	event_base_dispatch(w->base);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (w->fired == 0)
		return -1;
	return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

static void reap(pid_t pid)
{
	int wstatus;
	assert_int_equal(waitpid(pid, &wstatus, 0), pid);
	assert_true(WIFEXITED(wstatus));
	assert_int_equal(WEXITSTATUS(wstatus), 0);
}

static void test_notify_across_processes(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	struct watch_state w = { .base = event_base_new() };
	assert_non_null(w.base);
	struct store_watch *watch;
	ok(store_user_watch(f->u, w.base, on_change, &w, &watch, &err), &err);
	struct store_mailbox *mb = mbox(f->u, "INBOX");

	/* Nothing happens: no call. */
	assert_true(wait_for_change(&w) < 0);

	static const enum child_op ops[] = { OP_APPEND, OP_FLAG, OP_EXPUNGE, OP_CREATE };
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		struct store_mailbox_info before = status(mb);
		if (ops[i] == OP_EXPUNGE)
			append_n(f->s, mb, 1, 0);   /* something to expunge... */
		if (ops[i] == OP_EXPUNGE) {
			(void)wait_for_change(&w);  /* ...and our own change, seen first */
			store_mailbox_info_clear(&before);
			before = status(mb);
		}
		pid_t pid = child(f, ops[i]);
		double took = wait_for_change(&w);
		reap(pid);
		if (took < 0 || took > 1.0)
			fail_msg("op %zu: no notification within a second", i);
		/* What changed is for the session to ask. */
		struct store_uid_list vanished = { 0 };
		struct store_mailbox_info after = status(mb);
		ok(store_changes_since(mb, before.highestmodseq, NULL, NULL, &vanished, &err), &err);
		switch (ops[i]) {
		case OP_APPEND:
			assert_int_equal(after.messages, before.messages + 1);
			break;
		case OP_FLAG:
			assert_true(after.highestmodseq > before.highestmodseq);
			assert_int_equal(after.deleted, after.messages);
			break;
		case OP_EXPUNGE:
			assert_int_equal(after.messages, 0);
			assert_true(vanished.count >= 1);
			break;
		case OP_CREATE:
			break;
		}
		store_uid_list_free(&vanished);
		store_mailbox_info_clear(&before);
		store_mailbox_info_clear(&after);
	}
	store_mailbox_close(&mb);
	store_watch_free(&watch);
	assert_null(watch);
	event_base_free(w.base);
}

/* ---- full-text search ---- */

static const char *const messages[] = {
	"From: Alice <alice@example.org>\r\n"
	"To: bob@example.org\r\n"
	"Subject: Quarterly report\r\n"
	"\r\n"
	"The numbers for the third quarter are attached.\r\n",

	"From: =?UTF-8?Q?J=C3=BCrgen?= <jurgen@example.de>\r\n"
	"To: bob@example.org\r\n"
	"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Sch=C3=B6ne Gr=C3=BC=C3=9Fe aus M=C3=BCnchen\r\n",

	"From: Carol <carol@example.net>\r\n"
	"Subject: Lunch\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=XX\r\n"
	"\r\n"
	"--XX\r\n"
	"Content-Type: text/plain\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"TGV0J3MgbWVldCBhdCB0aGUgcGl6emVyaWEu\r\n"   /* "Let's meet at the pizzeria." */
	"--XX\r\n"
	"Content-Type: application/octet-stream\r\n"
	"\r\n"
	"quarterly binary junk\r\n"
	"--XX--\r\n",
};

static void expect_uids(struct store_mailbox *mb, enum store_search_field field,
			const char *query, const uint32_t *want, size_t n)
{
	struct store_uid_list found;
	char *err = NULL;
	ok(store_search_text(mb, field, query, &found, &err), &err);
	if (found.count != n)
		fail_msg("'%s': %zu matches, want %zu", query, found.count, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(found.uids[i], want[i]);
	store_uid_list_free(&found);
}

/* Many watches on one loop share one inotify instance (the kernel allows
 * 128 instances per user by default): 300 watches all fire, and a callback
 * may free other watches while the hub dispatches. */
#define MANY_WATCHES 300

struct many {
	struct event_base *base;
	struct store_watch *watches[MANY_WATCHES];
	int fired[MANY_WATCHES];
	int total;
};

struct many_ref {
	struct many *m;
	int i;
};

static void on_many(void *ctx)
{
	struct many_ref *r = ctx;
	r->m->fired[r->i]++;
	r->m->total++;
	/* the first one to fire frees the last one (not yet called) */
	if (r->m->total == 1 && r->i != MANY_WATCHES - 1)
		store_watch_free(&r->m->watches[MANY_WATCHES - 1]);
	if (r->m->total == MANY_WATCHES - 1)
		event_base_loopbreak(r->m->base);
}

static int open_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

static void test_many_watches_share_one_instance(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	static struct many m;
	static struct many_ref refs[MANY_WATCHES];
	memset(&m, 0, sizeof m);
	m.base = event_base_new();
	int fds_before = open_fds();
	for (int i = 0; i < MANY_WATCHES; i++) {
		refs[i] = (struct many_ref){ &m, i };
		ok(store_user_watch(f->u, m.base, on_many, &refs[i], &m.watches[i], &err), &err);
	}
	assert_true(open_fds() - fds_before <= 1);
	pid_t pid = child(f, OP_CREATE);
	struct timeval two = { 2, 0 };
	event_base_loopexit(m.base, &two);
	event_base_dispatch(m.base);
	reap(pid);
	assert_int_equal(m.total, MANY_WATCHES - 1);
	for (int i = 0; i < MANY_WATCHES - 1; i++)
		assert_int_equal(m.fired[i], 1);
	assert_null(m.watches[MANY_WATCHES - 1]);
	for (int i = 0; i < MANY_WATCHES; i++)
		store_watch_free(&m.watches[i]);
	assert_int_equal(open_fds(), fds_before);   /* the hub went with its last watch */
	event_base_free(m.base);
}

static void test_fts(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	struct store_mailbox *mb = mbox(f->u, "INBOX");
	for (size_t i = 0; i < 3; i++)
		append_text(f->s, mb, messages[i], 0);
	const uint32_t u1[] = { 1 }, u2[] = { 2 }, u3[] = { 3 }, u12[] = { 1, 2 };
	expect_uids(mb, STORE_SEARCH_TEXT, "quarter", u1, 1);         /* word prefix */
	expect_uids(mb, STORE_SEARCH_BODY, "third quarter", u1, 1);   /* phrase */
	expect_uids(mb, STORE_SEARCH_BODY, "quarter third", NULL, 0);
	expect_uids(mb, STORE_SEARCH_HEADERS, "quarterly", u1, 1);    /* subject */
	expect_uids(mb, STORE_SEARCH_BODY, "quarterly", NULL, 0);     /* not text/plain */
	expect_uids(mb, STORE_SEARCH_TEXT, "bob@example.org", u12, 2);
	expect_uids(mb, STORE_SEARCH_HEADERS, "gr\xc3\xbc\xc3\x9f" "e", u2, 1);  /* decoded header */
	expect_uids(mb, STORE_SEARCH_BODY, "MUNCHEN", u2, 1);         /* case, diacritics */
	expect_uids(mb, STORE_SEARCH_BODY, "pizzeria", u3, 1);        /* base64 part */
	expect_uids(mb, STORE_SEARCH_TEXT, "\"quoted\" OR NOT", NULL, 0);  /* no FTS syntax */
	const uint32_t all[] = { 1, 2, 3 };
	expect_uids(mb, STORE_SEARCH_TEXT, "", all, 3);

	/* Copies share the index row; expunged messages are not found. */
	struct store_mailbox *ar = mbox(f->u, "Archive");
	struct store_copy_result res;
	ok(store_copy(mb, NULL, ar, 0, &res, &err), &err);
	store_copy_result_free(&res);
	expect_uids(ar, STORE_SEARCH_BODY, "pizzeria", u3, 1);
	assert_int_equal(sql_int(f->dir, "users/1/index.db", "SELECT COUNT(*) FROM fts"), 3);
	struct store_flag_change del = { .op = STORE_FLAGS_ADD, .flags = STORE_FLAG_DELETED };
	ok(store_set_flags(ar, NULL, &del, NULL, NULL, NULL, &err), &err);
	ok(store_expunge(ar, NULL, NULL, &err), &err);
	expect_uids(ar, STORE_SEARCH_BODY, "pizzeria", NULL, 0);
	expect_uids(mb, STORE_SEARCH_BODY, "pizzeria", u3, 1);
	ok(store_set_flags(mb, NULL, &del, NULL, NULL, NULL, &err), &err);
	ok(store_expunge(mb, NULL, NULL, &err), &err);
	assert_int_equal(sql_int(f->dir, "users/1/index.db", "SELECT COUNT(*) FROM fts"), 0);
	store_mailbox_close(&ar);
	store_mailbox_close(&mb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_notify_across_processes, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_many_watches_share_one_instance, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_fts, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
