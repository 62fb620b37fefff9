/* TLS contexts: the self-signed certificate made at first start, errors that
 * name the configuration line, and real handshakes over a socketpair. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/tls.h"

static char *make_tmpdir(void)
{
	char *dir = strdup("/tmp/surel-test-tls-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return dir;
}

static void rm_rf(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static char *path_in(const char *dir, const char *name)
{
	char *p = NULL;
	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

static char *read_all(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *data = malloc(1 << 16);
	size_t n = fread(data, 1, 1 << 16, f);
	fclose(f);
	*len_r = n;
	return data;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A configuration file in dir with the given body, loaded. */
static struct config *load_conf(const char *dir, const char *body)
{
	char *conf = path_in(dir, "surel.conf");
	write_text(conf, body);
	char *err = NULL;
	struct config *cfg = config_load(conf, &err);
	if (cfg == NULL)
		fail_msg("config: %s", err);
	free(conf);
	return cfg;
}

static struct config *conf_with_data_dir(const char *data)
{
	struct config *cfg = config_defaults();
	char *err = NULL;
	assert_int_equal(config_set(cfg, "server.data_dir", data, &err), 0);
	assert_int_equal(config_set(cfg, "server.hostname", "mail.example.test", &err), 0);
	return cfg;
}

/* ---- generation ---- */

static void test_generate_and_reuse(void **state)
{
	char *dir = make_tmpdir();
	struct config *cfg = conf_with_data_dir(dir);
	char *err = NULL;
	SSL_CTX *ctx = tls_server_ctx_new(cfg, &err);
	if (ctx == NULL)
		fail_msg("%s", err);

	char *tlsdir = path_in(dir, "tls");
	char *cert_path = path_in(tlsdir, "cert.pem"), *key_path = path_in(tlsdir, "key.pem");
	struct stat st;
	assert_int_equal(stat(tlsdir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(stat(key_path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(cert_path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);

	/* The certificate: v3, CN and subjectAltName = server.hostname, 825 days, ECDSA P-256. */
	X509 *cert = SSL_CTX_get0_certificate(ctx);
	assert_non_null(cert);
	assert_int_equal(X509_get_version(cert), X509_VERSION_3);
	char cn[256];
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
					      sizeof cn) > 0);
	assert_string_equal(cn, "mail.example.test");
	assert_int_equal(X509_check_host(cert, "mail.example.test", 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL), 1);
	assert_int_equal(X509_check_host(cert, "other.example.test", 0, 0, NULL), 0);
	int days, secs;
	assert_true(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert), X509_get0_notAfter(cert)));
	assert_int_equal(days, 825);
	EVP_PKEY *pub = X509_get0_pubkey(cert);
	assert_int_equal(EVP_PKEY_get_base_id(pub), EVP_PKEY_EC);
	char group[64];
	assert_true(EVP_PKEY_get_group_name(pub, group, sizeof group, NULL));
	assert_string_equal(group, "prime256v1");
	assert_int_equal(X509_verify(cert, pub), 1);
	/* A client that trusts this certificate (pins it) verifies the server. */
	X509_STORE *store = X509_STORE_new();
	X509_STORE_add_cert(store, cert);
	X509_STORE_CTX *vctx = X509_STORE_CTX_new();
	assert_int_equal(X509_STORE_CTX_init(vctx, store, cert, NULL), 1);
	X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(vctx), "mail.example.test", 0);
	X509_STORE_CTX_set_purpose(vctx, X509_PURPOSE_SSL_SERVER);
	if (X509_verify_cert(vctx) != 1)
		fail_msg("verify: %s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(vctx)));
	X509_STORE_CTX_free(vctx);
	X509_STORE_free(store);
	const ASN1_INTEGER *serial = X509_get0_serialNumber(cert);
	assert_true(serial->length >= 8);

	size_t len1, len2;
	char *first = read_all(cert_path, &len1);
	SSL_CTX_free(ctx);

	/* Second start: the same files are used, not made again. */
	ctx = tls_server_ctx_new(cfg, &err);
	assert_non_null(ctx);
	char *second = read_all(cert_path, &len2);
	assert_int_equal(len1, len2);
	assert_memory_equal(first, second, len1);
	SSL_CTX_free(ctx);

	/* No temporary files are left behind. */
	char cmd[600];
	snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 2", tlsdir);
	assert_int_equal(system(cmd), 0);

	free(first);
	free(second);
	free(cert_path);
	free(key_path);
	free(tlsdir);
	config_free(&cfg);
	rm_rf(dir);
	free(dir);
}

/* A data directory that cannot hold tls/ gives an error naming it. */
static void test_generate_unwritable(void **state)
{
	struct config *cfg = conf_with_data_dir("/nonexistent/surel-data");
	char *err = NULL;
	assert_null(tls_server_ctx_new(cfg, &err));
	assert_string_equal(err, "tls.cert: /nonexistent/surel-data/tls: cannot create directory: "
				 "No such file or directory");
	free(err);
	config_free(&cfg);
}

