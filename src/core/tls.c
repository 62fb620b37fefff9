/* TLS server contexts: TLS 1.2 and 1.3 only, forward-secret AEAD ciphers,
 * and a self-signed certificate made at first start when none is configured. */
#include "core/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "core/xmalloc.h"

#define TLS_GROUPS     "X25519:P-256:P-384"
#define CERT_DAYS      825          /* the CA/Browser Forum's old maximum */
#define GEN_CERT_NAME  "cert.pem"
#define GEN_KEY_NAME   "key.pem"

/* "WHERE: PATH: message" where WHERE is config_where(cfg, key): one line
 * naming the file and line that set the key, the key, and the file at fault. */
static void tls_error(char **error_r, const struct config *cfg, const char *key,
		      const char *path, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void tls_error(char **error_r, const struct config *cfg, const char *key,
		      const char *path, const char *fmt, ...)
{
	struct buf msg = BUF_INIT;
	char *where = config_where(cfg, key);
	buf_append_str(&msg, where);
	free(where);
	if (path != NULL)
		buf_appendf(&msg, ": %s", path);
	buf_append_str(&msg, ": ");
	va_list ap;
	va_start(ap, fmt);
	buf_vappendf(&msg, fmt, ap);
	va_end(ap);
	*error_r = buf_steal(&msg);
}

/* The most specific reason OpenSSL queued, and an empty queue afterwards. */
static const char *ssl_reason(char *out, size_t size)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
	if (r != NULL)
		snprintf(out, size, "%s", r);
	else if (e != 0)
		ERR_error_string_n(e, out, size);
	else
		snprintf(out, size, "unknown error");
	ERR_clear_error();
	return out;
}

/* ---- writing files atomically ---- */

static int fsync_dir(const char *dir, char **error_r)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0) {
		*error_r = xasprintf("%s: cannot sync directory: %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Write DIR/NAME through a temporary file: write, fsync, rename, fsync DIR.
 * A crash leaves either the old file or the complete new one. */
static int write_file_atomic(const char *dir, const char *name, const void *data, size_t len,
			     mode_t mode, char **error_r)
{
	char *final = xasprintf("%s/%s", dir, name);
	char *tmp = xasprintf("%s/.%s.XXXXXX", dir, name);
	int ret = -1;
	int fd = mkostemp(tmp, O_CLOEXEC);   /* created 0600: a key is never readable by others */
	if (fd < 0) {
		*error_r = xasprintf("%s: cannot create: %s", final, strerror(errno));
		goto out;
	}
	const char *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*error_r = xasprintf("%s: cannot write: %s", tmp, strerror(errno));
			goto out_unlink;
		}
		p += n;
		left -= (size_t)n;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
		*error_r = xasprintf("%s: cannot write: %s", tmp, strerror(errno));
		goto out_unlink;
	}
	if (close(fd) < 0) {
		fd = -1;
		*error_r = xasprintf("%s: cannot write: %s", tmp, strerror(errno));
		goto out_unlink;
	}
	fd = -1;
	if (rename(tmp, final) < 0) {
		*error_r = xasprintf("%s: cannot rename to %s: %s", tmp, final, strerror(errno));
		goto out_unlink;
	}
	ret = fsync_dir(dir, error_r);
	goto out;
out_unlink:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
out:
	free(tmp);
	free(final);
	return ret;
}

/* ---- the self-signed certificate ---- */

