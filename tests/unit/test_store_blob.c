/* The blob store: content addressing, sharing between users, reference
 * counts and garbage collection, and crash consistency: a process killed
 * (fault injection, _exit) at each step of an append or an expunge leaves a
 * store that `store check` finds consistent or repairs, with no message
 * lost that was acknowledged and no index row without its blob. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "store_fixture.h"
#include "store/store_int.h"   /* store_db_open_index_at: an index of an older schema */

static char *sha256_hex(const char *text)
{
	unsigned char d[32];
	unsigned int n;
	EVP_Digest(text, strlen(text), d, &n, EVP_sha256(), NULL);
	char *hex = xmalloc(65);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	return hex;
}

static char *blob_file(const struct fx *f, const char *id)
{
	return xasprintf("%s/blobs/%.2s/%.2s/%s", f->dir, id, id + 2, id);
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static long long refcount(const struct fx *f, const char *id)
{
	char *sql = xasprintf("SELECT refcount FROM blobs WHERE id = '%s'", id);
	long long n = sql_int(f->dir, "blobs.db", sql);
	free(sql);
	return n;   /* -1: no row */
}

static size_t files_in(const char *dir)
{
	DIR *d = opendir(dir);
	size_t n = 0;
	struct dirent *de;
	while (d != NULL && (de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	if (d != NULL)
		closedir(d);
	return n;
}

static void test_content_address(void **state)
{
	struct fx *f = *state;
	char *text = mkmsg(1);
	char *want = sha256_hex(text);
	struct store_blob *a = mkblob(f->s, text), *b = mkblob(f->s, text);
	assert_string_equal(store_blob_id(a), want);
	assert_string_equal(store_blob_id(b), want);   /* stored once */
	assert_int_equal(store_blob_size(a), strlen(text));
	char *path = blob_file(f, want);
	struct buf content = BUF_INIT;
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	char chunk[512];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
		buf_append(&content, chunk, n);
	fclose(fp);
	assert_int_equal(content.len, strlen(text));
	assert_memory_equal(content.data, text, content.len);
	/* A new blob has no reference and waits for the grace period. */
	assert_int_equal(refcount(f, want), 0);
	char *tmp = xasprintf("%s/blobs/tmp", f->dir);
	assert_int_equal(files_in(tmp), 0);
	char *err = NULL;
	size_t collected;
	ok(store_gc(f->s, 3600, &collected, &err), &err);
	assert_int_equal(collected, 0);
	assert_true(exists(path));
	ok(store_gc(f->s, 0, &collected, &err), &err);
	assert_int_equal(collected, 1);
	assert_false(exists(path));
	assert_int_equal(refcount(f, want), -1);
	/* The handle from before cannot be appended any more: the caller is told. */
	struct store_mailbox *mb = mbox(f->u, "INBOX");
	struct store_append ap = { .blob = a };
	fails(f->u, store_append(mb, &ap, 1, 0, NULL, &err), &err, STORE_ERR_TEMP);
	store_mailbox_close(&mb);
	/* Aborted writers leave nothing. */
	struct store_blob_writer *w;
	ok(store_blob_begin(f->s, &w, &err), &err);
	ok(store_blob_write(w, "abc", 3, &err), &err);
	assert_int_equal(files_in(tmp), 1);
	store_blob_abort(&w);
	assert_int_equal(files_in(tmp), 0);
	/* By id. */
	struct store_blob *c = mkblob(f->s, text), *d;
	ok(store_blob_open(f->s, store_blob_id(c), &d, &err), &err);
	assert_int_equal(store_blob_size(d), strlen(text));
	store_blob_free(&d);
	assert_int_equal(store_blob_open(f->s, "../../etc/passwd", &d, &err), -1);
	xfree(&err);
	store_blob_free(&c);
	store_blob_free(&d);
	free(tmp);
	free(path);
	buf_free(&content);
	store_blob_free(&a);
	store_blob_free(&b);
	free(want);
	free(text);
}

/* One blob, delivered to two users, copied, expunged: counted per user
 * index, collected when the last reference goes. */
static void test_sharing_refcount(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	struct store_user *u2;
	ok(store_user_open(f->s, 2, &u2, &err), &err);
	char *text = mkmsg(7);
	struct store_blob *b = mkblob(f->s, text);
	char *id = xstrdup(store_blob_id(b));
	struct store_mailbox *in1 = mbox(f->u, "INBOX"), *in2 = mbox(u2, "INBOX");
	struct store_append a = { .blob = b };
	ok(store_append(in1, &a, 1, 0, NULL, &err), &err);
	ok(store_append(in2, &a, 1, 0, NULL, &err), &err);
	assert_int_equal(refcount(f, id), 2);
	/* A second copy within a user shares its index's reference. */
	struct store_mailbox *ar1 = mbox(f->u, "Archive");
	struct store_copy_result res;
	ok(store_copy(in1, NULL, ar1, 0, &res, &err), &err);
	store_copy_result_free(&res);
	ok(store_append(in1, &a, 1, 0, NULL, &err), &err);
	assert_int_equal(refcount(f, id), 2);
	store_blob_free(&b);

	/* User 1 expunges two of its three copies: still referenced. */
	struct store_flag_change del = { .op = STORE_FLAGS_ADD, .flags = STORE_FLAG_DELETED };
	ok(store_set_flags(in1, NULL, &del, NULL, NULL, NULL, &err), &err);
	ok(store_expunge(in1, NULL, NULL, &err), &err);
	assert_int_equal(refcount(f, id), 2);
	/* Deleting the mailbox with the last copy drops user 1's reference. */
	store_mailbox_close(&ar1);
	ok(store_mailbox_delete(f->u, "Archive", &err), &err);
	assert_int_equal(refcount(f, id), 1);
	size_t collected;
	ok(store_gc(f->s, 0, &collected, &err), &err);
	assert_int_equal(collected, 0);
	char *path = blob_file(f, id);
	assert_true(exists(path));

	/* Deleting user 2 drops the last: collected after the grace period. */
	store_mailbox_close(&in2);
	store_user_close(&u2);
	ok(store_user_delete(f->s, 2, &err), &err);
	char *dir2 = xasprintf("%s/users/2", f->dir);
	assert_false(exists(dir2));
	assert_int_equal(refcount(f, id), 0);
	ok(store_gc(f->s, 3600, &collected, &err), &err);
	assert_int_equal(collected, 0);
	ok(store_gc(f->s, 0, &collected, &err), &err);
	assert_int_equal(collected, 1);
	assert_false(exists(path));
	struct store_check_report r;
	ok(store_check(f->s, false, 0, &r, &err), &err);
	assert_int_equal(r.refcount_fixed + r.missing_blobs + r.orphans + r.index_fixed, 0);
	store_mailbox_close(&in1);
	free(dir2);
	free(path);
	free(id);
	free(text);
}

/* ---- crashes ---- */

/* In a child: open the store and append text to user 1's INBOX with
 * SUREL_STORE_FAULT=point; the child must die at that point (exit 99). */
static void crash_append(const struct fx *f, const char *point, const char *text)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("SUREL_STORE_FAULT", point, 1);
		struct store *s;
		struct store_user *u;
		struct store_mailbox *mb;
		struct store_blob *b;
		struct store_append a = { 0 };
		char *err = NULL;
		if (store_open(f->dir, &s, &err) < 0 || store_user_open(s, 1, &u, &err) < 0 ||
		    store_mailbox_open(u, "INBOX", &mb, &err) < 0)
			_exit(1);
		struct store_blob_writer *w;
		if (store_blob_begin(s, &w, &err) < 0 || store_blob_write(w, text, strlen(text), &err) < 0 ||
		    store_blob_commit(&w, &b, &err) < 0)
			_exit(2);
		a.blob = b;
		store_append(mb, &a, 1, 0, NULL, &err);
		_exit(3);   /* not reached when the fault fires */
	}
	int wstatus;
	assert_int_equal(waitpid(pid, &wstatus, 0), pid);
	assert_true(WIFEXITED(wstatus));
	assert_int_equal(WEXITSTATUS(wstatus), 99);
}

static uint32_t inbox_count(struct fx *f)
{
	struct store_mailbox *mb = mbox(f->u, "INBOX");
	struct store_mailbox_info st = status(mb);
	uint32_t n = st.messages;
	store_mailbox_info_clear(&st);
	store_mailbox_close(&mb);
	return n;
}

/* Every blob the index names exists (the invariant). */
static void assert_no_row_without_blob(struct fx *f)
{
	char *err = NULL;
	struct store_check_report r;
	ok(store_check(f->s, false, 3600, &r, &err), &err);
	assert_int_equal(r.missing_blobs, 0);
}

struct crash_case {
	const char *point;
	bool acknowledged;   /* the message must be there after the crash */
	size_t found;        /* what store check reports (temporary files, orphans, counts) */
};

static void test_crash_points(void **state)
{
	struct fx *f = *state;
	static const struct crash_case cases[] = {
		{ "blob-before-rename", false, 1 },   /* a temporary file is left */
		{ "blob-after-rename", false, 1 },    /* a blob file without a row */
		/* the row committed, its directory not synced yet: a blob with
		 * no reference (what a crash may leave without its file is
		 * test_crash_after_blob_commit's) */
		{ "blob-after-commit", false, 0 },
		{ "append-after-ref", false, 1 },     /* a count one too high, no index row */
		{ "append-after-commit", true, 0 },   /* committed: the message is there */
	};
	char *err = NULL;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint32_t before = inbox_count(f);
		char *text = xasprintf("Subject: crash %zu\r\n\r\nat %s\r\n", i, cases[i].point);
		crash_append(f, cases[i].point, text);
		assert_int_equal(inbox_count(f), before + (cases[i].acknowledged ? 1 : 0));
		assert_no_row_without_blob(f);

		/* check without repair reports, changes nothing */
		struct store_check_report r;
		ok(store_check(f->s, false, 0, &r, &err), &err);
		size_t found = r.temp_files + r.orphans + r.refcount_fixed;
		assert_int_equal(found, cases[i].found);
		if (strcmp(cases[i].point, "blob-before-rename") == 0)
			assert_int_equal(r.temp_files, 1);
		if (strcmp(cases[i].point, "blob-after-rename") == 0)
			assert_int_equal(r.orphans, 1);
		if (strcmp(cases[i].point, "append-after-ref") == 0)
			assert_int_equal(r.refcount_fixed, 1);
		ok(store_check(f->s, false, 0, &r, &err), &err);
		assert_int_equal(r.temp_files + r.orphans + r.refcount_fixed, found);

		/* repair collects what the crash left */
		ok(store_check(f->s, true, 0, &r, &err), &err);
		ok(store_check(f->s, false, 0, &r, &err), &err);
		assert_int_equal(r.temp_files + r.orphans + r.refcount_fixed + r.missing_blobs +
				 r.index_fixed, 0);
		char *tmp = xasprintf("%s/blobs/tmp", f->dir);
		assert_int_equal(files_in(tmp), 0);
		free(tmp);
		/* Only the acknowledged messages' blobs are left. */
		assert_int_equal(r.blobs, inbox_count(f));
		assert_int_equal(sql_int(f->dir, "blobs.db", "SELECT COUNT(*) FROM blobs"),
				 inbox_count(f));
		free(text);
	}
	/* And the store works on. */
	struct store_mailbox *mb = mbox(f->u, "INBOX");
	assert_int_equal(append_n(f->s, mb, 42, 0), 2);
	store_mailbox_close(&mb);
}

