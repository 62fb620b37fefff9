/* The store and its users: opening, paths, ownership, errors, quota. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "core/privs.h"
#include "core/xmalloc.h"
#include "store/store_int.h"

/* ---- errors ---- */

enum store_error store_user_last_error(const struct store_user *u)
{
	return u->last_error;
}

const char *store_error_name(enum store_error e)
{
	switch (e) {
	case STORE_ERR_NONE:          return "NONE";
	case STORE_ERR_NONEXISTENT:   return "NONEXISTENT";
	case STORE_ERR_ALREADYEXISTS: return "ALREADYEXISTS";
	case STORE_ERR_HASCHILDREN:   return "HASCHILDREN";
	case STORE_ERR_CANNOT:        return "CANNOT";
	case STORE_ERR_OVERQUOTA:     return "OVERQUOTA";
	case STORE_ERR_EXPUNGED:      return "EXPUNGEISSUED";
	case STORE_ERR_TEMP:          return "UNAVAILABLE";
	case STORE_ERR_INTERNAL:      return "SERVERBUG";
	}
	return "SERVERBUG";
}

int store_fail(struct store_user *u, enum store_error kind, char **error_r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	*error_r = xvasprintf(fmt, ap);
	va_end(ap);
	if (u != NULL)
		u->last_error = kind;
	return -1;
}

int store_db_fail(struct store_user *u, char **error_r)
{
	if (u != NULL) {
		int code = sqlite3_errcode(u->db) & 0xff;
		u->last_error = code == SQLITE_BUSY || code == SQLITE_LOCKED ? STORE_ERR_TEMP
									   : STORE_ERR_INTERNAL;
	}
	return -1;
}

/* ---- files ---- */

