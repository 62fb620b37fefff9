/* Mailboxes: names, creation, deletion, rename, subscriptions, status. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "store/store_int.h"

#define NAME_MAX_BYTES 1024
#define NAME_MAX_DEPTH 64

/* ---- special use ---- */

static const char *const special_names[] = {
	[STORE_SPECIAL_NONE] = NULL,
	[STORE_SPECIAL_ALL] = "\\All",
	[STORE_SPECIAL_ARCHIVE] = "\\Archive",
	[STORE_SPECIAL_DRAFTS] = "\\Drafts",
	[STORE_SPECIAL_FLAGGED] = "\\Flagged",
	[STORE_SPECIAL_JUNK] = "\\Junk",
	[STORE_SPECIAL_SENT] = "\\Sent",
	[STORE_SPECIAL_TRASH] = "\\Trash",
};
#define N_SPECIAL ((int)(sizeof special_names / sizeof special_names[0]))

const char *store_special_use_name(enum store_special_use use)
{
	return (int)use >= 0 && (int)use < N_SPECIAL ? special_names[use] : NULL;
}

int store_special_use_parse(const char *name)
{
	for (int i = 1; i < N_SPECIAL; i++)
		if (strcasecmp(name, special_names[i]) == 0)
			return i;
	return -1;
}

/* ---- names ---- */

/* Length of the valid UTF-8 sequence at p (shortest form, no surrogates,
 * at most U+10FFFF), 0 when invalid. */
