/* SASL PLAIN and LOGIN, server side. */
#include "account/sasl.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"

enum sasl_mech { MECH_PLAIN, MECH_LOGIN };

static const struct {
	const char *name;
	enum sasl_mech mech;
} mechanisms[] = {
	{ "PLAIN", MECH_PLAIN },
	{ "LOGIN", MECH_LOGIN },
};

/* Where an exchange stands. */
enum sasl_state {
	ST_START,          /* nothing received yet */
	ST_PLAIN_WAIT,     /* PLAIN: empty challenge sent, waiting for the message */
	ST_LOGIN_USER,     /* LOGIN: "Username:" sent */
	ST_LOGIN_PASS,     /* LOGIN: "Password:" sent */
	ST_FINISHED,       /* DONE, CANCELLED or MALFORMED was returned */
};

struct sasl {
	enum sasl_mech mech;
	enum sasl_state state;
	bool done;
	struct buf authcid, authzid, password;
	struct buf decoded;   /* the last client response, decoded: may hold the password */
};

/* Largest base64 text whose decoding may fit SASL_MAX_RESPONSE. */
#define MAX_B64_LEN (((SASL_MAX_RESPONSE + 2) / 3) * 4)
/* s->decoded is reserved once for the longest decoding of MAX_B64_LEN. */
#define DECODED_RESERVE (MAX_B64_LEN / 4 * 3)

const char *sasl_mechanisms(void)
{
	return "PLAIN LOGIN";
}

struct sasl *sasl_new(const char *mech)
{
	for (size_t i = 0; i < sizeof mechanisms / sizeof mechanisms[0]; i++) {
		if (strcasecmp(mech, mechanisms[i].name) == 0) {
			struct sasl *s = xcalloc(1, sizeof *s);
			s->mech = mechanisms[i].mech;
			s->state = ST_START;
			/* One allocation that is never moved, so no copy of a secret
			 * is left behind by a realloc. */
			buf_reserve(&s->decoded, DECODED_RESERVE);
			return s;
		}
	}
	return NULL;
}

static void buf_wipe(struct buf *b)
{
	if (b->data != NULL)
		secure_zero(b->data, b->cap);
	buf_free(b);
}

void sasl_free(struct sasl **sasl)
{
	struct sasl *s = *sasl;
	if (s == NULL)
		return;
	buf_wipe(&s->authcid);
	buf_wipe(&s->authzid);
	buf_wipe(&s->password);
	buf_wipe(&s->decoded);
	free(s);
	*sasl = NULL;
}

const char *sasl_mech_name(const struct sasl *sasl)
{
	for (size_t i = 0; i < sizeof mechanisms / sizeof mechanisms[0]; i++)
		if (mechanisms[i].mech == sasl->mech)
			return mechanisms[i].name;
	return "?";
}

const char *sasl_authcid(const struct sasl *sasl)
{
	return sasl->done ? buf_cstr(&sasl->authcid) : NULL;
}

const char *sasl_password(const struct sasl *sasl)
{
	return sasl->done ? buf_cstr(&sasl->password) : NULL;
}

const char *sasl_authzid(const struct sasl *sasl)
{
	return sasl->done ? buf_cstr(&sasl->authzid) : NULL;
}

/* ---- base64 (RFC 4648 section 4), strict ---- */

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

static void b64_encode(const void *data, size_t len, struct buf *out)
{
	const unsigned char *p = data;
	buf_clear(out);
	buf_reserve(out, (len + 2) / 3 * 4);
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < len) v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len) v |= p[i + 2];
		buf_putc(out, b64_alphabet[(v >> 18) & 63]);
		buf_putc(out, b64_alphabet[(v >> 12) & 63]);
		buf_putc(out, i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=');
		buf_putc(out, i + 2 < len ? b64_alphabet[v & 63] : '=');
	}
}

/* Decode in[0..len) into out, refusing anything RFC 4648 does not produce:
 * characters outside the alphabet (whitespace included), a length that is not
 * a multiple of 4, '=' anywhere but at the end, and non-zero pad bits. */
