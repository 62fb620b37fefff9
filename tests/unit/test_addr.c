#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account/addr.h"

/* Label and strings of given lengths, for the limits. */
static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* ---- good inputs ---- */

static const struct {
	const char *in;
	const char *want;
} good_domains[] = {
	{ "example.org", "example.org" },
	{ "Example.ORG", "example.org" },
	{ "a-b.c-d.example", "a-b.c-d.example" },
	{ "123.example", "123.example" },                 /* only the top label must not be all digits */
	{ "bücher.example", "xn--bcher-kva.example" },
	{ "BÜCHER.Example", "xn--bcher-kva.example" },    /* UTS #46 mapping lower-cases */
	{ "xn--bcher-kva.example", "xn--bcher-kva.example" },
	{ "XN--BCHER-KVA.EXAMPLE", "xn--bcher-kva.example" },
	{ "faß.de", "xn--fa-hia.de" },                    /* non-transitional: ß stays ß */
	{ "例え.テスト", "xn--r8jz45g.xn--zckzah" },
};

static void test_good_domains(void **state)
{
	for (size_t i = 0; i < sizeof good_domains / sizeof good_domains[0]; i++) {
		char *out = NULL, *err = NULL;
		const char *in = good_domains[i].in;
		if (addr_domain_normalize(in, strlen(in), &out, &err) < 0)
			fail_msg("'%s': %s", in, err);
		if (strcmp(out, good_domains[i].want) != 0)
			fail_msg("'%s': got '%s', want '%s'", in, out, good_domains[i].want);
		free(out);
	}
}

static const struct {
	const char *in;
	const char *want;
} good_addresses[] = {
	{ "alice@example.org", "alice@example.org" },
	{ "Alice@Example.ORG", "alice@example.org" },
	{ "First.Last+Tag@example.org", "first.last+tag@example.org" },
	{ "!#$%&'*+-/=?^_`{|}~@example.org", "!#$%&'*+-/=?^_`{|}~@example.org" },
	{ "user@bücher.example", "user@xn--bcher-kva.example" },
	{ "USER@BÜCHER.EXAMPLE", "user@xn--bcher-kva.example" },
	{ "user@xn--bcher-kva.example", "user@xn--bcher-kva.example" },
	{ "jürgen@example.org", "jürgen@example.org" },              /* RFC 6531 local part */
	{ "JÜRGEN@example.org", "jÜrgen@example.org" },              /* only ASCII is folded */
	{ "用户@例え.テスト", "用户@xn--r8jz45g.xn--zckzah" },
};

static void test_good_addresses(void **state)
{
	for (size_t i = 0; i < sizeof good_addresses / sizeof good_addresses[0]; i++) {
		char *out = NULL, *err = NULL;
		const char *in = good_addresses[i].in;
		if (addr_normalize(in, strlen(in), &out, &err) < 0)
			fail_msg("'%s': %s", in, err);
		if (strcmp(out, good_addresses[i].want) != 0)
			fail_msg("'%s': got '%s', want '%s'", in, out, good_addresses[i].want);
		free(out);
	}
}

/* ---- bad inputs: the exact message ---- */

struct bad_case {
	const char *in;
	size_t len;          /* 0: strlen(in); set for inputs with a NUL byte */
	const char *want;    /* the message; one '*' stands for any text */
};

/* want may hold one '*' standing for any text. */
static void check_message(size_t i, const char *in, const char *got, const char *want)
{
	const char *star = strchr(want, '*');
	bool match;
	if (star == NULL) {
		match = strcmp(got, want) == 0;
	} else {
		size_t pre = (size_t)(star - want), post = strlen(star + 1), n = strlen(got);
		match = n >= pre + post && strncmp(got, want, pre) == 0 &&
			strcmp(got + n - post, star + 1) == 0;
	}
	if (!match)
		fail_msg("case %zu '%s':\n got  '%s'\n want '%s'", i, in, got, want);
}