static size_t utf8_seq(const unsigned char *p)
{
	if (p[0] < 0x80)
		return 1;
	size_t n;
	unsigned cp;
	if ((p[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	static const unsigned min[] = { 0, 0, 0x80, 0x800, 0x10000 };
	if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

int store_mailbox_name_normalize(const char *name, char **norm_r, char **error_r)
{
	size_t len = strlen(name);
	if (len == 0 || len > NAME_MAX_BYTES) {
		*error_r = xasprintf("mailbox name must be 1 to %d bytes long", NAME_MAX_BYTES);
		return -1;
	}
	if (name[0] == '/' || name[len - 1] == '/' || strstr(name, "//") != NULL) {
		*error_r = xasprintf("invalid mailbox name '%s': empty hierarchy level", name);
		return -1;
	}
	int depth = 1;
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f || c == '*' || c == '%') {
			*error_r = xasprintf("invalid mailbox name: control or wildcard character");
			return -1;
		}
		if (c == '/' && ++depth > NAME_MAX_DEPTH) {
			*error_r = xasprintf("mailbox name nested deeper than %d levels", NAME_MAX_DEPTH);
			return -1;
		}
		size_t n = utf8_seq((const unsigned char *)name + i);
		if (n == 0) {
			*error_r = xstrdup("invalid mailbox name: not UTF-8");
			return -1;
		}
		i += n;
	}
	char *norm = xstrdup(name);
	if (strncasecmp(norm, "INBOX", 5) == 0 && (norm[5] == '\0' || norm[5] == '/'))
		memcpy(norm, "INBOX", 5);
	*norm_r = norm;
	return 0;
}

/* ---- helpers inside transactions ---- */

int mailbox_new_uidvalidity(struct store_user *u, uint32_t *uidvalidity_r, char **error_r)
{
	long long last = 0;
	if (db_get_int(u->db, "SELECT value FROM meta WHERE key = 'last_uidvalidity'",
		       DB_NO_ARGS, &last, error_r) < 0)
		return -1;
	long long v = (long long)time(NULL);
	if (v <= last)
		v = last + 1;
	if (v > UINT32_MAX)
		v = 1;   /* in 2106 */
	if (db_run(u->db, "UPDATE meta SET value = ? WHERE key = 'last_uidvalidity'",
		   DB_ARGS(db_int(v)), NULL, error_r) < 0)
		return -1;
	*uidvalidity_r = (uint32_t)v;
	return 0;
}

int mailbox_insert(struct store_user *u, const char *name, enum store_special_use use,
		   long long *id_r, char **error_r)
{
	uint32_t uidvalidity;
	if (mailbox_new_uidvalidity(u, &uidvalidity, error_r) < 0 ||
	    db_run(u->db, "INSERT INTO mailboxes (name, uidvalidity, special_use) VALUES (?, ?, ?)",
		   DB_ARGS(db_text(name), db_int(uidvalidity), db_int(use)), NULL, error_r) < 0)
		return -1;
	if (id_r != NULL)
		*id_r = sqlite3_last_insert_rowid(u->db);
	return 0;
}

/* 1 and the id when name exists, 0 when not, -1 error. */
static int mailbox_find(struct store_user *u, const char *name, long long *id_r, char **error_r)
{
	long long id = 0;
	int rc = db_get_int(u->db, "SELECT id FROM mailboxes WHERE name = ?",
			    DB_ARGS(db_text(name)), &id, error_r);
	if (rc == 1 && id_r != NULL)
		*id_r = id;
	return rc;
}

/* Create every missing parent of name ("a/b/c": "a", "a/b"). */
static int create_parents(struct store_user *u, const char *name, char **error_r)
{
	for (const char *p = strchr(name, '/'); p != NULL; p = strchr(p + 1, '/')) {
		char *parent = xstrndup(name, (size_t)(p - name));
		int rc = mailbox_find(u, parent, NULL, error_r);
		if (rc == 0)
			rc = mailbox_insert(u, parent, STORE_SPECIAL_NONE, NULL, error_r);
		free(parent);
		if (rc < 0)
			return -1;
	}
	return 0;
}

int mailbox_create_defaults(struct store_user *u, char **error_r)
{
	static const struct { const char *name; enum store_special_use use; } defaults[] = {
		{ "INBOX", STORE_SPECIAL_NONE },
		{ "Drafts", STORE_SPECIAL_DRAFTS },
		{ "Sent", STORE_SPECIAL_SENT },
		{ "Trash", STORE_SPECIAL_TRASH },
		{ "Junk", STORE_SPECIAL_JUNK },
		{ "Archive", STORE_SPECIAL_ARCHIVE },
	};
	for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
		if (mailbox_insert(u, defaults[i].name, defaults[i].use, NULL, error_r) < 0 ||
		    db_run(u->db, "INSERT OR IGNORE INTO subscriptions (name) VALUES (?)",
			   DB_ARGS(db_text(defaults[i].name)), NULL, error_r) < 0)
			return -1;
	}
	return 0;
}

/* Normalise name or fail with CANNOT. */
static int normalize(struct store_user *u, const char *name, char **norm_r, char **error_r)
{
	if (store_mailbox_name_normalize(name, norm_r, error_r) < 0) {
		u->last_error = STORE_ERR_CANNOT;
		return -1;
	}
	return 0;
}

/* Commit, or roll back and classify the failure. */
static int finish(struct store_user *u, int rc, char **error_r)
{
	if (rc < 0) {
		if (u->last_error == STORE_ERR_NONE)
			store_db_fail(u, error_r);   /* before the rollback resets the code */
		db_rollback(u->db);
		return -1;
	}
	if (db_commit(u->db, error_r) < 0) {
		u->last_error = STORE_ERR_TEMP;
		return -1;
	}
	store_notify(u);
	return 0;
}

/* ---- create, delete, rename ---- */

int store_mailbox_create(struct store_user *u, const char *name, enum store_special_use use,
			 char **error_r)
{
	char *norm;
	u->last_error = STORE_ERR_NONE;
	if (normalize(u, name, &norm, error_r) < 0)
		return -1;
	int rc = db_begin(u->db, error_r);
	if (rc < 0) {
		free(norm);
		return store_db_fail(u, error_r);
	}
	rc = mailbox_find(u, norm, NULL, error_r);
	if (rc == 1)
		rc = store_fail(u, STORE_ERR_ALREADYEXISTS, error_r, "mailbox '%s' already exists",
				norm);
	else if (rc == 0 && (rc = create_parents(u, norm, error_r)) == 0)
		rc = mailbox_insert(u, norm, use, NULL, error_r);
	rc = finish(u, rc, error_r);
	if (rc == 0)
		log_info("store", "event=mailbox_create user=%lld mailbox=\"%s\"", u->id, norm);
	free(norm);
	return rc;
}

static int delete_messages(struct store_user *u, long long mailbox_id, char ***unref,
			   size_t *n_unref, char **error_r)
{
	sqlite3_stmt *q;
	long long *ids = NULL;
	uint32_t *uids = NULL;
	size_t n = 0, cap = 0;
	if (db_prepare(u->db, "SELECT id, uid FROM messages WHERE mailbox_id = ?",
		       DB_ARGS(db_int(mailbox_id)), &q, error_r) < 0)
		return -1;
	int r;
	while ((r = db_step(q, error_r)) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			ids = xrealloc(ids, cap * sizeof *ids);
			uids = xrealloc(uids, cap * sizeof *uids);
		}
		ids[n] = sqlite3_column_int64(q, 0);
		uids[n++] = (uint32_t)sqlite3_column_int64(q, 1);
	}
	sqlite3_finalize(q);
	struct store_mailbox mb = { .user = u, .id = mailbox_id };
	if (r == 0 && n > 0)
		r = messages_delete(&mb, ids, uids, n, 0, unref, n_unref, error_r);
	free(ids);
	free(uids);
	return r;
}