static int add_ext(X509 *cert, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return -1;
	int ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* A random positive serial of 159 bits (RFC 5280: at most 20 octets). */
static int set_random_serial(X509 *cert)
{
	BIGNUM *bn = BN_new();
	int ok = bn != NULL && BN_rand(bn, 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
		 !BN_is_zero(bn) && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
	BN_free(bn);
	return ok ? 0 : -1;
}

static int bio_to_buf(BIO *bio, struct buf *out)
{
	char *p;
	long n = BIO_get_mem_data(bio, &p);
	if (n <= 0)
		return -1;
	buf_set(out, p, (size_t)n);
	return 0;
}

/* ECDSA P-256 key and a self-signed X.509 v3 certificate for host, as PEM. */
static int make_self_signed(const char *host, struct buf *cert_pem, struct buf *key_pem)
{
	int ret = -1;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert = X509_new();
	BIO *cbio = BIO_new(BIO_s_mem()), *kbio = BIO_new(BIO_s_mem());
	char *san = xasprintf("DNS:%s", host);
	if (key == NULL || cert == NULL || cbio == NULL || kbio == NULL)
		goto out;

	X509_NAME *name = X509_get_subject_name(cert);
	if (!X509_set_version(cert, X509_VERSION_3) || set_random_serial(cert) < 0 ||
	    X509_gmtime_adj(X509_getm_notBefore(cert), 0) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(cert), CERT_DAYS, 0, NULL) == NULL ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					(const unsigned char *)host, -1, -1, 0) ||
	    !X509_set_issuer_name(cert, name) || !X509_set_pubkey(cert, key))
		goto out;
	if (add_ext(cert, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(cert, NID_key_usage, "critical,digitalSignature") < 0 ||
	    add_ext(cert, NID_ext_key_usage, "serverAuth") < 0 ||
	    add_ext(cert, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(cert, NID_subject_alt_name, san) < 0)
		goto out;
	if (!X509_sign(cert, key, EVP_sha256()))
		goto out;
	if (!PEM_write_bio_X509(cbio, cert) ||
	    !PEM_write_bio_PrivateKey(kbio, key, NULL, NULL, 0, NULL, NULL) ||
	    bio_to_buf(cbio, cert_pem) < 0 || bio_to_buf(kbio, key_pem) < 0)
		goto out;
	ret = 0;
out:
	free(san);
	BIO_free(cbio);
	BIO_free(kbio);
	X509_free(cert);
	EVP_PKEY_free(key);
	return ret;
}

static bool file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* Make DATA_DIR/tls (0700) and, unless both exist, a new key and certificate. */
static int ensure_generated(const struct config *cfg, const char *dir, const char *cert_path,
			    const char *key_path, char **error_r)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		tls_error(error_r, cfg, "tls.cert", dir, "cannot create directory: %s",
			  strerror(errno));
		return -1;
	}
	if (file_exists(cert_path) && file_exists(key_path))
		return 0;

	const char *host = config_hostname(cfg);
	struct buf cert = BUF_INIT, key = BUF_INIT;
	char reason[256];
	char *err = NULL;
	int ret = -1;
	if (make_self_signed(host, &cert, &key) < 0) {
		tls_error(error_r, cfg, "tls.cert", cert_path,
			  "cannot generate a self-signed certificate: %s",
			  ssl_reason(reason, sizeof reason));
		goto out;
	}
	/* The key first: a certificate is never left without its key. */
	if (write_file_atomic(dir, GEN_KEY_NAME, key.data, key.len, 0600, &err) < 0 ||
	    write_file_atomic(dir, GEN_CERT_NAME, cert.data, cert.len, 0644, &err) < 0) {
		tls_error(error_r, cfg, "tls.cert", NULL, "%s", err);
		goto out;
	}
	log_info("tls", "event=self-signed cert=%s key=%s hostname=%s days=%d", cert_path,
		 key_path, host, CERT_DAYS);
	ret = 0;
out:
	free(err);
	secure_zero(key.data, key.cap);
	buf_free(&key);
	buf_free(&cert);
	return ret;
}

/* ---- the context ---- */

