/* SASL PLAIN and LOGIN: one table row per exchange (client lines, expected
 * statuses and challenges, resulting credentials). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account/sasl.h"

#define NO_IR NULL   /* first step: the client sent no initial response */
#define MAX_STEPS 4

struct step {
	const char *in;
	enum sasl_status status;
	const char *challenge;   /* for SASL_CONTINUE; error prefix for SASL_MALFORMED */
};

struct sasl_case {
	const char *name;
	const char *mech;
	struct step steps[MAX_STEPS];   /* fed until the first non-CONTINUE status */
	const char *authcid, *password, *authzid;   /* for SASL_DONE */
};

#define USER_PROMPT "VXNlcm5hbWU6"   /* "Username:" */
#define PASS_PROMPT "UGFzc3dvcmQ6"   /* "Password:" */

/* Rows that do not end in SASL_DONE leave the credentials out. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct sasl_case cases[] = {
	/* ---- PLAIN ---- */
	{ "plain initial response", "PLAIN",
	  { { "AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA==", SASL_DONE, NULL } },   /* \0alice@example.org\0secret */
	  "alice@example.org", "secret", "" },
	{ "plain without initial response", "PLAIN",
	  { { NO_IR, SASL_CONTINUE, "" },
	    { "AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA==", SASL_DONE, NULL } },
	  "alice@example.org", "secret", "" },
	{ "plain authzid equal to authcid", "PLAIN",
	  { { "YWxpY2VAZXhhbXBsZS5vcmcAYWxpY2VAZXhhbXBsZS5vcmcAc2VjcmV0", SASL_DONE, NULL } },
	  "alice@example.org", "secret", "alice@example.org" },
	{ "plain utf-8 user and password with a space", "PLAIN",
	  { { "AGrDtnJnQGV4YW1wbGUub3JnAHDDpHNzIHfDtnJk", SASL_DONE, NULL } },
	  "j\xc3\xb6rg@example.org", "p\xc3\xa4ss w\xc3\xb6rd", "" },
	{ "plain proxy login refused", "PLAIN",   /* bob\0alice\0secret */
	  { { "Ym9iQGV4YW1wbGUub3JnAGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA==", SASL_MALFORMED,
	      "authorization identity differs" } } },
	{ "plain empty initial response", "PLAIN",
	  { { "=", SASL_MALFORMED, "PLAIN message needs" } } },
	{ "plain empty response after challenge", "PLAIN",
	  { { NO_IR, SASL_CONTINUE, "" }, { "", SASL_MALFORMED, "PLAIN message needs" } } },
	{ "plain cancel", "PLAIN",
	  { { NO_IR, SASL_CONTINUE, "" }, { "*", SASL_CANCELLED, NULL } } },
	{ "plain cancel as initial response", "PLAIN", { { "*", SASL_CANCELLED, NULL } } },
	{ "plain three NULs", "PLAIN",        /* \0a\0b\0c */
	  { { "AGEAYgBj", SASL_MALFORMED, "NUL byte in password" } } },
	{ "plain empty authcid", "PLAIN",     /* \0\0pw */
	  { { "AABwdw==", SASL_MALFORMED, "empty user name" } } },
	{ "plain empty password", "PLAIN",    /* \0alice\0 */
	  { { "AGFsaWNlAA==", SASL_MALFORMED, "empty password" } } },
	{ "plain one NUL", "PLAIN",           /* alice\0secret */
	  { { "YWxpY2UAc2VjcmV0", SASL_MALFORMED, "PLAIN message needs" } } },
	{ "plain invalid utf-8", "PLAIN",     /* \0al\xffce\0pw */
	  { { "AGFs/2NlAHB3", SASL_MALFORMED, "user name is not valid UTF-8" } } },
	{ "plain overlong utf-8", "PLAIN",    /* \0\xc0\xafx\0pw */
	  { { "AMCveABwdw==", SASL_MALFORMED, "user name is not valid UTF-8" } } },
	{ "plain utf-16 surrogate", "PLAIN",  /* \0x\0\xed\xa0\x80 */
	  { { "AHgA7aCA", SASL_MALFORMED, "password is not valid UTF-8" } } },
	/* ---- base64 ---- */
	{ "b64 bad character", "PLAIN", { { "AGFsaWNl!GV4", SASL_MALFORMED, "invalid base64" } } },
	{ "b64 missing padding", "PLAIN", { { "AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA", SASL_MALFORMED, "invalid base64" } } },
	{ "b64 too much padding", "PLAIN", { { "AGFsaWNlQGV4YW1wbGUub3JnAHNlY3Jl===", SASL_MALFORMED, "invalid base64" } } },
	{ "b64 padding in the middle", "PLAIN", { { "AA==AGFsaWNlAHB3", SASL_MALFORMED, "invalid base64" } } },
	{ "b64 non-zero pad bits", "LOGIN", { { "YWxpY2V=", SASL_MALFORMED, "invalid base64" } } },
	{ "b64 non-zero pad bits, two pads", "LOGIN", { { "YR==", SASL_MALFORMED, "invalid base64" } } },
	{ "b64 space", "PLAIN", { { "AGFsaWNl AHB3", SASL_MALFORMED, "invalid base64" } } },
	{ "b64 trailing CR", "PLAIN", { { "AGFsaWNlAHB3\r", SASL_MALFORMED, "invalid base64" } } },
	{ "b64 '=' is not empty after the first step", "PLAIN",
	  { { NO_IR, SASL_CONTINUE, "" }, { "=", SASL_MALFORMED, "invalid base64" } } },
	{ "b64 lone '='", "LOGIN",
	  { { NO_IR, SASL_CONTINUE, USER_PROMPT }, { "====", SASL_MALFORMED, "invalid base64" } } },
	/* ---- LOGIN ---- */
	{ "login two steps", "LOGIN",
	  { { NO_IR, SASL_CONTINUE, USER_PROMPT },
	    { "YWxpY2U=", SASL_CONTINUE, PASS_PROMPT },    /* alice */
	    { "c2VjcmV0", SASL_DONE, NULL } },             /* secret */
	  "alice", "secret", "" },
	{ "login user name as initial response", "LOGIN",
	  { { "YWxpY2U=", SASL_CONTINUE, PASS_PROMPT }, { "c2VjcmV0", SASL_DONE, NULL } },
	  "alice", "secret", "" },
	{ "login cancel at user name", "LOGIN",
	  { { NO_IR, SASL_CONTINUE, USER_PROMPT }, { "*", SASL_CANCELLED, NULL } } },
	{ "login cancel at password", "LOGIN",
	  { { NO_IR, SASL_CONTINUE, USER_PROMPT }, { "YWxpY2U=", SASL_CONTINUE, PASS_PROMPT },
	    { "*", SASL_CANCELLED, NULL } } },
	{ "login NUL in user name", "LOGIN",
	  { { NO_IR, SASL_CONTINUE, USER_PROMPT }, { "YQBi", SASL_MALFORMED, "NUL byte in user name" } } },
	{ "login NUL in password", "LOGIN",   /* sec\0ret */
	  { { "YWxpY2U=", SASL_CONTINUE, PASS_PROMPT }, { "c2VjAHJldA==", SASL_MALFORMED, "NUL byte in password" } } },
	{ "login empty user name", "LOGIN",
	  { { NO_IR, SASL_CONTINUE, USER_PROMPT }, { "", SASL_MALFORMED, "empty user name" } } },
	{ "login empty initial response", "LOGIN", { { "=", SASL_MALFORMED, "empty user name" } } },
	{ "login empty password", "LOGIN",
	  { { "YWxpY2U=", SASL_CONTINUE, PASS_PROMPT }, { "", SASL_MALFORMED, "empty password" } } },
	{ "login bad base64 password", "LOGIN",
	  { { "YWxpY2U=", SASL_CONTINUE, PASS_PROMPT }, { "c2VjcmV0=", SASL_MALFORMED, "invalid base64" } } },
};