/* Killed between a blob's commit and the fsync of its directory, and the
 * rename lost with the power (the file removed here by hand, which _exit
 * alone does not do): a row with no reference and no file. Nothing refers
 * to it (store_blob_commit had not returned), store check finds nothing
 * wrong, the same bytes can be delivered again, and gc drops such a row. */
static void test_crash_after_blob_commit(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	for (int round = 0; round < 2; round++) {
		char *text = xasprintf("Subject: lost rename %d\r\n\r\nbody\r\n", round);
		char *id = sha256_hex(text);
		char *path = blob_file(f, id);
		crash_append(f, "blob-after-commit", text);
		assert_int_equal(refcount(f, id), 0);
		assert_int_equal(unlink(path), 0);

		struct store_check_report r;
		ok(store_check(f->s, false, 0, &r, &err), &err);
		assert_int_equal(r.temp_files + r.orphans + r.refcount_fixed + r.missing_blobs +
				 r.index_fixed, 0);
		size_t collected = 0;
		if (round == 0) {
			/* Delivered again: the file is put back, the row reused. */
			struct store_blob *b = mkblob(f->s, text);
			assert_true(exists(path));
			struct store_mailbox *mb = mbox(f->u, "INBOX");
			struct store_append a = { .blob = b };
			ok(store_append(mb, &a, 1, 0, NULL, &err), &err);
			store_mailbox_close(&mb);
			store_blob_free(&b);
			assert_int_equal(refcount(f, id), 1);
			ok(store_gc(f->s, 0, &collected, &err), &err);
			assert_int_equal(collected, 0);
			assert_true(exists(path));
		} else {
			/* Never delivered: gc drops the row (the file is gone already). */
			ok(store_gc(f->s, 0, &collected, &err), &err);
			assert_int_equal(collected, 1);
			assert_int_equal(refcount(f, id), -1);
		}
		ok(store_check(f->s, false, 0, &r, &err), &err);
		assert_int_equal(r.temp_files + r.orphans + r.refcount_fixed + r.missing_blobs +
				 r.index_fixed, 0);
		free(path);
		free(id);
		free(text);
	}
	assert_int_equal(inbox_count(f), 1);
}

