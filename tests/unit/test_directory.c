#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "account/db.h"
#include "account/directory.h"
#include "account/password.h"
#include "core/config.h"
#include "core/privs.h"
#include "core/xmalloc.h"

/* A known-good hash (openssl passwd -6 -salt saltsalt 'Tr0ub4dor&3'), so
 * that the tests do not spend time in yescrypt. */
#define HASH "$6$saltsalt$fwlamBrOqmO1d1IGBZuoDbiBLysiZpmO29PF6JYPeFNWtUpYlWGacpfo3kQaQ6Jc9AgBbqPXfLKeJCECo1N.m1"

struct fixture {
	char dir[64];
	struct directory *d;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/surel-test-dir-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	char *err = NULL;
	if (directory_open(f->dir, &f->d, &err) < 0)
		fail_msg("directory_open: %s", err);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	directory_close(&f->d);
	char *cmd = xasprintf("rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f);
	return 0;
}

/* Assert that a call failed with exactly this message. */
/* Both take &err, read after the call has set it. */
static void expect_error(int rc, char **err, const char *want)
{
	assert_int_equal(rc, -1);
	assert_non_null(*err);
	if (strcmp(*err, want) != 0)
		fail_msg("got '%s', want '%s'", *err, want);
	xfree(err);
}

static void ok(int rc, char **err)
{
	if (rc < 0)
		fail_msg("unexpected error: %s", *err);
}

/* Rows in a table, read with a separate connection. */
static long long count_rows(const char *dir, const char *sql)
{
	char *path = xasprintf("%s/surel.db", dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	long long n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(path);
	return n;
}

/* ---- opening and migrations ---- */

static void test_fresh_db(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(count_rows(f->dir, "PRAGMA user_version"), db_schema_latest());
	char *path = xasprintf("%s/surel.db", f->dir);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);   /* it holds password hashes */
	free(path);
	sqlite3 *db;
	path = xasprintf("%s/surel.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	sqlite3_close(db);
	free(path);
}

static void test_migrate_old_version(void **state)
{
	char dir[] = "/tmp/surel-test-mig-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *path = xasprintf("%s/surel.db", dir);
	char *err = NULL;
	/* A database as version 1 left it, with data in it. */
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	ok(db_migrate(db, 1, &err), &err);
	assert_int_equal(sqlite3_exec(db,
		"INSERT INTO domains (name) VALUES ('example.org');"
		"INSERT INTO accounts (domain_id, address, password_hash) VALUES (1, 'alice@example.org', '"
		HASH "');", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(count_rows(dir, "PRAGMA user_version"), 1);
	assert_int_equal(count_rows(dir, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
				    " AND name = 'accounts_domain'"), 0);

	struct directory *d = NULL;
	ok(directory_open(dir, &d, &err), &err);
	assert_int_equal(count_rows(dir, "PRAGMA user_version"), db_schema_latest());
	assert_true(db_schema_latest() >= 2);
	assert_int_equal(count_rows(dir, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
				    " AND name = 'accounts_domain'"), 1);
	struct account_info a = { 0 };
	assert_int_equal(directory_find_account(d, "alice@example.org", &a, &err), 1);
	assert_string_equal(a.password_hash, HASH);
	assert_true(a.enabled);
	/* version 3's columns: NULL for the accounts there before, i.e. the
	 * global settings */
	assert_int_equal(a.pop3.delete_after_retr, ACCOUNT_OPT_DEFAULT);
	assert_int_equal(a.pop3.deleted_to_trash, ACCOUNT_OPT_DEFAULT);
	assert_true(db_schema_latest() >= 3);
	assert_int_equal(count_rows(dir, "SELECT count(*) FROM accounts"
				    " WHERE pop3_delete_after_retr IS NULL"
				    " AND pop3_deleted_to_trash IS NULL"), 1);
	account_info_clear(&a);
	directory_close(&d);
	assert_null(d);

	/* A version from the future is refused, not touched. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(directory_open(dir, &d, &err), -1);
	assert_non_null(strstr(err, "schema version 99 is newer than this surel knows"));
	free(err);
	assert_int_equal(count_rows(dir, "PRAGMA user_version"), 99);
	char *cmd = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(path);
}

/* A migration that fails leaves nothing of itself behind. */
static void test_migration_is_atomic(void **state)
{
	char dir[] = "/tmp/surel-test-mig-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *path = xasprintf("%s/surel.db", dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	/* A stray table named like one of step 1's, created last in that step. */
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE aliases (x)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	struct directory *d = NULL;
	char *err = NULL;
	assert_int_equal(directory_open(dir, &d, &err), -1);
	assert_non_null(strstr(err, "schema migration to version 1: table aliases already exists"));
	free(err);
	assert_int_equal(count_rows(dir, "PRAGMA user_version"), 0);
	assert_int_equal(count_rows(dir, "SELECT count(*) FROM sqlite_master WHERE name = 'domains'"), 0);
	char *cmd = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(path);
}

static void test_open_errors(void **state)
{
	struct directory *d = NULL;
	char *err = NULL;
	expect_error(directory_open("/nonexistent/surel-data", &d, &err),
		     &err, "/nonexistent/surel-data: data directory: No such file or directory");
	assert_null(d);
}

static void test_open_config(void **state)
{
	char base[] = "/tmp/surel-test-cfg-XXXXXX";
	assert_non_null(mkdtemp(base));
	struct config *cfg = config_defaults();
	char *err = NULL;
	char *data = xasprintf("%s/a/b/var", base);
	ok(config_set(cfg, "server.data_dir", data, &err), &err);
	struct directory *d = NULL;
	ok(directory_open_config(cfg, &d, &err), &err);   /* makes the directories */
	ok(directory_domain_add(d, "example.org", &err), &err);
	directory_close(&d);
	char *path = xasprintf("%s/surel.db", data);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	struct passwd *pw = getpwnam(cfg->server_user);
	if (privs_are_root() && pw != NULL) {
		/* Made by root for the workers: owned by server.user, -wal too. */
		assert_int_equal(st.st_uid, pw->pw_uid);
		char *wal = xasprintf("%s-wal", path);
		struct sqlite3 *db;
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);   /* keeps -wal present */
		assert_int_equal(sqlite3_exec(db, "SELECT 1 FROM domains", NULL, NULL, NULL), SQLITE_OK);
		assert_int_equal(stat(wal, &st), 0);
		assert_int_equal(st.st_uid, pw->pw_uid);
		sqlite3_close(db);
		free(wal);
	} else {
		assert_int_equal(st.st_uid, geteuid());
	}
	free(path);
	free(data);
	config_free(&cfg);
	char *cmd = xasprintf("rm -rf '%s'", base);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

/* ---- domains ---- */

static void test_domains(void **state)
{
	struct fixture *f = *state;
	char *err = NULL;
	ok(directory_domain_add(f->d, "Example.ORG", &err), &err);
	ok(directory_domain_add(f->d, "bücher.example", &err), &err);
	expect_error(directory_domain_add(f->d, "example.org", &err), &err,
		     "domain 'example.org' already exists");
	expect_error(directory_domain_add(f->d, "XN--BCHER-KVA.example", &err), &err,
		     "domain 'xn--bcher-kva.example' already exists");
	expect_error(directory_domain_add(f->d, "-bad.example", &err), &err,
		     "invalid domain '-bad.example': label '-bad' begins with a hyphen");
	struct string_list list;
	ok(directory_domain_list(f->d, &list, &err), &err);
	assert_int_equal(list.count, 2);
	assert_string_equal(list.items[0], "example.org");
	assert_string_equal(list.items[1], "xn--bcher-kva.example");
	string_list_free(&list);
	assert_null(list.items);
	assert_int_equal(directory_domain_exists(f->d, "BÜCHER.example", &err), 1);
	assert_int_equal(directory_domain_exists(f->d, "other.example", &err), 0);
	assert_int_equal(directory_domain_exists(f->d, "not a domain", &err), 0);
	ok(directory_domain_del(f->d, "bücher.example", false, &err), &err);
	expect_error(directory_domain_del(f->d, "bücher.example", false, &err), &err,
		     "no such domain 'xn--bcher-kva.example' (add it with: surel domain add "
		     "xn--bcher-kva.example)");
	assert_int_equal(count_rows(f->dir, "SELECT count(*) FROM domains"), 1);
}

/* ---- accounts ---- */

static void test_accounts(void **state)
{
	struct fixture *f = *state;
	char *err = NULL;
	ok(directory_domain_add(f->d, "example.org", &err), &err);
	ok(directory_domain_add(f->d, "bücher.example", &err), &err);
	ok(directory_account_add(f->d, "Alice@Example.org", HASH, 0, true, &err), &err);
	ok(directory_account_add(f->d, "jörg@BÜCHER.example", HASH, 1 << 20, false, &err), &err);

	struct account_info a = { 0 };
	assert_int_equal(directory_find_account(f->d, "ALICE@EXAMPLE.ORG", &a, &err), 1);
	assert_string_equal(a.address, "alice@example.org");
	assert_string_equal(a.password_hash, HASH);
	assert_int_equal(a.quota_bytes, 0);
	assert_true(a.enabled);
	assert_true(a.id > 0);
	account_info_clear(&a);
	assert_null(a.address);
	assert_null(a.password_hash);
	/* U-label, A-label, any case: one account */
	assert_int_equal(directory_find_account(f->d, "jörg@bücher.example", &a, &err), 1);
	assert_string_equal(a.address, "jörg@xn--bcher-kva.example");
	assert_int_equal(a.quota_bytes, 1 << 20);
	assert_false(a.enabled);
	account_info_clear(&a);
	assert_int_equal(directory_find_account(f->d, "JÖRG@XN--BCHER-KVA.EXAMPLE", &a, &err), 0);
	assert_int_equal(directory_find_account(f->d, "Jörg@XN--BCHER-KVA.EXAMPLE", &a, &err), 1);
	account_info_clear(&a);
	/* no such account, and addresses that cannot be one */
	assert_int_equal(directory_find_account(f->d, "bob@example.org", &a, &err), 0);
	assert_int_equal(directory_find_account(f->d, "\"alice\"@example.org", &a, &err), 0);
	assert_int_equal(directory_find_account(f->d, "", &a, &err), 0);
	assert_null(a.address);

	expect_error(directory_account_add(f->d, "ALICE@example.org", HASH, 0, true, &err), &err,
		     "account 'alice@example.org' already exists");
	expect_error(directory_account_check_new(f->d, "alice@EXAMPLE.org", &err), &err,
		     "account 'alice@example.org' already exists");
	expect_error(directory_account_add(f->d, "bob@nowhere.example", HASH, 0, true, &err), &err,
		     "no such domain 'nowhere.example' (add it with: surel domain add nowhere.example)");
	expect_error(directory_account_add(f->d, "bob@example.org", "$1$saltsalt$ueg/7ujBFDpyKLR2vs28p1",
					   0, true, &err), &err,
		     "unsupported or malformed password hash (supported: $y$, $2b$, $2y$, $2a$, $6$, $5$)");
	expect_error(directory_account_add(f->d, "bob@example.org", HASH, -1, true, &err), &err,
		     "invalid quota -1 (must be 0 for unlimited, or more)");
	expect_error(directory_account_add(f->d, "bob example.org", HASH, 0, true, &err), &err,
		     "invalid address 'bob example.org': missing '@' and domain");
	ok(directory_account_check_new(f->d, "bob@example.org", &err), &err);
	assert_int_equal(count_rows(f->dir, "SELECT count(*) FROM accounts"), 2);

	struct account_list list;
	ok(directory_account_list(f->d, NULL, &list, &err), &err);
	assert_int_equal(list.count, 2);
	assert_string_equal(list.items[0].address, "alice@example.org");
	assert_string_equal(list.items[1].address, "jörg@xn--bcher-kva.example");
	account_list_free(&list);
	ok(directory_account_list(f->d, "Bücher.example", &list, &err), &err);
	assert_int_equal(list.count, 1);
	assert_string_equal(list.items[0].address, "jörg@xn--bcher-kva.example");
	account_list_free(&list);
	expect_error(directory_account_list(f->d, "nowhere.example", &list, &err), &err,
		     "no such domain 'nowhere.example' (add it with: surel domain add nowhere.example)");
}

static void test_account_changes(void **state)
{
	struct fixture *f = *state;
	char *err = NULL;
	struct account_info a = { 0 };
	ok(directory_domain_add(f->d, "example.org", &err), &err);
	ok(directory_account_add(f->d, "alice@example.org", HASH, 0, true, &err), &err);
	char *h = password_hash("new secret");
	ok(directory_account_set_password(f->d, "Alice@example.org", h, &err), &err);
	ok(directory_account_set_enabled(f->d, "alice@example.org", false, &err), &err);
	ok(directory_account_set_quota(f->d, "alice@example.org", 500LL << 20, &err), &err);
	assert_int_equal(directory_find_account(f->d, "alice@example.org", &a, &err), 1);
	assert_string_equal(a.password_hash, h);
	assert_true(password_verify("new secret", a.password_hash));
	assert_false(a.enabled);
	assert_int_equal(a.quota_bytes, 500LL << 20);
	long long first_id = a.id;
	account_info_clear(&a);
	ok(directory_account_set_enabled(f->d, "alice@example.org", true, &err), &err);
	assert_int_equal(directory_find_account(f->d, "alice@example.org", &a, &err), 1);
	assert_true(a.enabled);
	account_info_clear(&a);

	expect_error(directory_account_set_password(f->d, "bob@example.org", h, &err), &err,
		     "no such account 'bob@example.org'");
	expect_error(directory_account_set_password(f->d, "alice@example.org", "plain", &err), &err,
		     "unsupported or malformed password hash (supported: $y$, $2b$, $2y$, $2a$, $6$, $5$)");
	expect_error(directory_account_set_quota(f->d, "bob@example.org", 1, &err), &err,
		     "no such account 'bob@example.org'");
	expect_error(directory_account_set_quota(f->d, "alice@example.org", -5, &err), &err,
		     "invalid quota -5 (must be 0 for unlimited, or more)");
	expect_error(directory_account_set_enabled(f->d, "bob@example.org", true, &err), &err,
		     "no such account 'bob@example.org'");
	free(h);

	/* POP3 options: each one set, kept or reset to the default alone */
	static const struct {
		enum account_opt dar, trash;          /* the change */
		enum account_opt want_dar, want_trash; /* what is stored then */
		const char *sql;                       /* the columns as stored */
	} pop3_steps[] = {
		{ ACCOUNT_OPT_KEEP, ACCOUNT_OPT_KEEP, ACCOUNT_OPT_DEFAULT, ACCOUNT_OPT_DEFAULT,
		  "pop3_delete_after_retr IS NULL AND pop3_deleted_to_trash IS NULL" },
		{ ACCOUNT_OPT_YES, ACCOUNT_OPT_KEEP, ACCOUNT_OPT_YES, ACCOUNT_OPT_DEFAULT,
		  "pop3_delete_after_retr = 1 AND pop3_deleted_to_trash IS NULL" },
		{ ACCOUNT_OPT_KEEP, ACCOUNT_OPT_NO, ACCOUNT_OPT_YES, ACCOUNT_OPT_NO,
		  "pop3_delete_after_retr = 1 AND pop3_deleted_to_trash = 0" },
		{ ACCOUNT_OPT_NO, ACCOUNT_OPT_YES, ACCOUNT_OPT_NO, ACCOUNT_OPT_YES,
		  "pop3_delete_after_retr = 0 AND pop3_deleted_to_trash = 1" },
		{ ACCOUNT_OPT_DEFAULT, ACCOUNT_OPT_KEEP, ACCOUNT_OPT_DEFAULT, ACCOUNT_OPT_YES,
		  "pop3_delete_after_retr IS NULL AND pop3_deleted_to_trash = 1" },
		{ ACCOUNT_OPT_KEEP, ACCOUNT_OPT_DEFAULT, ACCOUNT_OPT_DEFAULT, ACCOUNT_OPT_DEFAULT,
		  "pop3_delete_after_retr IS NULL AND pop3_deleted_to_trash IS NULL" },
	};
	for (size_t i = 0; i < sizeof pop3_steps / sizeof pop3_steps[0]; i++) {
		struct account_pop3 change = { pop3_steps[i].dar, pop3_steps[i].trash };
		ok(directory_account_set_pop3(f->d, "ALICE@example.org", &change, &err), &err);
		assert_int_equal(directory_find_account(f->d, "alice@example.org", &a, &err), 1);
		assert_int_equal(a.pop3.delete_after_retr, pop3_steps[i].want_dar);
		assert_int_equal(a.pop3.deleted_to_trash, pop3_steps[i].want_trash);
		account_info_clear(&a);
		assert_int_equal(a.pop3.delete_after_retr, ACCOUNT_OPT_DEFAULT);
		char *sql = xasprintf("SELECT count(*) FROM accounts WHERE %s", pop3_steps[i].sql);
		assert_int_equal(count_rows(f->dir, sql), 1);
		free(sql);
	}
	struct account_pop3 yes = { ACCOUNT_OPT_YES, ACCOUNT_OPT_YES };
	expect_error(directory_account_set_pop3(f->d, "bob@example.org", &yes, &err), &err,
		     "no such account 'bob@example.org'");
	assert_int_equal(count_rows(f->dir, "SELECT count(*) FROM accounts"
				    " WHERE pop3_delete_after_retr IS NULL"), 1);
	/* the effective value: the account's, else the global one */
	assert_true(account_opt_value(ACCOUNT_OPT_DEFAULT, true));
	assert_false(account_opt_value(ACCOUNT_OPT_DEFAULT, false));
	assert_true(account_opt_value(ACCOUNT_OPT_YES, false));
	assert_false(account_opt_value(ACCOUNT_OPT_NO, true));
	/* the schema refuses anything but 0, 1 and NULL */
	char *path = xasprintf("%s/surel.db", f->dir);
	sqlite3 *raw;
	assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_exec(raw, "UPDATE accounts SET pop3_deleted_to_trash = 2",
				      NULL, NULL, NULL), SQLITE_CONSTRAINT);
	sqlite3_close(raw);
	free(path);

	ok(directory_account_del(f->d, "ALICE@example.org", &err), &err);
	assert_int_equal(directory_find_account(f->d, "alice@example.org", &a, &err), 0);
	expect_error(directory_account_del(f->d, "alice@example.org", &err), &err,
		     "no such account 'alice@example.org'");
	/* A new account never reuses a deleted one's id (which names its mail). */
	ok(directory_account_add(f->d, "alice@example.org", HASH, 0, true, &err), &err);
	assert_int_equal(directory_find_account(f->d, "alice@example.org", &a, &err), 1);
	assert_true(a.id > first_id);
	account_info_clear(&a);
}

/* Every look-up reads the database: a change through one handle (the CLI)
 * is seen at once through another (a running server). */
static void test_no_caching(void **state)
{
	struct fixture *f = *state;
	char *err = NULL;
	struct directory *server = NULL;
	ok(directory_open(f->dir, &server, &err), &err);
	struct account_info a = { 0 };
	ok(directory_domain_add(f->d, "example.org", &err), &err);
	assert_int_equal(directory_find_account(server, "alice@example.org", &a, &err), 0);
	ok(directory_account_add(f->d, "alice@example.org", HASH, 0, true, &err), &err);
	assert_int_equal(directory_find_account(server, "alice@example.org", &a, &err), 1);
	assert_true(a.enabled);
	account_info_clear(&a);
	ok(directory_account_set_enabled(f->d, "alice@example.org", false, &err), &err);
	assert_int_equal(directory_find_account(server, "alice@example.org", &a, &err), 1);
	assert_false(a.enabled);
	account_info_clear(&a);
	ok(directory_account_del(f->d, "alice@example.org", &err), &err);
	assert_int_equal(directory_find_account(server, "alice@example.org", &a, &err), 0);
	directory_close(&server);
}

/* ---- aliases ---- */

static void add_alias(struct directory *d, const char *source, const char *target)
{
	char *err = NULL;
	const char *targets[] = { target };
	ok(directory_alias_add(d, source, targets, 1, &err), &err);
}

static void expect_lookup(struct directory *d, const char *address, const char *source,
			  const char *target)
{
	struct alias_list list;
	char *err = NULL;
	int rc = directory_alias_lookup(d, address, &list, &err);
	if (source == NULL) {
		assert_int_equal(rc, 0);
		assert_int_equal(list.count, 0);
		return;
	}
	assert_int_equal(rc, 1);
	assert_int_equal(list.count, 1);
	assert_string_equal(list.items[0].source, source);
	assert_string_equal(list.items[0].target, target);
	alias_list_free(&list);
}

static void test_aliases(void **state)
{
	struct fixture *f = *state;
	char *err = NULL;
	ok(directory_domain_add(f->d, "example.org", &err), &err);
	ok(directory_domain_add(f->d, "example.net", &err), &err);
	ok(directory_account_add(f->d, "alice@example.org", HASH, 0, true, &err), &err);
	ok(directory_account_add(f->d, "bob@example.org", HASH, 0, true, &err), &err);

	const char *two[] = { "Alice@example.org", "someone@remote.example" };
	ok(directory_alias_add(f->d, "Postmaster@Example.org", two, 2, &err), &err);
	expect_lookup(f->d, "nobody@example.org", NULL, NULL);
	add_alias(f->d, "@example.org", "bob@example.org");        /* catch-all */
	expect_lookup(f->d, "nobody@EXAMPLE.org", "@example.org", "bob@example.org");
	expect_lookup(f->d, "nobody@example.net", NULL, NULL);
	expect_lookup(f->d, "nobody@unknown.example", NULL, NULL);
	struct alias_list list;
	assert_int_equal(directory_alias_lookup(f->d, "POSTMASTER@example.org", &list, &err), 1);
	assert_int_equal(list.count, 2);                            /* exact alias before catch-all */
	assert_string_equal(list.items[0].target, "alice@example.org");
	assert_string_equal(list.items[1].target, "someone@remote.example");
	alias_list_free(&list);
	/* a local target may be an alias, or covered by a catch-all */
	add_alias(f->d, "info@example.org", "postmaster@example.org");
	add_alias(f->d, "sales@example.org", "whoever@example.org");

	const char *one[] = { "bob@example.org" };
	const char *bad_target[] = { "alice@example.org", "ghost@example.net" };
	const char *self[] = { "info@example.org" };
	expect_error(directory_alias_add(f->d, "postmaster@example.org", (const char *[]){
			"ALICE@example.org" }, 1, &err), &err,
		     "alias 'postmaster@example.org -> alice@example.org' already exists");
	expect_error(directory_alias_add(f->d, "alice@example.org", one, 1, &err), &err,
		     "'alice@example.org' is an account; an alias cannot have the same address");
	expect_error(directory_alias_add(f->d, "x@nowhere.example", one, 1, &err), &err,
		     "no such domain 'nowhere.example' (add it with: surel domain add nowhere.example)");
	expect_error(directory_alias_add(f->d, "new@example.org", bad_target, 2, &err), &err,
		     "target 'ghost@example.net' is in our domain 'example.net' but is no account "
		     "or alias there");
	expect_error(directory_alias_add(f->d, "Info@example.org", self, 1, &err), &err,
		     "alias 'info@example.org' cannot point to itself");
	expect_error(directory_alias_add(f->d, "new@example.org", (const char *[]){ "@example.org" },
					 1, &err), &err,
		     "invalid address '@example.org': empty local part");
	expect_error(directory_alias_add(f->d, "new@example.org", NULL, 0, &err), &err,
		     "an alias needs at least one target");
	/* all or nothing: the first target of the failed add is not there */
	assert_int_equal(directory_alias_lookup(f->d, "new@example.org", &list, &err), 1);
	assert_string_equal(list.items[0].source, "@example.org");
	alias_list_free(&list);
	/* an account cannot take an alias's address */
	expect_error(directory_account_add(f->d, "info@example.org", HASH, 0, true, &err), &err,
		     "'info@example.org' is an alias; delete it first (surel alias del info@example.org)");

	ok(directory_alias_list(f->d, NULL, &list, &err), &err);
	static const char *const want[][2] = {
		{ "@example.org", "bob@example.org" },
		{ "info@example.org", "postmaster@example.org" },
		{ "postmaster@example.org", "alice@example.org" },
		{ "postmaster@example.org", "someone@remote.example" },
		{ "sales@example.org", "whoever@example.org" },
	};
	assert_int_equal(list.count, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_string_equal(list.items[i].source, want[i][0]);
		assert_string_equal(list.items[i].target, want[i][1]);
	}
	alias_list_free(&list);
	ok(directory_alias_list(f->d, "example.net", &list, &err), &err);
	assert_int_equal(list.count, 0);
	alias_list_free(&list);

	/* delete one target, then the rest */
	ok(directory_alias_del(f->d, "postmaster@example.org", "someone@REMOTE.example", &err), &err);
	expect_error(directory_alias_del(f->d, "postmaster@example.org", "someone@remote.example",
					 &err), &err,
		     "no such alias 'postmaster@example.org -> someone@remote.example'");
	ok(directory_alias_del(f->d, "@EXAMPLE.org", NULL, &err), &err);
	expect_lookup(f->d, "nobody@example.org", NULL, NULL);
	expect_error(directory_alias_del(f->d, "@example.org", NULL, &err), &err,
		     "no such alias '@example.org'");
	assert_int_equal(count_rows(f->dir, "SELECT count(*) FROM aliases"), 3);
}

static void test_domain_delete(void **state)
{
	struct fixture *f = *state;
	char *err = NULL;
	ok(directory_domain_add(f->d, "example.org", &err), &err);
	ok(directory_domain_add(f->d, "example.net", &err), &err);
	ok(directory_account_add(f->d, "alice@example.org", HASH, 0, true, &err), &err);
	ok(directory_account_add(f->d, "bob@example.org", HASH, 0, true, &err), &err);
	ok(directory_account_add(f->d, "carol@example.net", HASH, 0, true, &err), &err);
	add_alias(f->d, "@example.org", "alice@example.org");
	add_alias(f->d, "x@example.net", "carol@example.net");

	expect_error(directory_domain_del(f->d, "example.org", false, &err), &err,
		     "domain 'example.org' has 2 accounts and 1 alias; delete them first or use "
		     "--force to delete them with it");
	assert_int_equal(count_rows(f->dir, "SELECT count(*) FROM accounts"), 3);
	assert_int_equal(count_rows(f->dir, "SELECT count(*) FROM aliases"), 2);
	assert_int_equal(count_rows(f->dir, "SELECT count(*) FROM domains"), 2);
	/* aliases alone hold a domain too */
	ok(directory_account_del(f->d, "carol@example.net", &err), &err);
	expect_error(directory_domain_del(f->d, "example.net", false, &err), &err,
		     "domain 'example.net' has 0 accounts and 1 alias; delete them first or use "
		     "--force to delete them with it");

	ok(directory_domain_del(f->d, "EXAMPLE.org", true, &err), &err);
	assert_int_equal(count_rows(f->dir, "SELECT count(*) FROM accounts"), 0);
	assert_int_equal(count_rows(f->dir, "SELECT count(*) FROM aliases"), 1);
	assert_int_equal(count_rows(f->dir, "SELECT count(*) FROM domains"), 1);
	struct account_info a = { 0 };
	assert_int_equal(directory_find_account(f->d, "alice@example.org", &a, &err), 0);
	assert_int_equal(directory_domain_exists(f->d, "example.org", &err), 0);
	assert_int_equal(directory_domain_exists(f->d, "example.net", &err), 1);
	/* and the foreign keys hold on their own */
	assert_int_equal(count_rows(f->dir, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fresh_db, setup, teardown),
		cmocka_unit_test(test_migrate_old_version),
		cmocka_unit_test(test_migration_is_atomic),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_open_config),
		cmocka_unit_test_setup_teardown(test_domains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accounts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_account_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_caching, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aliases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_delete, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
