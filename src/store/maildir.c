/* Maildir import and export (Maildir++ folders, as Dovecot and Courier lay
 * them out):
 *
 *   PATH/cur, new, tmp          the top mailbox (INBOX)
 *   PATH/.Sub.Folder/cur, ...   "Sub/Folder" (names in modified UTF-7)
 *   dovecot-uidlist             "3 V<uidvalidity> N<uidnext> ..." then "<uid> [ext] :<file>"
 *   dovecot-keywords            "<n> <keyword>": keyword n is letter 'a' + n in file names
 *
 * A file name's info "...:2,DFPRST" holds the flags: Draft, Flagged,
 * Passed ($Forwarded), Replied (\Answered), Seen, Trashed (\Deleted). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "core/fileio.h"
#include "store/store_int.h"

static const struct { char letter; unsigned flag; } flag_letters[] = {
	{ 'D', STORE_FLAG_DRAFT }, { 'F', STORE_FLAG_FLAGGED }, { 'R', STORE_FLAG_ANSWERED },
	{ 'S', STORE_FLAG_SEEN }, { 'T', STORE_FLAG_DELETED },
};
#define FORWARDED "$Forwarded"   /* the 'P' (passed) flag */

/* ---- dovecot-uidlist and dovecot-keywords ---- */

struct uidlist_entry {
	char *base;        /* file name up to ':' */
	uint32_t uid;
};
struct uidlist {
	uint32_t uidvalidity, uidnext;
	struct uidlist_entry *e;
	size_t n;
};

static void uidlist_free(struct uidlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->e[i].base);
	free(l->e);
	memset(l, 0, sizeof *l);
}

static char *base_name(const char *file)
{
	const char *colon = strchr(file, ':');
	return colon != NULL ? xstrndup(file, (size_t)(colon - file)) : xstrdup(file);
}

/* Versions 1 ("1 <uidvalidity> <uidnext>", "<uid> <file>") and 3. A file
 * that is missing or unreadable is no list: 0 either way. */
static void uidlist_read(const char *dir, struct uidlist *l)
{
	char *path = xasprintf("%s/dovecot-uidlist", dir);
	FILE *f = fopen(path, "re");
	free(path);
	memset(l, 0, sizeof *l);
	if (f == NULL)
		return;
	char *line = NULL;
	size_t cap = 0;
	int version = 0;
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\r\n")] = '\0';
		if (version == 0) {
			unsigned long a = 0, b = 0;
			if (sscanf(line, "%d", &version) != 1)
				break;
			if (version == 1 && sscanf(line, "1 %lu %lu", &a, &b) == 2) {
				l->uidvalidity = (uint32_t)a;
				l->uidnext = (uint32_t)b;
			}
			char *save = NULL;
			for (char *t = strtok_r(line, " ", &save); version == 3 && t != NULL;
			     t = strtok_r(NULL, " ", &save)) {
				if (t[0] == 'V')
					l->uidvalidity = (uint32_t)strtoul(t + 1, NULL, 10);
				else if (t[0] == 'N')
					l->uidnext = (uint32_t)strtoul(t + 1, NULL, 10);
			}
			if (version != 1 && version != 3)
				break;
			continue;
		}
		char *end;
		unsigned long uid = strtoul(line, &end, 10);
		if (end == line || uid == 0 || uid >= UINT32_MAX)
			continue;
		const char *file = version == 3 ? strstr(end, " :") : end;
		if (file == NULL)
			continue;
		file += version == 3 ? 2 : strspn(file, " ");
		if (*file == '\0')
			continue;
		l->e = xrealloc(l->e, (l->n + 1) * sizeof *l->e);
		l->e[l->n++] = (struct uidlist_entry){ base_name(file), (uint32_t)uid };
	}
	free(line);
	fclose(f);
}

static uint32_t uidlist_find(const struct uidlist *l, const char *base)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->e[i].base, base) == 0)
			return l->e[i].uid;
	return 0;
}

/* keywords[0..25] from dovecot-keywords (NULL where undefined). */
static void keywords_read(const char *dir, char *keywords[26])
{
	char *path = xasprintf("%s/dovecot-keywords", dir);
	FILE *f = fopen(path, "re");
	free(path);
	memset(keywords, 0, 26 * sizeof *keywords);
	if (f == NULL)
		return;
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\r\n")] = '\0';
		char *end;
		unsigned long idx = strtoul(line, &end, 10);
		if (end != line && *end == ' ' && idx < 26 && keywords[idx] == NULL)
			keywords[idx] = xstrdup(end + 1);
	}
	free(line);
	fclose(f);
}

/* ---- import ---- */

