/* The store's per-message header prefix (local delivery's Return-Path and
 * Delivered-To): two users, one blob file, different prefixes; sizes,
 * cached header and BODYSTRUCTURE over prefix + blob, reference counts,
 * append-once, expunge, export round trip, store check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>

#include "store_fixture.h"

static const char BODY[] =
	"From: Carol <carol@remote.example>\r\n"
	"To: team@example.org\r\n"
	"Subject: Shared\r\n"
	"Message-ID: <shared@remote.example>\r\n"
	"\r\n"
	"line one\r\n"
	"line two\r\n"
	"line three\r\n";

struct got {
	uint64_t size;
	char *blob_id, *prefix, *header, *bodystructure, *envelope;
	size_t prefix_len, header_len;
	uint32_t uid;
	int n;
};

static int collect(void *ctx, const struct store_message *m)
{
	struct got *g = ctx;
	g->n++;
	g->uid = m->uid;
	g->size = m->size;
	g->blob_id = xstrdup(m->blob_id);
	g->prefix = xstrndup(m->prefix, m->prefix_len);
	g->prefix_len = m->prefix_len;
	g->header = m->header != NULL ? xstrndup(m->header, m->header_len) : NULL;
	g->header_len = m->header_len;
	g->bodystructure = xstrdup(m->bodystructure);
	g->envelope = xstrdup(m->envelope);
	return 0;
}

static void got_free(struct got *g)
{
	free(g->blob_id);
	free(g->prefix);
	free(g->header);
	free(g->bodystructure);
	free(g->envelope);
	memset(g, 0, sizeof *g);
}

static struct got fetch_one(struct store_mailbox *mb)
{
	struct got g = { 0 };
	char *err = NULL;
	ok(store_fetch(mb, NULL, STORE_FETCH_HEADER | STORE_FETCH_BODYSTRUCTURE |
		       STORE_FETCH_ENVELOPE, collect, &g, &err), &err);
	return g;
}

static size_t count_blob_files(const char *dir)
{
	char *cmd = xasprintf("find '%s/blobs' -path '*/tmp' -prune -o -type f -print | wc -l",
			      dir);
	FILE *p = popen(cmd, "r");
	free(cmd);
	size_t n = 0;
	assert_int_equal(fscanf(p, "%zu", &n), 1);
	pclose(p);
	return n;
}

static char *prefix_for(const char *rcpt)
{
	return xasprintf("Return-Path: <carol@remote.example>\r\nDelivered-To: %s\r\n", rcpt);
}

static uint32_t append_prefixed(struct store_mailbox *mb, struct store_blob *b, const char *p,
				bool once)
{
	struct store_append a = { .blob = b, .internaldate = 1700000000, .prefix = p,
				  .prefix_len = p != NULL ? strlen(p) : 0, .once = once };
	uint32_t uid = 99;
	char *err = NULL;
	ok(store_append(mb, &a, 1, 0, &uid, &err), &err);
	return uid;
}

