/* store_fetch and store_mailbox_uids: STORE_FETCH_NO_CONTENT, keywords
 * merged by UID over one range or many (one query per range, or one
 * filtered query over their span), a walk stopped by its callback, and the
 * UIDs of a mailbox with gaps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store_fixture.h"

#define N_MSGS 40

/* What one fetch saw, message by message. */
struct seen {
	size_t n;
	struct store_message m[N_MSGS];
	char *kw[N_MSGS];       /* keywords joined by ' ', in the order given */
	char *blob[N_MSGS];     /* NULL when blob_id was */
	bool envelope[N_MSGS];
	size_t stop_after;      /* return 1 after this many (0: never) */
};

static int see(void *ctx, const struct store_message *m)
{
	struct seen *s = ctx;
	assert_true(s->n < N_MSGS);
	s->m[s->n] = *m;
	struct buf kw = BUF_INIT;
	for (size_t i = 0; i < m->n_keywords; i++)
		buf_appendf(&kw, "%s%s", i ? " " : "", m->keywords[i]);
	s->kw[s->n] = buf_steal(&kw);
	s->blob[s->n] = m->blob_id != NULL ? xstrdup(m->blob_id) : NULL;
	s->envelope[s->n] = m->envelope != NULL;
	assert_non_null(m->prefix);
	s->m[s->n].keywords = NULL;
	s->m[s->n].blob_id = NULL;
	s->m[s->n].prefix = NULL;
	s->m[s->n].envelope = s->m[s->n].bodystructure = s->m[s->n].body = NULL;
	s->n++;
	return s->stop_after != 0 && s->n == s->stop_after ? 1 : 0;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->kw[i]);
		free(s->blob[i]);
	}
	memset(s, 0, sizeof *s);
}

/* The keywords message uid is given below (sorted as store_fetch sorts them:
 * without regard to case). */
static const char *want_keywords(uint32_t uid)
{
	if (uid % 15 == 0)
		return "$Forwarded Junk work";
	if (uid % 5 == 0)
		return "Junk work";
	if (uid % 3 == 0)
		return "$Forwarded";
	return "";
}

/* N_MSGS messages in mb: UID i has \Seen when even, a prefix when i % 4 == 0,
 * and the keywords of want_keywords(i), given out of order. */
static void fill(struct fx *f, struct store_mailbox *mb)
{
	for (int i = 1; i <= N_MSGS; i++) {
		char *text = mkmsg(i);
		struct store_blob *b = mkblob(f->s, text);
		const char *kw[3];
		size_t n = 0;
		if (i % 5 == 0) {
			kw[n++] = "work";
			kw[n++] = "Junk";
		}
		if (i % 3 == 0)
			kw[n++] = "$Forwarded";
		struct store_append a = {
			.blob = b, .flags = i % 2 == 0 ? STORE_FLAG_SEEN : 0, .keywords = kw,
			.n_keywords = n, .internaldate = 1700000000 + i,
			.prefix = i % 4 == 0 ? "Delivered-To: bob@example.org\r\n" : NULL,
			.prefix_len = i % 4 == 0 ? 31 : 0,
		};
		uint32_t uid;
		char *err = NULL;
		ok(store_append(mb, &a, 1, 0, &uid, &err), &err);
		assert_int_equal(uid, (uint32_t)i);
		store_blob_free(&b);
		free(text);
	}
}

static void check_message(const struct seen *s, size_t i, uint32_t uid)
{
	assert_int_equal(s->m[i].uid, uid);
	assert_int_equal(s->m[i].flags, uid % 2 == 0 ? STORE_FLAG_SEEN : 0);
	assert_int_equal(s->m[i].internaldate, 1700000000 + uid);
	assert_true(s->m[i].modseq > 0);
	assert_true(s->m[i].savedate > 0);
	assert_string_equal(s->kw[i], want_keywords(uid));
}

static void test_no_content(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	struct store_mailbox *mb = mbox(f->u, "INBOX");
	fill(f, mb);

	struct seen full = { 0 }, lean = { 0 }, env = { 0 };
	ok(store_fetch(mb, NULL, 0, see, &full, &err), &err);
	ok(store_fetch(mb, NULL, STORE_FETCH_NO_CONTENT, see, &lean, &err), &err);
	ok(store_fetch(mb, NULL, STORE_FETCH_NO_CONTENT | STORE_FETCH_ENVELOPE, see, &env, &err),
	   &err);
	assert_int_equal(full.n, N_MSGS);
	assert_int_equal(lean.n, N_MSGS);
	assert_int_equal(env.n, N_MSGS);
	for (size_t i = 0; i < N_MSGS; i++) {
		uint32_t uid = (uint32_t)i + 1;
		check_message(&full, i, uid);
		check_message(&lean, i, uid);
		check_message(&env, i, uid);
		/* The same state either way. */
		assert_int_equal(lean.m[i].modseq, full.m[i].modseq);
		assert_int_equal(lean.m[i].savedate, full.m[i].savedate);
		/* Without: size, blob id and prefix. */
		assert_non_null(full.blob[i]);
		assert_true(full.m[i].size > 0);
		assert_int_equal(full.m[i].prefix_len, uid % 4 == 0 ? 31 : 0);
		assert_null(lean.blob[i]);
		assert_int_equal(lean.m[i].size, 0);
		assert_int_equal(lean.m[i].prefix_len, 0);
		assert_false(full.envelope[i]);
		assert_false(lean.envelope[i]);
		/* A cached field asked for is loaded all the same. */
		assert_true(env.envelope[i]);
	}
	seen_free(&full);
	seen_free(&lean);
	seen_free(&env);
	store_mailbox_close(&mb);
}

