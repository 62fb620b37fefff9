/* bench/store: the Surel side of the mail-store benchmark (bench/store/run).
 * It goes through store.h only, as the IMAP server will.
 *
 *   bench_store fill DATA_DIR LIST [BATCH [many|single]]
 *       LIST has one line per message: PATH <TAB> FLAGS <TAB> INTERNALDATE
 *       (FLAGS: STORE_FLAG_* bits). Each file (LF lines, as in a Maildir) is
 *       written as a blob with CRLF lines (store_blob_begin/write), and
 *       every BATCH messages (default 100) are committed and appended to
 *       account 1's INBOX with one store_append. "many" (the default)
 *       commits a batch's blobs with one store_blob_commit_many, as import
 *       and MULTIAPPEND do; "single" commits each with store_blob_commit
 *       (one delivery at a time).
 *   bench_store query DATA_DIR WORD
 *       Opens account 1's INBOX and gets its counts, fetches the flags of
 *       every message, searches WORD in the bodies.
 *
 * Each prints one JSON object of timings (seconds) and counts on stdout.
 * Not a test: timings never decide anything here. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"

#define ACCOUNT_ID 1

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, char *error)
{
	fprintf(stderr, "bench_store: %s: %s\n", what, error != NULL ? error : "(no detail)");
	free(error);
	exit(1);
}

/* ---- fill ---- */

/* A writer holding the file's bytes with LF lines turned into CRLF. */
static struct store_blob_writer *write_blob(struct store *s, const char *path)
{
	static char in[65536], out[2 * sizeof in];
	char *error = NULL;
	struct store_blob_writer *w;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "bench_store: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	if (store_blob_begin(s, &w, &error) < 0)
		die("store_blob_begin", error);
	char last = '\0';
	for (;;) {
		ssize_t n = read(fd, in, sizeof in);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "bench_store: %s: read: %s\n", path, strerror(errno));
			exit(1);
		}
		if (n == 0)
			break;
		size_t o = 0;
		for (ssize_t i = 0; i < n; i++) {
			if (in[i] == '\n' && last != '\r')
				out[o++] = '\r';
			out[o++] = in[i];
			last = in[i];
		}
		if (store_blob_write(w, out, o, &error) < 0)
			die("store_blob_write", error);
	}
	close(fd);
	return w;
}

struct fill {
	struct store *s;
	struct store_mailbox *mb;
	bool many;
	size_t n, total;
	struct store_blob_writer **ws;
	struct store_blob **blobs;
	struct store_append *msgs;
	double blob_s, append_s;
};

/* Commit the gathered blobs, append them, free them. */
static void fill_flush(struct fill *f)
{
	char *error = NULL;
	if (f->n == 0)
		return;
	double t0 = now();
	if (f->many) {
		if (store_blob_commit_many(f->ws, f->n, f->blobs, &error) < 0)
			die("store_blob_commit_many", error);
	} else {
		for (size_t i = 0; i < f->n; i++)
			if (store_blob_commit(&f->ws[i], &f->blobs[i], &error) < 0)
				die("store_blob_commit", error);
	}
	double t1 = now();
	for (size_t i = 0; i < f->n; i++)
		f->msgs[i].blob = f->blobs[i];
	if (store_append(f->mb, f->msgs, f->n, 0, NULL, &error) < 0)
		die("store_append", error);
	f->blob_s += t1 - t0;
	f->append_s += now() - t1;
	for (size_t i = 0; i < f->n; i++)
		store_blob_free(&f->blobs[i]);
	f->total += f->n;
	f->n = 0;
}

static int cmd_fill(const char *data_dir, const char *list, size_t batch, bool many)
{
	char *error = NULL;
	struct store_user *u;
	struct fill f = { .many = many };
	FILE *fp = fopen(list, "re");
	if (fp == NULL) {
		fprintf(stderr, "bench_store: %s: %s\n", list, strerror(errno));
		return 1;
	}
	double t0 = now();
	if (store_open(data_dir, &f.s, &error) < 0)
		die("store_open", error);
	if (store_user_open(f.s, ACCOUNT_ID, &u, &error) < 0)
		die("store_user_open", error);
	if (store_mailbox_open(u, "INBOX", &f.mb, &error) < 0)
		die("store_mailbox_open", error);
	f.ws = calloc(batch, sizeof *f.ws);
	f.blobs = calloc(batch, sizeof *f.blobs);
	f.msgs = calloc(batch, sizeof *f.msgs);
	char *line = NULL;
	size_t cap = 0;
	double write_s = 0;
	while (getline(&line, &cap, fp) > 0) {
		char *tab1 = strchr(line, '\t');
		char *tab2 = tab1 != NULL ? strchr(tab1 + 1, '\t') : NULL;
		if (tab2 == NULL) {
			fprintf(stderr, "bench_store: %s: bad line: %s", list, line);
			return 1;
		}
		*tab1 = '\0';
		double w0 = now();
		f.ws[f.n] = write_blob(f.s, line);
		write_s += now() - w0;
		f.msgs[f.n] = (struct store_append){
			.flags = (unsigned)strtoul(tab1 + 1, NULL, 10),
			.internaldate = (time_t)strtoll(tab2 + 1, NULL, 10),
		};
		if (++f.n == batch)
			fill_flush(&f);
	}
	fill_flush(&f);
	double t1 = now();
	printf("{\"messages\": %zu, \"batch\": %zu, \"commit\": \"%s\", \"fill_s\": %.6f, "
	       "\"write_s\": %.6f, \"blob_commit_s\": %.6f, \"append_s\": %.6f}\n", f.total, batch,
	       many ? "many" : "single", t1 - t0, write_s, f.blob_s, f.append_s);
	free(line);
	free(f.ws);
	free(f.blobs);
	free(f.msgs);
	fclose(fp);
	store_mailbox_close(&f.mb);
	store_user_close(&u);
	store_close(&f.s);
	return 0;
}