static const struct bad_case bad_domains[] = {
	{ "", 0, "invalid domain '': is empty" },
	{ "example", 0, "invalid domain 'example': needs at least two labels (like example.org)" },
	{ "-ab.example", 0, "invalid domain '-ab.example': label '-ab' begins with a hyphen" },
	{ "ab-.example", 0, "invalid domain 'ab-.example': label 'ab-' ends with a hyphen" },
	{ "a..example", 0, "invalid domain 'a..example': has an empty label" },
	{ ".example.org", 0, "invalid domain '.example.org': has an empty label" },
	{ "example.org.", 0, "invalid domain 'example.org.': has an empty label" },
	{ "a_b.example", 0, "invalid domain 'a_b.example': has the character '_' "
			    "(only letters, digits and hyphens are allowed)" },
	{ "exa mple.org", 0, "invalid domain 'exa mple.org': has the character ' ' "
			     "(only letters, digits and hyphens are allowed)" },
	{ "ab--cd.example", 0, "invalid domain 'ab--cd.example': label 'ab--cd' has '--' in the "
			       "third and fourth positions (reserved for IDNA)" },
	{ "xn--zz.example", 0, "invalid domain 'xn--zz.example': is not a valid internationalised "
			       "domain name (*" },
	{ "[192.0.2.1]", 0, "invalid domain '[192.0.2.1]': is an address literal (not supported)" },
	{ "192.0.2.1", 0, "invalid domain '192.0.2.1': has an all-digit top-level label "
			  "(an IP address is not a domain)" },
	{ "\xff.example", 0, "invalid domain '\\xff.example': is not valid UTF-8" },
	{ "b\xc3\xbc\xc3.example", 0, "invalid domain 'bü\\xc3.example': is not valid UTF-8" },
	{ "example\0.org", 12, "invalid domain 'example\\x00.org': contains a NUL byte" },
	{ "exa\x01mple.org", 0, "invalid domain 'exa\\x01mple.org': has the character '\\x01' "
				"(only letters, digits and hyphens are allowed)" },
};

static void test_bad_domains(void **state)
{
	for (size_t i = 0; i < sizeof bad_domains / sizeof bad_domains[0]; i++) {
		const struct bad_case *c = &bad_domains[i];
		size_t len = c->len ? c->len : strlen(c->in);
		char *out = NULL, *err = NULL;
		if (addr_domain_normalize(c->in, len, &out, &err) == 0)
			fail_msg("case %zu '%s' accepted as '%s'", i, c->in, out);
		assert_null(out);
		check_message(i, c->in, err, c->want);
		free(err);
	}
}

static const struct bad_case bad_addresses[] = {
	{ "", 0, "invalid address '': is empty" },
	{ "alice", 0, "invalid address 'alice': missing '@' and domain" },
	{ "@example.org", 0, "invalid address '@example.org': empty local part" },
	{ "alice@", 0, "invalid address 'alice@': domain is empty" },
	{ "\"alice\"@example.org", 0, "invalid address '\"alice\"@example.org': quoted local parts "
				      "are not supported (use a dot-atom local part such as first.last)" },
	{ "\"a@b\"@example.org", 0, "invalid address '\"a@b\"@example.org': quoted local parts *" },
	{ "al ice@example.org", 0, "invalid address 'al ice@example.org': local part has the "
				   "character ' ', which needs quoting (not supported)" },
	{ "a@b@example.org", 0, "invalid address 'a@b@example.org': local part has the character "
				"'@', which needs quoting (not supported)" },
	{ "a(b)@example.org", 0, "invalid address 'a(b)@example.org': local part has the character "
				 "'(', which needs quoting (not supported)" },
	{ ".alice@example.org", 0, "invalid address '.alice@example.org': local part begins with a dot" },
	{ "alice.@example.org", 0, "invalid address 'alice.@example.org': local part ends with a dot" },
	{ "al..ice@example.org", 0, "invalid address 'al..ice@example.org': local part has two dots "
				    "in a row" },
	{ "alice@[192.0.2.1]", 0, "invalid address 'alice@[192.0.2.1]': domain is an address "
				  "literal (not supported)" },
	{ "alice@localhost", 0, "invalid address 'alice@localhost': domain needs at least two "
				"labels (like example.org)" },
	{ "alice@-x.example", 0, "invalid address 'alice@-x.example': domain label '-x' begins "
				 "with a hyphen" },
	{ "alice@a..example", 0, "invalid address 'alice@a..example': domain has an empty label" },
	{ "alice@1.2.3.4", 0, "invalid address 'alice@1.2.3.4': domain has an all-digit top-level "
			      "label (an IP address is not a domain)" },
	{ "alice\0@example.org", 18, "invalid address 'alice\\x00@example.org': contains a NUL byte" },
	{ "alice@example.org\0", 18, "invalid address 'alice@example.org\\x00': contains a NUL byte" },
	{ "a\x01z@example.org", 0, "invalid address 'a\\x01z@example.org': local part has the "
				   "character '\\x01', which needs quoting (not supported)" },
	{ "\xff@example.org", 0, "invalid address '\\xff@example.org': local part is not valid UTF-8" },
	/* overlong '/', a UTF-16 surrogate, above U+10FFFF, a lone continuation byte */
	{ "\xc0\xaf@example.org", 0, "invalid address '\\xc0\\xaf@example.org': local part is not valid UTF-8" },
	{ "\xed\xa0\x80@example.org", 0, "invalid address '\\xed\\xa0\\x80@example.org': local part *" },
	{ "\xf4\x90\x80\x80@example.org", 0, "invalid address '\\xf4\\x90\\x80\\x80@example.org': local *" },
	{ "\x80@example.org", 0, "invalid address '\\x80@example.org': local part is not valid UTF-8" },
};