/* Never prompt on the terminal for the passphrase of an encrypted key. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
	return 0;
}

/* Report a file that cannot be opened with errno's words, which OpenSSL hides. */
static int check_readable(const struct config *cfg, const char *key, const char *path,
			  const char *what, char **error_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		tls_error(error_r, cfg, key, path, "cannot read %s: %s", what, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

static int load_pair(SSL_CTX *ctx, const struct config *cfg, const char *cert_path,
		     const char *key_path, char **error_r)
{
	char reason[256];
	if (check_readable(cfg, "tls.cert", cert_path, "certificate", error_r) < 0)
		return -1;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) {
		tls_error(error_r, cfg, "tls.cert", cert_path, "cannot load certificate: %s",
			  ssl_reason(reason, sizeof reason));
		return -1;
	}
	if (check_readable(cfg, "tls.key", key_path, "private key", error_r) < 0)
		return -1;
	if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1) {
		/* OpenSSL compares the key with the certificate already here. */
		if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
			goto mismatch;
		tls_error(error_r, cfg, "tls.key", key_path, "cannot load private key: %s",
			  ssl_reason(reason, sizeof reason));
		return -1;
	}
	if (SSL_CTX_check_private_key(ctx) != 1)
		goto mismatch;
	return 0;
mismatch:
	ERR_clear_error();
	tls_error(error_r, cfg, "tls.key", key_path, "private key does not match the certificate");
	return -1;
}

static int set_protocols(SSL_CTX *ctx, const struct config *cfg, char **error_r)
{
	char reason[256];
	int min = strcmp(cfg->tls_min_version, "1.3") == 0 ? TLS1_3_VERSION : TLS1_2_VERSION;
	if (SSL_CTX_set_min_proto_version(ctx, min) != 1) {
		tls_error(error_r, cfg, "tls.min_version", NULL, "cannot set: %s",
			  ssl_reason(reason, sizeof reason));
		return -1;
	}
	if (SSL_CTX_set_cipher_list(ctx, cfg->tls_ciphers) != 1) {
		tls_error(error_r, cfg, "tls.ciphers", NULL, "invalid cipher list '%s': %s",
			  cfg->tls_ciphers, ssl_reason(reason, sizeof reason));
		return -1;
	}
	if (SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1) {
		tls_error(error_r, cfg, "tls.min_version", NULL, "cannot set groups %s: %s",
			  TLS_GROUPS, ssl_reason(reason, sizeof reason));
		return -1;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
				 SSL_OP_CIPHER_SERVER_PREFERENCE);
	return 0;
}

SSL_CTX *tls_server_ctx_new(const struct config *cfg, char **error_r)
{
	bool have_cert = cfg->tls_cert[0] != '\0', have_key = cfg->tls_key[0] != '\0';
	if (have_cert != have_key) {
		const char *set = have_cert ? "tls.cert" : "tls.key";
		tls_error(error_r, cfg, set, NULL, "%s must be set too (set both or neither)",
			  have_cert ? "tls.key" : "tls.cert");
		return NULL;
	}

	char *dir = NULL, *cert_path, *key_path;
	if (have_cert) {
		cert_path = xstrdup(cfg->tls_cert);
		key_path = xstrdup(cfg->tls_key);
	} else {
		dir = xasprintf("%s/tls", cfg->server_data_dir);
		cert_path = xasprintf("%s/%s", dir, GEN_CERT_NAME);
		key_path = xasprintf("%s/%s", dir, GEN_KEY_NAME);
	}

	char reason[256];
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		tls_error(error_r, cfg, "tls.cert", NULL, "cannot create a TLS context: %s",
			  ssl_reason(reason, sizeof reason));
		goto out;
	}
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	if (set_protocols(ctx, cfg, error_r) < 0 ||
	    (dir != NULL && ensure_generated(cfg, dir, cert_path, key_path, error_r) < 0) ||
	    load_pair(ctx, cfg, cert_path, key_path, error_r) < 0) {
		SSL_CTX_free(ctx);
		ctx = NULL;
	}
out:
	free(dir);
	free(cert_path);
	free(key_path);
	return ctx;
}
