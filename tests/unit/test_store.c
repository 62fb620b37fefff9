/* The mail store: mailboxes, append, fetch, flags with MODSEQ, expunge,
 * copy and move with their UIDs, changes since a MODSEQ, quota, the counts
 * kept in each mailbox, \Recent and the first unseen message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/wait.h>

#include "store_fixture.h"

/* ---- mailboxes ---- */

static void test_default_mailboxes(void **state)
{
	struct fx *f = *state;
	struct store_mailbox_list list;
	char *err = NULL;
	ok(store_mailbox_list(f->u, &list, &err), &err);
	static const struct { const char *name; enum store_special_use use; } want[] = {
		{ "INBOX", STORE_SPECIAL_NONE }, { "Archive", STORE_SPECIAL_ARCHIVE },
		{ "Drafts", STORE_SPECIAL_DRAFTS }, { "Junk", STORE_SPECIAL_JUNK },
		{ "Sent", STORE_SPECIAL_SENT }, { "Trash", STORE_SPECIAL_TRASH },
	};
	assert_int_equal(list.count, 6);
	for (size_t i = 0; i < 6; i++) {
		assert_string_equal(list.items[i].name, want[i].name);
		assert_int_equal(list.items[i].special_use, want[i].use);
		assert_true(list.items[i].subscribed);
		assert_false(list.items[i].has_children);
		assert_int_equal(list.items[i].uidnext, 1);
		assert_int_equal(list.items[i].messages, 0);
		assert_true(list.items[i].uidvalidity > 0);
		for (size_t j = 0; j < i; j++)   /* every UIDVALIDITY given once */
			assert_int_not_equal(list.items[i].uidvalidity, list.items[j].uidvalidity);
	}
	store_mailbox_list_free(&list);
	assert_string_equal(store_special_use_name(STORE_SPECIAL_SENT), "\\Sent");
	assert_int_equal(store_special_use_parse("\\junk"), STORE_SPECIAL_JUNK);
	assert_int_equal(store_special_use_parse("\\Nope"), -1);

	/* Opening the user again does not create them twice. */
	store_user_close(&f->u);
	ok(store_user_open(f->s, 1, &f->u, &err), &err);
	ok(store_mailbox_list(f->u, &list, &err), &err);
	assert_int_equal(list.count, 6);
	store_mailbox_list_free(&list);
}

static bool has_mailbox(struct store_user *u, const char *name, struct store_mailbox_info *out)
{
	struct store_mailbox_list list;
	char *err = NULL;
	bool found = false;
	ok(store_mailbox_list(u, &list, &err), &err);
	for (size_t i = 0; i < list.count; i++) {
		if (strcmp(list.items[i].name, name) == 0) {
			found = true;
			if (out != NULL) {
				*out = list.items[i];
				out->name = xstrdup(out->name);
			}
		}
	}
	store_mailbox_list_free(&list);
	return found;
}