/* ---- configured files ---- */

static void test_missing_cert(void **state)
{
	char *dir = make_tmpdir();
	struct config *cfg = load_conf(dir, "[server]\nhostname = a.test\n\n[tls]\n"
					    "cert = /nonexistent/cert.pem\nkey = /nonexistent/key.pem\n");
	char *err = NULL;
	assert_null(tls_server_ctx_new(cfg, &err));
	char *want = NULL;
	assert_true(asprintf(&want, "%s/surel.conf:5: tls.cert: /nonexistent/cert.pem: cannot read "
				    "certificate: No such file or directory", dir) > 0);
	assert_string_equal(err, want);
	assert_int_equal(ERR_peek_error(), 0);   /* OpenSSL's queue is left clean */
	free(want);
	free(err);
	config_free(&cfg);
	rm_rf(dir);
	free(dir);
}

static void test_cert_without_key(void **state)
{
	char *dir = make_tmpdir();
	struct config *cfg = load_conf(dir, "[tls]\ncert = /x/cert.pem\n");
	char *err = NULL;
	assert_null(tls_server_ctx_new(cfg, &err));
	char *want = NULL;
	assert_true(asprintf(&want, "%s/surel.conf:2: tls.cert: tls.key must be set too "
				    "(set both or neither)", dir) > 0);
	assert_string_equal(err, want);
	free(want);
	free(err);
	config_free(&cfg);
	rm_rf(dir);
	free(dir);
}

/* Two generated pairs; the first's certificate with the second's key. */
static void test_mismatch_and_garbage(void **state)
{
	char *a = make_tmpdir(), *b = make_tmpdir();
	char *err = NULL;
	struct config *ca = conf_with_data_dir(a), *cb = conf_with_data_dir(b);
	SSL_CTX *x = tls_server_ctx_new(ca, &err), *y = tls_server_ctx_new(cb, &err);
	assert_non_null(x);
	assert_non_null(y);
	SSL_CTX_free(x);
	SSL_CTX_free(y);

	char *body = NULL;
	assert_true(asprintf(&body, "[tls]\ncert = %s/tls/cert.pem\nkey = %s/tls/key.pem\n", a, b) > 0);
	struct config *cfg = load_conf(a, body);
	assert_null(tls_server_ctx_new(cfg, &err));
	char *want = NULL;
	assert_true(asprintf(&want, "%s/surel.conf:3: tls.key: %s/tls/key.pem: private key does "
				    "not match the certificate", a, b) > 0);
	assert_string_equal(err, want);
	free(want);
	free(err);
	config_free(&cfg);

	/* A file that is not PEM at all. */
	char *junk = path_in(a, "junk.pem");
	write_text(junk, "hello\n");
	free(body);
	assert_true(asprintf(&body, "[tls]\ncert = %s\nkey = %s/tls/key.pem\n", junk, a) > 0);
	cfg = load_conf(a, body);
	assert_null(tls_server_ctx_new(cfg, &err));
	assert_true(asprintf(&want, "%s/surel.conf:2: tls.cert: %s: cannot load certificate: ",
			     a, junk) > 0);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("got '%s'", err);
	assert_null(strchr(err, '\n'));
	free(want);
	free(err);
	free(junk);
	free(body);
	config_free(&cfg);

	config_free(&ca);
	config_free(&cb);
	rm_rf(a);
	rm_rf(b);
	free(a);
	free(b);
}

static void test_bad_ciphers(void **state)
{
	char *dir = make_tmpdir();
	struct config *cfg = load_conf(dir, "[tls]\nciphers = NOTHING-AT-ALL\n");
	char *err = NULL;
	assert_null(tls_server_ctx_new(cfg, &err));
	char *want = NULL;
	assert_true(asprintf(&want, "%s/surel.conf:2: tls.ciphers: invalid cipher list "
				    "'NOTHING-AT-ALL'", dir) > 0);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("got '%s'", err);
	free(want);
	free(err);
	config_free(&cfg);
	rm_rf(dir);
	free(dir);
}

/* ---- handshakes ---- */

/* Drive both ends over a non-blocking socketpair until each has finished or
 * failed. Returns 1 when both succeeded. */