/* ---- query ---- */

struct flag_counts {
	size_t messages, seen, flagged, answered;
};

static int count_flags(void *ctx, const struct store_message *m)
{
	struct flag_counts *c = ctx;
	c->messages++;
	c->seen += (m->flags & STORE_FLAG_SEEN) != 0;
	c->flagged += (m->flags & STORE_FLAG_FLAGGED) != 0;
	c->answered += (m->flags & STORE_FLAG_ANSWERED) != 0;
	return 0;
}

static int cmd_query(const char *data_dir, const char *word)
{
	char *error = NULL;
	struct store *s;
	struct store_user *u;
	struct store_mailbox *mb;
	struct store_mailbox_info info;
	struct store_uid_list uids, hits;
	struct flag_counts c = { 0 };

	double t0 = now();
	if (store_open(data_dir, &s, &error) < 0)
		die("store_open", error);
	/* LOGIN: the account's index. */
	double t1 = now();
	if (store_user_open(s, ACCOUNT_ID, &u, &error) < 0)
		die("store_user_open", error);
	/* STATUS INBOX (MESSAGES UNSEEN UIDNEXT) */
	double t2 = now();
	if (store_mailbox_open(u, "INBOX", &mb, &error) < 0)
		die("store_mailbox_open", error);
	if (store_mailbox_status(mb, &info, &error) < 0)
		die("store_mailbox_status", error);
	store_mailbox_close(&mb);
	double t3 = now();
	store_mailbox_info_clear(&info);
	/* SELECT INBOX: the mailbox, its counts, its UIDs (sequence numbers). */
	if (store_mailbox_open(u, "INBOX", &mb, &error) < 0)
		die("store_mailbox_open", error);
	if (store_mailbox_status(mb, &info, &error) < 0)
		die("store_mailbox_status", error);
	if (store_mailbox_uids(mb, &uids, &error) < 0)
		die("store_mailbox_uids", error);
	double t4 = now();
	/* The rest of SELECT: [UNSEEN n] and RECENT (as EXAMINE, which does
	 * not claim: every round sees the same, and nothing is written). */
	uint32_t first_unseen, recent_first, recent_next;
	if (store_mailbox_first_unseen(mb, &first_unseen, &error) < 0)
		die("store_mailbox_first_unseen", error);
	if (store_mailbox_recent(mb, false, &recent_first, &recent_next, &error) < 0)
		die("store_mailbox_recent", error);
	double t4b = now();
	/* FETCH 1:* (FLAGS): no size, blob id nor prefix needed */
	if (store_fetch(mb, NULL, STORE_FETCH_NO_CONTENT, count_flags, &c, &error) < 0)
		die("store_fetch", error);
	double t5 = now();
	/* SEARCH BODY word */
	if (store_search_text(mb, STORE_SEARCH_BODY, word, &hits, &error) < 0)
		die("store_search_text", error);
	double t6 = now();
	printf("{\"store_open_s\": %.6f, \"user_open_s\": %.6f, \"status_s\": %.6f, "
	       "\"select_s\": %.6f, \"unseen_recent_s\": %.6f, \"fetch_flags_s\": %.6f, "
	       "\"search_s\": %.6f, \"messages\": %u, \"unseen\": %u, \"uids\": %zu, "
	       "\"fetched\": %zu, \"seen\": %zu, \"flagged\": %zu, \"answered\": %zu, "
	       "\"hits\": %zu, \"first_unseen\": %u, \"recent\": %u}\n",
	       t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4b - t4, t5 - t4b, t6 - t5, info.messages,
	       info.unseen, uids.count, c.messages, c.seen, c.flagged, c.answered, hits.count,
	       first_unseen, recent_next - recent_first);
	store_mailbox_info_clear(&info);
	store_uid_list_free(&uids);
	store_uid_list_free(&hits);
	store_mailbox_close(&mb);
	store_user_close(&u);
	store_close(&s);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && argc <= 6 && strcmp(argv[1], "fill") == 0) {
		long batch = argc >= 5 ? strtol(argv[4], NULL, 10) : 100;
		const char *mode = argc == 6 ? argv[5] : "many";
		if (batch < 1 || batch > 10000 ||
		    (strcmp(mode, "many") != 0 && strcmp(mode, "single") != 0)) {
			fprintf(stderr, "bench_store: BATCH is 1 to 10000; then many or single\n");
			return 2;
		}
		return cmd_fill(argv[2], argv[3], (size_t)batch, strcmp(mode, "many") == 0);
	}
	if (argc == 4 && strcmp(argv[1], "query") == 0)
		return cmd_query(argv[2], argv[3]);
	fprintf(stderr, "usage: bench_store fill DATA_DIR LIST [BATCH [many|single]]\n"
			"       bench_store query DATA_DIR WORD\n");
	return 2;
}