static void test_create_names(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	ok(store_mailbox_create(f->u, "Work/2026/Q1", STORE_SPECIAL_NONE, &err), &err);
	assert_true(has_mailbox(f->u, "Work", NULL));
	assert_true(has_mailbox(f->u, "Work/2026", NULL));
	struct store_mailbox_info info;
	assert_true(has_mailbox(f->u, "Work/2026", &info));
	assert_true(info.has_children);
	assert_false(info.subscribed);
	store_mailbox_info_clear(&info);

	fails(f->u, store_mailbox_create(f->u, "Work/2026", 0, &err), &err,
	      STORE_ERR_ALREADYEXISTS);
	fails(f->u, store_mailbox_create(f->u, "inbox", 0, &err), &err, STORE_ERR_ALREADYEXISTS);
	static const char *const bad[] = {
		"", "/a", "a/", "a//b", "a*b", "50%", "tab\there", "\xc3\x28", "\xed\xa0\x80",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		fails(f->u, store_mailbox_create(f->u, bad[i], 0, &err), &err, STORE_ERR_CANNOT);

	/* UTF-8 names, INBOX children spelt INBOX. */
	ok(store_mailbox_create(f->u, "Entw\xc3\xbc rfe", STORE_SPECIAL_NONE, &err), &err);
	ok(store_mailbox_create(f->u, "inbox/Sub", STORE_SPECIAL_NONE, &err), &err);
	assert_true(has_mailbox(f->u, "INBOX/Sub", NULL));
	ok(store_mailbox_create(f->u, "Flagged", STORE_SPECIAL_FLAGGED, &err), &err);
	assert_true(has_mailbox(f->u, "Flagged", &info));
	assert_int_equal(info.special_use, STORE_SPECIAL_FLAGGED);
	store_mailbox_info_clear(&info);
	ok(store_mailbox_set_special_use(f->u, "Flagged", STORE_SPECIAL_ALL, &err), &err);
	assert_true(has_mailbox(f->u, "Flagged", &info));
	assert_int_equal(info.special_use, STORE_SPECIAL_ALL);
	store_mailbox_info_clear(&info);
	fails(f->u, store_mailbox_set_special_use(f->u, "Nope", STORE_SPECIAL_ALL, &err), &err,
	      STORE_ERR_NONEXISTENT);
}

static void test_delete(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	ok(store_mailbox_create(f->u, "A/B", STORE_SPECIAL_NONE, &err), &err);
	fails(f->u, store_mailbox_delete(f->u, "INBOX", &err), &err, STORE_ERR_CANNOT);
	fails(f->u, store_mailbox_delete(f->u, "Nope", &err), &err, STORE_ERR_NONEXISTENT);
	fails(f->u, store_mailbox_delete(f->u, "A", &err), &err, STORE_ERR_HASCHILDREN);

	struct store_mailbox *mb = mbox(f->u, "A/B");
	uint32_t old_validity = validity(mb);
	append_n(f->s, mb, 1, 0);
	append_n(f->s, mb, 2, 0);
	ok(store_mailbox_subscribe(f->u, "A/B", true, &err), &err);
	ok(store_mailbox_delete(f->u, "A/B", &err), &err);
	assert_false(has_mailbox(f->u, "A/B", NULL));
	/* A handle on a deleted mailbox says so. */
	struct store_mailbox_info info;
	fails(f->u, store_mailbox_status(mb, &info, &err), &err, STORE_ERR_EXPUNGED);
	fails(f->u, store_expunge(mb, NULL, NULL, &err), &err, STORE_ERR_EXPUNGED);
	struct store_blob *b = mkblob(f->s, "x\r\n\r\ny\r\n");
	struct store_append a = { .blob = b };
	fails(f->u, store_append(mb, &a, 1, 0, NULL, &err), &err, STORE_ERR_EXPUNGED);
	store_blob_free(&b);
	store_mailbox_close(&mb);
	/* Its messages are gone from the quota; its subscription stays. */
	struct store_quota q;
	ok(store_quota_usage(f->u, &q, &err), &err);
	assert_int_equal(q.messages, 0);
	assert_int_equal(q.bytes, 0);
	char **subs;
	size_t n;
	ok(store_subscriptions(f->u, &subs, &n, &err), &err);
	bool found = false;
	for (size_t i = 0; i < n; i++)
		found |= strcmp(subs[i], "A/B") == 0;
	assert_true(found);
	store_names_free(&subs, n);
	/* Created again: a new, higher UIDVALIDITY, UIDs from 1. */
	ok(store_mailbox_create(f->u, "A/B", STORE_SPECIAL_NONE, &err), &err);
	mb = mbox(f->u, "A/B");
	assert_true(validity(mb) > old_validity);
	assert_int_equal(append_n(f->s, mb, 3, 0), 1);
	store_mailbox_close(&mb);
}

static void test_rename(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	ok(store_mailbox_create(f->u, "Work/Old/Deep", STORE_SPECIAL_NONE, &err), &err);
	ok(store_mailbox_create(f->u, "Work Stuff", STORE_SPECIAL_NONE, &err), &err);
	ok(store_mailbox_subscribe(f->u, "Work/Old", true, &err), &err);
	struct store_mailbox *mb = mbox(f->u, "Work/Old");
	uint32_t uv = validity(mb);
	assert_int_equal(append_n(f->s, mb, 1, 0), 1);

	fails(f->u, store_mailbox_rename(f->u, "Work", "Work/Sub", &err), &err, STORE_ERR_CANNOT);
	fails(f->u, store_mailbox_rename(f->u, "Work", "Sent", &err), &err,
	      STORE_ERR_ALREADYEXISTS);
	fails(f->u, store_mailbox_rename(f->u, "Nope", "Other", &err), &err,
	      STORE_ERR_NONEXISTENT);
	fails(f->u, store_mailbox_rename(f->u, "Sent", "INBOX", &err), &err,
	      STORE_ERR_ALREADYEXISTS);

	ok(store_mailbox_rename(f->u, "Work", "Projects/2026", &err), &err);
	assert_false(has_mailbox(f->u, "Work", NULL));
	assert_false(has_mailbox(f->u, "Work/Old", NULL));
	assert_true(has_mailbox(f->u, "Work Stuff", NULL));   /* not a child */
	assert_true(has_mailbox(f->u, "Projects", NULL));      /* parent made */
	assert_true(has_mailbox(f->u, "Projects/2026/Old/Deep", NULL));
	struct store_mailbox_info info;
	assert_true(has_mailbox(f->u, "Projects/2026/Old", &info));
	assert_true(info.subscribed);                          /* followed the name */
	assert_int_equal(info.uidvalidity, uv);          /* kept */
	assert_int_equal(info.messages, 1);
	store_mailbox_info_clear(&info);
	/* The open handle follows the mailbox. */
	info = status(mb);
	assert_string_equal(info.name, "Projects/2026/Old");
	store_mailbox_info_clear(&info);
	assert_int_equal(append_n(f->s, mb, 2, 0), 2);
	store_mailbox_close(&mb);

	/* INBOX: its messages move, a new empty INBOX appears. */
	mb = mbox(f->u, "INBOX");
	uv = validity(mb);
	append_n(f->s, mb, 3, 0);
	store_mailbox_close(&mb);
	ok(store_mailbox_rename(f->u, "INBOX", "Old Inbox", &err), &err);
	assert_true(has_mailbox(f->u, "Old Inbox", &info));
	assert_int_equal(info.messages, 1);
	assert_int_equal(info.uidvalidity, uv);
	store_mailbox_info_clear(&info);
	assert_true(has_mailbox(f->u, "INBOX", &info));
	assert_int_equal(info.messages, 0);
	assert_true(info.uidvalidity > uv);
	store_mailbox_info_clear(&info);
	/* Into its own hierarchy too. */
	ok(store_mailbox_rename(f->u, "INBOX", "INBOX/Before", &err), &err);
	assert_true(has_mailbox(f->u, "INBOX/Before", NULL));
	assert_true(has_mailbox(f->u, "INBOX", &info));
	assert_true(info.has_children);
	store_mailbox_info_clear(&info);
}

/* ---- append and fetch ---- */

struct collected {
	size_t n;
	struct store_message m[16];
	char *kw[16];           /* keywords joined by ' ' */
	char *envelope[16], *bodystructure[16], *header[16], *subject[16], *blob[16];
};

static int collect(void *ctx, const struct store_message *m)
{
	struct collected *c = ctx;
	assert_true(c->n < 16);
	c->m[c->n] = *m;
	struct buf kw = BUF_INIT;
	for (size_t i = 0; i < m->n_keywords; i++)
		buf_appendf(&kw, "%s%s", i ? " " : "", m->keywords[i]);
	c->kw[c->n] = buf_steal(&kw);
	c->envelope[c->n] = m->envelope ? xstrdup(m->envelope) : NULL;
	c->bodystructure[c->n] = m->bodystructure ? xstrdup(m->bodystructure) : NULL;
	c->header[c->n] = m->header ? xstrndup(m->header, m->header_len) : NULL;
	c->subject[c->n] = m->subject ? xstrdup(m->subject) : NULL;
	c->blob[c->n] = xstrdup(m->blob_id);
	/* Pointers into the callback's data die with it: keep our copies. */
	c->m[c->n].blob_id = c->blob[c->n];
	c->m[c->n].keywords = NULL;
	c->m[c->n].envelope = c->m[c->n].bodystructure = c->m[c->n].body = NULL;
	c->m[c->n].header = NULL;
	c->m[c->n].from = c->m[c->n].to = c->m[c->n].cc = c->m[c->n].bcc = NULL;
	c->m[c->n].subject = c->m[c->n].message_id = NULL;
	c->n++;
	return 0;
}

static void collected_free(struct collected *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->kw[i]);
		free(c->envelope[i]);
		free(c->bodystructure[i]);
		free(c->header[i]);
		free(c->subject[i]);
		free(c->blob[i]);
	}
	memset(c, 0, sizeof *c);
}