int store_own(struct store *s, const char *path, char **error_r)
{
	if (!s->chown)
		return 0;
	if (lchown(path, s->uid, s->gid) < 0 && errno != ENOENT) {
		*error_r = xasprintf("%s: chown: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int store_fsync_dir(const char *path, char **error_r)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0) {
		*error_r = xasprintf("%s: fsync: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int store_mkdir(struct store *s, const char *path, char **error_r)
{
	if (mkdir(path, 0750) < 0) {
		if (errno == EEXIST)
			return 0;
		*error_r = xasprintf("%s: cannot create directory: %s", path, strerror(errno));
		return -1;
	}
	if (store_own(s, path, error_r) < 0)
		return -1;
	/* The new entry must survive a crash: fsync the parent. */
	char *parent = xstrdup(path);
	char *slash = strrchr(parent, '/');
	int rc = 0;
	if (slash != NULL) {
		*slash = '\0';
		rc = store_fsync_dir(slash == parent ? "/" : parent, error_r);
	}
	free(parent);
	return rc;
}

void store_fault_point(const char *point)
{
	const char *want = getenv("SUREL_STORE_FAULT");
	if (want != NULL && strcmp(want, point) == 0) {
		log_warn("store", "event=fault_injection point=%s", point);
		_exit(99);
	}
}

char *store_user_dir(const struct store *s, long long id)
{
	return xasprintf("%s/" STORE_USERS_DIR "/%lld", s->data_dir, id);
}

/* ---- the store ---- */

/* A database and the -wal and -shm files SQLite made: readable by the
 * owner and group only (SQLite creates them 0644), owned. */
static int own_db_files(struct store *s, const char *db, char **error_r)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	for (size_t i = 0; i < 3; i++) {
		char *p = xasprintf("%s%s", db, suffixes[i]);
		struct stat st;
		if (stat(p, &st) == 0 && (st.st_mode & 0037) != 0)
			(void)chmod(p, st.st_mode & 0740);   /* not ours to change: leave it */
		int r = store_own(s, p, error_r);
		free(p);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int open_store(const char *data_dir, bool chown_files, uid_t uid, gid_t gid,
		      struct store **store_r, char **error_r)
{
	struct store *s = xcalloc(1, sizeof *s);
	s->data_dir = xstrdup(data_dir);
	s->lock_fd = -1;
	s->chown = chown_files;
	s->uid = uid;
	s->gid = gid;
	char *blobs = xasprintf("%s/" STORE_BLOBS_DIR, data_dir);
	char *tmp = xasprintf("%s/" STORE_BLOBS_TMP, data_dir);
	char *users = xasprintf("%s/" STORE_USERS_DIR, data_dir);
	char *db = xasprintf("%s/" STORE_BLOBS_DB, data_dir);
	char *lock = xasprintf("%s/" STORE_LOCK_FILE, data_dir);
	int rc = -1;
	if (store_mkdir(s, blobs, error_r) < 0 || store_mkdir(s, tmp, error_r) < 0 ||
	    store_mkdir(s, users, error_r) < 0)
		goto out;
	s->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (s->lock_fd < 0) {
		*error_r = xasprintf("%s: cannot open: %s", lock, strerror(errno));
		goto out;
	}
	if (store_own(s, lock, error_r) < 0 || store_db_open_blobs(db, &s->blobs, error_r) < 0)
		goto out;
	/* SQLite made the -wal and -shm files as this process. */
	if (own_db_files(s, db, error_r) < 0)
		goto out;
	rc = 0;
out:
	free(blobs);
	free(tmp);
	free(users);
	free(db);
	free(lock);
	if (rc < 0)
		store_close(&s);
	*store_r = s;
	return rc;
}

int store_open(const char *data_dir, struct store **store_r, char **error_r)
{
	return open_store(data_dir, false, 0, 0, store_r, error_r);
}

int store_open_config(const struct config *cfg, struct store **store_r, char **error_r)
{
	uid_t uid = 0;
	gid_t gid = 0;
	*store_r = NULL;
	if (privs_make_data_dir(cfg, error_r) < 0)
		return -1;
	if (privs_are_root() && privs_lookup(cfg, &uid, &gid, error_r) < 0)
		return -1;
	return open_store(cfg->server_data_dir, privs_are_root(), uid, gid, store_r, error_r);
}

void store_close(struct store **store)
{
	struct store *s = *store;
	if (s == NULL)
		return;
	db_close(&s->blobs);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->data_dir);
	free(s);
	*store = NULL;
}

/* ---- users ---- */

/* First open of a new account: its default mailboxes, once. */
static int user_init(struct store_user *u, char **error_r)
{
	long long done = 0;
	if (db_get_int(u->db, "SELECT value FROM meta WHERE key = 'initialized'", DB_NO_ARGS,
		       &done, error_r) < 0)
		return -1;
	if (done)
		return 0;
	if (db_begin(u->db, error_r) < 0)
		return -1;
	if (db_get_int(u->db, "SELECT value FROM meta WHERE key = 'initialized'", DB_NO_ARGS,
		       &done, error_r) < 0)
		goto fail;
	if (!done) {
		if (mailbox_create_defaults(u, error_r) < 0 ||
		    db_run(u->db, "UPDATE meta SET value = 1 WHERE key = 'initialized'", DB_NO_ARGS,
			   NULL, error_r) < 0)
			goto fail;
	}
	return db_commit(u->db, error_r);
fail:
	db_rollback(u->db);
	return -1;
}

int store_user_open(struct store *s, long long account_id, struct store_user **u_r,
		    char **error_r)
{
	*u_r = NULL;
	if (account_id <= 0) {
		*error_r = xasprintf("invalid account id %lld", account_id);
		return -1;
	}
	struct store_user *u = xcalloc(1, sizeof *u);
	u->store = s;
	u->id = account_id;
	u->changes_fd = -1;
	u->dir = store_user_dir(s, account_id);
	char *index = xasprintf("%s/" STORE_INDEX_DB, u->dir);
	char *changes = xasprintf("%s/" STORE_CHANGES, u->dir);
	int rc = -1;
	if (store_mkdir(s, u->dir, error_r) < 0 ||
	    store_db_open_index(index, &u->db, NULL, error_r) < 0)
		goto out;
	if (own_db_files(s, index, error_r) < 0)
		goto out;
	u->changes_fd = open(changes, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
	if (u->changes_fd < 0) {
		*error_r = xasprintf("%s: cannot open: %s", changes, strerror(errno));
		goto out;
	}
	if (store_own(s, changes, error_r) < 0 || user_init(u, error_r) < 0)
		goto out;
	rc = 0;
out:
	free(index);
	free(changes);
	if (rc < 0)
		store_user_close(&u);
	*u_r = u;
	return rc;
}

void store_user_close(struct store_user **user)
{
	struct store_user *u = *user;
	if (u == NULL)
		return;
	db_close(&u->db);
	if (u->changes_fd >= 0)
		close(u->changes_fd);
	free(u->dir);
	free(u);
	*user = NULL;
}

void store_notify(struct store_user *u)
{
	/* Any write is enough for inotify (IN_MODIFY); the content is for people
	 * looking: the time of the last change. */
	char line[32];
	int n = snprintf(line, sizeof line, "%-30lld\n", (long long)time(NULL));
	if (u->changes_fd >= 0 && pwrite(u->changes_fd, line, (size_t)n, 0) < 0)
		log_warn("store", "event=notify_failed user=%lld error=\"%s\"", u->id,
			 strerror(errno));
}

int store_quota_usage(struct store_user *u, struct store_quota *q, char **error_r)
{
	long long bytes = 0, messages = 0;
	if (db_get_int(u->db, "SELECT value FROM meta WHERE key = 'quota_bytes'", DB_NO_ARGS,
		       &bytes, error_r) < 0 ||
	    db_get_int(u->db, "SELECT value FROM meta WHERE key = 'quota_messages'", DB_NO_ARGS,
		       &messages, error_r) < 0)
		return store_db_fail(u, error_r);
	q->bytes = (uint64_t)bytes;
	q->messages = (uint64_t)messages;
	return 0;
}

/* Remove a directory and what is in it (one level: a user directory). */
static int remove_dir(const char *path, char **error_r)
{
	DIR *d = opendir(path);
	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char *p = xasprintf("%s/%s", path, de->d_name);
		if (unlink(p) < 0 && errno != ENOENT) {
			*error_r = xasprintf("%s: %s", p, strerror(errno));
			rc = -1;
		}
		free(p);
		if (rc < 0)
			break;
	}
	closedir(d);
	if (rc == 0 && rmdir(path) < 0) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		rc = -1;
	}
	return rc;
}

int store_user_delete(struct store *s, long long account_id, char **error_r)
{
	char *dir = store_user_dir(s, account_id);
	struct stat st;
	if (stat(dir, &st) < 0) {
		free(dir);
		return 0;   /* never had mail */
	}
	struct store_user *u;
	if (store_user_open(s, account_id, &u, error_r) < 0) {
		free(dir);
		return -1;
	}
	/* Gather the blobs it refers to; then the index goes (under the window
	 * lock, so that store check sees either both or neither), then the
	 * references. A crash in between leaves counts too high: store check. */
	char **ids = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *q;
	int rc = -1;
	if (db_prepare(u->db, "SELECT DISTINCT blob FROM contents", DB_NO_ARGS, &q, error_r) < 0)
		goto out;
	int r;
	while ((r = db_step(q, error_r)) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			ids = xrealloc(ids, cap * sizeof *ids);
		}
		ids[n++] = xstrdup(store_db_text(q, 0));
	}
	sqlite3_finalize(q);
	if (r < 0)
		goto out;
	store_user_close(&u);
	if (blob_refs_lock(s, false, error_r) < 0)
		goto out;
	rc = remove_dir(dir, error_r);
	if (rc == 0) {
		char *parent = xasprintf("%s/" STORE_USERS_DIR, s->data_dir);
		rc = store_fsync_dir(parent, error_r);
		free(parent);
	}
	if (rc == 0)
		rc = blob_unref(s, (const char *const *)ids, n, error_r);
	blob_refs_unlock(s);
	if (rc == 0)
		log_info("store", "event=user_deleted user=%lld blobs=%zu", account_id, n);
out:
	store_user_close(&u);
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	free(dir);
	return rc;
}