static int handshake(SSL_CTX *server_ctx, SSL_CTX *client_ctx, int *version_r)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	for (int i = 0; i < 2; i++)
		fcntl(sv[i], F_SETFL, O_NONBLOCK);
	SSL *s = SSL_new(server_ctx), *c = SSL_new(client_ctx);
	SSL_set_fd(s, sv[0]);
	SSL_set_fd(c, sv[1]);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	SSL_set_tlsext_host_name(c, "mail.example.test");
	int sdone = 0, cdone = 0;   /* 0 running, 1 ok, -1 failed */
	for (int round = 0; round < 100 && (sdone == 0 || cdone == 0); round++) {
		if (cdone == 0) {
			int r = SSL_do_handshake(c);
			int e = SSL_get_error(c, r);
			if (r == 1)
				cdone = 1;
			else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
				cdone = -1;
		}
		if (sdone == 0) {
			int r = SSL_do_handshake(s);
			int e = SSL_get_error(s, r);
			if (r == 1)
				sdone = 1;
			else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
				sdone = -1;
		}
		if (sdone == -1 && cdone == 0)
			cdone = -1;   /* the client would wait forever for a closed peer */
	}
	if (version_r != NULL)
		*version_r = SSL_version(c);
	int ok = sdone == 1 && cdone == 1;
	/* Exchange application data both ways as a final proof. */
	if (ok) {
		char got[8] = { 0 };
		assert_int_equal(SSL_write(c, "ping", 4), 4);
		assert_int_equal(SSL_read(s, got, sizeof got), 4);
		assert_memory_equal(got, "ping", 4);
	}
	ERR_clear_error();
	SSL_free(s);
	SSL_free(c);
	close(sv[0]);
	close(sv[1]);
	return ok;
}

static SSL_CTX *client_ctx(int min, int max)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	/* Security level 0 lets this client really offer TLS 1.0/1.1, so that it
	 * is the server that refuses them. */
	SSL_CTX_set_security_level(c, 0);
	SSL_CTX_set_min_proto_version(c, min);
	SSL_CTX_set_max_proto_version(c, max);
	return c;
}

static void test_handshakes(void **state)
{
	char *dir = make_tmpdir();
	struct config *cfg = conf_with_data_dir(dir);
	char *err = NULL;
	SSL_CTX *server = tls_server_ctx_new(cfg, &err);
	assert_non_null(server);
	assert_int_equal(SSL_CTX_get_options(server) & SSL_OP_NO_COMPRESSION, SSL_OP_NO_COMPRESSION);
	assert_int_equal(SSL_CTX_get_options(server) & SSL_OP_NO_RENEGOTIATION, SSL_OP_NO_RENEGOTIATION);
	assert_int_equal(SSL_CTX_get_options(server) & SSL_OP_CIPHER_SERVER_PREFERENCE,
			 SSL_OP_CIPHER_SERVER_PREFERENCE);

	int version = 0;
	SSL_CTX *c13 = client_ctx(TLS1_VERSION, TLS1_3_VERSION);
	assert_int_equal(handshake(server, c13, &version), 1);
	assert_int_equal(version, TLS1_3_VERSION);

	SSL_CTX *c12 = client_ctx(TLS1_VERSION, TLS1_2_VERSION);
	assert_int_equal(handshake(server, c12, &version), 1);
	assert_int_equal(version, TLS1_2_VERSION);

	SSL_CTX *c11 = client_ctx(TLS1_VERSION, TLS1_1_VERSION);
	assert_int_equal(handshake(server, c11, NULL), 0);

	/* Control: the same client succeeds against a server that allows 1.1,
	 * so the failure above is the server's refusal. */
	SSL_CTX *lax = SSL_CTX_new(TLS_server_method());
	SSL_CTX_set_security_level(lax, 0);
	SSL_CTX_set_min_proto_version(lax, TLS1_1_VERSION);
	SSL_CTX_set_cipher_list(lax, "ALL");
	assert_int_equal(SSL_CTX_use_certificate(lax, SSL_CTX_get0_certificate(server)), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(lax, SSL_CTX_get0_privatekey(server)), 1);
	assert_int_equal(handshake(lax, c11, &version), 1);
	assert_int_equal(version, TLS1_1_VERSION);
	SSL_CTX_free(lax);
	SSL_CTX_free(server);

	/* tls.min_version = 1.3 refuses a TLS 1.2 client. */
	assert_int_equal(config_set(cfg, "tls.min_version", "1.3", &err), 0);
	server = tls_server_ctx_new(cfg, &err);
	assert_non_null(server);
	assert_int_equal(handshake(server, c12, NULL), 0);
	assert_int_equal(handshake(server, c13, &version), 1);
	assert_int_equal(version, TLS1_3_VERSION);
	SSL_CTX_free(server);

	SSL_CTX_free(c11);
	SSL_CTX_free(c12);
	SSL_CTX_free(c13);
	config_free(&cfg);
	rm_rf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generate_and_reuse),
		cmocka_unit_test(test_generate_unwritable),
		cmocka_unit_test(test_missing_cert),
		cmocka_unit_test(test_cert_without_key),
		cmocka_unit_test(test_mismatch_and_garbage),
		cmocka_unit_test(test_bad_ciphers),
		cmocka_unit_test(test_handshakes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