static void test_append_fetch(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	struct store_mailbox *mb = mbox(f->u, "INBOX");
	struct store_mailbox_info before = status(mb);
	char *t1 = mkmsg(1), *t2 = mkmsg(2);
	struct store_blob *b1 = mkblob(f->s, t1), *b2 = mkblob(f->s, t2);
	const char *kw[] = { "$Forwarded", "Work" };
	struct store_append a[2] = {
		{ .blob = b1, .flags = STORE_FLAG_SEEN | STORE_FLAG_FLAGGED, .keywords = kw,
		  .n_keywords = 2, .internaldate = 1600000000 },
		{ .blob = b2, .internaldate = 0 },
	};
	uint32_t uids[2];
	time_t now = time(NULL);
	ok(store_append(mb, a, 2, 0, uids, &err), &err);
	assert_int_equal(uids[0], 1);
	assert_int_equal(uids[1], 2);
	struct store_mailbox_info st = status(mb);
	assert_int_equal(st.messages, 2);
	assert_int_equal(st.unseen, 1);
	assert_int_equal(st.uidnext, 3);
	assert_int_equal(st.highestmodseq, before.highestmodseq + 1);   /* one per call */
	assert_int_equal(st.size, strlen(t1) + strlen(t2));
	store_mailbox_info_clear(&st);
	store_mailbox_info_clear(&before);

	struct collected c = { 0 };
	ok(store_fetch(mb, NULL, STORE_FETCH_ENVELOPE | STORE_FETCH_BODYSTRUCTURE |
		       STORE_FETCH_HEADER | STORE_FETCH_SEARCH, collect, &c, &err), &err);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.m[0].uid, 1);
	assert_int_equal(c.m[0].flags, STORE_FLAG_SEEN | STORE_FLAG_FLAGGED);
	assert_string_equal(c.kw[0], "$Forwarded Work");
	assert_int_equal(c.m[0].internaldate, 1600000000);
	assert_true(c.m[1].internaldate >= now && c.m[1].internaldate <= now + 5);
	assert_true(c.m[0].savedate >= now);
	assert_int_equal(c.m[0].size, strlen(t1));
	assert_string_equal(c.m[0].blob_id, store_blob_id(b1));
	assert_string_equal(c.kw[1], "");
	/* The cached metadata: FETCH never opens the blob for it. */
	assert_non_null(c.envelope[0]);
	assert_non_null(strstr(c.envelope[0], "\"Message 1\""));
	assert_non_null(c.bodystructure[0]);
	assert_non_null(strstr(c.bodystructure[0], "\"text\" \"plain\""));
	size_t hlen = (size_t)(strstr(t1, "\r\n\r\n") - t1) + 4;
	assert_int_equal(strlen(c.header[0]), hlen);
	assert_memory_equal(c.header[0], t1, hlen);
	assert_string_equal(c.subject[0], "Message 1");
	assert_int_equal(c.m[0].sent_date, 1793613600);   /* Mon, 2 Nov 2026 10:00:00 +0000 */
	collected_free(&c);

	/* Without the options, nothing heavy is loaded. */
	struct store_uid_range r = { 2, UINT32_MAX };
	struct store_uidset set;
	ok(store_fetch(mb, uidset_of(&r, 1, &set), 0, collect, &c, &err), &err);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.m[0].uid, 2);
	assert_null(c.envelope[0]);
	assert_null(c.header[0]);
	collected_free(&c);

	/* The blob reads back byte for byte. */
	const void *data;
	size_t len;
	ok(store_blob_data(b1, &data, &len, &err), &err);
	assert_int_equal(len, strlen(t1));
	assert_memory_equal(data, t1, len);

	struct store_uid_list uids_all;
	ok(store_mailbox_uids(mb, &uids_all, &err), &err);
	assert_int_equal(uids_all.count, 2);
	store_uid_list_free(&uids_all);
	store_blob_free(&b1);
	store_blob_free(&b2);
	free(t1);
	free(t2);
	store_mailbox_close(&mb);
}

static void test_append_atomic(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	struct store_mailbox *mb = mbox(f->u, "INBOX");
	struct store_blob *b = mkblob(f->s, "Subject: x\r\n\r\nx\r\n");
	const char *bad_kw[] = { "has space" };
	struct store_append a[2] = {
		{ .blob = b },
		{ .blob = b, .keywords = bad_kw, .n_keywords = 1 },
	};
	fails(f->u, store_append(mb, a, 2, 0, NULL, &err), &err, STORE_ERR_CANNOT);
	a[1].n_keywords = 0;
	a[1].flags = 0x100;
	fails(f->u, store_append(mb, a, 2, 0, NULL, &err), &err, STORE_ERR_CANNOT);
	struct store_mailbox_info st = status(mb);
	assert_int_equal(st.messages, 0);
	assert_int_equal(st.uidnext, 1);
	store_mailbox_info_clear(&st);
	/* The same blob twice in one call: two messages, one body. */
	a[1].flags = 0;
	uint32_t uids[2];
	ok(store_append(mb, a, 2, 0, uids, &err), &err);
	assert_int_equal(uids[1], 2);
	assert_int_equal(sql_int(f->dir, "users/1/index.db", "SELECT COUNT(*) FROM contents"), 1);
	assert_int_equal(sql_int(f->dir, "users/1/index.db", "SELECT refs FROM contents"), 2);
	store_blob_free(&b);
	store_mailbox_close(&mb);
	assert_true(store_keyword_valid("$Junk"));
	assert_false(store_keyword_valid("\\Seen"));
	assert_false(store_keyword_valid("a(b"));
	assert_false(store_keyword_valid(""));
}

/* ---- flags and MODSEQ ---- */

