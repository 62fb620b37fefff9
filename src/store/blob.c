/* The blob store: message bodies named by the SHA-256 of their bytes, in
 * DATA_DIR/blobs/ab/cd/<id>, reference-counted in DATA_DIR/blobs.db. See
 * docs/storage.md for the protocol that keeps files, counts and indexes
 * consistent across crashes. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "store/db_batch.h"
#include "store/store_int.h"

#define BLOB_ID_LEN 64

struct store_blob_writer {
	struct store *store;
	int fd;
	char *tmp_path;
	EVP_MD_CTX *md;
	uint64_t size;
};

struct store_blob {
	struct store *store;
	char id[BLOB_ID_LEN + 1];
	uint64_t size;
	void *map;
	struct store_meta *meta;
};

bool blob_id_valid(const char *id)
{
	size_t i;
	for (i = 0; id[i] != '\0'; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return i == BLOB_ID_LEN;
}

char *blob_path(const struct store *s, const char *id)
{
	return xasprintf("%s/" STORE_BLOBS_DIR "/%.2s/%.2s/%s", s->data_dir, id, id + 2, id);
}

/* ---- writing ---- */

int store_blob_begin(struct store *s, struct store_blob_writer **w_r, char **error_r)
{
	unsigned char rnd[8];
	if (RAND_bytes(rnd, sizeof rnd) != 1) {
		*error_r = xstrdup("cannot get random bytes for a temporary file name");
		return -1;
	}
	struct store_blob_writer *w = xcalloc(1, sizeof *w);
	w->store = s;
	w->tmp_path = xasprintf("%s/" STORE_BLOBS_TMP "/%ld.%02x%02x%02x%02x%02x%02x%02x%02x",
				s->data_dir, (long)getpid(), rnd[0], rnd[1], rnd[2], rnd[3],
				rnd[4], rnd[5], rnd[6], rnd[7]);
	w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (w->fd < 0) {
		*error_r = xasprintf("%s: cannot create: %s", w->tmp_path, strerror(errno));
		free(w->tmp_path);
		free(w);
		return -1;
	}
	w->md = EVP_MD_CTX_new();
	if (w->md == NULL || EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1) {
		*error_r = xstrdup("SHA-256 is not available");
		store_blob_abort(&w);
		return -1;
	}
	if (store_own(s, w->tmp_path, error_r) < 0) {
		store_blob_abort(&w);
		return -1;
	}
	*w_r = w;
	return 0;
}

