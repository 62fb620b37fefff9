/* The spool's files: writing a message, committing it durably, reading and
 * removing entries. See spool.h; group commit is in spool_commit.c. */
#include "queue/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fileio.h"
#include "core/xmalloc.h"

struct spool_msg {
	char *dir;
	char id[SPOOL_ID_LEN + 1];
	int fd;
	int error;        /* first write error (errno), 0 if none */
	uint64_t size;
};

/* ---- ids and names ---- */

bool spool_id_valid(const char *id)
{
	size_t i = 0;
	for (; id[i] != '\0'; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'A' && id[i] <= 'F')))
			return false;
	return i == SPOOL_ID_LEN;
}

static char *path_of(const char *dir, const char *id, const char *suffix)
{
	return xasprintf("%s/%s%s", dir, id, suffix);
}

static void new_id(char out[SPOOL_ID_LEN + 1])
{
	uint32_t r = 0;
	if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
		r = (uint32_t)rand();
	snprintf(out, SPOOL_ID_LEN + 1, "%08X%08X", (unsigned)(uint32_t)time(NULL), (unsigned)r);
}

/* ---- writing ---- */

int spool_msg_create(const char *dir, struct spool_msg **msg_r, char **error_r)
{
	*msg_r = NULL;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		int e = errno;
		*error_r = xasprintf("cannot create %s: %s", dir, strerror(e));
		errno = e;
		return -1;
	}
	struct spool_msg *m = xcalloc(1, sizeof *m);
	m->dir = xstrdup(dir);
	for (int tries = 0;; tries++) {
		new_id(m->id);
		char *path = path_of(dir, m->id, ".msg.tmp");
		m->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		int e = errno;
		free(path);
		if (m->fd >= 0)
			break;
		/* A clash of ids (same second, same random number): another. */
		if (e != EEXIST || tries >= 10) {
			*error_r = xasprintf("cannot create a spool file in %s: %s", dir, strerror(e));
			free(m->dir);
			free(m);
			errno = e;
			return -1;
		}
	}
	*msg_r = m;
	return 0;
}

const char *spool_msg_id(const struct spool_msg *msg)
{
	return msg->id;
}

void spool_msg_write(struct spool_msg *msg, const void *data, size_t len)
{
	const char *p = data;
	while (msg->error == 0 && len > 0) {
		ssize_t n = write(msg->fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			msg->error = errno;
			break;
		}
		p += n;
		len -= (size_t)n;
		msg->size += (uint64_t)n;
	}
}

int spool_msg_read(const struct spool_msg *msg, struct buf *out, char **error_r)
{
	char *path = path_of(msg->dir, msg->id, ".msg.tmp");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = -1;
	if (fd < 0) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
	} else {
		rc = fileio_read_fd(fd, path, out, error_r);
		close(fd);
	}
	free(path);
	return rc;
}

int spool_msg_errno(const struct spool_msg *msg)
{
	return msg->error;
}

uint64_t spool_msg_size(const struct spool_msg *msg)
{
	return msg->size;
}

static void msg_free(struct spool_msg **msgp)
{
	struct spool_msg *m = *msgp;
	if (m->fd >= 0)
		close(m->fd);
	free(m->dir);
	free(m);
	*msgp = NULL;
}

void spool_msg_abort(struct spool_msg **msgp)
{
	struct spool_msg *m = *msgp;
	if (m == NULL)
		return;
	char *path = path_of(m->dir, m->id, ".msg.tmp");
	unlink(path);
	free(path);
	msg_free(msgp);
}