static void test_bad_addresses(void **state)
{
	for (size_t i = 0; i < sizeof bad_addresses / sizeof bad_addresses[0]; i++) {
		const struct bad_case *c = &bad_addresses[i];
		size_t len = c->len ? c->len : strlen(c->in);
		char *out = NULL, *err = NULL;
		if (addr_normalize(c->in, len, &out, &err) == 0)
			fail_msg("case %zu '%s' accepted as '%s'", i, c->in, out);
		assert_null(out);
		check_message(i, c->in, err, c->want);
		free(err);
	}
}

/* ---- limits ---- */

static void expect_domain(const char *in, int rc, const char *want)
{
	char *out = NULL, *err = NULL;
	int got = addr_domain_normalize(in, strlen(in), &out, &err);
	if (got != rc)
		fail_msg("'%.40s...' (%zu): got %d (%s)", in, strlen(in), got, err ? err : out);
	if (rc < 0)
		check_message(0, in, err, want);
	free(out);
	free(err);
}

static void test_domain_limits(void **state)
{
	char *l63 = repeat('a', 63), *l64 = repeat('a', 64);
	char *s = NULL;
	assert_true(asprintf(&s, "%s.example", l63) > 0);
	expect_domain(s, 0, NULL);
	free(s);
	assert_true(asprintf(&s, "%s.example", l64) > 0);
	expect_domain(s, -1, "invalid domain 'aaaa*");
	char *want = NULL;
	assert_true(asprintf(&want, "invalid domain '%s': label longer than 63 characters", s) > 0);
	expect_domain(s, -1, want);
	free(want);
	free(s);
	/* 253 characters exactly: 3 labels of 63, one of 61, 3 dots */
	assert_true(asprintf(&s, "%s.%s.%s.%.61s", l63, l63, l63, l63) > 0);
	assert_int_equal(strlen(s), 253);
	expect_domain(s, 0, NULL);
	free(s);
	assert_true(asprintf(&s, "%s.%s.%s.%.62s", l63, l63, l63, l63) > 0);
	expect_domain(s, -1, "invalid domain '*': is longer than 253 characters");
	free(s);
	/* the same with a U-label in it (the limit applies to the A-labels) */
	assert_true(asprintf(&s, "bücher.%s.%s.%s.%.48s", l63, l63, l63, l63) > 0);
	assert_true(strlen(s) < 253);   /* 254 as A-labels */
	expect_domain(s, -1, "invalid domain 'bücher.*': is longer than 253 characters");
	free(s);
	/* A U-label whose A-label is too long: 60 'ü' make more than 63 octets. */
	char ulabel[200];
	size_t n = 0;
	for (int i = 0; i < 60; i++) {
		ulabel[n++] = (char)0xc3;
		ulabel[n++] = (char)0xbc;
	}
	memcpy(ulabel + n, ".example", 9);
	expect_domain(ulabel, -1, "invalid domain '*': label longer than 63 characters");
	free(l63);
	free(l64);
}

static void expect_address(const char *in, int rc, const char *want)
{
	char *out = NULL, *err = NULL;
	int got = addr_normalize(in, strlen(in), &out, &err);
	if (got != rc)
		fail_msg("'%.40s...' (%zu): got %d (%s)", in, strlen(in), got, err ? err : out);
	if (rc < 0)
		check_message(0, in, err, want);
	free(out);
	free(err);
}

