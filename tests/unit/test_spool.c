/* The spool: a message and its envelope written, committed, listed, read
 * back and removed; a failed write leaves nothing; group commit batches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/pool.h"
#include "core/xmalloc.h"
#include "queue/spool.h"

static char *tmpdir(void)
{
	char tmpl[] = "/tmp/surel-spool-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	return xasprintf("%s/spool", tmpl);
}

static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void cleanup(char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char *p = xasprintf("%s/%s", dir, e->d_name);
		unlink(p);
		free(p);
	}
	if (d != NULL)
		closedir(d);
	rmdir(dir);
	char *parent = xstrdup(dir);
	*strrchr(parent, '/') = '\0';
	rmdir(parent);
	free(parent);
	free(dir);
}

static void sample_envelope(struct spool_envelope *env, const char *id)
{
	memset(env, 0, sizeof *env);
	memcpy(env->id, id, SPOOL_ID_LEN + 1);
	env->received = 1700000000;
	env->client_ip = xstrdup("192.0.2.7");
	env->client_helo = xstrdup("mx.example.net\r\nX-Injected: 100%");
	env->protocol = xstrdup("ESMTPS");
	env->tls = xstrdup("TLSv1.3 TLS_AES_256_GCM_SHA384");
	env->sender = xstrdup("");
	env->size = 5;
	env->body = xstrdup("8BITMIME");
	env->smtputf8 = true;
	env->ret = xstrdup("HDRS");
	env->envid = xstrdup("QQ+2B1");
	spool_envelope_add_rcpt(env, "bob@example.org", "Bob+x@example.org", "SUCCESS,FAILURE",
				"rfc822;Bob+2Bx@example.org", true);
	spool_envelope_add_rcpt(env, "carol@elsewhere.example", NULL, NULL, NULL, false);
}

static void test_write_commit_read_remove(void **state)
{
	char *dir = tmpdir();
	struct spool_msg *m = NULL;
	char *error = NULL;
	assert_int_equal(spool_msg_create(dir, &m, &error), 0);
	char id[SPOOL_ID_LEN + 1];
	memcpy(id, spool_msg_id(m), sizeof id);
	assert_true(spool_id_valid(id));
	spool_msg_write(m, "hello", 5);
	assert_int_equal(spool_msg_size(m), 5);
	struct spool_envelope env;
	sample_envelope(&env, id);
	struct buf text = BUF_INIT;
	spool_envelope_format(&env, &text);
	/* Control characters cannot start a line of their own. */
	assert_non_null(strstr(buf_cstr(&text), "client-helo mx.example.net%0D%0AX-Injected: 100%25\n"));
	assert_int_equal(spool_msg_commit(&m, &text, true), 0);
	assert_null(m);
	assert_int_equal(count_files(dir), 2);

	struct spool_iter *it = NULL;
	assert_int_equal(spool_iter_open(dir, &it, &error), 0);
	const char *got = spool_iter_next(it);
	assert_non_null(got);
	assert_string_equal(got, id);
	assert_null(spool_iter_next(it));
	spool_iter_close(&it);

	struct spool_envelope back;
	assert_int_equal(spool_read_envelope(dir, id, &back, &error), 0);
	assert_string_equal(back.id, id);
	assert_int_equal(back.received, 1700000000);
	assert_string_equal(back.client_helo, env.client_helo);
	assert_string_equal(back.sender, "");
	assert_string_equal(back.tls, env.tls);
	assert_true(back.smtputf8);
	assert_string_equal(back.ret, "HDRS");
	assert_string_equal(back.envid, "QQ+2B1");
	assert_int_equal(back.nrcpts, 2);
	assert_string_equal(back.rcpts[0].address, "bob@example.org");
	assert_string_equal(back.rcpts[0].original, "Bob+x@example.org");
	assert_string_equal(back.rcpts[0].notify, "SUCCESS,FAILURE");
	assert_string_equal(back.rcpts[0].orcpt, "rfc822;Bob+2Bx@example.org");
	assert_true(back.rcpts[0].local);
	assert_null(back.rcpts[1].original);
	assert_false(back.rcpts[1].local);
	spool_envelope_clear(&back);

	int fd = spool_open_message(dir, id, &error);
	assert_true(fd >= 0);
	char b[16];
	assert_int_equal(read(fd, b, sizeof b), 5);
	assert_memory_equal(b, "hello", 5);
	close(fd);

	assert_int_equal(spool_remove(dir, id, &error), 0);
	assert_int_equal(count_files(dir), 0);
	assert_int_equal(spool_remove(dir, id, &error), -1);
	assert_non_null(strstr(error, "no such message"));
	free(error);
	spool_envelope_clear(&env);
	buf_free(&text);
	cleanup(dir);
}

