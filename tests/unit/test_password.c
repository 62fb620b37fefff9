#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "account/password.h"

#define PW "Tr0ub4dor&3"

/* Hashes made by tools other than Surel, for the password PW unless noted
 * (Debian 12: whois 5.5.17 for mkpasswd, apache2-utils 2.4 for htpasswd,
 * OpenSSL 3.0 for openssl passwd). To regenerate:
 * apt-get install whois apache2-utils. */
static const struct {
	const char *hash;
	const char *password;
	const char *tool;
} known[] = {
	{ "$y$j9T$AcIwyWQ4ezIZ.AxunuzQf/$AodoFgcdN7GxegfuAR73w80Pj4MWsTKmWyU4makTvf3", PW,
	  "mkpasswd -m yescrypt 'Tr0ub4dor&3'" },
	{ "$y$j9T$l.iJEwz6doknThlPGDVMZ.$J5khY3aEXzyvWYJc09k5F8/So/sMUY.spwvAs6XMhk0", PW,
	  "mkpasswd -m yescrypt 'Tr0ub4dor&3'" },
	{ "$2b$05$kR3.IG9HOgxIFtoG3oN6he.UbsajnOEdSe.vqfoM1h4dNEEKGkh7.", PW,
	  "mkpasswd -m bcrypt -R 5 'Tr0ub4dor&3'" },
	{ "$2a$05$AXwal4DazphkbdHr81fni.SiLjmF./HeHKQ5U.AJmODpD6eQf8fia", PW,
	  "mkpasswd -m bcrypt-a -R 5 'Tr0ub4dor&3'" },
	/* APR's own bcrypt, not libcrypt's */
	{ "$2y$05$.RkgvCr5AXOw0ItlbiKoLe1cVz4lB9DxGoBChlpb6lVarBJHqUNYe", PW,
	  "htpasswd -nbB -C 5 u 'Tr0ub4dor&3'" },
	{ "$2y$05$mTH4tAzbSOj8otfp00Tee.VGtcZY9Q0AdLw1ZCg1fdoajW20bteii", PW,
	  "htpasswd -nbB -C 5 u 'Tr0ub4dor&3'" },
	/* OpenSSL's own SHA-crypt, not libcrypt's */
	{ "$6$saltsalt$fwlamBrOqmO1d1IGBZuoDbiBLysiZpmO29PF6JYPeFNWtUpYlWGacpfo3kQaQ6Jc9AgBbqPXfLKeJCECo1N.m1",
	  PW, "openssl passwd -6 -salt saltsalt 'Tr0ub4dor&3'" },
	{ "$6$tlsPtmUgr5aKWi55$S9GgekJR97HjRs3hLgBOmvCZUGLlcyLK8nW.fSEbvhpuuLaQ4L/KG3coxjG7EX0nqeGyuuhS0yhd4Q2klmclZ0",
	  PW, "openssl passwd -6 'Tr0ub4dor&3'" },
	{ "$6$abcdefgh$qlUjQo8xiC5dmwOr49rtm.DQdv9onQYoWr0dgDR2SqMkw1296.hIZnRd/ltg71cpfDQGxCw0Bli1kXypCoIxg0",
	  "pässwörd", "openssl passwd -6 -salt abcdefgh 'pässwörd'" },
	{ "$6$rounds=10000$saltsalt$tz3hHRymbItMsq0KmSsjgFieQL4buJRG0tqdEQsvsX43gi5xzkz7NWDDgZzQFf/b3LE68uwETqaiTuSg0qOZP/",
	  PW, "mkpasswd -m sha512crypt -R 10000 -S saltsalt 'Tr0ub4dor&3'" },
	{ "$5$saltsalt$lenpbIIfFTOesMocJVNZvortN.KXU4D2QzPbnD5iNU3", PW,
	  "openssl passwd -5 -salt saltsalt 'Tr0ub4dor&3'" },
	{ "$5$rounds=2000$saltsalt$ug3gU4a3qgomSOLSEjlI69Ge.bSVoRirC/nOYUwRND6", PW,
	  "mkpasswd -m sha256crypt -R 2000 -S saltsalt 'Tr0ub4dor&3'" },
};