/* Killed between the expunge's commit and dropping the blob's count: the
 * message is gone, the count is one too high until store check. */
static void test_crash_expunge(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	struct store_mailbox *mb = mbox(f->u, "INBOX");
	append_n(f->s, mb, 1, STORE_FLAG_DELETED);
	store_mailbox_close(&mb);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("SUREL_STORE_FAULT", "expunge-after-commit", 1);
		struct store *s;
		struct store_user *u;
		struct store_mailbox *m;
		if (store_open(f->dir, &s, &err) < 0 || store_user_open(s, 1, &u, &err) < 0 ||
		    store_mailbox_open(u, "INBOX", &m, &err) < 0)
			_exit(1);
		store_expunge(m, NULL, NULL, &err);
		_exit(3);
	}
	int wstatus;
	assert_int_equal(waitpid(pid, &wstatus, 0), pid);
	assert_int_equal(WEXITSTATUS(wstatus), 99);
	assert_int_equal(inbox_count(f), 0);
	struct store_check_report r;
	ok(store_check(f->s, false, 0, &r, &err), &err);
	assert_int_equal(r.refcount_fixed, 1);
	ok(store_check(f->s, true, 0, &r, &err), &err);
	assert_int_equal(r.collected, 1);
	assert_int_equal(sql_int(f->dir, "blobs.db", "SELECT COUNT(*) FROM blobs"), 0);
}