int spool_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	int rc = fsync(fd) < 0 ? errno : 0;
	close(fd);
	return rc;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void spool_msg_start_writeback(struct spool_msg *msg)
{
	if (msg->error == 0)
		(void)sync_file_range(msg->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}

int spool_msg_commit(struct spool_msg **msgp, const struct buf *envelope, bool sync_dir)
{
	struct spool_msg *m = *msgp;
	char *msg_tmp = path_of(m->dir, m->id, ".msg.tmp");
	char *env_tmp = path_of(m->dir, m->id, ".env.tmp");
	char *msg_final = path_of(m->dir, m->id, ".msg");
	char *env_final = path_of(m->dir, m->id, ".env");
	int err = m->error;
	int efd = -1;
	if (err == 0 && fdatasync(m->fd) < 0)
		err = errno;
	if (err == 0) {
		efd = open(env_tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (efd < 0)
			err = errno;
	}
	if (err == 0)
		err = write_all(efd, envelope->data, envelope->len);
	if (err == 0 && fdatasync(efd) < 0)
		err = errno;
	if (efd >= 0 && close(efd) < 0 && err == 0)
		err = errno;
	/* The message first: an envelope always has its message. */
	if (err == 0 && rename(msg_tmp, msg_final) < 0)
		err = errno;
	if (err == 0 && rename(env_tmp, env_final) < 0) {
		err = errno;
		unlink(msg_final);
	}
	if (err == 0 && sync_dir)
		err = spool_sync_dir(m->dir);
	if (err != 0) {
		unlink(env_final);
		unlink(msg_final);
		unlink(env_tmp);
		unlink(msg_tmp);
	}
	free(msg_tmp);
	free(env_tmp);
	free(msg_final);
	free(env_final);
	msg_free(msgp);
	return err;
}

/* ---- envelopes ---- */

void spool_envelope_clear(struct spool_envelope *env)
{
	free(env->client_ip);
	free(env->client_helo);
	free(env->protocol);
	free(env->tls);
	free(env->auth_user);
	free(env->sender);
	free(env->body);
	free(env->ret);
	free(env->envid);
	for (size_t i = 0; i < env->nrcpts; i++) {
		free(env->rcpts[i].address);
		free(env->rcpts[i].original);
		free(env->rcpts[i].notify);
		free(env->rcpts[i].orcpt);
	}
	free(env->rcpts);
	memset(env, 0, sizeof *env);
}

static char *dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

void spool_envelope_add_rcpt(struct spool_envelope *env, const char *address, const char *original,
			     const char *notify, const char *orcpt, bool local)
{
	env->rcpts = xrealloc(env->rcpts, (env->nrcpts + 1) * sizeof *env->rcpts);
	struct spool_rcpt *r = &env->rcpts[env->nrcpts++];
	r->address = xstrdup(address);
	r->original = dup_or_null(original);
	r->notify = dup_or_null(notify);
	r->orcpt = dup_or_null(orcpt);
	r->local = local;
}

/* "key value\n" with %XX for bytes below 0x20, 0x7f and '%'. */
static void put(struct buf *out, const char *key, const char *value)
{
	if (value == NULL)
		return;
	buf_append_str(out, key);
	buf_putc(out, ' ');
	for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '%')
			buf_appendf(out, "%%%02X", *p);
		else
			buf_putc(out, (char)*p);
	}
	buf_putc(out, '\n');
}

void spool_envelope_format(const struct spool_envelope *env, struct buf *out)
{
	buf_append_str(out, "surel-envelope 1\n");
	put(out, "id", env->id);
	buf_appendf(out, "received %lld\n", env->received);
	put(out, "client-ip", env->client_ip);
	put(out, "client-helo", env->client_helo);
	put(out, "protocol", env->protocol);
	put(out, "tls", env->tls);
	put(out, "auth", env->auth_user);
	put(out, "sender", env->sender != NULL ? env->sender : "");
	buf_appendf(out, "size %lld\n", env->size);
	put(out, "body", env->body);
	if (env->smtputf8)
		put(out, "smtputf8", "yes");
	put(out, "ret", env->ret);
	put(out, "envid", env->envid);
	for (size_t i = 0; i < env->nrcpts; i++) {
		const struct spool_rcpt *r = &env->rcpts[i];
		put(out, "rcpt", r->address);
		put(out, "rcpt-original", r->original);
		put(out, "rcpt-notify", r->notify);
		put(out, "rcpt-orcpt", r->orcpt);
		put(out, "rcpt-local", r->local ? "yes" : "no");
	}
}

static int hex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
	     : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static char *unescape(const char *p, size_t n)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		int h, l;
		if (p[i] == '%' && i + 2 < n && (h = hex(p[i + 1])) >= 0 &&
		    (l = hex(p[i + 2])) >= 0) {
			buf_putc(&b, (char)(h * 16 + l));
			i += 2;
		} else {
			buf_putc(&b, p[i]);
		}
	}
	if (b.data == NULL)
		return xstrdup("");
	return buf_steal(&b);
}

static void set_str(char **field, const char *v, size_t n)
{
	free(*field);
	*field = unescape(v, n);
}