static void test_flags_modseq(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	struct store_mailbox *mb = mbox(f->u, "INBOX");
	for (int i = 1; i <= 4; i++)
		append_n(f->s, mb, i, 0);
	struct store_mailbox_info st = status(mb);
	uint64_t m0 = st.highestmodseq;
	store_mailbox_info_clear(&st);

	/* +FLAGS \Seen on 1:2 */
	struct store_uid_range r12 = { 1, 2 };
	struct store_uidset set;
	struct store_flag_change ch = { .op = STORE_FLAGS_ADD, .flags = STORE_FLAG_SEEN };
	struct collected c = { 0 };
	ok(store_set_flags(mb, uidset_of(&r12, 1, &set), &ch, collect, &c, NULL, &err), &err);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.m[0].modseq, m0 + 1);
	assert_int_equal(c.m[1].modseq, m0 + 1);
	assert_int_equal(c.m[0].flags, STORE_FLAG_SEEN);
	collected_free(&c);

	/* The same again changes nothing: no new MODSEQ, no callback. */
	ok(store_set_flags(mb, &set, &ch, collect, &c, NULL, &err), &err);
	assert_int_equal(c.n, 0);
	st = status(mb);
	assert_int_equal(st.highestmodseq, m0 + 1);
	store_mailbox_info_clear(&st);

	/* Keywords: added case-insensitively, replaced, removed. */
	const char *kw1[] = { "Work", "$Important" };
	ch = (struct store_flag_change){ .op = STORE_FLAGS_ADD, .keywords = kw1, .n_keywords = 2 };
	struct store_uid_range r1 = { 1, 1 };
	ok(store_set_flags(mb, uidset_of(&r1, 1, &set), &ch, collect, &c, NULL, &err), &err);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.kw[0], "$Important Work");
	assert_int_equal(c.m[0].modseq, m0 + 2);
	collected_free(&c);
	const char *kw_case[] = { "WORK" };
	ch = (struct store_flag_change){ .op = STORE_FLAGS_ADD, .keywords = kw_case, .n_keywords = 1 };
	ok(store_set_flags(mb, &set, &ch, collect, &c, NULL, &err), &err);
	assert_int_equal(c.n, 0);   /* already there */
	ch = (struct store_flag_change){ .op = STORE_FLAGS_REMOVE, .keywords = kw_case,
					 .n_keywords = 1 };
	ok(store_set_flags(mb, &set, &ch, collect, &c, NULL, &err), &err);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.kw[0], "$Important");
	collected_free(&c);
	ch = (struct store_flag_change){ .op = STORE_FLAGS_REPLACE,
					 .flags = STORE_FLAG_ANSWERED | STORE_FLAG_DRAFT };
	ok(store_set_flags(mb, &set, &ch, collect, &c, NULL, &err), &err);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.m[0].flags, STORE_FLAG_ANSWERED | STORE_FLAG_DRAFT);
	assert_string_equal(c.kw[0], "");
	uint64_t m_last = c.m[0].modseq;
	collected_free(&c);

	/* UNCHANGEDSINCE: message 1 changed after m0+1; 3 and 4 did not. */
	struct store_uid_range r134[] = { { 1, 1 }, { 3, 4 } };
	struct store_uid_list modified = { 0 };
	ch = (struct store_flag_change){ .op = STORE_FLAGS_ADD, .flags = STORE_FLAG_FLAGGED,
					 .unchangedsince = m0 + 1 };
	ok(store_set_flags(mb, uidset_of(r134, 2, &set), &ch, collect, &c, &modified, &err),
	   &err);
	assert_int_equal(modified.count, 1);
	assert_int_equal(modified.uids[0], 1);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.m[0].uid, 3);
	assert_int_equal(c.m[1].uid, 4);
	assert_int_equal(c.m[0].modseq, m_last + 1);
	collected_free(&c);
	store_uid_list_free(&modified);

	/* Bad input changes nothing. */
	const char *bad[] = { "a]b" };
	ch = (struct store_flag_change){ .op = STORE_FLAGS_ADD, .keywords = bad, .n_keywords = 1 };
	fails(f->u, store_set_flags(mb, NULL, &ch, NULL, NULL, NULL, &err), &err, STORE_ERR_CANNOT);
	store_mailbox_close(&mb);
}

/* ---- expunge and changes since ---- */

static void test_expunge_changes(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	struct store_mailbox *mb = mbox(f->u, "INBOX");
	for (int i = 1; i <= 5; i++)
		append_n(f->s, mb, i, i == 2 || i == 4 || i == 5 ? STORE_FLAG_DELETED : 0);
	struct store_mailbox_info st = status(mb);
	uint64_t m_appended = st.highestmodseq;
	assert_int_equal(st.deleted, 3);
	store_mailbox_info_clear(&st);

	/* UID EXPUNGE 1:4 takes 2 and 4 only (5 is outside, 1 and 3 not \Deleted). */
	struct store_uid_range r = { 1, 4 };
	struct store_uidset set;
	struct store_uid_list gone = { 0 };
	ok(store_expunge(mb, uidset_of(&r, 1, &set), &gone, &err), &err);
	assert_int_equal(gone.count, 2);
	assert_int_equal(gone.uids[0], 2);
	assert_int_equal(gone.uids[1], 4);
	store_uid_list_free(&gone);
	st = status(mb);
	assert_int_equal(st.messages, 3);
	assert_int_equal(st.highestmodseq, m_appended + 1);
	store_mailbox_info_clear(&st);

	/* Nothing to expunge: no MODSEQ spent. */
	ok(store_expunge(mb, uidset_of(&r, 1, &set), &gone, &err), &err);
	assert_int_equal(gone.count, 0);
	st = status(mb);
	assert_int_equal(st.highestmodseq, m_appended + 1);
	store_mailbox_info_clear(&st);

	/* Flag 3, then EXPUNGE everything \Deleted (5). */
	struct store_uid_range r3 = { 3, 3 };
	struct store_flag_change ch = { .op = STORE_FLAGS_ADD, .flags = STORE_FLAG_SEEN };
	ok(store_set_flags(mb, uidset_of(&r3, 1, &set), &ch, NULL, NULL, NULL, &err), &err);
	ok(store_expunge(mb, NULL, &gone, &err), &err);
	assert_int_equal(gone.count, 1);
	assert_int_equal(gone.uids[0], 5);
	store_uid_list_free(&gone);

	/* UIDs are never given again: the next one is 6. */
	assert_int_equal(append_n(f->s, mb, 6, 0), 6);

	/* Since the appends: 2, 4, 5 vanished; 3 (flags) and 6 (new) changed. */
	struct collected c = { 0 };
	struct store_uid_list vanished = { 0 };
	ok(store_changes_since(mb, m_appended, collect, &c, &vanished, &err), &err);
	assert_int_equal(vanished.count, 3);
	assert_int_equal(vanished.uids[0], 2);
	assert_int_equal(vanished.uids[1], 4);
	assert_int_equal(vanished.uids[2], 5);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.m[0].uid, 3);
	assert_int_equal(c.m[0].flags, STORE_FLAG_SEEN);
	assert_int_equal(c.m[1].uid, 6);
	assert_true(c.m[0].modseq > m_appended && c.m[1].modseq > c.m[0].modseq);
	collected_free(&c);
	store_uid_list_free(&vanished);

	/* Since now: nothing. */
	st = status(mb);
	ok(store_changes_since(mb, st.highestmodseq, collect, &c, &vanished, &err), &err);
	assert_int_equal(c.n, 0);
	assert_int_equal(vanished.count, 0);
	/* Since 0: every message, and every expunge. */
	ok(store_changes_since(mb, 0, collect, &c, &vanished, &err), &err);
	assert_int_equal(c.n, 3);
	assert_int_equal(vanished.count, 3);
	collected_free(&c);
	store_uid_list_free(&vanished);
	store_mailbox_info_clear(&st);
	store_mailbox_close(&mb);
}

