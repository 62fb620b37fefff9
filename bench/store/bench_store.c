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
 *   bench_store append DATA_DIR PROCS THREADS COUNT [SIZE]
 *       Concurrent single deliveries, as IMAP APPEND from many clients:
 *       PROCS processes (the server's workers) of THREADS threads (their
 *       pool threads), each thread with its own store handle and its own
 *       account (ids 1001, 1002, ...), as an IMAP session has. Each thread
 *       writes COUNT unique messages of SIZE bytes (default 10,240) with
 *       store_blob_begin/write/commit and appends each with store_append.
 *       Prints appends/s and the latency of one commit + append.
 *   bench_store query DATA_DIR WORD
 *       Opens account 1's INBOX and gets its counts, fetches the flags of
 *       every message, searches WORD in the bodies.
 *
 * Each prints one JSON object of timings (seconds) and counts on stdout.
 * Not a test: timings never decide anything here. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
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

/* ---- append: concurrent deliveries ---- */

struct appender {
	const char *data_dir;
	long long account;
	size_t count, size;
	double *lat;         /* count latencies, seconds */
};

static void *appender_main(void *arg)
{
	struct appender *a = arg;
	char *error = NULL;
	struct store *s;
	struct store_user *u;
	struct store_mailbox *mb;
	if (store_open(a->data_dir, &s, &error) < 0)
		die("store_open", error);
	if (store_user_open(s, a->account, &u, &error) < 0)
		die("store_user_open", error);
	if (store_mailbox_open(u, "INBOX", &mb, &error) < 0)
		die("store_mailbox_open", error);
	char *msg = malloc(a->size);
	for (size_t i = 0; i < a->count; i++) {
		int head = snprintf(msg, a->size,
				    "From: a%lld@example.org\r\nTo: b@example.org\r\n"
				    "Message-ID: <%lld.%zu.%d@bench>\r\nSubject: append %zu\r\n\r\n",
				    a->account, a->account, i, (int)getpid(), i);
		for (size_t o = (size_t)head; o < a->size; o++)
			msg[o] = (o % 78 == 76) ? '\r' : (o % 78 == 77) ? '\n' : (char)('a' + o % 26);
		double t0 = now();
		struct store_blob_writer *w;
		struct store_blob *b;
		if (store_blob_begin(s, &w, &error) < 0 ||
		    store_blob_write(w, msg, a->size, &error) < 0 ||
		    store_blob_commit(&w, &b, &error) < 0)
			die("store_blob_commit", error);
		struct store_append m = { .blob = b };
		if (store_append(mb, &m, 1, 0, NULL, &error) < 0)
			die("store_append", error);
		store_blob_free(&b);
		a->lat[i] = now() - t0;
	}
	free(msg);
	store_mailbox_close(&mb);
	store_user_close(&u);
	store_close(&s);
	return NULL;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

static int cmd_append(const char *data_dir, int procs, int threads, size_t count, size_t size)
{
	size_t total = (size_t)procs * (size_t)threads * count;
	/* Latencies shared with the children. */
	double *lat = mmap(NULL, total * sizeof *lat, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (lat == MAP_FAILED) {
		perror("bench_store: mmap");
		return 1;
	}
	/* Accounts made (and the store) before the clock starts. */
	char *error = NULL;
	struct store *s;
	if (store_open(data_dir, &s, &error) < 0)
		die("store_open", error);
	for (int i = 0; i < procs * threads; i++) {
		struct store_user *u;
		if (store_user_open(s, 1001 + i, &u, &error) < 0)
			die("store_user_open", error);
		store_user_close(&u);
	}
	store_close(&s);
	double t0 = now();
	for (int p = 0; p < procs; p++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("bench_store: fork");
			return 1;
		}
		if (pid > 0)
			continue;
		pthread_t *th = calloc((size_t)threads, sizeof *th);
		struct appender *a = calloc((size_t)threads, sizeof *a);
		for (int t = 0; t < threads; t++) {
			size_t n = (size_t)(p * threads + t);
			a[t] = (struct appender){ .data_dir = data_dir, .account = 1001 + (long long)n,
						  .count = count, .size = size,
						  .lat = lat + n * count };
			pthread_create(&th[t], NULL, appender_main, &a[t]);
		}
		for (int t = 0; t < threads; t++)
			pthread_join(th[t], NULL);
		_exit(0);
	}
	int failed = 0;
	for (int p = 0; p < procs; p++) {
		int status;
		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	}
	double t1 = now();
	if (failed > 0) {
		fprintf(stderr, "bench_store: %d appender process(es) failed\n", failed);
		return 1;
	}
	qsort(lat, total, sizeof *lat, cmp_double);
	printf("{\"appends\": %zu, \"procs\": %d, \"threads\": %d, \"size\": %zu, "
	       "\"seconds\": %.6f, \"rate\": %.1f, \"latency_p50_ms\": %.3f, "
	       "\"latency_p90_ms\": %.3f, \"latency_p99_ms\": %.3f}\n",
	       total, procs, threads, size, t1 - t0, (double)total / (t1 - t0),
	       1e3 * lat[total / 2], 1e3 * lat[total * 9 / 10], 1e3 * lat[total * 99 / 100]);
	munmap(lat, total * sizeof *lat);
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
	if ((argc == 6 || argc == 7) && strcmp(argv[1], "append") == 0) {
		long procs = strtol(argv[3], NULL, 10), threads = strtol(argv[4], NULL, 10);
		long count = strtol(argv[5], NULL, 10);
		long size = argc == 7 ? strtol(argv[6], NULL, 10) : 10240;
		if (procs < 1 || procs > 64 || threads < 1 || threads > 256 || count < 1 ||
		    size < 200 || size > 100L << 20) {
			fprintf(stderr, "bench_store: PROCS 1-64, THREADS 1-256, COUNT >= 1, "
					"SIZE 200 to 100 MiB\n");
			return 2;
		}
		return cmd_append(argv[2], (int)procs, (int)threads, (size_t)count, (size_t)size);
	}
	if (argc == 4 && strcmp(argv[1], "query") == 0)
		return cmd_query(argv[2], argv[3]);
	fprintf(stderr, "usage: bench_store fill DATA_DIR LIST [BATCH [many|single]]\n"
			"       bench_store append DATA_DIR PROCS THREADS COUNT [SIZE]\n"
			"       bench_store query DATA_DIR WORD\n");
	return 2;
}
