/* Password hashes through libcrypt. New hashes are yescrypt ($y$); hashes
 * imported from other servers are verified too: bcrypt ($2b$, $2y$, $2a$),
 * SHA-512-crypt ($6$), SHA-256-crypt ($5$). */
#ifndef SUREL_ACCOUNT_PASSWORD_H
#define SUREL_ACCOUNT_PASSWORD_H

#include <stdbool.h>

/* Longest password libcrypt hashes (CRYPT_MAX_PASSPHRASE_SIZE - 1). */
#define PASSWORD_MAX_LEN 511
/* Length of a password_generate() password. */
#define PASSWORD_GENERATED_LEN 20

/* A new yescrypt hash with a random salt (malloc'd). NULL (logged) when
 * libcrypt fails, e.g. for a password longer than PASSWORD_MAX_LEN. */
char *password_hash(const char *password);
/* Whether password matches hash; constant-time comparison; false for an
 * unknown or malformed hash. */
bool password_verify(const char *password, const char *hash);
/* Whether hash is in a format password_verify() accepts. */
bool password_hash_supported(const char *hash);
/* A random password of printable characters, for `surel user add --generate`:
 * PASSWORD_GENERATED_LEN characters from [A-Za-z0-9] (about 119 bits). */
char *password_generate(void);

#endif