static void test_address_limits(void **state)
{
	char *l64 = repeat('x', 64), *l65 = repeat('x', 65), *l63 = repeat('d', 63);
	char *s = NULL;
	assert_true(asprintf(&s, "%s@example.org", l64) > 0);
	expect_address(s, 0, NULL);
	free(s);
	assert_true(asprintf(&s, "%s@example.org", l65) > 0);
	char *want = NULL;
	assert_true(asprintf(&want, "invalid address '%s': local part longer than 64 octets", s) > 0);
	expect_address(s, -1, want);
	free(want);
	free(s);
	/* 64 + 1 + 189 = 254: the longest address */
	assert_true(asprintf(&s, "%s@%s.%s.%.61s", l64, l63, l63, l63) > 0);
	assert_int_equal(strlen(s), 254);
	expect_address(s, 0, NULL);
	free(s);
	assert_true(asprintf(&s, "%s@%s.%s.%.62s", l64, l63, l63, l63) > 0);
	expect_address(s, -1, "invalid address '*': is longer than 254 characters");
	free(s);
	/* Error messages repeat at most a bounded part of a huge input. */
	char *huge = repeat('a', 100000);
	char *err = NULL, *out = NULL;
	assert_int_equal(addr_normalize(huge, strlen(huge), &out, &err), -1);
	assert_true(strlen(err) < 400);
	assert_non_null(strstr(err, "...': is longer than 254 characters"));
	free(err);
	free(huge);
	free(l64);
	free(l65);
	free(l63);
}

/* ---- alias sources, display ---- */

static void test_sources(void **state)
{
	static const struct { const char *in, *want; } good[] = {
		{ "@Example.ORG", "@example.org" },
		{ "@bücher.example", "@xn--bcher-kva.example" },
		{ "Postmaster@Example.org", "postmaster@example.org" },
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		char *out = NULL, *err = NULL;
		if (addr_source_normalize(good[i].in, strlen(good[i].in), &out, &err) < 0)
			fail_msg("'%s': %s", good[i].in, err);
		assert_string_equal(out, good[i].want);
		free(out);
	}
	static const struct { const char *in, *want; } bad[] = {
		{ "@", "invalid alias source '@': domain is empty" },
		{ "@-x.example", "invalid alias source '@-x.example': domain label '-x' begins with a hyphen" },
		{ "@@example.org", "invalid alias source '@@example.org': domain has the character '@' "
				   "(only letters, digits and hyphens are allowed)" },
		{ "x", "invalid alias source 'x': missing '@' and domain" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *out = NULL, *err = NULL;
		assert_int_equal(addr_source_normalize(bad[i].in, strlen(bad[i].in), &out, &err), -1);
		check_message(i, bad[i].in, err, bad[i].want);
		free(err);
	}
}

static void test_unicode(void **state)
{
	char *out = NULL, *err = NULL;
	assert_int_equal(addr_domain_to_unicode("xn--bcher-kva.example", &out, &err), 0);
	assert_string_equal(out, "bücher.example");
	free(out);
	assert_int_equal(addr_domain_to_unicode("example.org", &out, &err), 0);
	assert_string_equal(out, "example.org");
	free(out);
	assert_int_equal(addr_to_unicode("user@xn--r8jz45g.xn--zckzah", &out, &err), 0);
	assert_string_equal(out, "user@例え.テスト");
	free(out);
	assert_int_equal(addr_to_unicode("@xn--bcher-kva.example", &out, &err), 0);
	assert_string_equal(out, "@bücher.example");
	free(out);
	assert_int_equal(addr_domain_to_unicode("xn--zz.example", &out, &err), -1);
	assert_non_null(strstr(err, "cannot show 'xn--zz.example' in Unicode: "));
	free(err);
	assert_string_equal(addr_domain_of("a@b.example"), "b.example");
	assert_string_equal(addr_domain_of("@b.example"), "b.example");
	assert_string_equal(addr_domain_of("b.example"), "b.example");
}

/* Normalising a normalised form gives it back (the stored form is a fixed point). */
static void test_idempotent(void **state)
{
	for (size_t i = 0; i < sizeof good_addresses / sizeof good_addresses[0]; i++) {
		const char *norm = good_addresses[i].want;
		char *again = NULL, *err = NULL;
		assert_int_equal(addr_normalize(norm, strlen(norm), &again, &err), 0);
		assert_string_equal(again, norm);
		free(again);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_domains),
		cmocka_unit_test(test_good_addresses),
		cmocka_unit_test(test_bad_domains),
		cmocka_unit_test(test_bad_addresses),
		cmocka_unit_test(test_domain_limits),
		cmocka_unit_test(test_address_limits),
		cmocka_unit_test(test_sources),
		cmocka_unit_test(test_unicode),
		cmocka_unit_test(test_idempotent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