int store_blob_write(struct store_blob_writer *w, const void *data, size_t len, char **error_r)
{
	const char *p = data;
	if (EVP_DigestUpdate(w->md, data, len) != 1) {
		*error_r = xstrdup("SHA-256 update failed");
		return -1;
	}
	w->size += len;
	while (len > 0) {
		ssize_t n = write(w->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*error_r = xasprintf("%s: write: %s", w->tmp_path, strerror(errno));
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void store_blob_abort(struct store_blob_writer **wp)
{
	struct store_blob_writer *w = *wp;
	if (w == NULL)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp_path != NULL)
		(void)unlink(w->tmp_path);
	EVP_MD_CTX_free(w->md);
	free(w->tmp_path);
	free(w);
	*wp = NULL;
}

static struct store_blob *blob_new(struct store *s, const char *id, uint64_t size)
{
	struct store_blob *b = xcalloc(1, sizeof *b);
	b->store = s;
	memcpy(b->id, id, BLOB_ID_LEN);
	b->size = size;
	return b;
}

/* mkdir path when missing, owned. With sync, a new directory is fsynced
 * into its parent at once; without, the caller syncs later (the batch). */
static int blob_mkdir(struct store *s, const char *path, bool sync, char **error_r)
{
	if (sync)
		return store_mkdir(s, path, error_r);
	if (mkdir(path, 0750) < 0) {
		if (errno == EEXIST)
			return 0;
		*error_r = xasprintf("%s: cannot create directory: %s", path, strerror(errno));
		return -1;
	}
	return store_own(s, path, error_r);
}

/* blobs/ab and blobs/ab/cd, made when missing. */
static int make_blob_dirs(struct store *s, const char *id, bool sync, char **error_r)
{
	char *d1 = xasprintf("%s/" STORE_BLOBS_DIR "/%.2s", s->data_dir, id);
	char *d2 = xasprintf("%s/%.2s", d1, id + 2);
	int rc = blob_mkdir(s, d1, sync, error_r) < 0 || blob_mkdir(s, d2, sync, error_r) < 0
		 ? -1 : 0;
	free(d1);
	free(d2);
	return rc;
}

/* syncfs(2) of the file system that holds fd: every file written and
 * renamed there is on disk when it returns 0 (Linux reports write-back
 * errors through it since 5.8). */
static int sync_fs(int fd, const char *what, char **error_r)
{
	if (syncfs(fd) < 0) {
		*error_r = xasprintf("%s: syncfs: %s", what, strerror(errno));
		return -1;
	}
	return 0;
}

/* Inside the blobs.db transaction that records it (so that store_gc, which
 * removes file and row in one transaction too, never races with it): the
 * row, then the written temporary file moved into place. The new name is
 * made durable by the caller, after the commit (see blob_install). */
static int blob_place(sqlite3 *db, struct store_blob_writer *w, const char *id, char **error_r)
{
	struct store *s = w->store;
	if (db_run(db,
		   "INSERT INTO blobs (id, size, refcount, zero_since) VALUES (?1, ?2, 0, ?3) "
		   "ON CONFLICT (id) DO UPDATE SET "
		   "  zero_since = CASE WHEN refcount = 0 THEN ?3 ELSE NULL END",
		   DB_ARGS(db_text(id), db_int((long long)w->size), db_int((long long)time(NULL))),
		   NULL, error_r) < 0)
		return -1;
	char *path = blob_path(s, id);
	struct stat st;
	int rc = 0;
	if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == w->size) {
		(void)unlink(w->tmp_path);   /* the same bytes are there already */
	} else if (rename(w->tmp_path, path) < 0) {
		*error_r = xasprintf("%s: rename: %s", path, strerror(errno));
		rc = -1;
	}
	free(path);
	return rc;
}

/* The blobs.db operation of a commit (db_batch.h): the rows and names of n
 * written blobs, all or none. */
struct install_op {
	struct store_blob_writer **ws;
	char (*ids)[BLOB_ID_LEN + 1];
	size_t n;
};

static int install_op_run(sqlite3 *db, void *arg, char **error_r)
{
	struct install_op *op = arg;
	for (size_t i = 0; i < op->n; i++)
		if (blob_place(db, op->ws[i], op->ids[i], error_r) < 0)
			return -1;
	store_fault_point("blob-after-rename");
	return 0;
}

/* Rows and names of n blobs whose bytes are on disk, committed in one
 * blobs.db transaction (shared with other threads' operations, db_batch.h).
 * The blobs.db write lock is not held across any fsync but SQLite's own:
 * the directories that got the new names are synced after the commit, and
 * before the blobs are returned. A crash in between may lose a rename
 * whose row committed: a row without its file, which nothing refers to yet
 * and which store_gc drops (docs/storage.md, the crash table). With one
 * blob, its ab/cd/ is fsynced, whether this commit renamed the file or
 * found it there (another writer may have renamed it and not yet synced
 * the directory); with several, one syncfs covers them all. */
static int blob_install(struct store *s, struct store_blob_writer **ws,
			char (*ids)[BLOB_ID_LEN + 1], size_t n, char **error_r)
{
	for (size_t i = 0; i < n; i++)
		if (make_blob_dirs(s, ids[i], n == 1, error_r) < 0)
			return -1;
	struct install_op op = { .ws = ws, .ids = ids, .n = n };
	if (db_batch_run(s->blobs, install_op_run, &op, error_r) < 0)
		return -1;
	store_fault_point("blob-after-commit");
	if (n == 1) {
		char *path = blob_path(s, ids[0]);
		*strrchr(path, '/') = '\0';
		int rc = store_fsync_dir(path, error_r);
		free(path);
		return rc;
	}
	char *dir = xasprintf("%s/" STORE_BLOBS_DIR, s->data_dir);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = -1;
	if (fd < 0) {
		*error_r = xasprintf("%s: %s", dir, strerror(errno));
	} else {
		rc = sync_fs(fd, dir, error_r);
		close(fd);
	}
	free(dir);
	return rc;
}

/* The writer's SHA-256 as 64 hex digits; the file closed. */
static int blob_finish(struct store_blob_writer *w, char id[BLOB_ID_LEN + 1], char **error_r)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	int fd = w->fd;
	w->fd = -1;
	if (close(fd) < 0) {
		*error_r = xasprintf("%s: close: %s", w->tmp_path, strerror(errno));
		return -1;
	}
	if (EVP_DigestFinal_ex(w->md, digest, &dlen) != 1 || dlen != 32) {
		*error_r = xstrdup("SHA-256 failed");
		return -1;
	}
	for (unsigned i = 0; i < dlen; i++)
		snprintf(id + 2 * i, 3, "%02x", digest[i]);
	return 0;
}