int spool_envelope_parse(const char *text, size_t len, struct spool_envelope *env, char **error_r)
{
	memset(env, 0, sizeof *env);
	const char *end = text + len;
	const char *line = text;
	bool first = true;
	struct spool_rcpt *r = NULL;
	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *le = nl != NULL ? nl : end;
		const char *sp = memchr(line, ' ', (size_t)(le - line));
		size_t klen = (size_t)((sp != NULL ? sp : le) - line);
		const char *v = sp != NULL ? sp + 1 : le;
		size_t vn = (size_t)(le - v);
		char key[32];
		if (klen >= sizeof key)
			klen = sizeof key - 1;
		memcpy(key, line, klen);
		key[klen] = '\0';
		if (first) {
			if (strcmp(key, "surel-envelope") != 0 || vn != 1 || v[0] != '1') {
				*error_r = xstrdup("not a surel envelope (version 1)");
				spool_envelope_clear(env);
				return -1;
			}
			first = false;
		} else if (strcmp(key, "id") == 0 && vn == SPOOL_ID_LEN) {
			memcpy(env->id, v, SPOOL_ID_LEN);
		} else if (strcmp(key, "received") == 0) {
			env->received = strtoll(v, NULL, 10);
		} else if (strcmp(key, "size") == 0) {
			env->size = strtoll(v, NULL, 10);
		} else if (strcmp(key, "client-ip") == 0) {
			set_str(&env->client_ip, v, vn);
		} else if (strcmp(key, "client-helo") == 0) {
			set_str(&env->client_helo, v, vn);
		} else if (strcmp(key, "protocol") == 0) {
			set_str(&env->protocol, v, vn);
		} else if (strcmp(key, "tls") == 0) {
			set_str(&env->tls, v, vn);
		} else if (strcmp(key, "auth") == 0) {
			set_str(&env->auth_user, v, vn);
		} else if (strcmp(key, "sender") == 0) {
			set_str(&env->sender, v, vn);
		} else if (strcmp(key, "body") == 0) {
			set_str(&env->body, v, vn);
		} else if (strcmp(key, "smtputf8") == 0) {
			env->smtputf8 = vn == 3 && memcmp(v, "yes", 3) == 0;
		} else if (strcmp(key, "ret") == 0) {
			set_str(&env->ret, v, vn);
		} else if (strcmp(key, "envid") == 0) {
			set_str(&env->envid, v, vn);
		} else if (strcmp(key, "rcpt") == 0) {
			char *a = unescape(v, vn);
			spool_envelope_add_rcpt(env, a, NULL, NULL, NULL, false);
			free(a);
			r = &env->rcpts[env->nrcpts - 1];
		} else if (r != NULL && strcmp(key, "rcpt-original") == 0) {
			set_str(&r->original, v, vn);
		} else if (r != NULL && strcmp(key, "rcpt-notify") == 0) {
			set_str(&r->notify, v, vn);
		} else if (r != NULL && strcmp(key, "rcpt-orcpt") == 0) {
			set_str(&r->orcpt, v, vn);
		} else if (r != NULL && strcmp(key, "rcpt-local") == 0) {
			r->local = vn == 3 && memcmp(v, "yes", 3) == 0;
		}
		line = nl != NULL ? nl + 1 : end;
	}
	if (first || env->sender == NULL || env->nrcpts == 0 || !spool_id_valid(env->id)) {
		*error_r = xstrdup(first ? "empty envelope" : "incomplete envelope");
		spool_envelope_clear(env);
		return -1;
	}
	return 0;
}

/* ---- reading ---- */

struct spool_iter {
	DIR *d;
	char id[SPOOL_ID_LEN + 1];
};

int spool_iter_open(const char *dir, struct spool_iter **it_r, char **error_r)
{
	*it_r = NULL;
	DIR *d = opendir(dir);
	if (d == NULL && errno != ENOENT) {
		*error_r = xasprintf("cannot read %s: %s", dir, strerror(errno));
		return -1;
	}
	struct spool_iter *it = xcalloc(1, sizeof *it);
	it->d = d;   /* NULL: no spool yet, nothing queued */
	*it_r = it;
	return 0;
}

const char *spool_iter_next(struct spool_iter *it)
{
	if (it->d == NULL)
		return NULL;
	struct dirent *e;
	while ((e = readdir(it->d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (n != SPOOL_ID_LEN + 4 || strcmp(e->d_name + SPOOL_ID_LEN, ".env") != 0)
			continue;
		memcpy(it->id, e->d_name, SPOOL_ID_LEN);
		it->id[SPOOL_ID_LEN] = '\0';
		if (spool_id_valid(it->id))
			return it->id;
	}
	return NULL;
}

void spool_iter_close(struct spool_iter **itp)
{
	struct spool_iter *it = *itp;
	if (it == NULL)
		return;
	if (it->d != NULL)
		closedir(it->d);
	free(it);
	*itp = NULL;
}

int spool_read_envelope(const char *dir, const char *id, struct spool_envelope *env,
			char **error_r)
{
	memset(env, 0, sizeof *env);
	if (!spool_id_valid(id)) {
		*error_r = xasprintf("invalid queue id '%s'", id);
		errno = EINVAL;
		return -1;
	}
	char *path = path_of(dir, id, ".env");
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		int e = errno;
		*error_r = e == ENOENT ? xasprintf("no such message '%s'", id)
				       : xasprintf("cannot read %s: %s", path, strerror(e));
		free(path);
		errno = e;
		return -1;
	}
	struct buf text = BUF_INIT;
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && text.len < 16 * 1024 * 1024)
		buf_append(&text, chunk, n);
	fclose(f);
	char *perr = NULL;
	int rc = spool_envelope_parse(text.data != NULL ? text.data : "", text.len, env, &perr);
	if (rc < 0) {
		*error_r = xasprintf("%s: %s", path, perr);
		free(perr);
	}
	buf_free(&text);
	free(path);
	return rc;
}