static int b64_decode(const char *in, size_t len, struct buf *out)
{
	buf_clear(out);
	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		int pad = 0;
		if (last && in[i + 3] == '=')
			pad = in[i + 2] == '=' ? 2 : 1;
		int v[4] = { 0, 0, 0, 0 };
		for (int k = 0; k < 4 - pad; k++) {
			v[k] = b64_value((unsigned char)in[i + k]);
			if (v[k] < 0)
				return -1;
		}
		uint32_t bits = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
				(uint32_t)v[2] << 6 | (uint32_t)v[3];
		/* The bits the padding covers must be zero (canonical encoding). */
		if ((pad == 2 && (bits & 0xffff) != 0) || (pad == 1 && (bits & 0xff) != 0))
			return -1;
		unsigned char bytes[3] = { (unsigned char)(bits >> 16), (unsigned char)(bits >> 8),
					   (unsigned char)bits };
		buf_append(out, bytes, (size_t)(3 - pad));
	}
	return 0;
}

/* ---- field checks ---- */

/* Whether p[0..len) is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
static bool utf8_valid(const unsigned char *p, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c = p[i];
		size_t n;
		uint32_t cp, min;
		if (c < 0x80) { i++; continue; }
		else if ((c & 0xe0) == 0xc0) { n = 1; cp = c & 0x1f; min = 0x80; }
		else if ((c & 0xf0) == 0xe0) { n = 2; cp = c & 0x0f; min = 0x800; }
		else if ((c & 0xf8) == 0xf0) { n = 3; cp = c & 0x07; min = 0x10000; }
		else return false;
		if (len - i - 1 < n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/* One identity or password field: 1 or more bytes of UTF-8, no NUL. */
static int set_field(struct buf *dst, const char *p, size_t len, const char *what,
		     char **error_r)
{
	if (len == 0) {
		*error_r = xasprintf("empty %s", what);
		return -1;
	}
	if (memchr(p, '\0', len) != NULL) {
		*error_r = xasprintf("NUL byte in %s", what);
		return -1;
	}
	if (!utf8_valid((const unsigned char *)p, len)) {
		*error_r = xasprintf("%s is not valid UTF-8", what);
		return -1;
	}
	buf_wipe(dst);
	buf_set(dst, p, len);
	return 0;
}

/* ---- the mechanisms ---- */

/* RFC 4616 section 2:
 *   message   = [authzid] UTF8NUL authcid UTF8NUL passwd
 *   authcid   = 1*SAFE ; MUST accept up to 255 octets
 *   authzid   = 1*SAFE ; MUST accept up to 255 octets
 *   passwd    = 1*SAFE ; MUST accept up to 255 octets
 *   UTF8NUL   = %x00 ; UTF-8 encoded NUL character
 *   SAFE      = UTF1 / UTF2 / UTF3 / UTF4 ; any UTF-8 encoded Unicode character except NUL */
static enum sasl_status plain_message(struct sasl *s, char **error_r)
{
	const char *p = s->decoded.data;
	size_t len = s->decoded.len;
	const char *nul1 = memchr(p, '\0', len);
	const char *nul2 = nul1 != NULL ? memchr(nul1 + 1, '\0', len - (size_t)(nul1 + 1 - p)) : NULL;
	if (nul2 == NULL) {
		*error_r = xstrdup("PLAIN message needs authzid NUL authcid NUL password");
		return SASL_MALFORMED;
	}
	size_t zlen = (size_t)(nul1 - p), clen = (size_t)(nul2 - nul1 - 1);
	size_t plen = len - (size_t)(nul2 + 1 - p);
	/* The password may not hold a third NUL (set_field refuses it). */
	if ((zlen > 0 && set_field(&s->authzid, p, zlen, "authorization identity", error_r) < 0) ||
	    set_field(&s->authcid, nul1 + 1, clen, "user name", error_r) < 0 ||
	    set_field(&s->password, nul2 + 1, plen, "password", error_r) < 0)
		return SASL_MALFORMED;
	/* Logging in as someone else (proxy authorisation) is not offered. */
	if (zlen > 0 && !(zlen == clen && memcmp(p, nul1 + 1, zlen) == 0)) {
		*error_r = xstrdup("authorization identity differs from the user name");
		return SASL_MALFORMED;
	}
	s->done = true;
	return SASL_DONE;
}