/* ---- copy and move ---- */

static void test_copy_move(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	struct store_mailbox *in = mbox(f->u, "INBOX"), *ar = mbox(f->u, "Archive");
	for (int i = 1; i <= 4; i++)
		append_n(f->s, in, i, i == 1 ? STORE_FLAG_SEEN : 0);
	append_n(f->s, ar, 100, 0);   /* Archive's UIDNEXT is 2 */
	const char *kw[] = { "Work" };
	struct store_flag_change ch = { .op = STORE_FLAGS_ADD, .keywords = kw, .n_keywords = 1 };
	struct store_uid_range r1 = { 1, 1 };
	struct store_uidset set;
	ok(store_set_flags(in, uidset_of(&r1, 1, &set), &ch, NULL, NULL, NULL, &err), &err);

	/* COPY 3,1 (given out of order): COPYUID pairs by ascending source UID. */
	struct store_uid_range rc[] = { { 3, 3 }, { 1, 1 } };
	struct store_copy_result res;
	struct store_mailbox_info ar_before = status(ar);
	ok(store_copy(in, uidset_of(rc, 2, &set), ar, 0, &res, &err), &err);
	struct store_mailbox_info ar_after = status(ar);
	assert_int_equal(ar_after.highestmodseq, ar_before.highestmodseq + 1);   /* one per call */
	store_mailbox_info_clear(&ar_before);
	assert_int_equal(res.uidvalidity, validity(ar));
	assert_int_equal(res.src_uids.count, 2);
	assert_int_equal(res.src_uids.uids[0], 1);
	assert_int_equal(res.src_uids.uids[1], 3);
	assert_int_equal(res.dst_uids.uids[0], 2);
	assert_int_equal(res.dst_uids.uids[1], 3);
	store_copy_result_free(&res);
	struct collected c = { 0 };
	struct store_uid_range r2 = { 2, 2 };
	ok(store_fetch(ar, uidset_of(&r2, 1, &set), 0, collect, &c, &err), &err);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.m[0].flags, STORE_FLAG_SEEN);   /* flags and keywords copied */
	assert_string_equal(c.kw[0], "Work");
	assert_int_equal(c.m[0].internaldate, 1700000000);
	assert_int_equal(c.m[0].modseq, ar_after.highestmodseq);
	store_mailbox_info_clear(&ar_after);
	collected_free(&c);
	/* A copy shares the body: one contents row, two references. */
	assert_int_equal(sql_int(f->dir, "users/1/index.db", "SELECT COUNT(*) FROM contents"), 5);
	struct store_quota q;
	ok(store_quota_usage(f->u, &q, &err), &err);
	assert_int_equal(q.messages, 7);

	/* MOVE 2:4: new UIDs in Archive, expunged (VANISHED) in INBOX. */
	struct store_mailbox_info st = status(in);
	uint64_t in_modseq = st.highestmodseq;
	store_mailbox_info_clear(&st);
	struct store_uid_range rm = { 2, 4 };
	ok(store_move(in, uidset_of(&rm, 1, &set), ar, &res, &err), &err);
	assert_int_equal(res.src_uids.count, 3);
	assert_int_equal(res.dst_uids.uids[0], 4);
	assert_int_equal(res.dst_uids.uids[2], 6);
	store_copy_result_free(&res);
	struct store_uid_list vanished = { 0 };
	ok(store_changes_since(in, in_modseq, NULL, NULL, &vanished, &err), &err);
	assert_int_equal(vanished.count, 3);
	assert_int_equal(vanished.uids[0], 2);
	store_uid_list_free(&vanished);
	st = status(in);
	assert_int_equal(st.messages, 1);
	store_mailbox_info_clear(&st);
	st = status(ar);
	assert_int_equal(st.messages, 6);
	assert_int_equal(st.uidnext, 7);
	store_mailbox_info_clear(&st);
	ok(store_quota_usage(f->u, &q, &err), &err);
	assert_int_equal(q.messages, 7);   /* a move does not change usage */

	/* Nothing matched: success, empty result. */
	struct store_uid_range none = { 50, 60 };
	ok(store_copy(in, uidset_of(&none, 1, &set), ar, 0, &res, &err), &err);
	assert_int_equal(res.src_uids.count, 0);
	store_copy_result_free(&res);
	store_mailbox_close(&in);
	store_mailbox_close(&ar);
}

/* ---- quota ---- */

static void test_quota(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	struct store_mailbox *mb = mbox(f->u, "INBOX"), *tr = mbox(f->u, "Trash");
	char *t1 = mkmsg(1);
	size_t size = strlen(t1);
	struct store_blob *b = mkblob(f->s, t1);
	struct store_append a = { .blob = b };
	long long limit = (long long)(2 * size + size / 2);
	ok(store_append(mb, &a, 1, limit, NULL, &err), &err);
	ok(store_append(mb, &a, 1, limit, NULL, &err), &err);
	fails(f->u, store_append(mb, &a, 1, limit, NULL, &err), &err, STORE_ERR_OVERQUOTA);
	struct store_copy_result res;
	fails(f->u, store_copy(mb, NULL, tr, limit, &res, &err), &err, STORE_ERR_OVERQUOTA);
	struct store_quota q;
	ok(store_quota_usage(f->u, &q, &err), &err);
	assert_int_equal(q.bytes, 2 * size);
	assert_int_equal(q.messages, 2);
	/* A move needs no room. Expunge frees it. */
	ok(store_move(mb, NULL, tr, &res, &err), &err);
	store_copy_result_free(&res);
	struct store_flag_change ch = { .op = STORE_FLAGS_ADD, .flags = STORE_FLAG_DELETED };
	ok(store_set_flags(tr, NULL, &ch, NULL, NULL, NULL, &err), &err);
	ok(store_expunge(tr, NULL, NULL, &err), &err);
	ok(store_quota_usage(f->u, &q, &err), &err);
	assert_int_equal(q.bytes, 0);
	assert_int_equal(q.messages, 0);
	ok(store_append(mb, &a, 1, limit, NULL, &err), &err);
	store_blob_free(&b);
	free(t1);
	store_mailbox_close(&mb);
	store_mailbox_close(&tr);
}