/* A blob lost from the disk: check names it; repair expunges its messages
 * (clients see them vanish) so that no index row lacks its blob. */
static void test_check_missing_blob(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	struct store_mailbox *mb = mbox(f->u, "INBOX");
	char *t1 = mkmsg(1), *t2 = mkmsg(2);
	append_text(f->s, mb, t1, 0);
	append_text(f->s, mb, t2, 0);
	struct store_mailbox_info st = status(mb);
	uint64_t modseq = st.highestmodseq;
	store_mailbox_info_clear(&st);
	char *id = sha256_hex(t1);
	char *path = blob_file(f, id);
	assert_int_equal(unlink(path), 0);
	struct store_check_report r;
	ok(store_check(f->s, false, 0, &r, &err), &err);
	assert_int_equal(r.missing_blobs, 1);
	assert_int_equal(inbox_count(f), 2);
	ok(store_check(f->s, true, 0, &r, &err), &err);
	assert_int_equal(r.missing_blobs, 1);
	assert_int_equal(inbox_count(f), 1);
	struct store_uid_list vanished = { 0 };
	ok(store_changes_since(mb, modseq, NULL, NULL, &vanished, &err), &err);
	assert_int_equal(vanished.count, 1);
	assert_int_equal(vanished.uids[0], 1);
	store_uid_list_free(&vanished);
	ok(store_check(f->s, false, 0, &r, &err), &err);
	assert_int_equal(r.missing_blobs + r.refcount_fixed + r.index_fixed, 0);
	struct store_quota q;
	ok(store_quota_usage(f->u, &q, &err), &err);
	assert_int_equal(q.bytes, strlen(t2));
	store_mailbox_close(&mb);
	free(id);
	free(path);
	free(t1);
	free(t2);
}