static char *lower(const char *s)
{
	char *l = strdup(s);
	for (char *p = l; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return l;
}

/* Run one row on a fresh object; mech_variant spells the mechanism. */
static void run_case(const struct sasl_case *c, const char *mech_variant)
{
	struct sasl *s = sasl_new(mech_variant);
	if (s == NULL)
		fail_msg("%s: sasl_new(%s)", c->name, mech_variant);
	assert_string_equal(sasl_mech_name(s), c->mech);
	struct buf challenge = BUF_INIT;
	enum sasl_status st = SASL_CONTINUE;
	for (int i = 0; i < MAX_STEPS && st == SASL_CONTINUE; i++) {
		const struct step *step = &c->steps[i];
		char *err = NULL;
		buf_set(&challenge, "untouched", 9);
		st = sasl_step(s, step->in, &challenge, &err);
		if (st != step->status)
			fail_msg("%s: step %d: status %d, want %d (%s)", c->name, i, st, step->status,
				 err ? err : "");
		if (st == SASL_CONTINUE && !buf_eq_str(&challenge, step->challenge))
			fail_msg("%s: step %d: challenge '%s', want '%s'", c->name, i,
				 buf_cstr(&challenge), step->challenge);
		if (st != SASL_CONTINUE && !buf_eq_str(&challenge, "untouched"))
			fail_msg("%s: step %d: challenge changed on a final status", c->name, i);
		if (st == SASL_MALFORMED) {
			assert_non_null(err);
			if (strncmp(err, step->challenge, strlen(step->challenge)) != 0)
				fail_msg("%s: step %d: error '%s', want prefix '%s'", c->name, i, err,
					 step->challenge);
		} else if (err != NULL) {
			fail_msg("%s: step %d: unexpected error '%s'", c->name, i, err);
		}
		if (st != SASL_DONE)
			assert_null(sasl_authcid(s));
		free(err);
	}
	if (st == SASL_DONE) {
		assert_string_equal(sasl_authcid(s), c->authcid);
		assert_string_equal(sasl_password(s), c->password);
		assert_string_equal(sasl_authzid(s), c->authzid);
	} else {
		assert_null(c->authcid);
		assert_null(sasl_password(s));
		assert_null(sasl_authzid(s));
	}
	/* The exchange is over: any further line is refused. */
	char *err = NULL;
	assert_int_equal(sasl_step(s, "YWxpY2U=", &challenge, &err), SASL_MALFORMED);
	assert_string_equal(err, "the exchange is already over");
	assert_null(sasl_authcid(s));
	free(err);
	buf_free(&challenge);
	sasl_free(&s);
	assert_null(s);
}

static void test_table(void **state)
{
	/* Each row twice, on fresh objects, with the mechanism spelt differently:
	 * nothing may carry over from one exchange to the next. */
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_case(&cases[i], cases[i].mech);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *l = lower(cases[i].mech);
		run_case(&cases[i], l);
		free(l);
	}
}

