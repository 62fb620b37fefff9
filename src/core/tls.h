/* TLS contexts (OpenSSL 3): TLS 1.2 and 1.3 only, modern ciphers. */
#ifndef SUREL_CORE_TLS_H
#define SUREL_CORE_TLS_H

#include <openssl/ssl.h>

struct config;

/* A server context from tls.cert / tls.key, or from DATA_DIR/tls/cert.pem and
 * key.pem, generated (self-signed, for server.hostname) when missing.
 * Returns NULL with *error_r naming the file and the problem. */
SSL_CTX *tls_server_ctx_new(const struct config *cfg, char **error_r);

#endif