/* Counters the index keeps and check recomputes. */
static void test_check_index(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	struct store_mailbox *mb = mbox(f->u, "INBOX");
	append_n(f->s, mb, 1, 0);
	append_n(f->s, mb, 2, 0);
	sql_exec(f->dir, "users/1/index.db",
		 "UPDATE mailboxes SET uidnext = 2, highestmodseq = 1 WHERE name = 'INBOX';"
		 "UPDATE meta SET value = 5 WHERE key = 'quota_bytes';"
		 "DELETE FROM fts;");
	struct store_check_report r;
	ok(store_check(f->s, false, 0, &r, &err), &err);
	/* uidnext, highestmodseq, quota_bytes, two search rows */
	assert_int_equal(r.index_fixed, 5);
	ok(store_check(f->s, true, 0, &r, &err), &err);
	ok(store_check(f->s, false, 0, &r, &err), &err);
	assert_int_equal(r.index_fixed, 0);
	struct store_mailbox_info st = status(mb);
	assert_int_equal(st.uidnext, 3);
	store_mailbox_info_clear(&st);
	assert_int_equal(append_n(f->s, mb, 3, 0), 3);   /* no UID given twice */
	struct store_uid_list found;
	ok(store_search_text(mb, STORE_SEARCH_BODY, "message", &found, &err), &err);
	assert_int_equal(found.count, 3);   /* re-indexed */
	store_uid_list_free(&found);
	store_mailbox_close(&mb);
}

/* ---- several blobs committed at once (import, MULTIAPPEND) ---- */

static struct store_blob_writer *writer_of(struct store *s, const char *text)
{
	struct store_blob_writer *w;
	char *err = NULL;
	ok(store_blob_begin(s, &w, &err), &err);
	ok(store_blob_write(w, text, strlen(text), &err), &err);
	return w;
}

/* The same result as one store_blob_commit each: content addressed, stored
 * once (a duplicate in the batch, a blob already there), no reference yet,
 * nothing left in blobs/tmp; appendable. */
static void test_commit_many(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	char *texts[6] = { mkmsg(1), mkmsg(2), mkmsg(3), mkmsg(4), mkmsg(1), mkmsg(9) };
	struct store_blob *before = mkblob(f->s, texts[5]);
	struct store_blob_writer *ws[6];
	struct store_blob *blobs[6];
	for (size_t i = 0; i < 6; i++)
		ws[i] = writer_of(f->s, texts[i]);
	ok(store_blob_commit_many(ws, 6, blobs, &err), &err);
	for (size_t i = 0; i < 6; i++) {
		assert_null(ws[i]);
		char *want = sha256_hex(texts[i]);
		assert_string_equal(store_blob_id(blobs[i]), want);
		assert_int_equal(store_blob_size(blobs[i]), strlen(texts[i]));
		char *path = blob_file(f, want);
		assert_true(exists(path));
		assert_int_equal(refcount(f, want), 0);
		const void *data;
		size_t len;
		ok(store_blob_data(blobs[i], &data, &len, &err), &err);
		assert_memory_equal(data, texts[i], len);
		free(path);
		free(want);
	}
	assert_int_equal(sql_int(f->dir, "blobs.db", "SELECT COUNT(*) FROM blobs"), 5);
	char *tmp = xasprintf("%s/blobs/tmp", f->dir);
	assert_int_equal(files_in(tmp), 0);

	struct store_mailbox *mb = mbox(f->u, "INBOX");
	struct store_append a[6];
	for (size_t i = 0; i < 6; i++)
		a[i] = (struct store_append){ .blob = blobs[i] };
	ok(store_append(mb, a, 6, 0, NULL, &err), &err);
	assert_int_equal(inbox_count(f), 6);
	assert_int_equal(refcount(f, store_blob_id(blobs[0])), 1);
	struct store_check_report r;
	ok(store_check(f->s, false, 0, &r, &err), &err);
	assert_int_equal(r.missing_blobs + r.refcount_fixed + r.orphans + r.temp_files +
			 r.index_fixed, 0);
	store_mailbox_close(&mb);

	/* Nothing to commit; one is store_blob_commit. */
	ok(store_blob_commit_many(ws, 0, blobs, &err), &err);
	ws[0] = writer_of(f->s, texts[2]);
	struct store_blob *one;
	ok(store_blob_commit_many(ws, 1, &one, &err), &err);
	assert_null(ws[0]);
	assert_string_equal(store_blob_id(one), store_blob_id(blobs[2]));
	store_blob_free(&one);
	assert_int_equal(files_in(tmp), 0);

	for (size_t i = 0; i < 6; i++) {
		store_blob_free(&blobs[i]);
		free(texts[i]);
	}
	store_blob_free(&before);
	free(tmp);
}