/* ---- concurrency: two processes appending to one mailbox ---- */

static void test_concurrent_appends(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	enum { PER_CHILD = 25 };
	pid_t pids[2];
	for (int k = 0; k < 2; k++) {
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] == 0) {
			struct store *s;
			struct store_user *u;
			struct store_mailbox *mb;
			if (store_open(f->dir, &s, &err) < 0 || store_user_open(s, 1, &u, &err) < 0 ||
			    store_mailbox_open(u, "INBOX", &mb, &err) < 0)
				_exit(1);
			for (int i = 0; i < PER_CHILD; i++) {
				char *t = mkmsg(1000 * (k + 1) + i);
				struct store_blob_writer *w;
				struct store_blob *b;
				struct store_append a = { 0 };
				if (store_blob_begin(s, &w, &err) < 0 ||
				    store_blob_write(w, t, strlen(t), &err) < 0 ||
				    store_blob_commit(&w, &b, &err) < 0)
					_exit(2);
				a.blob = b;
				if (store_append(mb, &a, 1, 0, NULL, &err) < 0) {
					fprintf(stderr, "append: %s\n", err);
					_exit(3);
				}
				store_blob_free(&b);
				free(t);
			}
			_exit(0);
		}
	}
	for (int k = 0; k < 2; k++) {
		int wstatus;
		assert_int_equal(waitpid(pids[k], &wstatus, 0), pids[k]);
		assert_true(WIFEXITED(wstatus));
		assert_int_equal(WEXITSTATUS(wstatus), 0);
	}
	struct store_mailbox *mb = mbox(f->u, "INBOX");
	struct store_uid_list uids;
	ok(store_mailbox_uids(mb, &uids, &err), &err);
	assert_int_equal(uids.count, 2 * PER_CHILD);
	for (size_t i = 0; i < uids.count; i++)
		assert_int_equal(uids.uids[i], i + 1);   /* distinct, no gap, no reuse */
	store_uid_list_free(&uids);
	struct store_mailbox_info st = status(mb);
	assert_int_equal(st.uidnext, 2 * PER_CHILD + 1);
	store_mailbox_info_clear(&st);
	store_mailbox_close(&mb);
}

/* ---- counts kept by the database, \Recent, the first unseen message ---- */

/* Every mailbox's counts (kept in its row by triggers) are a recount of its
 * messages. */
static void assert_counts_exact(const struct fx *f)
{
	assert_int_equal(sql_int(f->dir, "users/1/index.db",
				 "SELECT COUNT(*) FROM mailboxes mb "
				 "WHERE (messages, unseen, deleted, size) != ("
				 "  SELECT COUNT(*), IFNULL(SUM((m.flags & 1) = 0), 0),"
				 "    IFNULL(SUM((m.flags & 8) != 0), 0), IFNULL(SUM(c.size), 0)"
				 "  FROM messages m JOIN contents c ON c.id = m.content_id"
				 "  WHERE m.mailbox_id = mb.id)"), 0);
}

struct counts {
	uint32_t messages, unseen, deleted;
	uint64_t size;
};

/* STATUS and LIST of mb give these counts, and every mailbox's agree with
 * a recount. */
static void assert_counts(const struct fx *f, struct store_mailbox *mb, struct counts want)
{
	struct store_mailbox_info st = status(mb), li;
	assert_int_equal(st.messages, want.messages);
	assert_int_equal(st.unseen, want.unseen);
	assert_int_equal(st.deleted, want.deleted);
	assert_int_equal(st.size, want.size);
	assert_true(has_mailbox(f->u, st.name, &li));
	assert_int_equal(li.messages, want.messages);
	assert_int_equal(li.unseen, want.unseen);
	assert_int_equal(li.deleted, want.deleted);
	assert_int_equal(li.size, want.size);
	store_mailbox_info_clear(&li);
	store_mailbox_info_clear(&st);
	assert_counts_exact(f);
}

static uint64_t msg_size(int n)
{
	char *text = mkmsg(n);
	uint64_t len = strlen(text);
	free(text);
	return len;
}

static void set_flags(struct store_mailbox *mb, uint32_t uid, enum store_flag_op op,
		      unsigned flags)
{
	struct store_uid_range r = { uid, uid };
	struct store_uidset set;
	struct store_flag_change c = { .op = op, .flags = flags };
	char *err = NULL;
	ok(store_set_flags(mb, uidset_of(&r, 1, &set), &c, NULL, NULL, NULL, &err), &err);
}

/* Flag changes, table-driven: after each, the counts are those of a model. */
static void test_counts_flags(void **state)
{
	struct fx *f = *state;
	enum { S = STORE_FLAG_SEEN, D = STORE_FLAG_DELETED, F = STORE_FLAG_FLAGGED };
	static const unsigned initial[4] = { 0, S, D, S | D };
	static const struct {
		uint32_t uid;
		enum store_flag_op op;
		unsigned flags;
	} steps[] = {
		{ 1, STORE_FLAGS_ADD, S },          { 2, STORE_FLAGS_REMOVE, S },
		{ 4, STORE_FLAGS_REPLACE, F },      { 1, STORE_FLAGS_ADD, F },
		{ 3, STORE_FLAGS_ADD, D },          { 3, STORE_FLAGS_REPLACE, S | D },
		{ 2, STORE_FLAGS_ADD, S | D | F },  { 2, STORE_FLAGS_REMOVE, D },
		{ 4, STORE_FLAGS_REPLACE, 0 },      { 1, STORE_FLAGS_REMOVE, S | D | F },
	};
	struct store_mailbox *mb = mbox(f->u, "INBOX");
	unsigned model[4];
	uint64_t size = 0;
	for (int i = 0; i < 4; i++) {
		model[i] = initial[i];
		assert_int_equal(append_n(f->s, mb, i + 1, initial[i]), i + 1);
		size += msg_size(i + 1);
	}
	assert_counts(f, mb, (struct counts){ 4, 2, 2, size });
	for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
		unsigned *m = &model[steps[k].uid - 1];
		set_flags(mb, steps[k].uid, steps[k].op, steps[k].flags);
		*m = steps[k].op == STORE_FLAGS_ADD ? *m | steps[k].flags
		   : steps[k].op == STORE_FLAGS_REMOVE ? *m & ~steps[k].flags : steps[k].flags;
		struct counts want = { 4, 0, 0, size };
		for (int i = 0; i < 4; i++) {
			want.unseen += (model[i] & S) == 0;
			want.deleted += (model[i] & D) != 0;
		}
		assert_counts(f, mb, want);
	}
	store_mailbox_close(&mb);
}