/* Keywords per message, over the ways store_fetch walks a set. */
static void test_keywords_ranges(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	struct store_mailbox *mb = mbox(f->u, "INBOX");
	fill(f, mb);
	for (int what = 0; what < 2; what++) {
		unsigned bits = what ? STORE_FETCH_NO_CONTENT : 0;
		/* A few ranges: one query each. */
		struct store_uid_range few[] = { { 28, 31 }, { 3, 6 }, { 14, 16 } };
		struct store_uidset set;
		struct seen s = { 0 };
		ok(store_fetch(mb, uidset_of(few, 3, &set), bits, see, &s, &err), &err);
		static const uint32_t few_uids[] = { 3, 4, 5, 6, 14, 15, 16, 28, 29, 30, 31 };
		assert_int_equal(s.n, 11);
		for (size_t i = 0; i < s.n; i++)
			check_message(&s, i, few_uids[i]);
		seen_free(&s);

		/* Every other UID: 20 ranges of one, more than 16: one query
		 * over their span, filtered. */
		struct store_uid_range many[N_MSGS];
		size_t n = 0;
		for (uint32_t uid = 1; uid <= N_MSGS; uid += 2)
			many[n++] = (struct store_uid_range){ uid, uid };
		assert_true(n > 16);
		ok(store_fetch(mb, uidset_of(many, n, &set), bits, see, &s, &err), &err);
		assert_int_equal(s.n, n);
		for (size_t i = 0; i < n; i++)
			check_message(&s, i, many[i].lo);
		seen_free(&s);

		/* The callback stops the walk: its value comes back. */
		s.stop_after = 7;
		assert_int_equal(store_fetch(mb, NULL, bits, see, &s, &err), 1);
		assert_int_equal(s.n, 7);
		seen_free(&s);
		s.stop_after = 3;
		assert_int_equal(store_fetch(mb, uidset_of(many, n, &set), bits, see, &s, &err), 1);
		assert_int_equal(s.n, 3);
		check_message(&s, 2, many[2].lo);
		seen_free(&s);
	}

	/* Keywords elsewhere in the account, none here. */
	struct store_mailbox *ar = mbox(f->u, "Archive");
	append_n(f->s, ar, 1, 0);
	append_n(f->s, ar, 2, STORE_FLAG_FLAGGED);
	struct seen s = { 0 };
	ok(store_fetch(ar, NULL, STORE_FETCH_NO_CONTENT, see, &s, &err), &err);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.kw[0], "");
	assert_string_equal(s.kw[1], "");
	assert_int_equal(s.m[1].flags, STORE_FLAG_FLAGGED);
	seen_free(&s);

	/* A keyword removed from every message: the walk finds none. */
	const char *all[] = { "$Forwarded", "Junk", "work" };
	struct store_flag_change ch = { .op = STORE_FLAGS_REMOVE, .keywords = all, .n_keywords = 3 };
	ok(store_set_flags(mb, NULL, &ch, NULL, NULL, NULL, &err), &err);
	ok(store_fetch(mb, NULL, STORE_FETCH_NO_CONTENT, see, &s, &err), &err);
	assert_int_equal(s.n, N_MSGS);
	for (size_t i = 0; i < s.n; i++)
		assert_string_equal(s.kw[i], "");
	seen_free(&s);
	store_mailbox_close(&ar);
	store_mailbox_close(&mb);
}

static void test_uids(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	struct store_mailbox *mb = mbox(f->u, "INBOX");
	struct store_uid_list l;
	ok(store_mailbox_uids(mb, &l, &err), &err);
	assert_int_equal(l.count, 0);
	store_uid_list_free(&l);

	fill(f, mb);
	/* Expunge every UID divisible by 7. */
	struct store_uid_range del[N_MSGS / 7];
	for (size_t i = 0; i < N_MSGS / 7; i++)
		del[i] = (struct store_uid_range){ (uint32_t)(i + 1) * 7, (uint32_t)(i + 1) * 7 };
	struct store_uidset set;
	struct store_flag_change ch = { .op = STORE_FLAGS_ADD, .flags = STORE_FLAG_DELETED };
	ok(store_set_flags(mb, uidset_of(del, N_MSGS / 7, &set), &ch, NULL, NULL, NULL, &err),
	   &err);
	ok(store_expunge(mb, NULL, NULL, &err), &err);
	append_n(f->s, mb, 100, 0);   /* UID 41 */

	ok(store_mailbox_uids(mb, &l, &err), &err);
	assert_int_equal(l.count, N_MSGS - N_MSGS / 7 + 1);
	uint32_t want = 1;
	for (size_t i = 0; i < l.count; i++, want++) {
		if (want % 7 == 0)
			want++;
		assert_int_equal(l.uids[i], want);
	}
	assert_int_equal(l.uids[l.count - 1], N_MSGS + 1);
	store_uid_list_free(&l);

	/* Another mailbox's UIDs are not in it; a second call is the same. */
	struct store_mailbox *ar = mbox(f->u, "Archive");
	append_n(f->s, ar, 1, 0);
	ok(store_mailbox_uids(ar, &l, &err), &err);
	assert_int_equal(l.count, 1);
	assert_int_equal(l.uids[0], 1);
	store_uid_list_free(&l);
	ok(store_mailbox_uids(ar, &l, &err), &err);
	assert_int_equal(l.count, 1);
	store_uid_list_free(&l);
	store_mailbox_close(&ar);
	store_mailbox_close(&mb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_content, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_keywords_ranges, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_uids, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