/* A process killed inside store_blob_commit_many: before the renames, the
 * temporary files are left; after them (rows not committed), orphan blob
 * files; after the commit (the sync of the directories not done), rows
 * with no reference. Nothing was acknowledged; store check finds the first
 * two, and its repair (gc with grace 0) collects all three. */
static void test_crash_commit_many(void **state)
{
	struct fx *f = *state;
	static const char *const points[] = { "blob-before-rename", "blob-after-rename",
					      "blob-after-commit" };
	char *err = NULL;
	char *tmp = xasprintf("%s/blobs/tmp", f->dir);
	for (size_t p = 0; p < 3; p++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			setenv("SUREL_STORE_FAULT", points[p], 1);
			struct store *s;
			struct store_blob_writer *ws[3];
			struct store_blob *blobs[3];
			if (store_open(f->dir, &s, &err) < 0)
				_exit(1);
			for (int i = 0; i < 3; i++) {
				char *text = xasprintf("Subject: batch %zu.%d\r\n\r\nat %s\r\n", p, i,
						       points[p]);
				if (store_blob_begin(s, &ws[i], &err) < 0 ||
				    store_blob_write(ws[i], text, strlen(text), &err) < 0)
					_exit(2);
				free(text);
			}
			store_blob_commit_many(ws, 3, blobs, &err);
			_exit(3);   /* not reached when the fault fires */
		}
		int wstatus;
		assert_int_equal(waitpid(pid, &wstatus, 0), pid);
		assert_true(WIFEXITED(wstatus));
		assert_int_equal(WEXITSTATUS(wstatus), 99);
		assert_int_equal(sql_int(f->dir, "blobs.db", "SELECT COUNT(*) FROM blobs"),
				 p == 2 ? 3 : 0);
		assert_int_equal(files_in(tmp), p == 0 ? 3 : 0);

		struct store_check_report r;
		ok(store_check(f->s, false, 0, &r, &err), &err);
		assert_int_equal(r.temp_files, p == 0 ? 3 : 0);
		assert_int_equal(r.orphans, p == 1 ? 3 : 0);
		ok(store_check(f->s, true, 0, &r, &err), &err);
		ok(store_check(f->s, false, 0, &r, &err), &err);
		assert_int_equal(r.temp_files + r.orphans + r.blobs, 0);
		assert_int_equal(files_in(tmp), 0);
	}
	free(tmp);
}

/* ---- the counts kept in each mailbox ---- */

/* Counts and a recent mark gone wrong (by hand here): check finds them,
 * repair recounts. */
static void test_check_counts(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	struct store_mailbox *in = mbox(f->u, "INBOX"), *junk = mbox(f->u, "Junk");
	append_n(f->s, in, 1, STORE_FLAG_SEEN);
	append_n(f->s, in, 2, STORE_FLAG_DELETED);
	append_n(f->s, junk, 3, 0);
	struct store_mailbox_info good_in = status(in), good_junk = status(junk);
	sql_exec(f->dir, "users/1/index.db",
		 "UPDATE mailboxes SET unseen = unseen + 5, size = 1 WHERE name = 'INBOX';"
		 "UPDATE mailboxes SET messages = 0 WHERE name = 'Junk';"
		 "UPDATE mailboxes SET recent_uid = 99 WHERE name = 'Sent';");
	struct store_check_report r;
	ok(store_check(f->s, false, 0, &r, &err), &err);
	assert_int_equal(r.index_fixed, 3);   /* two mailboxes' counts, one recent mark */
	struct store_mailbox_info st = status(in);
	assert_int_equal(st.unseen, good_in.unseen + 5);   /* a check changes nothing */
	store_mailbox_info_clear(&st);
	ok(store_check(f->s, true, 0, &r, &err), &err);
	assert_int_equal(r.index_fixed, 3);
	ok(store_check(f->s, false, 0, &r, &err), &err);
	assert_int_equal(r.index_fixed, 0);
	st = status(in);
	assert_int_equal(st.messages, good_in.messages);
	assert_int_equal(st.unseen, good_in.unseen);
	assert_int_equal(st.deleted, good_in.deleted);
	assert_int_equal(st.size, good_in.size);
	store_mailbox_info_clear(&st);
	st = status(junk);
	assert_int_equal(st.messages, good_junk.messages);
	store_mailbox_info_clear(&st);
	assert_int_equal(sql_int(f->dir, "users/1/index.db",
				 "SELECT recent_uid FROM mailboxes WHERE name = 'Sent'"), 1);
	store_mailbox_info_clear(&good_in);
	store_mailbox_info_clear(&good_junk);
	store_mailbox_close(&junk);
	store_mailbox_close(&in);
}