static void test_mechanisms(void **state)
{
	assert_string_equal(sasl_mechanisms(), "PLAIN LOGIN");
	/* Every advertised mechanism can be created. */
	char *list = strdup(sasl_mechanisms()), *save = NULL;
	for (char *m = strtok_r(list, " ", &save); m != NULL; m = strtok_r(NULL, " ", &save)) {
		struct sasl *s = sasl_new(m);
		assert_non_null(s);
		sasl_free(&s);
	}
	free(list);
	struct sasl *mixed = sasl_new("lOgIn");
	assert_non_null(mixed);
	assert_string_equal(sasl_mech_name(mixed), "LOGIN");
	sasl_free(&mixed);
	const char *unknown[] = { "", "CRAM-MD5", "PLAINX", "PLAI", "SCRAM-SHA-256", "LOGIN " };
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
		assert_null(sasl_new(unknown[i]));
	sasl_free(&(struct sasl *){ NULL });   /* NULL is fine */
}

/* Base64 of n bytes: "\0" + user + "\0" + password filling up to n. */
static char *plain_of_size(size_t n)
{
	unsigned char *raw = malloc(n);
	memset(raw, 'p', n);
	raw[0] = '\0';
	memset(raw + 1, 'u', 10);
	raw[11] = '\0';
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 | (i + 1 < n ? (uint32_t)raw[i + 1] << 8 : 0) |
			     (i + 2 < n ? raw[i + 2] : 0);
		*o++ = tab[v >> 18 & 63];
		*o++ = tab[v >> 12 & 63];
		*o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? tab[v & 63] : '=';
	}
	*o = '\0';
	free(raw);
	return out;
}

static void test_limits(void **state)
{
	struct buf ch = BUF_INIT;
	/* 1024 decoded bytes pass, 1025 and 1026 do not, nor does a huge line. */
	static const struct { size_t n; enum sasl_status st; } sizes[] = {
		{ 1023, SASL_DONE }, { 1024, SASL_DONE }, { 1025, SASL_MALFORMED },
		{ 1026, SASL_MALFORMED }, { 1027, SASL_MALFORMED }, { 100000, SASL_MALFORMED },
	};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		char *b64 = plain_of_size(sizes[i].n);
		struct sasl *s = sasl_new("PLAIN");
		char *err = NULL;
		enum sasl_status st = sasl_step(s, b64, &ch, &err);
		if (st != sizes[i].st)
			fail_msg("%zu bytes: status %d (%s)", sizes[i].n, st, err ? err : "");
		if (st == SASL_DONE) {
			assert_int_equal(strlen(sasl_password(s)), sizes[i].n - 12);
		} else {
			assert_string_equal(err, "response longer than 1024 bytes");
		}
		free(err);
		free(b64);
		sasl_free(&s);
	}
	/* The limit holds on LOGIN's second step too. */
	char *b64 = plain_of_size(1025);
	struct sasl *s = sasl_new("LOGIN");
	char *err = NULL;
	assert_int_equal(sasl_step(s, "YWxpY2U=", &ch, &err), SASL_CONTINUE);
	assert_int_equal(sasl_step(s, b64, &ch, &err), SASL_MALFORMED);
	assert_string_equal(err, "response longer than 1024 bytes");
	free(err);
	free(b64);
	sasl_free(&s);
	buf_free(&ch);
}

/* A step with NULL after the first is a caller's mistake, reported. */
static void test_null_later(void **state)
{
	struct buf ch = BUF_INIT;
	struct sasl *s = sasl_new("LOGIN");
	char *err = NULL;
	assert_int_equal(sasl_step(s, NULL, &ch, &err), SASL_CONTINUE);
	assert_int_equal(sasl_step(s, NULL, &ch, &err), SASL_MALFORMED);
	assert_string_equal(err, "missing response");
	free(err);
	sasl_free(&s);
	buf_free(&ch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_mechanisms),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_null_later),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