int store_blob_commit(struct store_blob_writer **wp, struct store_blob **blob_r, char **error_r)
{
	struct store_blob_writer *w = *wp;
	char id[1][BLOB_ID_LEN + 1];
	int rc = -1;
	*blob_r = NULL;
	if (fsync(w->fd) < 0) {
		*error_r = xasprintf("%s: fsync: %s", w->tmp_path, strerror(errno));
		goto out;
	}
	if (blob_finish(w, id[0], error_r) < 0)
		goto out;
	store_fault_point("blob-before-rename");
	if (blob_install(w->store, wp, id, 1, error_r) < 0)
		goto out;
	*blob_r = blob_new(w->store, id[0], w->size);
	rc = 0;
out:
	store_blob_abort(wp);   /* the temporary file is gone or renamed */
	return rc;
}

int store_blob_commit_many(struct store_blob_writer **ws, size_t n, struct store_blob **blobs_r,
			   char **error_r)
{
	if (n == 1)
		return store_blob_commit(&ws[0], &blobs_r[0], error_r);
	int rc = -1;
	char (*ids)[BLOB_ID_LEN + 1] = xcalloc(n ? n : 1, sizeof *ids);
	struct store *s = n > 0 ? ws[0]->store : NULL;
	for (size_t i = 0; i < n; i++)
		blobs_r[i] = NULL;
	if (n == 0) {
		rc = 0;
		goto out;
	}
	/* 1. The bytes of every file on disk: one sync for all. */
	if (sync_fs(ws[0]->fd, ws[0]->tmp_path, error_r) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (blob_finish(ws[i], ids[i], error_r) < 0)
			goto out;
	store_fault_point("blob-before-rename");
	/* 2. Their directories, their rows and their names in one blobs.db
	 * transaction; one sync for all the directories after it commits. */
	if (blob_install(s, ws, ids, n, error_r) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		blobs_r[i] = blob_new(s, ids[i], ws[i]->size);
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		store_blob_abort(&ws[i]);   /* temporary files are gone or renamed */
	free(ids);
	return rc;
}

/* ---- reading ---- */

int store_blob_open(struct store *s, const char *blob_id, struct store_blob **blob_r,
		    char **error_r)
{
	*blob_r = NULL;
	if (!blob_id_valid(blob_id)) {
		*error_r = xasprintf("invalid blob id '%s'", blob_id);
		return -1;
	}
	char *path = blob_path(s, blob_id);
	struct stat st;
	int rc = stat(path, &st);
	if (rc < 0)
		*error_r = xasprintf("%s: %s", path, strerror(errno));
	else
		*blob_r = blob_new(s, blob_id, (uint64_t)st.st_size);
	free(path);
	return rc < 0 ? -1 : 0;
}

const char *store_blob_id(const struct store_blob *b)
{
	return b->id;
}

uint64_t store_blob_size(const struct store_blob *b)
{
	return b->size;
}

int store_blob_data(struct store_blob *b, const void **data_r, size_t *len_r, char **error_r)
{
	if (b->size == 0) {
		*data_r = "";
		*len_r = 0;
		return 0;
	}
	if (b->map == NULL) {
		char *path = blob_path(b->store, b->id);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			*error_r = xasprintf("%s: %s", path, strerror(errno));
			free(path);
			return -1;
		}
		void *m = mmap(NULL, (size_t)b->size, PROT_READ, MAP_PRIVATE, fd, 0);
		close(fd);
		if (m == MAP_FAILED) {
			*error_r = xasprintf("%s: mmap: %s", path, strerror(errno));
			free(path);
			return -1;
		}
		free(path);
		b->map = m;
	}
	*data_r = b->map;
	*len_r = (size_t)b->size;
	return 0;
}

int store_blob_meta(struct store_blob *b, const struct store_meta **meta_r, char **error_r)
{
	if (b->meta == NULL) {
		const void *data;
		size_t len;
		if (store_blob_data(b, &data, &len, error_r) < 0)
			return -1;
		b->meta = xcalloc(1, sizeof *b->meta);
		store_meta_build(data, len, b->meta);
	}
	*meta_r = b->meta;
	return 0;
}

void store_blob_free(struct store_blob **bp)
{
	struct store_blob *b = *bp;
	if (b == NULL)
		return;
	if (b->map != NULL)
		munmap(b->map, (size_t)b->size);
	if (b->meta != NULL) {
		store_meta_clear(b->meta);
		free(b->meta);
	}
	free(b);
	*bp = NULL;
}

/* ---- reference counts ---- */

int blob_refs_lock(struct store *s, bool exclusive, char **error_r)
{
	while (flock(s->lock_fd, exclusive ? LOCK_EX : LOCK_SH) < 0) {
		if (errno != EINTR) {
			*error_r = xasprintf("%s/" STORE_LOCK_FILE ": flock: %s", s->data_dir,
					     strerror(errno));
			return -1;
		}
	}
	return 0;
}

void blob_refs_unlock(struct store *s)
{
	(void)flock(s->lock_fd, LOCK_UN);
}

/* The reference-count operations, run in a blobs.db transaction shared
 * with other threads' (db_batch.h). */
struct refs_op {
	struct store *store;
	const char *const *ids;
	size_t n;
};

static int ref_op_run(sqlite3 *db, void *arg, char **error_r)
{
	struct refs_op *op = arg;
	for (size_t i = 0; i < op->n; i++) {
		int changes = 0;
		if (db_run(db, "UPDATE blobs SET refcount = refcount + 1, zero_since = NULL WHERE id = ?",
			   DB_ARGS(db_text(op->ids[i])), &changes, error_r) < 0)
			return -1;
		char *path = blob_path(op->store, op->ids[i]);
		bool there = access(path, F_OK) == 0;
		free(path);
		if (changes == 0 || !there) {
			*error_r = xasprintf("blob %s was collected before it was delivered; "
					     "write it again", op->ids[i]);
			return -1;
		}
	}
	return 0;
}

static int unref_op_run(sqlite3 *db, void *arg, char **error_r)
{
	struct refs_op *op = arg;
	for (size_t i = 0; i < op->n; i++)
		if (db_run(db,
			   "UPDATE blobs SET refcount = MAX(refcount - 1, 0),"
			   "  zero_since = CASE WHEN refcount <= 1 THEN ?2 ELSE NULL END "
			   "WHERE id = ?1",
			   DB_ARGS(db_text(op->ids[i]), db_int((long long)time(NULL))), NULL,
			   error_r) < 0)
			return -1;
	return 0;
}

int blob_ref(struct store *s, const char *const *ids, size_t n, char **error_r)
{
	struct refs_op op = { .store = s, .ids = ids, .n = n };
	return n == 0 ? 0 : db_batch_run(s->blobs, ref_op_run, &op, error_r);
}

int blob_unref(struct store *s, const char *const *ids, size_t n, char **error_r)
{
	struct refs_op op = { .store = s, .ids = ids, .n = n };
	return n == 0 ? 0 : db_batch_run(s->blobs, unref_op_run, &op, error_r);
}

int store_gc(struct store *s, long grace, size_t *collected_r, char **error_r)
{
	size_t collected = 0;
	for (;;) {
		/* In batches, each one transaction: file and row go together. */
		sqlite3_stmt *q;
		size_t batch = 0, rows = 0;
		if (db_begin(s->blobs, error_r) < 0)
			return -1;
		if (db_prepare(s->blobs,
			       "SELECT id FROM blobs WHERE refcount = 0 AND zero_since <= ? LIMIT 500",
			       DB_ARGS(db_int((long long)time(NULL) - grace)), &q, error_r) < 0)
			goto fail;
		int r;
		while ((r = db_step(q, error_r)) == 1) {
			const char *id = store_db_text(q, 0);
			rows++;
			char *path = blob_path(s, id);
			int gone = unlink(path) == 0 || errno == ENOENT;
			if (!gone)
				log_warn("store", "event=gc_unlink_failed blob=%s error=\"%s\"", id,
					 strerror(errno));
			free(path);
			if (gone && db_run(s->blobs, "DELETE FROM blobs WHERE id = ?",
					   DB_ARGS(db_text(id)), NULL, error_r) < 0) {
				r = -1;
				break;
			}
			if (gone)
				batch++;
		}
		sqlite3_finalize(q);
		if (r < 0)
			goto fail;
		if (db_commit(s->blobs, error_r) < 0)
			return -1;
		collected += batch;
		if (rows < 500 || batch == 0)
			break;
	}
	if (collected > 0)
		log_info("store", "event=gc collected=%zu", collected);
	if (collected_r != NULL)
		*collected_r = collected;
	return 0;
fail:
	db_rollback(s->blobs);
	return -1;
}