static enum sasl_status login_challenge(struct sasl *s, enum sasl_state next,
					struct buf *challenge_b64)
{
	/* draft-murchison-sasl-login: the prompts are informational; clients
	 * answer them in order. */
	const char *prompt = next == ST_LOGIN_USER ? "Username:" : "Password:";
	b64_encode(prompt, strlen(prompt), challenge_b64);
	s->state = next;
	return SASL_CONTINUE;
}

/* The client's text decoded into s->decoded; "=" as the initial response is empty. */
static int decode_response(struct sasl *s, const char *client_b64, bool initial, char **error_r)
{
	size_t len = strlen(client_b64);
	if (initial && strcmp(client_b64, "=") == 0)
		len = 0;   /* an empty initial response */
	if (len > MAX_B64_LEN) {
		*error_r = xasprintf("response longer than %d bytes", SASL_MAX_RESPONSE);
		return -1;
	}
	if (b64_decode(client_b64, len, &s->decoded) < 0) {
		*error_r = xstrdup("invalid base64");
		return -1;
	}
	if (s->decoded.len > SASL_MAX_RESPONSE) {
		*error_r = xasprintf("response longer than %d bytes", SASL_MAX_RESPONSE);
		return -1;
	}
	return 0;
}

static enum sasl_status step(struct sasl *s, const char *client_b64, struct buf *challenge_b64,
			     char **error_r)
{
	if (s->state == ST_FINISHED) {
		*error_r = xstrdup("the exchange is already over");
		return SASL_MALFORMED;
	}
	bool initial = s->state == ST_START;
	if (client_b64 == NULL) {
		if (!initial) {
			*error_r = xstrdup("missing response");
			return SASL_MALFORMED;
		}
		if (s->mech == MECH_PLAIN) {
			buf_clear(challenge_b64);   /* RFC 4616: an empty challenge */
			s->state = ST_PLAIN_WAIT;
			return SASL_CONTINUE;
		}
		return login_challenge(s, ST_LOGIN_USER, challenge_b64);
	}
	if (strcmp(client_b64, "*") == 0)
		return SASL_CANCELLED;
	if (decode_response(s, client_b64, initial, error_r) < 0)
		return SASL_MALFORMED;

	if (s->mech == MECH_PLAIN)
		return plain_message(s, error_r);
	if (s->state == ST_LOGIN_PASS) {
		if (set_field(&s->password, s->decoded.data, s->decoded.len, "password", error_r) < 0)
			return SASL_MALFORMED;
		s->done = true;
		return SASL_DONE;
	}
	/* LOGIN's answer to "Username:", or its initial response, which some
	 * clients send and which is the user name too. */
	if (set_field(&s->authcid, s->decoded.data, s->decoded.len, "user name", error_r) < 0)
		return SASL_MALFORMED;
	return login_challenge(s, ST_LOGIN_PASS, challenge_b64);
}

enum sasl_status sasl_step(struct sasl *sasl, const char *client_b64, struct buf *challenge_b64,
			   char **error_r)
{
	enum sasl_status st = step(sasl, client_b64, challenge_b64, error_r);
	/* The decoded response may hold the password: keep no copy of it. */
	secure_zero(sasl->decoded.data, sasl->decoded.cap);
	buf_clear(&sasl->decoded);
	if (st != SASL_CONTINUE)
		sasl->state = ST_FINISHED;
	if (st != SASL_DONE)
		sasl->done = false;
	return st;
}