static void test_known_hashes(void **state)
{
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
		const char *h = known[i].hash;
		if (!password_hash_supported(h))
			fail_msg("not supported: %s (%s)", h, known[i].tool);
		if (!password_verify(known[i].password, h))
			fail_msg("right password refused: %s (%s)", h, known[i].tool);
		if (password_verify("Tr0ub4dor&4", h) || password_verify("", h) ||
		    password_verify("tr0ub4dor&3", h))
			fail_msg("wrong password accepted: %s (%s)", h, known[i].tool);
	}
}

/* Valid hashes from other tools in formats Surel does not accept, and
 * malformed variants of good ones: always false, even with the right
 * password. */
static const char *const refused[] = {
	"$1$saltsalt$ueg/7ujBFDpyKLR2vs28p1",                /* md5crypt: openssl passwd -1 */
	"abWL7Sj501Z46",                                     /* DES: mkpasswd -m descrypt -S ab */
	"$7$CU..../....Z9oJiOn8zN2tH6mL.7LsW.$2OM4sNWAeuKjRpU0n.5I/.JaLoQ26IJRvJ6qHTTMg0.", /* scrypt */
	"",
	"*",
	"!",
	"!$6$saltsalt$fwlamBrOqmO1d1IGBZuoDbiBLysiZpmO29PF6JYPeFNWtUpYlWGacpfo3kQaQ6Jc9AgBbqPXfLKeJCECo1N.m1",
	/* truncated, extended, a character changed, bad characters */
	"$6$saltsalt$fwlamBrOqmO1d1IGBZuoDbiBLysiZpmO29PF6JYPeFNWtUpYlWGacpfo3kQaQ6Jc9AgBbqPXfLKeJCECo1N.m",
	"$6$saltsalt$fwlamBrOqmO1d1IGBZuoDbiBLysiZpmO29PF6JYPeFNWtUpYlWGacpfo3kQaQ6Jc9AgBbqPXfLKeJCECo1N.m1\n",
	"$6$saltsalt$fwlamBrOqmO1d1IGBZuoDbiBLysiZpmO29PF6JYPeFNWtUpYlWGacpfo3kQaQ6Jc9AgBbqPXfLKeJCECo1N!m1",
	"$6$saltsalt",
	"$6$",
	"$6$rounds=999$saltsalt$tz3hHRymbItMsq0KmSsjgFieQL4buJRG0tqdEQsvsX43gi5xzkz7NWDDgZzQFf/b3LE68uwETqaiTuSg0qOZP/",
	"$6$rounds=$saltsalt$tz3hHRymbItMsq0KmSsjgFieQL4buJRG0tqdEQsvsX43gi5xzkz7NWDDgZzQFf/b3LE68uwETqaiTuSg0qOZP/",
	"$6$salt:salt$fwlamBrOqmO1d1IGBZuoDbiBLysiZpmO29PF6JYPeFNWtUpYlWGacpfo3kQaQ6Jc9AgBbqPXfLKeJCECo1N.m1",
	"$5$saltsalt$lenpbIIfFTOesMocJVNZvortN.KXU4D2QzPbnD5iNU",
	"$2b$05$kR3.IG9HOgxIFtoG3oN6he.UbsajnOEdSe.vqfoM1h4dNEEKGkh7",
	"$2b$03$kR3.IG9HOgxIFtoG3oN6he.UbsajnOEdSe.vqfoM1h4dNEEKGkh7.",   /* cost below 4 */
	"$2b$5$kR3.IG9HOgxIFtoG3oN6he.UbsajnOEdSe.vqfoM1h4dNEEKGkh7.",
	"$2x$05$kR3.IG9HOgxIFtoG3oN6he.UbsajnOEdSe.vqfoM1h4dNEEKGkh7.",   /* $2x$: the buggy variant */
	"$2b$05$kR3.IG9HOgxIFtoG3oN6he.UbsajnOEdSe.vqfoM1h4dNEEKGkh7.$",
	"$y$j9T$AcIwyWQ4ezIZ.AxunuzQf/$AodoFgcdN7GxegfuAR73w80Pj4MWsTKmWyU4makTvf",
	"$y$j9T$AcIwyWQ4ezIZ.AxunuzQf/",
	"$y$$AcIwyWQ4ezIZ.AxunuzQf/$AodoFgcdN7GxegfuAR73w80Pj4MWsTKmWyU4makTvf3",
	"$y$j9T$$AodoFgcdN7GxegfuAR73w80Pj4MWsTKmWyU4makTvf3",
	"$y$!!!$AcIwyWQ4ezIZ.AxunuzQf/$AodoFgcdN7GxegfuAR73w80Pj4MWsTKmWyU4makTvf3",
};