struct mfile {
	char *path;
	char *base;
	char *info;        /* after ":2,", "" for none */
	uint32_t uid;      /* from the uidlist, 0 none */
};

static int mfile_cmp(const void *a, const void *b)
{
	const struct mfile *x = a, *y = b;
	if (x->uid != y->uid) {
		if (x->uid == 0 || y->uid == 0)
			return x->uid == 0 ? 1 : -1;   /* listed first */
		return x->uid < y->uid ? -1 : 1;
	}
	return strcmp(x->base, y->base);
}

static void list_files(const char *dir, const char *sub, const struct uidlist *ul,
		       struct mfile **files, size_t *n)
{
	char *path = xasprintf("%s/%s", dir, sub);
	DIR *d = opendir(path);
	struct dirent *de;
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		const char *info = strstr(de->d_name, ":2,");
		struct mfile m = {
			.path = xasprintf("%s/%s", path, de->d_name),
			.base = base_name(de->d_name),
			.info = xstrdup(info != NULL ? info + 3 : ""),
		};
		m.uid = uidlist_find(ul, m.base);
		*files = xrealloc(*files, (*n + 1) * sizeof **files);
		(*files)[(*n)++] = m;
	}
	if (d != NULL)
		closedir(d);
	free(path);
}

static unsigned info_flags(const char *info, char *const keywords[26], const char **kw,
			   size_t *nkw)
{
	unsigned flags = 0;
	*nkw = 0;
	for (const char *p = info; *p != '\0'; p++) {
		for (size_t i = 0; i < sizeof flag_letters / sizeof flag_letters[0]; i++)
			if (*p == flag_letters[i].letter)
				flags |= flag_letters[i].flag;
		if (*p == 'P' && *nkw < 27)
			kw[(*nkw)++] = FORWARDED;
		else if (*p >= 'a' && *p <= 'z' && keywords[*p - 'a'] != NULL && *nkw < 27)
			kw[(*nkw)++] = keywords[*p - 'a'];
	}
	return flags;
}

/* One Maildir folder into mailbox name. */
static int import_folder(struct store_user *u, const char *dir, const char *name,
			 struct store_import_report *r, char **error_r)
{
	struct uidlist ul;
	char *keywords[26];
	struct mfile *files = NULL;
	size_t n = 0;
	struct import_batch *b = NULL;
	uidlist_read(dir, &ul);
	keywords_read(dir, keywords);
	list_files(dir, "cur", &ul, &files, &n);
	list_files(dir, "new", &ul, &files, &n);
	if (n > 0)
		qsort(files, n, sizeof *files, mfile_cmp);
	int rc = import_begin(u, name, &b, error_r);
	/* Keep the source's UIDs when the mailbox has never held a message. */
	bool keep = false;
	if (rc == 0 && ul.uidvalidity != 0) {
		int a = mailbox_adopt_uidvalidity(import_mailbox(b), ul.uidvalidity, error_r);
		if (a < 0)
			rc = -1;
		keep = a == 0;
		if (a == 1)
			log_info("store", "event=import_new_uids user=%lld mailbox=\"%s\" "
				 "reason=\"mailbox not empty\"", u->id, name);
	}
	uint32_t last = 0;
	bool raised = false;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct buf data = BUF_INIT;
		struct stat st;
		char *err = NULL;
		if (stat(files[i].path, &st) < 0 || fileio_read_file(files[i].path, &data, &err) < 0) {
			log_warn("store", "event=import_skip path=\"%s\" error=\"%s\"", files[i].path,
				 err != NULL ? err : strerror(errno));
			free(err);
			r->skipped++;
			buf_free(&data);
			continue;
		}
		struct store_blob_writer *blob;
		rc = store_blob_from_unix(u->store, data.data != NULL ? data.data : "", data.len, &blob,
					  error_r);
		buf_free(&data);
		if (rc < 0)
			break;
		const char *kw[28];
		size_t nkw;
		unsigned flags = info_flags(files[i].info, keywords, kw, &nkw);
		uint32_t uid = keep && files[i].uid > last ? files[i].uid : 0;
		if (uid != 0) {
			last = uid;
			r->uids_kept++;
		} else if (keep && !raised) {
			/* Messages the list does not know get UIDs from its UIDNEXT on. */
			raised = true;
			rc = import_flush(b, error_r);
			if (rc == 0)
				rc = mailbox_raise_uidnext(import_mailbox(b), ul.uidnext, error_r);
			if (rc < 0) {
				store_blob_abort(&blob);
				break;
			}
		}
		rc = import_add(b, blob, flags, kw, nkw, st.st_mtime, uid, error_r);
		r->messages++;
	}
	if (rc == 0)
		rc = import_flush(b, error_r);
	if (rc == 0 && keep && !raised)
		rc = mailbox_raise_uidnext(import_mailbox(b), ul.uidnext, error_r);
	if (rc == 0) {
		rc = import_end(&b, error_r);
		r->mailboxes++;
	}
	import_abort(&b);
	for (size_t i = 0; i < n; i++) {
		free(files[i].path);
		free(files[i].base);
		free(files[i].info);
	}
	free(files);
	for (int i = 0; i < 26; i++)
		free(keywords[i]);
	uidlist_free(&ul);
	return rc;
}