int spool_open_message(const char *dir, const char *id, char **error_r)
{
	if (!spool_id_valid(id)) {
		*error_r = xasprintf("invalid queue id '%s'", id);
		return -1;
	}
	char *path = path_of(dir, id, ".msg");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		*error_r = xasprintf("cannot open %s: %s", path, strerror(errno));
	free(path);
	return fd;
}

int spool_remove(const char *dir, const char *id, char **error_r)
{
	if (!spool_id_valid(id)) {
		*error_r = xasprintf("invalid queue id '%s'", id);
		return -1;
	}
	char *env = path_of(dir, id, ".env");
	char *msg = path_of(dir, id, ".msg");
	int rc = 0;
	char *progress = path_of(dir, id, SPOOL_PROGRESS_SUFFIX);
	if (unlink(env) < 0) {
		*error_r = errno == ENOENT ? xasprintf("no such message '%s'", id)
					   : xasprintf("cannot remove %s: %s", env, strerror(errno));
		rc = -1;
	} else {
		unlink(msg);
		unlink(progress);
		(void)spool_sync_dir(dir);
	}
	free(env);
	free(msg);
	free(progress);
	return rc;
}

/* Write text to path durably: a temporary file, fdatasync, rename. The
 * caller syncs the directory. */
static int write_file_durably(const char *path, const struct buf *text, char **error_r)
{
	char *tmp = xasprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc = -1;
	if (fd < 0) {
		*error_r = xasprintf("%s: %s", tmp, strerror(errno));
		goto out;
	}
	size_t done = 0;
	while (done < text->len) {
		ssize_t n = write(fd, text->data + done, text->len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*error_r = xasprintf("%s: write: %s", tmp, strerror(errno));
			goto out;
		}
		done += (size_t)n;
	}
	if (fdatasync(fd) < 0) {
		*error_r = xasprintf("%s: fdatasync: %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, path) < 0) {
		*error_r = xasprintf("%s: rename: %s", tmp, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

int spool_replace_envelope(const char *dir, const char *id, const struct buf *envelope,
			   char **error_r)
{
	char *env = path_of(dir, id, ".env");
	int rc = write_file_durably(env, envelope, error_r);
	free(env);
	if (rc == 0 && (errno = spool_sync_dir(dir)) != 0) {
		*error_r = xasprintf("%s: fsync: %s", dir, strerror(errno));
		rc = -1;
	}
	return rc;
}

int spool_hold(const char *dir, const char *id, const struct buf *envelope, char **error_r)
{
	char *hold = xasprintf("%s/%s", dir, SPOOL_HOLD_DIR);
	char *msg = path_of(dir, id, ".msg");
	char *held_msg = path_of(hold, id, ".msg");
	char *held_env = path_of(hold, id, ".env");
	int rc = -1;
	if (mkdir(hold, 0700) < 0 && errno != EEXIST) {
		*error_r = xasprintf("%s: %s", hold, strerror(errno));
		goto out;
	}
	/* The message first (a link: the spool keeps its own until the entry
	 * goes), then the envelope: held/ID.env exists only with its message. */
	if (link(msg, held_msg) < 0 && errno != EEXIST) {
		*error_r = xasprintf("%s: link: %s", held_msg, strerror(errno));
		goto out;
	}
	if (write_file_durably(held_env, envelope, error_r) < 0)
		goto out;
	if ((errno = spool_sync_dir(hold)) != 0) {
		*error_r = xasprintf("%s: fsync: %s", hold, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(hold);
	free(msg);
	free(held_msg);
	free(held_env);
	return rc;
}

int spool_clean_leftovers(const char *dir, time_t min_age)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0;
	int removed = 0;
	time_t now = time(NULL);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		const char *name = e->d_name;
		size_t n = strlen(name);
		bool tmp = n > 4 && strcmp(name + n - 4, ".tmp") == 0;
		bool orphan = false;
		if (!tmp && n == SPOOL_ID_LEN + 4 && (strcmp(name + SPOOL_ID_LEN, ".msg") == 0 ||
						      strcmp(name + SPOOL_ID_LEN, ".dlv") == 0)) {
			char *env = xasprintf("%s/%.*s.env", dir, SPOOL_ID_LEN, name);
			orphan = access(env, F_OK) < 0 && errno == ENOENT;
			free(env);
		}
		if (!tmp && !orphan)
			continue;
		char *path = xasprintf("%s/%s", dir, name);
		struct stat st;
		if (stat(path, &st) == 0 && now - st.st_mtime >= min_age && unlink(path) == 0)
			removed++;
		free(path);
	}
	closedir(d);
	return removed;
}
