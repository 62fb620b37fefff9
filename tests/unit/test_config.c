#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/xmalloc.h"

static char *write_tmp(const char *text)
{
	char *path = strdup("/tmp/surel-test-config-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_defaults(void **state)
{
	struct config *cfg = config_defaults();
	assert_string_equal(cfg->server_data_dir, "./var");
	assert_string_equal(cfg->smtp_listen, "127.0.0.1:2525");
	assert_string_equal(cfg->submission_listen, "127.0.0.1:2587");
	assert_string_equal(cfg->smtps_listen, "127.0.0.1:2465");
	assert_string_equal(cfg->imap_listen, "127.0.0.1:2143");
	assert_string_equal(cfg->imaps_listen, "127.0.0.1:2993");
	assert_string_equal(cfg->pop3_listen, "127.0.0.1:2110");
	assert_string_equal(cfg->pop3s_listen, "127.0.0.1:2995");
	assert_string_equal(cfg->http_listen, "127.0.0.1:8080");
	assert_int_equal(cfg->smtp_timeout, 300);
	assert_int_equal(cfg->limits_line_max, 65536);
	assert_null(cfg->path);
	config_free(&cfg);
	assert_null(cfg);
}

static void test_override(void **state)
{
	char *path = write_tmp("# comment\n[smtp]\nlisten = 127.0.0.1:25, [::1]:25\n"
			       "timeout = 2m\n[limits]\nline_max = 1M\n[log]\nlevel = debug\n");
	char *err = NULL;
	struct config *cfg = config_load(path, &err);
	assert_non_null(cfg);
	assert_string_equal(cfg->smtp_listen, "127.0.0.1:25, [::1]:25");
	assert_int_equal(cfg->smtp_timeout, 120);
	assert_int_equal(cfg->limits_line_max, 1 << 20);
	assert_string_equal(cfg->log_level, "debug");
	assert_string_equal(cfg->imap_listen, "127.0.0.1:2143");  /* untouched default */
	assert_string_equal(cfg->path, path);
	config_free(&cfg);
	unlink(path);
	free(path);
}

/* Each bad file gives one error naming file, line and key. */
static const struct {
	const char *text;
	const char *expect;   /* after "FILE:" */
} bad_cases[] = {
	{ "[smtp]\nlisten = 127.0.0.1:25\nbogus = 1\n", "3: smtp.bogus: unknown key" },
	{ "[nosuch]\nkey = 1\n", "2: nosuch.key: unknown key" },
	{ "[server]\nworkers = many\n", "2: server.workers: 'many' is not an integer" },
	{ "[server]\nworkers = 100000\n", "2: server.workers: 100000 is out of range (0 to 256)" },
	{ "[server]\nworkers = -1\n", "2: server.workers: -1 is out of range (0 to 256)" },
	{ "[smtp]\ntimeout = 5x\n", "2: smtp.timeout: '5x' is not a duration" },
	{ "[limits]\nline_max = 10\n", "2: limits.line_max: 10 is out of range (512 to 16777216)" },
	{ "[log]\ntarget = file\n", "2: log.target: 'file' is not one of stderr|syslog" },
	{ "[imap]\nlisten = localhost\n", "2: imap.listen: invalid listen address 'localhost'" },
	{ "[imap]\nlisten = 127.0.0.1:0\n", "2: imap.listen: invalid port" },
	{ "[imap]\nlisten = 127.0.0.1:70000\n", "2: imap.listen: invalid port" },
	{ "[imap]\nlisten = 999.1.1.1:143\n", "2: imap.listen: invalid listen address" },
	{ "[lmtp]\nlisten = 0.0.0.0:24\n", "2: lmtp.listen: 0.0.0.0:24: LMTP has no authentication" },
	{ "[lmtp]\nlisten = /run/l, [::]:24\n", "2: lmtp.listen: [::]:24: LMTP has no" },
	{ "[lmtp]\nlisten = 192.0.2.1:24\n", "2: lmtp.listen: 192.0.2.1:24: LMTP has no" },
	{ "\n\n[smtp\n", "3: syntax error" },
	{ "key = value\n", "1: .key: unknown key" },
};

static void test_errors(void **state)
{
	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		char *path = write_tmp(bad_cases[i].text);
		char *err = NULL;
		struct config *cfg = config_load(path, &err);
		assert_null(cfg);
		assert_non_null(err);
		char *want = NULL;
		assert_true(asprintf(&want, "%s:%s", path, bad_cases[i].expect) > 0);
		if (strncmp(err, want, strlen(want)) != 0)
			fail_msg("case %zu: got '%s', want prefix '%s'", i, err, want);
		free(want);
		free(err);
		unlink(path);
		free(path);
	}
}

static void test_missing_file(void **state)
{
	char *err = NULL;
	assert_null(config_load("/nonexistent/surel.conf", &err));
	assert_string_equal(err, "/nonexistent/surel.conf: cannot read: No such file or directory");
	free(err);
}

static void test_value_parsers(void **state)
{
	long long v;
	bool b;
	assert_int_equal(config_parse_duration("90", &v), 0); assert_int_equal(v, 90);
	assert_int_equal(config_parse_duration("2h", &v), 0); assert_int_equal(v, 7200);
	assert_int_equal(config_parse_duration("1d", &v), 0); assert_int_equal(v, 86400);
	assert_int_equal(config_parse_duration("", &v), -1);
	assert_int_equal(config_parse_duration("-5", &v), -1);
	assert_int_equal(config_parse_duration("5mm", &v), -1);
	assert_int_equal(config_parse_duration("99999999999999999999", &v), -1);
	assert_int_equal(config_parse_size("25M", &v), 0); assert_int_equal(v, 25 << 20);
	assert_int_equal(config_parse_size("9223372036854775807G", &v), -1);
	assert_int_equal(config_parse_bool("Yes", &b), 0); assert_true(b);
	assert_int_equal(config_parse_bool("off", &b), 0); assert_false(b);
	assert_int_equal(config_parse_bool("maybe", &b), -1);
}

static void test_listen_parse(void **state)
{
	struct listen_addr *a;
	size_t n;
	char *err = NULL;
	assert_int_equal(config_listen_parse("127.0.0.1:25,[::1]:587 *:465", &a, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(a[0].ss.ss_family, AF_INET);
	assert_string_equal(a[0].text, "127.0.0.1:25");
	assert_int_equal(a[1].ss.ss_family, AF_INET6);
	assert_string_equal(a[1].text, "[::1]:587");
	assert_int_equal(a[2].ss.ss_family, AF_INET);
	free(a);
	assert_int_equal(config_listen_parse("", &a, &n, &err), 0);
	assert_int_equal(n, 0);
	free(a);
	assert_int_equal(config_listen_parse("::1:25", &a, &n, &err), -1);
	xfree(&err);

	/* unix sockets (LMTP), and what counts as local */
	static const struct {
		const char *addr;
		bool local;
	} local_cases[] = {
		{ "/run/surel/lmtp", true }, { "127.0.0.1:24", true }, { "127.9.9.9:24", true },
		{ "[::1]:24", true }, { "128.0.0.1:24", false }, { "*:24", false },
		{ "[::]:24", false }, { "[::ffff:127.0.0.1]:24", false }, { "10.0.0.1:24", false },
	};
	for (size_t i = 0; i < sizeof local_cases / sizeof local_cases[0]; i++) {
		assert_int_equal(config_listen_parse(local_cases[i].addr, &a, &n, &err), 0);
		assert_int_equal(n, 1);
		assert_string_equal(a[0].text, local_cases[i].addr);
		assert_int_equal(config_listen_is_local(&a[0]), local_cases[i].local);
		free(a);
	}
	assert_int_equal(config_listen_parse("/tmp/x.sock", &a, &n, &err), 0);
	assert_int_equal(a[0].ss.ss_family, AF_UNIX);
	free(a);
	char long_path[200];
	memset(long_path, 'x', sizeof long_path - 1);
	long_path[0] = '/';
	long_path[sizeof long_path - 1] = '\0';
	assert_int_equal(config_listen_parse(long_path, &a, &n, &err), -1);
	xfree(&err);
}

static void test_set_and_show_roundtrip(void **state)
{
	struct config *cfg = config_defaults();
	char *err = NULL;
	assert_int_equal(config_set(cfg, "imap.timeout", "45m", &err), 0);
	assert_int_equal(config_set(cfg, "imap.nope", "1", &err), -1);
	assert_string_equal(err, "imap.nope: unknown key");
	free(err);
	/* What config show prints must load back to the same values. */
	char *path = strdup("/tmp/surel-test-show-XXXXXX");
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	config_write_ini(cfg, f);
	fclose(f);
	struct config *again = config_load(path, &err);
	assert_non_null(again);
	assert_int_equal(again->imap_timeout, 45 * 60);
	assert_string_equal(again->http_listen, cfg->http_listen);
	assert_int_equal(again->limits_line_max, cfg->limits_line_max);
	config_free(&again);
	config_free(&cfg);
	unlink(path);
	free(path);
}

static void test_where(void **state)
{
	char *path = write_tmp("[smtp]\nlisten = 127.0.0.1:25\n\n[tls]\n  cert = /x.pem\n");
	char *err = NULL;
	struct config *cfg = config_load(path, &err);
	assert_non_null(cfg);
	char *w = config_where(cfg, "tls.cert");
	char *want = NULL;
	assert_true(asprintf(&want, "%s:5: tls.cert", path) > 0);
	assert_string_equal(w, want);
	free(w);
	free(want);
	w = config_where(cfg, "imap.listen");   /* not in the file: a default */
	assert_string_equal(w, "imap.listen");
	free(w);
	config_free(&cfg);
	unlink(path);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_override),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_value_parsers),
		cmocka_unit_test(test_listen_parse),
		cmocka_unit_test(test_set_and_show_roundtrip),
		cmocka_unit_test(test_where),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