/* ".Sub.Folder" to "Sub/Folder" (each level decoded from modified UTF-7). */
static int folder_name(const char *dirname, const char *into, struct buf *out)
{
	if (into != NULL)
		buf_appendf(out, "%s/", into);
	char *copy = xstrdup(dirname + 1), *save = NULL;
	int rc = 0, level = 0;
	for (char *t = strtok_r(copy, ".", &save); t != NULL; t = strtok_r(NULL, ".", &save)) {
		if (level++ > 0)
			buf_putc(out, '/');
		if (mutf7_decode(t, out) < 0) {
			rc = -1;
			break;
		}
	}
	free(copy);
	return level > 0 ? rc : -1;
}

int maildir_import(struct store_user *u, const char *path, const char *into,
		   struct store_import_report *r, char **error_r)
{
	int rc = import_folder(u, path, into != NULL ? into : "INBOX", r, error_r);
	DIR *d = rc == 0 ? opendir(path) : NULL;
	struct dirent *de;
	while (rc == 0 && d != NULL && (de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		char *sub = xasprintf("%s/%s", path, de->d_name);
		char *cur = xasprintf("%s/cur", sub);
		struct stat st;
		struct buf name = BUF_INIT;
		if (stat(cur, &st) == 0 && S_ISDIR(st.st_mode)) {
			if (folder_name(de->d_name, into, &name) < 0)
				log_warn("store", "event=import_skip folder=\"%s\" reason=\"bad name\"",
					 de->d_name);
			else
				rc = import_folder(u, sub, buf_cstr(&name), r, error_r);
		}
		buf_free(&name);
		free(cur);
		free(sub);
	}
	if (d != NULL)
		closedir(d);
	return rc;
}

/* ---- export ---- */

struct export_ctx {
	struct store_user *user;
	const char *dir;
	FILE *uidlist;
	char *keywords[26];
	size_t n;
	int rc;
	char **error_r;
};

static char keyword_letter(struct export_ctx *x, const char *kw)
{
	for (int i = 0; i < 26; i++) {
		if (x->keywords[i] == NULL) {
			x->keywords[i] = xstrdup(kw);
			return (char)('a' + i);
		}
		if (strcasecmp(x->keywords[i], kw) == 0)
			return (char)('a' + i);
	}
	log_warn("store", "event=export_keyword_dropped keyword=%s reason=\"more than 26\"", kw);
	return '\0';
}

static int write_all(int fd, const void *p, size_t len)
{
	const char *c = p;
	while (len > 0) {
		ssize_t n = write(fd, c, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

static int export_message(void *ctx, const struct store_message *m)
{
	struct export_ctx *x = ctx;
	struct buf raw = BUF_INIT;   /* prefix + blob */
	if (store_message_bytes(x->user->store, m, &raw, x->error_r) < 0) {
		buf_free(&raw);
		return x->rc = -1;
	}
	struct buf text = BUF_INIT, info = BUF_INIT;
	store_crlf_to_lf(raw.data != NULL ? raw.data : "", raw.len, &text);
	buf_free(&raw);
	/* info: flags in ASCII order, then keyword letters */
	for (size_t i = 0; i < sizeof flag_letters / sizeof flag_letters[0]; i++) {
		if (flag_letters[i].letter == 'R')
			for (size_t k = 0; k < m->n_keywords; k++)
				if (strcasecmp(m->keywords[k], FORWARDED) == 0)
					buf_putc(&info, 'P');
		if (m->flags & flag_letters[i].flag)
			buf_putc(&info, flag_letters[i].letter);
	}
	for (size_t k = 0; k < m->n_keywords; k++) {
		char c = strcasecmp(m->keywords[k], FORWARDED) == 0 ? '\0'
								     : keyword_letter(x, m->keywords[k]);
		if (c != '\0')
			buf_putc(&info, c);
	}
	char *base = xasprintf("%lld.S%u.surel,S=%zu", (long long)m->internaldate, m->uid, text.len);
	char *tmp = xasprintf("%s/tmp/%s", x->dir, base);
	char *final = xasprintf("%s/cur/%s:2,%s", x->dir, base, buf_cstr(&info));
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	int rc = fd < 0 || write_all(fd, text.data != NULL ? text.data : "", text.len) < 0 ? -1 : 0;
	if (fd >= 0 && close(fd) < 0)
		rc = -1;
	struct timespec times[2] = { { m->internaldate, 0 }, { m->internaldate, 0 } };
	if (rc == 0 && (utimensat(AT_FDCWD, tmp, times, 0) < 0 || rename(tmp, final) < 0))
		rc = -1;
	if (rc < 0) {
		*x->error_r = xasprintf("%s: %s", final, strerror(errno));
		x->rc = -1;
	} else {
		fprintf(x->uidlist, "%u :%s\n", m->uid, base);
		x->n++;
	}
	free(base);
	free(tmp);
	free(final);
	buf_free(&text);
	buf_free(&info);
	return rc;
}

static int make_maildir(const char *dir, char **error_r)
{
	const char *subs[] = { "", "/cur", "/new", "/tmp" };
	for (size_t i = 0; i < 4; i++) {
		char *p = xasprintf("%s%s", dir, subs[i]);
		int rc = mkdir(p, 0750) < 0 && errno != EEXIST ? -1 : 0;
		if (rc < 0)
			*error_r = xasprintf("%s: cannot create: %s", p, strerror(errno));
		free(p);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int export_mailbox(struct store_user *u, const char *path,
			  const struct store_mailbox_info *info, size_t *n_r, char **error_r)
{
	struct buf dir = BUF_INIT;
	buf_append_str(&dir, path);
	if (strcmp(info->name, "INBOX") != 0) {
		/* "a/b" -> ".a.b", each level in modified UTF-7 */
		char *copy = xstrdup(info->name), *save = NULL;
		for (char *t = strtok_r(copy, "/", &save); t != NULL; t = strtok_r(NULL, "/", &save)) {
			buf_append_str(&dir, t == copy ? "/." : ".");
			mutf7_encode(t, &dir);
		}
		free(copy);
	}
	struct export_ctx x = { .user = u, .dir = buf_cstr(&dir), .error_r = error_r };
	struct store_mailbox *mb = NULL;
	char *ul_tmp = xasprintf("%s/dovecot-uidlist.tmp", x.dir);
	int rc = make_maildir(x.dir, error_r);
	if (rc == 0)
		rc = store_mailbox_open(u, info->name, &mb, error_r);
	if (rc == 0 && (x.uidlist = fopen(ul_tmp, "we")) == NULL) {
		*error_r = xasprintf("%s: %s", ul_tmp, strerror(errno));
		rc = -1;
	}
	if (rc == 0) {
		fprintf(x.uidlist, "3 V%u N%u\n", info->uidvalidity, info->uidnext);
		rc = store_fetch(mb, NULL, 0, export_message, &x, error_r);
		if (rc == 0)
			rc = x.rc;
	}
	if (x.uidlist != NULL && fclose(x.uidlist) != 0 && rc == 0) {
		*error_r = xasprintf("%s: %s", ul_tmp, strerror(errno));
		rc = -1;
	}
	char *ul = xasprintf("%s/dovecot-uidlist", x.dir);
	if (rc == 0 && rename(ul_tmp, ul) < 0) {
		*error_r = xasprintf("%s: %s", ul, strerror(errno));
		rc = -1;
	}
	char *kwpath = xasprintf("%s/dovecot-keywords", x.dir);
	FILE *kf = rc == 0 && x.keywords[0] != NULL ? fopen(kwpath, "we") : NULL;
	for (int i = 0; kf != NULL && i < 26 && x.keywords[i] != NULL; i++)
		fprintf(kf, "%d %s\n", i, x.keywords[i]);
	if (kf != NULL)
		fclose(kf);
	for (int i = 0; i < 26; i++)
		free(x.keywords[i]);
	*n_r += x.n;
	free(kwpath);
	free(ul);
	free(ul_tmp);
	store_mailbox_close(&mb);
	buf_free(&dir);
	return rc;
}

int maildir_export(struct store_user *u, const char *path, const char *only, size_t *n_r,
		   char **error_r)
{
	struct store_mailbox_list list;
	if (store_mailbox_list(u, &list, error_r) < 0)
		return -1;
	int rc = 0;
	bool found = only == NULL;
	for (size_t i = 0; rc == 0 && i < list.count; i++) {
		if (only != NULL && strcmp(list.items[i].name, only) != 0)
			continue;
		found = true;
		rc = export_mailbox(u, path, &list.items[i], n_r, error_r);
	}
	store_mailbox_list_free(&list);
	if (rc == 0 && !found)
		return store_fail(u, STORE_ERR_NONEXISTENT, error_r, "mailbox '%s' does not exist",
				  only);
	return rc;
}