int store_mailbox_delete(struct store_user *u, const char *name, char **error_r)
{
	char *norm;
	u->last_error = STORE_ERR_NONE;
	if (normalize(u, name, &norm, error_r) < 0)
		return -1;
	if (strcmp(norm, "INBOX") == 0) {
		free(norm);
		return store_fail(u, STORE_ERR_CANNOT, error_r, "INBOX cannot be deleted");
	}
	char **unref = NULL;
	size_t n_unref = 0;
	long long id = 0, children = 0;
	int rc = blob_refs_lock(u->store, false, error_r);
	if (rc < 0) {
		free(norm);
		u->last_error = STORE_ERR_INTERNAL;
		return -1;
	}
	if (db_begin(u->db, error_r) < 0) {
		rc = store_db_fail(u, error_r);
		goto out;
	}
	rc = mailbox_find(u, norm, &id, error_r);
	if (rc == 0)
		rc = store_fail(u, STORE_ERR_NONEXISTENT, error_r, "mailbox '%s' does not exist",
				norm);
	else if (rc == 1)
		rc = db_get_int(u->db,
				"SELECT COUNT(*) FROM mailboxes WHERE name > ?1 || '/' "
				"AND name < ?1 || '0'", DB_ARGS(db_text(norm)), &children, error_r);
	if (rc == 1 && children > 0)
		rc = store_fail(u, STORE_ERR_HASCHILDREN, error_r,
				"mailbox '%s' has children; delete them first", norm);
	else if (rc == 1)
		rc = delete_messages(u, id, &unref, &n_unref, error_r);
	if (rc == 0 &&
	    (db_run(u->db, "DELETE FROM expunged WHERE mailbox_id = ?", DB_ARGS(db_int(id)), NULL,
		    error_r) < 0 ||
	     db_run(u->db, "DELETE FROM mailboxes WHERE id = ?", DB_ARGS(db_int(id)), NULL,
		    error_r) < 0))
		rc = -1;
	rc = finish(u, rc, error_r);
	if (rc == 0) {
		char *err = NULL;
		if (blob_unref(u->store, (const char *const *)unref, n_unref, &err) < 0) {
			log_warn("store", "event=unref_failed user=%lld error=\"%s\"", u->id, err);
			free(err);
		}
		log_info("store", "event=mailbox_delete user=%lld mailbox=\"%s\"", u->id, norm);
	}
out:
	blob_refs_unlock(u->store);
	for (size_t i = 0; i < n_unref; i++)
		free(unref[i]);
	free(unref);
	free(norm);
	return rc;
}

