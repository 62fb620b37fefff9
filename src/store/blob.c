/* The blob store: message bodies named by the SHA-256 of their bytes, in
 * DATA_DIR/blobs/ab/cd/<id>, reference-counted in DATA_DIR/blobs.db. See
 * docs/store.md for the protocol that keeps files, counts and indexes
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

/* blobs/ab and blobs/ab/cd, made when missing (each fsynced into its parent). */
static int make_blob_dirs(struct store *s, const char *id, char **error_r)
{
	char *d1 = xasprintf("%s/" STORE_BLOBS_DIR "/%.2s", s->data_dir, id);
	char *d2 = xasprintf("%s/%.2s", d1, id + 2);
	int rc = store_mkdir(s, d1, error_r) < 0 || store_mkdir(s, d2, error_r) < 0 ? -1 : 0;
	free(d1);
	free(d2);
	return rc;
}

/* Move the fsynced temporary file into place, in the blobs.db transaction
 * that records it (so that store_gc, which removes file and row in one
 * transaction too, never races with it). */
static int blob_install(struct store_blob_writer *w, const char *id, char **error_r)
{
	struct store *s = w->store;
	char *path = blob_path(s, id);
	char *dir = xstrdup(path);
	*strrchr(dir, '/') = '\0';
	int rc = -1;
	if (make_blob_dirs(s, id, error_r) < 0 || db_begin(s->blobs, error_r) < 0)
		goto out;
	if (db_run(s->blobs,
		   "INSERT INTO blobs (id, size, refcount, zero_since) VALUES (?1, ?2, 0, ?3) "
		   "ON CONFLICT (id) DO UPDATE SET "
		   "  zero_since = CASE WHEN refcount = 0 THEN ?3 ELSE NULL END",
		   DB_ARGS(db_text(id), db_int((long long)w->size), db_int((long long)time(NULL))),
		   NULL, error_r) < 0)
		goto rollback;
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == w->size) {
		(void)unlink(w->tmp_path);   /* the same bytes are there already */
	} else {
		if (rename(w->tmp_path, path) < 0) {
			*error_r = xasprintf("%s: rename: %s", path, strerror(errno));
			goto rollback;
		}
		if (store_fsync_dir(dir, error_r) < 0)
			goto rollback;
	}
	store_fault_point("blob-after-rename");
	rc = db_commit(s->blobs, error_r);
	goto out;
rollback:
	db_rollback(s->blobs);
out:
	free(path);
	free(dir);
	return rc;
}

int store_blob_commit(struct store_blob_writer **wp, struct store_blob **blob_r, char **error_r)
{
	struct store_blob_writer *w = *wp;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	int rc = -1;
	*blob_r = NULL;
	if (fsync(w->fd) < 0) {
		*error_r = xasprintf("%s: fsync: %s", w->tmp_path, strerror(errno));
		goto out;
	}
	if (close(w->fd) < 0) {
		w->fd = -1;
		*error_r = xasprintf("%s: close: %s", w->tmp_path, strerror(errno));
		goto out;
	}
	w->fd = -1;
	if (EVP_DigestFinal_ex(w->md, digest, &dlen) != 1 || dlen != 32) {
		*error_r = xstrdup("SHA-256 failed");
		goto out;
	}
	char id[BLOB_ID_LEN + 1];
	for (unsigned i = 0; i < dlen; i++)
		snprintf(id + 2 * i, 3, "%02x", digest[i]);
	store_fault_point("blob-before-rename");
	if (blob_install(w, id, error_r) < 0)
		goto out;
	*blob_r = blob_new(w->store, id, w->size);
	rc = 0;
out:
	store_blob_abort(wp);   /* the temporary file is gone or renamed */
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

int blob_ref(struct store *s, const char *const *ids, size_t n, char **error_r)
{
	if (n == 0)
		return 0;
	if (db_begin(s->blobs, error_r) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int changes = 0;
		if (db_run(s->blobs,
			   "UPDATE blobs SET refcount = refcount + 1, zero_since = NULL WHERE id = ?",
			   DB_ARGS(db_text(ids[i])), &changes, error_r) < 0)
			goto fail;
		char *path = blob_path(s, ids[i]);
		bool there = access(path, F_OK) == 0;
		free(path);
		if (changes == 0 || !there) {
			*error_r = xasprintf("blob %s was collected before it was delivered; "
					     "write it again", ids[i]);
			goto fail;
		}
	}
	return db_commit(s->blobs, error_r);
fail:
	db_rollback(s->blobs);
	return -1;
}

int blob_unref(struct store *s, const char *const *ids, size_t n, char **error_r)
{
	if (n == 0)
		return 0;
	if (db_begin(s->blobs, error_r) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (db_run(s->blobs,
			   "UPDATE blobs SET refcount = MAX(refcount - 1, 0),"
			   "  zero_since = CASE WHEN refcount <= 1 THEN ?2 ELSE NULL END "
			   "WHERE id = ?1",
			   DB_ARGS(db_text(ids[i]), db_int((long long)time(NULL))), NULL,
			   error_r) < 0) {
			db_rollback(s->blobs);
			return -1;
		}
	}
	return db_commit(s->blobs, error_r);
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