/* An index of schema version 2 (before the counts) with messages: the
 * migration counts them, and puts the recent mark at UIDNEXT. */
static void test_migration_counts(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	char *dir = xasprintf("%s/users/2", f->dir);
	char *path = xasprintf("%s/index.db", dir);
	assert_int_equal(mkdir(dir, 0750), 0);
	sqlite3 *db;
	ok(store_db_open_index_at(path, 2, &db, &err), &err);
	assert_int_equal(sqlite3_exec(db,
		"UPDATE meta SET value = 1 WHERE key = 'initialized';"
		"INSERT INTO mailboxes (id, name, uidvalidity, uidnext, highestmodseq) VALUES"
		"  (1, 'INBOX', 1000, 5, 3), (2, 'Work', 1001, 2, 2), (3, 'Empty', 1002, 1, 1);"
		"INSERT INTO contents (id, blob, size, refs) VALUES"
		"  (1, 'a', 100, 2), (2, 'b', 250, 1), (3, 'c', 40, 1);"
		"INSERT INTO messages (mailbox_id, uid, content_id, flags, modseq, internaldate,"
		"  savedate) VALUES (1, 1, 1, 1, 2, 0, 0), (1, 2, 2, 4, 2, 0, 0),"
		"  (1, 4, 3, 9, 3, 0, 0), (2, 1, 1, 8, 2, 0, 0);",
		NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(sql_int(f->dir, "users/2/index.db", "PRAGMA user_version"), 2);

	struct store_user *u;
	ok(store_user_open(f->s, 2, &u, &err), &err);
	assert_int_equal(sql_int(f->dir, "users/2/index.db", "PRAGMA user_version"), 3);
	static const struct {
		const char *name;
		uint32_t messages, unseen, deleted, size, recent, first_unseen;
	} want[] = {
		{ "INBOX", 3, 1, 1, 390, 5, 2 },
		{ "Work", 1, 1, 1, 100, 2, 1 },
		{ "Empty", 0, 0, 0, 0, 1, 0 },
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		struct store_mailbox *mb = mbox(u, want[i].name);
		struct store_mailbox_info st = status(mb);
		assert_int_equal(st.messages, want[i].messages);
		assert_int_equal(st.unseen, want[i].unseen);
		assert_int_equal(st.deleted, want[i].deleted);
		assert_int_equal(st.size, want[i].size);
		store_mailbox_info_clear(&st);
		uint32_t first, next, uid;
		ok(store_mailbox_recent(mb, false, &first, &next, &err), &err);
		assert_int_equal(first, want[i].recent);   /* nothing recent after the upgrade */
		assert_int_equal(next, want[i].recent);
		ok(store_mailbox_first_unseen(mb, &uid, &err), &err);
		assert_int_equal(uid, want[i].first_unseen);
		store_mailbox_close(&mb);
	}
	/* And the triggers keep them from now on. */
	struct store_mailbox *mb = mbox(u, "INBOX");
	uint64_t size = strlen("x\r\n\r\ny\r\n");
	append_text(f->s, mb, "x\r\n\r\ny\r\n", 0);
	struct store_mailbox_info st = status(mb);
	assert_int_equal(st.messages, 4);
	assert_int_equal(st.unseen, 2);
	assert_int_equal(st.size, 390 + size);
	store_mailbox_info_clear(&st);
	uint32_t first, next;
	ok(store_mailbox_recent(mb, true, &first, &next, &err), &err);
	assert_int_equal(first, 5);
	assert_int_equal(next, 6);
	store_mailbox_close(&mb);
	store_user_close(&u);
	free(path);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_content_address, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_sharing_refcount, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_crash_points, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_crash_after_blob_commit, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_crash_expunge, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_check_missing_blob, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_check_index, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_commit_many, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_crash_commit_many, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_check_counts, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_migration_counts, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