/* The names to rename: from itself and, unless it is INBOX, its children. */
static int rename_sources(struct store_user *u, const char *from, char ***names_r, size_t *n_r,
			  char **error_r)
{
	sqlite3_stmt *q;
	const char *sql = strcmp(from, "INBOX") == 0
		? "SELECT name FROM mailboxes WHERE name = ?1"
		: "SELECT name FROM mailboxes WHERE name = ?1 OR (name > ?1 || '/' AND name < ?1 || '0')";
	if (db_prepare(u->db, sql, DB_ARGS(db_text(from)), &q, error_r) < 0)
		return -1;
	char **names = NULL;
	size_t n = 0;
	int r;
	while ((r = db_step(q, error_r)) == 1) {
		names = xrealloc(names, (n + 1) * sizeof *names);
		names[n++] = xstrdup(store_db_text(q, 0));
	}
	sqlite3_finalize(q);
	*names_r = names;
	*n_r = n;
	return r;
}

static int rename_in_tx(struct store_user *u, const char *from, const char *to, char **error_r)
{
	char **names = NULL;
	size_t n = 0;
	int rc = rename_sources(u, from, &names, &n, error_r);
	if (rc == 0 && n == 0)
		rc = store_fail(u, STORE_ERR_NONEXISTENT, error_r, "mailbox '%s' does not exist",
				from);
	size_t flen = strlen(from);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		char *target = xasprintf("%s%s", to, names[i] + flen);
		int found = mailbox_find(u, target, NULL, error_r);
		if (found == 1)
			rc = store_fail(u, STORE_ERR_ALREADYEXISTS, error_r,
					"mailbox '%s' already exists", target);
		else if (found < 0 ||
			 db_run(u->db, "UPDATE mailboxes SET name = ? WHERE name = ?",
				DB_ARGS(db_text(target), db_text(names[i])), NULL, error_r) < 0 ||
			 db_run(u->db, "UPDATE OR REPLACE subscriptions SET name = ? WHERE name = ?",
				DB_ARGS(db_text(target), db_text(names[i])), NULL, error_r) < 0)
			rc = -1;
		free(target);
	}
	/* RFC 9051 6.3.6: renaming INBOX leaves a new, empty INBOX (made
	 * before the parents of "INBOX/old", one of which it is). */
	if (rc == 0 && strcmp(from, "INBOX") == 0)
		rc = mailbox_insert(u, "INBOX", STORE_SPECIAL_NONE, NULL, error_r);
	if (rc == 0)
		rc = create_parents(u, to, error_r);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int store_mailbox_rename(struct store_user *u, const char *from, const char *to, char **error_r)
{
	char *nfrom = NULL, *nto = NULL;
	u->last_error = STORE_ERR_NONE;
	if (normalize(u, from, &nfrom, error_r) < 0)
		return -1;
	if (normalize(u, to, &nto, error_r) < 0) {
		free(nfrom);
		return -1;
	}
	size_t flen = strlen(nfrom);
	int rc;
	if (strcmp(nto, "INBOX") == 0)
		rc = store_fail(u, STORE_ERR_ALREADYEXISTS, error_r, "mailbox 'INBOX' already exists");
	else if (strcmp(nfrom, "INBOX") != 0 && strncmp(nto, nfrom, flen) == 0 &&
		 (nto[flen] == '/' || nto[flen] == '\0'))
		rc = nto[flen] == '\0'
			? store_fail(u, STORE_ERR_ALREADYEXISTS, error_r, "mailbox '%s' already exists",
				     nto)
			: store_fail(u, STORE_ERR_CANNOT, error_r,
				     "cannot rename '%s' into its own child '%s'", nfrom, nto);
	else if (db_begin(u->db, error_r) < 0)
		rc = store_db_fail(u, error_r);
	else
		rc = finish(u, rename_in_tx(u, nfrom, nto, error_r), error_r);
	if (rc == 0)
		log_info("store", "event=mailbox_rename user=%lld from=\"%s\" to=\"%s\"", u->id,
			 nfrom, nto);
	free(nfrom);
	free(nto);
	return rc;
}