/* Append, copy (a shared body counts in each mailbox), move, expunge,
 * rename (INBOX too) and delete. */
static void test_counts_messages(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	struct store_mailbox *in = mbox(f->u, "INBOX");
	uint64_t s1 = msg_size(1), s2 = msg_size(2), s3 = msg_size(3);
	append_n(f->s, in, 1, STORE_FLAG_SEEN);
	append_n(f->s, in, 2, 0);
	append_n(f->s, in, 3, STORE_FLAG_DELETED);
	append_n(f->s, in, 1, 0);   /* the same body again: one contents row, counted twice */
	assert_counts(f, in, (struct counts){ 4, 3, 1, 2 * s1 + s2 + s3 });

	ok(store_mailbox_create(f->u, "Work", STORE_SPECIAL_NONE, &err), &err);
	struct store_mailbox *work = mbox(f->u, "Work");
	struct store_uid_range r12 = { 1, 2 }, r3 = { 3, 3 };
	struct store_uidset set;
	struct store_copy_result res;
	ok(store_copy(in, uidset_of(&r12, 1, &set), work, 0, &res, &err), &err);
	store_copy_result_free(&res);
	assert_counts(f, work, (struct counts){ 2, 1, 0, s1 + s2 });
	assert_counts(f, in, (struct counts){ 4, 3, 1, 2 * s1 + s2 + s3 });
	ok(store_move(in, uidset_of(&r3, 1, &set), work, &res, &err), &err);
	store_copy_result_free(&res);
	assert_counts(f, work, (struct counts){ 3, 2, 1, s1 + s2 + s3 });
	assert_counts(f, in, (struct counts){ 3, 2, 0, 2 * s1 + s2 });

	set_flags(in, 1, STORE_FLAGS_ADD, STORE_FLAG_DELETED);
	ok(store_expunge(in, NULL, NULL, &err), &err);
	assert_counts(f, in, (struct counts){ 2, 2, 0, s1 + s2 });
	ok(store_expunge(work, NULL, NULL, &err), &err);
	assert_counts(f, work, (struct counts){ 2, 1, 0, s1 + s2 });

	/* Renames keep a mailbox's counts; INBOX's go with it. */
	ok(store_mailbox_rename(f->u, "Work", "Projects/Work", &err), &err);
	assert_counts(f, work, (struct counts){ 2, 1, 0, s1 + s2 });
	ok(store_mailbox_rename(f->u, "INBOX", "Old", &err), &err);
	assert_counts(f, in, (struct counts){ 2, 2, 0, s1 + s2 });
	struct store_mailbox *fresh = mbox(f->u, "INBOX");
	assert_counts(f, fresh, (struct counts){ 0, 0, 0, 0 });
	ok(store_mailbox_delete(f->u, "Projects/Work", &err), &err);
	assert_counts_exact(f);
	assert_int_equal(sql_int(f->dir, "users/1/index.db",
				 "SELECT SUM(messages) FROM mailboxes"), 2);
	store_mailbox_close(&fresh);
	store_mailbox_close(&work);
	store_mailbox_close(&in);
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

static int add_size(void *ctx, const struct store_message *m)
{
	*(uint64_t *)ctx += m->size;
	return 0;
}

static void test_counts_import(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	static const char *const files[] = {
		"cur/1.host:2,S", "cur/2.host:2,T", "cur/3.host:2,FS", "new/4.host",
	};
	char *md = xasprintf("%s/md", f->dir);
	char *cmd = xasprintf("mkdir -p '%s/cur' '%s/new' '%s/tmp'", md, md, md);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		char *path = xasprintf("%s/%s", md, files[i]);
		char *text = xasprintf("Subject: %zu\n\nline one\nline two of %zu\n", i, i);
		write_file(path, text);
		free(text);
		free(path);
	}
	struct store_import_report rep;
	ok(store_import(f->u, md, "Imported", &rep, &err), &err);
	assert_int_equal(rep.messages, 4);
	struct store_mailbox *mb = mbox(f->u, "Imported");
	uint64_t size = 0;
	ok(store_fetch(mb, NULL, 0, add_size, &size, &err), &err);
	assert_true(size > 0);
	assert_counts(f, mb, (struct counts){ 4, 2, 1, size });
	store_mailbox_close(&mb);
	free(md);
}

static void recent_is(struct store_mailbox *mb, bool claim, uint32_t first, uint32_t next)
{
	uint32_t a = 99, b = 99;
	char *err = NULL;
	ok(store_mailbox_recent(mb, claim, &a, &b, &err), &err);
	assert_int_equal(a, first);
	assert_int_equal(b, next);
}

/* Two sessions on one mailbox: each message is recent in one of them. */
static void test_recent(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	struct store_user *u2;
	ok(store_user_open(f->s, 1, &u2, &err), &err);
	struct store_mailbox *a = mbox(f->u, "INBOX"), *b = mbox(u2, "INBOX");
	recent_is(a, true, 1, 1);   /* empty: nothing to claim */
	for (int i = 1; i <= 3; i++)
		append_n(f->s, a, i, 0);
	recent_is(b, false, 1, 4);   /* EXAMINE: sees them, leaves them */
	recent_is(b, false, 1, 4);
	recent_is(a, true, 1, 4);    /* SELECT: claims them */
	recent_is(b, true, 4, 4);    /* ... so they are not recent here */
	recent_is(a, true, 4, 4);
	append_n(f->s, a, 4, 0);
	append_n(f->s, a, 5, STORE_FLAG_SEEN);
	recent_is(a, false, 4, 6);
	recent_is(b, true, 4, 6);    /* the new ones go to the next claimer */
	recent_is(a, true, 6, 6);
	recent_is(b, false, 6, 6);

	/* Copies arrive as recent in their new mailbox; a new mailbox starts at 1. */
	ok(store_mailbox_create(f->u, "Work", STORE_SPECIAL_NONE, &err), &err);
	struct store_mailbox *w = mbox(f->u, "Work");
	struct store_copy_result res;
	ok(store_copy(a, NULL, w, 0, &res, &err), &err);
	store_copy_result_free(&res);
	recent_is(w, true, 1, 6);
	ok(store_mailbox_delete(f->u, "Work", &err), &err);
	uint32_t x, y;
	fails(f->u, store_mailbox_recent(w, false, &x, &y, &err), &err, STORE_ERR_EXPUNGED);
	store_mailbox_close(&w);
	store_mailbox_close(&b);
	store_mailbox_close(&a);
	store_user_close(&u2);
}