static void test_abort_and_bad_ids(void **state)
{
	char *dir = tmpdir();
	struct spool_msg *m = NULL;
	char *error = NULL;
	assert_int_equal(spool_msg_create(dir, &m, &error), 0);
	spool_msg_write(m, "x", 1);
	assert_int_equal(count_files(dir), 1);
	spool_msg_abort(&m);
	assert_null(m);
	assert_int_equal(count_files(dir), 0);
	struct spool_envelope env;
	assert_int_equal(spool_read_envelope(dir, "../../etc/passwd", &env, &error), -1);
	free(error);
	assert_false(spool_id_valid("0123456789abcdef"));
	assert_true(spool_id_valid("0123456789ABCDEF"));
	assert_int_equal(spool_envelope_parse("garbage\n", 8, &env, &error), -1);
	free(error);
	cleanup(dir);
}

/* A full disk: the write fails with ENOSPC, the commit reports it and
 * leaves nothing. /dev/full stands in for the full disk. */
static void test_full_disk(void **state)
{
	char *dir = tmpdir();
	struct spool_msg *m = NULL;
	char *error = NULL;
	assert_int_equal(spool_msg_create(dir, &m, &error), 0);
	/* Swap the message's file for /dev/full. */
	int full = open("/dev/full", O_WRONLY);
	if (full < 0) {
		spool_msg_abort(&m);
		cleanup(dir);
		skip();
	}
	struct { char *dir; char id[SPOOL_ID_LEN + 1]; int fd; } *peek = (void *)m;
	dup2(full, peek->fd);
	close(full);
	spool_msg_write(m, "data", 4);
	assert_int_equal(spool_msg_errno(m), ENOSPC);
	struct buf text = BUF_INIT;
	buf_append_str(&text, "surel-envelope 1\n");
	assert_int_equal(spool_msg_commit(&m, &text, true), ENOSPC);
	assert_int_equal(count_files(dir), 0);
	buf_free(&text);
	cleanup(dir);
}

/* Group commit: messages submitted together are committed in fewer
 * batches than messages, and every one is reported. */
static int done_count;
static void on_done(int err, void *arg)
{
	assert_int_equal(err, 0);
	done_count++;
	if (done_count == 20)
		event_base_loopbreak(arg);
}

static void test_group_commit(void **state)
{
	char *dir = tmpdir();
	struct event_base *base = event_base_new();
	struct pool *pool = pool_new(base, 2);
	struct spool_committer *c = spool_committer_new(pool, dir, true);
	struct buf text = BUF_INIT;
	for (int i = 0; i < 20; i++) {
		struct spool_msg *m = NULL;
		char *error = NULL;
		assert_int_equal(spool_msg_create(dir, &m, &error), 0);
		spool_msg_write(m, "x\r\n", 3);
		struct spool_envelope env;
		sample_envelope(&env, spool_msg_id(m));
		buf_clear(&text);
		spool_envelope_format(&env, &text);
		spool_envelope_clear(&env);
		spool_commit_submit(c, &m, &text, on_done, base);
	}
	event_base_dispatch(base);
	assert_int_equal(done_count, 20);
	uint64_t messages, batches;
	spool_committer_stats(c, &messages, &batches);
	assert_int_equal(messages, 20);
	assert_true(batches < 20);
	assert_int_equal(count_files(dir), 40);
	pool_free(&pool);
	spool_committer_free(&c);
	event_base_free(base);
	buf_free(&text);
	cleanup(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_commit_read_remove),
		cmocka_unit_test(test_abort_and_bad_ids),
		cmocka_unit_test(test_full_disk),
		cmocka_unit_test(test_group_commit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