int store_mailbox_subscribe(struct store_user *u, const char *name, bool subscribe,
			    char **error_r)
{
	char *norm;
	u->last_error = STORE_ERR_NONE;
	if (normalize(u, name, &norm, error_r) < 0)
		return -1;
	int rc = db_run(u->db, subscribe ? "INSERT OR IGNORE INTO subscriptions (name) VALUES (?)"
					 : "DELETE FROM subscriptions WHERE name = ?",
			DB_ARGS(db_text(norm)), NULL, error_r);
	free(norm);
	if (rc < 0)
		return store_db_fail(u, error_r);
	store_notify(u);
	return 0;
}

int store_mailbox_set_special_use(struct store_user *u, const char *name,
				  enum store_special_use use, char **error_r)
{
	char *norm;
	int changes = 0;
	u->last_error = STORE_ERR_NONE;
	if (normalize(u, name, &norm, error_r) < 0)
		return -1;
	int rc = db_run(u->db, "UPDATE mailboxes SET special_use = ? WHERE name = ?",
			DB_ARGS(db_int(use), db_text(norm)), &changes, error_r);
	if (rc < 0)
		rc = store_db_fail(u, error_r);
	else if (changes == 0)
		rc = store_fail(u, STORE_ERR_NONEXISTENT, error_r, "mailbox '%s' does not exist", norm);
	free(norm);
	return rc;
}

/* ---- listing and status ---- */

/* The counts are the mailbox row's own, kept by triggers (store_db.c,
 * migration 3): one row by its key, whatever the number of messages. */
#define STATUS_SELECT \
	"SELECT mb.id, mb.name, mb.special_use, mb.uidvalidity, mb.uidnext, mb.highestmodseq," \
	"  mb.messages, mb.unseen, mb.deleted, mb.size," \
	"  EXISTS (SELECT 1 FROM subscriptions s WHERE s.name = mb.name)," \
	"  EXISTS (SELECT 1 FROM mailboxes c WHERE c.name > mb.name || '/' AND c.name < mb.name || '0')," \
	"  (SELECT COUNT(*) FROM messages r WHERE r.mailbox_id = mb.id AND r.uid >= mb.recent_uid) " \
	"FROM mailboxes mb "

static void status_row(sqlite3_stmt *q, struct store_mailbox_info *info)
{
	info->id = sqlite3_column_int64(q, 0);
	info->name = xstrdup(store_db_text(q, 1));
	info->special_use = (enum store_special_use)sqlite3_column_int(q, 2);
	info->uidvalidity = (uint32_t)sqlite3_column_int64(q, 3);
	info->uidnext = (uint32_t)sqlite3_column_int64(q, 4);
	info->highestmodseq = (uint64_t)sqlite3_column_int64(q, 5);
	info->messages = (uint32_t)sqlite3_column_int64(q, 6);
	info->unseen = (uint32_t)sqlite3_column_int64(q, 7);
	info->deleted = (uint32_t)sqlite3_column_int64(q, 8);
	info->size = (uint64_t)sqlite3_column_int64(q, 9);
	info->subscribed = sqlite3_column_int(q, 10) != 0;
	info->has_children = sqlite3_column_int(q, 11) != 0;
	info->recent = (uint32_t)sqlite3_column_int64(q, 12);
}

void store_mailbox_info_clear(struct store_mailbox_info *info)
{
	free(info->name);
	memset(info, 0, sizeof *info);
}