/* Processes claiming while messages arrive: the ranges they get are
 * disjoint and, with a last claim, cover every UID. */
static void test_recent_processes(void **state)
{
	struct fx *f = *state;
	enum { CHILDREN = 3, MESSAGES = 30 };
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pids[CHILDREN];
	for (int k = 0; k < CHILDREN; k++) {
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] > 0)
			continue;
		char *err = NULL;
		struct store *s;
		struct store_user *u;
		struct store_mailbox *mb;
		if (store_open(f->dir, &s, &err) < 0 || store_user_open(s, 1, &u, &err) < 0 ||
		    store_mailbox_open(u, "INBOX", &mb, &err) < 0)
			_exit(1);
		uint32_t range[2] = { 0, 0 };
		for (int i = 0; i < 2000 && range[1] <= MESSAGES; i++) {
			if (store_mailbox_recent(mb, true, &range[0], &range[1], &err) < 0)
				_exit(2);
			if (range[0] < range[1] && write(fds[1], range, sizeof range) != sizeof range)
				_exit(3);
			usleep(500);
		}
		_exit(0);
	}
	close(fds[1]);
	struct store_mailbox *mb = mbox(f->u, "INBOX");
	for (int i = 0; i < MESSAGES; i++)
		append_n(f->s, mb, i, 0);
	for (int k = 0; k < CHILDREN; k++) {
		int wstatus;
		assert_int_equal(waitpid(pids[k], &wstatus, 0), pids[k]);
		assert_true(WIFEXITED(wstatus));
		assert_int_equal(WEXITSTATUS(wstatus), 0);
	}
	int times[MESSAGES + 2] = { 0 };
	uint32_t range[2];
	while (read(fds[0], range, sizeof range) == sizeof range)
		for (uint32_t uid = range[0]; uid < range[1]; uid++)
			times[uid]++;
	close(fds[0]);
	char *err = NULL;
	ok(store_mailbox_recent(mb, true, &range[0], &range[1], &err), &err);
	assert_int_equal(range[1], MESSAGES + 1);
	for (uint32_t uid = range[0]; uid < range[1]; uid++)
		times[uid]++;
	for (uint32_t uid = 1; uid <= MESSAGES; uid++)
		assert_int_equal(times[uid], 1);
	store_mailbox_close(&mb);
}

static void first_unseen_is(struct store_mailbox *mb, uint32_t want)
{
	uint32_t uid = 99;
	char *err = NULL;
	ok(store_mailbox_first_unseen(mb, &uid, &err), &err);
	assert_int_equal(uid, want);
}

/* The query plan of the first-unseen lookup names the partial index. */
static void assert_unseen_plan(const struct fx *f)
{
	char *path = xasprintf("%s/users/1/index.db", f->dir);
	sqlite3 *db;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "EXPLAIN QUERY PLAN SELECT uid FROM messages "
					    "WHERE mailbox_id = 1 AND flags & 1 = 0 "
					    "ORDER BY uid LIMIT 1", -1, &st, NULL), SQLITE_OK);
	struct buf plan = BUF_INIT;
	while (sqlite3_step(st) == SQLITE_ROW)
		buf_appendf(&plan, "%s\n", (const char *)sqlite3_column_text(st, 3));
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(path);
	/* "USING INDEX" with SQLite 3.40 (one table row read for the answer),
	 * "USING COVERING INDEX" where it sees the index's WHERE is the query's. */
	if (strstr(buf_cstr(&plan), "INDEX messages_unseen (mailbox_id=?)") == NULL ||
	    strstr(buf_cstr(&plan), "TEMP B-TREE") != NULL)
		fail_msg("first unseen does not use messages_unseen:\n%s", buf_cstr(&plan));
	buf_free(&plan);
}

static void test_first_unseen(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	struct store_mailbox *in = mbox(f->u, "INBOX");
	first_unseen_is(in, 0);
	append_n(f->s, in, 1, STORE_FLAG_SEEN);
	first_unseen_is(in, 0);
	append_n(f->s, in, 2, 0);
	append_n(f->s, in, 3, STORE_FLAG_DELETED);
	first_unseen_is(in, 2);
	set_flags(in, 2, STORE_FLAGS_ADD, STORE_FLAG_SEEN);
	first_unseen_is(in, 3);
	set_flags(in, 3, STORE_FLAGS_REPLACE, STORE_FLAG_SEEN);
	first_unseen_is(in, 0);
	/* Another mailbox's unseen messages are not this one's. */
	ok(store_mailbox_create(f->u, "Work", STORE_SPECIAL_NONE, &err), &err);
	struct store_mailbox *work = mbox(f->u, "Work");
	append_n(f->s, work, 4, 0);
	first_unseen_is(in, 0);
	first_unseen_is(work, 1);
	set_flags(in, 1, STORE_FLAGS_REMOVE, STORE_FLAG_SEEN);
	first_unseen_is(in, 1);
	assert_unseen_plan(f);
	ok(store_mailbox_delete(f->u, "Work", &err), &err);
	uint32_t uid;
	fails(f->u, store_mailbox_first_unseen(work, &uid, &err), &err, STORE_ERR_EXPUNGED);
	store_mailbox_close(&work);
	store_mailbox_close(&in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_default_mailboxes, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_create_names, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_delete, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_rename, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_append_fetch, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_append_atomic, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_flags_modseq, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_expunge_changes, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_copy_move, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_quota, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_appends, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_counts_flags, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_counts_messages, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_counts_import, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_recent, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_recent_processes, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_first_unseen, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
