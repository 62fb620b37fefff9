/* Password hashes through libcrypt (libxcrypt); see password.h. */
#include "account/password.h"

#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>
#include <sys/random.h>

#include "core/log.h"
#include "core/xmalloc.h"

#define B64 "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

static bool all_b64(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\0' || strchr(B64, s[i]) == NULL)
			return false;
	return true;
}

/* "$2b$NN$" + 22 salt + 31 hash characters (also $2a$, $2y$). */
static bool bcrypt_well_formed(const char *h)
{
	if (strlen(h) != 60 || h[0] != '$' || h[1] != '2' || strchr("aby", h[2]) == NULL ||
	    h[3] != '$' || h[6] != '$')
		return false;
	if (h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9')
		return false;
	int cost = (h[4] - '0') * 10 + (h[5] - '0');
	return cost >= 4 && cost <= 31 && all_b64(h + 7, 53);
}

/* "$6$" ["rounds=" N "$"] salt (up to 16) "$" hash (86 for $6$, 43 for $5$). */
static bool shacrypt_well_formed(const char *h, size_t hash_len)
{
	const char *p = h + 3;
	if (strncmp(p, "rounds=", 7) == 0) {
		p += 7;
		unsigned long rounds = 0;
		size_t digits = strspn(p, "0123456789");
		if (digits == 0 || digits > 9 || p[0] == '0' || p[digits] != '$')
			return false;
		for (size_t i = 0; i < digits; i++)
			rounds = rounds * 10 + (unsigned long)(p[i] - '0');
		if (rounds < 1000)      /* libcrypt would clamp it: never matches */
			return false;
		p += digits + 1;
	}
	const char *dollar = strchr(p, '$');
	if (dollar == NULL || dollar - p > 16 || !all_b64(p, (size_t)(dollar - p)))
		return false;
	return strlen(dollar + 1) == hash_len && all_b64(dollar + 1, hash_len);
}

/* "$y$" params "$" salt "$" 43 hash characters; libcrypt checks the values. */
static bool yescrypt_well_formed(const char *h)
{
	const char *params = h + 3;
	const char *salt = strchr(params, '$');
	if (salt == NULL || salt == params || !all_b64(params, (size_t)(salt - params)))
		return false;
	salt++;
	const char *hash = strchr(salt, '$');
	if (hash == NULL || hash == salt || !all_b64(salt, (size_t)(hash - salt)))
		return false;
	hash++;
	return strlen(hash) == 43 && all_b64(hash, 43);
}

bool password_hash_supported(const char *hash)
{
	if (strncmp(hash, "$y$", 3) == 0)
		return yescrypt_well_formed(hash);
	if (strncmp(hash, "$2", 2) == 0)
		return bcrypt_well_formed(hash);
	if (strncmp(hash, "$6$", 3) == 0)
		return shacrypt_well_formed(hash, 86);
	if (strncmp(hash, "$5$", 3) == 0)
		return shacrypt_well_formed(hash, 43);
	return false;
}

/* crypt_rn into a scratch area that is wiped afterwards; the result (or
 * NULL) is copied out. */
static char *run_crypt(const char *password, const char *setting)
{
	struct crypt_data *data = xcalloc(1, sizeof *data);
	char *result = NULL;
	const char *out = crypt_rn(password, setting, data, (int)sizeof *data);
	if (out != NULL && out[0] != '*')
		result = xstrdup(out);
	else
		log_debug("password", "event=crypt_failed error=\"%s\"", strerror(errno));
	secure_zero(data, sizeof *data);
	free(data);
	return result;
}

char *password_hash(const char *password)
{
	if (strlen(password) > PASSWORD_MAX_LEN) {
		log_warn("password", "event=hash_failed error=\"password longer than %d bytes\"",
			 PASSWORD_MAX_LEN);
		return NULL;
	}
	/* NULL entropy: libcrypt takes the salt from the kernel's random source. */
	char *setting = crypt_gensalt_ra("$y$", 0, NULL, 0);
	if (setting == NULL) {
		log_error("password", "event=gensalt_failed error=\"%s\"", strerror(errno));
		return NULL;
	}
	char *hash = run_crypt(password, setting);
	free(setting);
	if (hash == NULL)
		log_error("password", "event=hash_failed error=\"libcrypt refused yescrypt\"");
	return hash;
}

bool password_verify(const char *password, const char *hash)
{
	if (!password_hash_supported(hash))
		return false;
	char *computed = run_crypt(password, hash);
	if (computed == NULL)
		return false;
	size_t len = strlen(hash);
	bool ok = strlen(computed) == len && CRYPTO_memcmp(computed, hash, len) == 0;
	secure_zero(computed, strlen(computed));
	free(computed);
	return ok;
}

static void random_bytes(unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			/* No randomness means no safe password: a broken environment. */
			log_error("password", "event=getrandom_failed error=\"%s\"", strerror(errno));
			abort();
		}
		p += got;
		n -= (size_t)got;
	}
}

char *password_generate(void)
{
	static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	const unsigned limit = 256 - 256 % (sizeof set - 1);   /* 248: no modulo bias */
	char *pw = xmalloc(PASSWORD_GENERATED_LEN + 1);
	unsigned char pool[64];
	size_t have = 0, used = 0;
	for (size_t i = 0; i < PASSWORD_GENERATED_LEN;) {
		if (used == have) {
			random_bytes(pool, sizeof pool);
			have = sizeof pool;
			used = 0;
		}
		unsigned char b = pool[used++];
		if (b < limit)
			pw[i++] = set[b % (sizeof set - 1)];
	}
	pw[PASSWORD_GENERATED_LEN] = '\0';
	secure_zero(pool, sizeof pool);
	return pw;
}