static void test_two_users_one_blob(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	struct store_user *u2;
	ok(store_user_open(f->s, 2, &u2, &err), &err);
	struct store_mailbox *mb1 = mbox(f->u, "INBOX"), *mb2 = mbox(u2, "INBOX");
	struct store_blob *b = mkblob(f->s, BODY);
	char *p1 = prefix_for("alice@example.org"), *p2 = prefix_for("bob@example.org");
	assert_int_equal(append_prefixed(mb1, b, p1, true), 1);
	assert_int_equal(append_prefixed(mb2, b, p2, true), 1);
	/* once: the same delivery again appends nothing */
	assert_int_equal(append_prefixed(mb1, b, p1, true), 0);
	assert_int_equal(count_blob_files(f->dir), 1);
	char *sql = xasprintf("SELECT refcount FROM blobs WHERE id = '%s'", store_blob_id(b));
	assert_int_equal(sql_int(f->dir, "blobs.db", sql), 2);

	struct got g1 = fetch_one(mb1), g2 = fetch_one(mb2);
	assert_int_equal(g1.n, 1);
	assert_int_equal(g1.size, strlen(p1) + strlen(BODY));
	assert_int_equal(g2.size, strlen(p2) + strlen(BODY));
	assert_string_equal(g1.blob_id, g2.blob_id);
	assert_string_equal(g1.prefix, p1);
	assert_string_equal(g2.prefix, p2);
	/* the cached header block is that of prefix + blob */
	char *want = xasprintf("%s%.*s", p1, (int)(strstr(BODY, "\r\n\r\n") + 4 - BODY), BODY);
	assert_non_null(g1.header);
	assert_string_equal(g1.header, want);
	free(want);
	/* BODYSTRUCTURE: the body's three lines, 32 octets, not the prefix */
	if (strstr(g1.bodystructure, "\"7bit\" 32 3 ") == NULL)
		fail_msg("BODYSTRUCTURE %s", g1.bodystructure);
	assert_string_equal(g1.bodystructure, g2.bodystructure);
	assert_non_null(strstr(g1.envelope, "\"Shared\""));
	struct store_quota q;
	ok(store_quota_usage(f->u, &q, &err), &err);
	assert_int_equal(q.bytes, g1.size);
	assert_int_equal(q.messages, 1);
	/* a message's bytes: prefix then blob */
	struct store_blob *ob;
	const void *data;
	size_t len;
	ok(store_blob_open(f->s, g1.blob_id, &ob, &err), &err);
	ok(store_blob_data(ob, &data, &len, &err), &err);
	assert_int_equal(len, strlen(BODY));
	assert_memory_equal(data, BODY, len);
	store_blob_free(&ob);
	got_free(&g1);
	got_free(&g2);

	/* The same blob in one account with and without a prefix: one
	 * reference in blobs.db for that account, until its last row goes. */
	assert_int_equal(append_prefixed(mb1, b, NULL, false), 2);
	assert_int_equal(sql_int(f->dir, "blobs.db", sql), 2);
	struct store_uid_range r1 = { 1, 1 };
	struct store_uidset s1 = { &r1, 1 };
	struct store_flag_change del = { .op = STORE_FLAGS_ADD, .flags = STORE_FLAG_DELETED };
	ok(store_set_flags(mb1, &s1, &del, NULL, NULL, NULL, &err), &err);
	ok(store_expunge(mb1, NULL, NULL, &err), &err);
	assert_int_equal(sql_int(f->dir, "blobs.db", sql), 2);
	struct got g3 = fetch_one(mb1);
	assert_int_equal(g3.size, strlen(BODY));
	assert_int_equal(g3.prefix_len, 0);
	got_free(&g3);
	ok(store_set_flags(mb1, NULL, &del, NULL, NULL, NULL, &err), &err);
	ok(store_expunge(mb1, NULL, NULL, &err), &err);
	assert_int_equal(sql_int(f->dir, "blobs.db", sql), 1);

	struct store_check_report rep;
	ok(store_check(f->s, false, 3600, &rep, &err), &err);
	assert_int_equal(rep.refcount_fixed, 0);
	assert_int_equal(rep.index_fixed, 0);
	assert_int_equal(rep.missing_blobs, 0);

	free(sql);
	free(p1);
	free(p2);
	store_blob_free(&b);
	store_mailbox_close(&mb1);
	store_mailbox_close(&mb2);
	store_user_close(&u2);
}

static void test_export_round_trip(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	struct store_mailbox *mb = mbox(f->u, "INBOX");
	struct store_blob *b = mkblob(f->s, BODY);
	char *p = prefix_for("alice@example.org");
	append_prefixed(mb, b, p, true);
	char *out = xasprintf("%s/export", f->dir);
	size_t n = 0;
	ok(store_export(f->u, out, STORE_EXPORT_MBOX, NULL, &n, &err), &err);
	assert_int_equal(n, 1);
	char *file = xasprintf("%s/INBOX.mbox", out);
	FILE *fp = fopen(file, "r");
	assert_non_null(fp);
	char text[4096];
	size_t len = fread(text, 1, sizeof text - 1, fp);
	text[len] = '\0';
	fclose(fp);
	/* "From " line, then prefix + blob with LF lines */
	const char *msg = strchr(text, '\n') + 1;
	static const char want_start[] = "Return-Path: <carol@remote.example>\n"
					 "Delivered-To: alice@example.org\nFrom: Carol";
	assert_true(strncmp(msg, want_start, strlen(want_start)) == 0);
	assert_non_null(strstr(msg, "line three\n"));

	/* Imported into another account: the same message, now one blob. */
	struct store_user *u3;
	ok(store_user_open(f->s, 3, &u3, &err), &err);
	struct store_import_report rep;
	ok(store_import(u3, out, NULL, &rep, &err), &err);
	assert_int_equal(rep.messages, 1);
	struct store_mailbox *mb3 = mbox(u3, "INBOX");
	struct got g = fetch_one(mb3);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.size, strlen(p) + strlen(BODY));
	assert_int_equal(g.prefix_len, 0);
	assert_non_null(g.header);
	assert_true(strncmp(g.header, p, strlen(p)) == 0);
	got_free(&g);
	store_mailbox_close(&mb3);
	store_user_close(&u3);
	free(file);
	free(out);
	free(p);
	store_blob_free(&b);
	store_mailbox_close(&mb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_two_users_one_blob, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_export_round_trip, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