void store_mailbox_list_free(struct store_mailbox_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		store_mailbox_info_clear(&list->items[i]);
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

int store_mailbox_list(struct store_user *u, struct store_mailbox_list *list_r, char **error_r)
{
	sqlite3_stmt *q;
	list_r->items = NULL;
	list_r->count = 0;
	u->last_error = STORE_ERR_NONE;
	int r = db_prepare(u->db, STATUS_SELECT "ORDER BY mb.name != 'INBOX', mb.name", DB_NO_ARGS,
			   &q, error_r);
	if (r < 0)
		return store_db_fail(u, error_r);
	while ((r = db_step(q, error_r)) == 1) {
		list_r->items = xrealloc(list_r->items, (list_r->count + 1) * sizeof *list_r->items);
		status_row(q, &list_r->items[list_r->count++]);
	}
	sqlite3_finalize(q);
	if (r < 0) {
		store_mailbox_list_free(list_r);
		return store_db_fail(u, error_r);
	}
	return 0;
}

int store_subscriptions(struct store_user *u, char ***names_r, size_t *count_r, char **error_r)
{
	sqlite3_stmt *q;
	*names_r = NULL;
	*count_r = 0;
	if (db_prepare(u->db, "SELECT name FROM subscriptions ORDER BY name", DB_NO_ARGS, &q,
		       error_r) < 0)
		return store_db_fail(u, error_r);
	int r;
	while ((r = db_step(q, error_r)) == 1) {
		*names_r = xrealloc(*names_r, (*count_r + 1) * sizeof **names_r);
		(*names_r)[(*count_r)++] = xstrdup(store_db_text(q, 0));
	}
	sqlite3_finalize(q);
	if (r < 0) {
		store_names_free(names_r, *count_r);
		*count_r = 0;
		return store_db_fail(u, error_r);
	}
	return 0;
}

void store_names_free(char ***names, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free((*names)[i]);
	free(*names);
	*names = NULL;
}

int store_mailbox_open(struct store_user *u, const char *name, struct store_mailbox **mb_r,
		       char **error_r)
{
	char *norm;
	*mb_r = NULL;
	u->last_error = STORE_ERR_NONE;
	if (normalize(u, name, &norm, error_r) < 0)
		return -1;
	sqlite3_stmt *q;
	int r = db_prepare(u->db, "SELECT id, uidvalidity FROM mailboxes WHERE name = ?",
			   DB_ARGS(db_text(norm)), &q, error_r);
	if (r == 0 && (r = db_step(q, error_r)) == 1) {
		struct store_mailbox *mb = xcalloc(1, sizeof *mb);
		mb->user = u;
		mb->id = sqlite3_column_int64(q, 0);
		mb->uidvalidity = (uint32_t)sqlite3_column_int64(q, 1);
		*mb_r = mb;
	}
	if (r >= 0)
		sqlite3_finalize(q);
	if (r == 0)
		store_fail(u, STORE_ERR_NONEXISTENT, error_r, "mailbox '%s' does not exist", norm);
	else if (r < 0)
		store_db_fail(u, error_r);
	free(norm);
	return r == 1 ? 0 : -1;
}

void store_mailbox_close(struct store_mailbox **mb)
{
	xfree(mb);
}

int store_mailbox_status(struct store_mailbox *mb, struct store_mailbox_info *info_r,
			 char **error_r)
{
	struct store_user *u = mb->user;
	sqlite3_stmt *q;
	memset(info_r, 0, sizeof *info_r);
	u->last_error = STORE_ERR_NONE;
	int r = db_prepare(u->db, STATUS_SELECT "WHERE mb.id = ?", DB_ARGS(db_int(mb->id)), &q,
			   error_r);
	if (r < 0)
		return store_db_fail(u, error_r);
	r = db_step(q, error_r);
	if (r == 1)
		status_row(q, info_r);
	sqlite3_finalize(q);
	if (r == 0)
		return store_fail(u, STORE_ERR_EXPUNGED, error_r, "the mailbox has been deleted");
	return r < 0 ? store_db_fail(u, error_r) : 0;
}

/* ---- \Recent and the first unseen message ---- */

/* The mailbox's recent mark and UIDNEXT: 1, or 0 when it is gone, -1 error. */
static int recent_read(struct store_mailbox *mb, uint32_t *mark_r, uint32_t *next_r,
		       char **error_r)
{
	sqlite3_stmt *q;
	if (db_prepare(mb->user->db, "SELECT recent_uid, uidnext FROM mailboxes WHERE id = ?",
		       DB_ARGS(db_int(mb->id)), &q, error_r) < 0)
		return -1;
	int r = db_step(q, error_r);
	if (r == 1) {
		uint32_t next = (uint32_t)sqlite3_column_int64(q, 1);
		uint32_t mark = (uint32_t)sqlite3_column_int64(q, 0);
		*next_r = next;
		*mark_r = mark < next ? mark : next;   /* never above UIDNEXT (store check) */
	}
	sqlite3_finalize(q);
	return r;
}

/* Move the mark to UIDNEXT in one write transaction: a session that
 * claims at the same time (any process) waits, then finds the mark moved. */
static int recent_claim(struct store_mailbox *mb, uint32_t *first_r, uint32_t *next_r,
			char **error_r)
{
	struct store_user *u = mb->user;
	if (db_begin(u->db, error_r) < 0)
		return store_db_fail(u, error_r);
	int r = recent_read(mb, first_r, next_r, error_r);
	if (r == 1 && *first_r < *next_r &&
	    db_run(u->db, "UPDATE mailboxes SET recent_uid = ? WHERE id = ?",
		   DB_ARGS(db_int(*next_r), db_int(mb->id)), NULL, error_r) < 0)
		r = -1;
	if (r != 1) {
		if (r < 0)
			store_db_fail(u, error_r);
		db_rollback(u->db);
		return r == 0 ? store_fail(u, STORE_ERR_EXPUNGED, error_r,
					   "the mailbox has been deleted")
			      : -1;
	}
	if (db_commit(u->db, error_r) < 0) {
		u->last_error = STORE_ERR_TEMP;
		return -1;
	}
	return 0;
}

int store_mailbox_recent(struct store_mailbox *mb, bool claim, uint32_t *first_r,
			 uint32_t *next_r, char **error_r)
{
	struct store_user *u = mb->user;
	u->last_error = STORE_ERR_NONE;
	*first_r = *next_r = 0;
	int r = recent_read(mb, first_r, next_r, error_r);
	if (r < 0)
		return store_db_fail(u, error_r);
	if (r == 0)
		return store_fail(u, STORE_ERR_EXPUNGED, error_r, "the mailbox has been deleted");
	/* Nothing new since the last claim: no write (and no fsync). */
	if (!claim || *first_r == *next_r)
		return 0;
	return recent_claim(mb, first_r, next_r, error_r);
}

int store_mailbox_first_unseen(struct store_mailbox *mb, uint32_t *uid_r, char **error_r)
{
	struct store_user *u = mb->user;
	long long uid = 0, one;
	u->last_error = STORE_ERR_NONE;
	*uid_r = 0;
	/* The first entry of the mailbox in the partial index messages_unseen
	 * (the term "flags & 1 = 0" is the index's own, so SQLite may use it),
	 * in UID order without a sort, then that one message's row:
	 * SEARCH messages USING INDEX messages_unseen (mailbox_id=?)
	 * (test_first_unseen checks the plan). */
	int r = db_get_int(u->db, "SELECT uid FROM messages WHERE mailbox_id = ? AND flags & 1 = 0 "
			   "ORDER BY uid LIMIT 1", DB_ARGS(db_int(mb->id)), &uid, error_r);
	if (r == 0)   /* all seen (1), or no mailbox any more (0) */
		r = db_get_int(u->db, "SELECT 1 FROM mailboxes WHERE id = ?",
			       DB_ARGS(db_int(mb->id)), &one, error_r);
	if (r < 0)
		return store_db_fail(u, error_r);
	if (r == 0)
		return store_fail(u, STORE_ERR_EXPUNGED, error_r, "the mailbox has been deleted");
	*uid_r = (uint32_t)uid;
	return 0;
}