/* Well formed, with one character of the hash value changed: supported,
 * but no password matches. */
static const char *const altered[] = {
	"$6$saltsalt$fwlamBrOqmO1d1IGBZuoDbiBLysiZpmO29PF6JYPeFNWtUpYlWGacpfo3kQaQ6Jc9AgBbqPXfLKeJCECo1N.m2",
	"$y$j9T$AcIwyWQ4ezIZ.AxunuzQf/$AodoFgcdN7GxegfuAR73w80Pj4MWsTKmWyU4makTvf4",
	"$2b$05$kR3.IG9HOgxIFtoG3oN6he.UbsajnOEdSe.vqfoM1h4dNEEKGkh8.",
	"$5$saltsalt$lenpbIIfFTOesMocJVNZvortN.KXU4D2QzPbnD5iNU4",
};

static void test_refused_hashes(void **state)
{
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		if (password_hash_supported(refused[i]))
			fail_msg("case %zu supported: '%s'", i, refused[i]);
		if (password_verify(PW, refused[i]))
			fail_msg("case %zu accepted: '%s'", i, refused[i]);
	}
	for (size_t i = 0; i < sizeof altered / sizeof altered[0]; i++) {
		if (!password_hash_supported(altered[i]))
			fail_msg("altered %zu not supported: '%s'", i, altered[i]);
		if (password_verify(PW, altered[i]))
			fail_msg("altered %zu accepted: '%s'", i, altered[i]);
	}
}

static void test_roundtrip(void **state)
{
	char *h1 = password_hash(PW);
	char *h2 = password_hash(PW);
	assert_non_null(h1);
	assert_non_null(h2);
	assert_memory_equal(h1, "$y$", 3);
	assert_true(password_hash_supported(h1));
	assert_string_not_equal(h1, h2);   /* a fresh salt each time */
	assert_true(password_verify(PW, h1));
	assert_true(password_verify(PW, h2));
	assert_false(password_verify("Tr0ub4dor&", h1));
	assert_false(password_verify(PW "x", h1));
	free(h1);
	free(h2);

	/* UTF-8 passwords are bytes like any other. */
	char *h = password_hash("pässwörd");
	assert_true(password_verify("pässwörd", h));
	assert_false(password_verify("passwort", h));
	free(h);
}

static void test_length_limit(void **state)
{
	char longest[PASSWORD_MAX_LEN + 2];
	memset(longest, 'p', sizeof longest);
	longest[PASSWORD_MAX_LEN] = '\0';
	char *h = password_hash(longest);
	assert_non_null(h);
	assert_true(password_verify(longest, h));
	longest[PASSWORD_MAX_LEN - 1] = 'q';
	assert_false(password_verify(longest, h));    /* the last byte counts */
	longest[PASSWORD_MAX_LEN - 1] = 'p';
	longest[PASSWORD_MAX_LEN] = 'p';
	longest[PASSWORD_MAX_LEN + 1] = '\0';
	assert_false(password_verify(longest, h));    /* too long: false, no crash */
	assert_null(password_hash(longest));
	free(h);
}

static void test_generate(void **state)
{
	static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	int seen[256] = { 0 };
	char *prev = NULL;
	for (int i = 0; i < 2000; i++) {
		char *pw = password_generate();
		assert_int_equal(strlen(pw), PASSWORD_GENERATED_LEN);
		for (size_t j = 0; j < PASSWORD_GENERATED_LEN; j++) {
			if (strchr(set, pw[j]) == NULL)
				fail_msg("character %d outside [A-Za-z0-9] in '%s'", pw[j], pw);
			seen[(unsigned char)pw[j]]++;
		}
		if (prev != NULL)
			assert_string_not_equal(pw, prev);
		free(prev);
		prev = pw;
	}
	free(prev);
	/* 40000 draws: every one of the 62 characters shows up, none dominates
	 * (expected 645 each; these bounds are over 10 standard deviations). */
	for (const char *c = set; *c != '\0'; c++) {
		int n = seen[(unsigned char)*c];
		if (n < 400 || n > 900)
			fail_msg("'%c' drawn %d times of 40000", *c, n);
	}
	char *pw = password_generate();
	char *h = password_hash(pw);
	assert_true(password_verify(pw, h));
	free(pw);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_hashes),
		cmocka_unit_test(test_refused_hashes),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_length_limit),
		cmocka_unit_test(test_generate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
