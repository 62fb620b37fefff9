/* core/utf8: RFC 3629 validity, one row a case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/utf8.h"

static const struct {
	const char *s;
	size_t len;            /* of the first character; 0: invalid */
	uint32_t cp;
} cases[] = {
	{ "A", 1, 0x41 },
	{ "\xc3\xa9", 2, 0xe9 },              /* é */
	{ "\xe2\x82\xac", 3, 0x20ac },        /* € */
	{ "\xf0\x9f\x98\x80", 4, 0x1f600 },
	{ "\xf4\x8f\xbf\xbf", 4, 0x10ffff },  /* the last code point */
	{ "\xc0\xaf", 0, 0 },                 /* overlong "/" */
	{ "\xe0\x80\xaf", 0, 0 },             /* overlong, three bytes */
	{ "\xed\xa0\x80", 0, 0 },             /* a surrogate */
	{ "\xf4\x90\x80\x80", 0, 0 },         /* above U+10FFFF */
	{ "\xe2\x82", 0, 0 },                 /* cut short */
	{ "\x80", 0, 0 },                     /* a continuation byte alone */
	{ "\xff", 0, 0 },
};

static void test_decode(void **state)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint32_t cp = 0;
		size_t n = utf8_decode((const unsigned char *)cases[i].s, strlen(cases[i].s), &cp);
		if (n != cases[i].len || (n > 0 && cp != cases[i].cp))
			fail_msg("case %zu: length %zu code point %x", i, n, cp);
		assert_int_equal(utf8_valid(cases[i].s, strlen(cases[i].s)), cases[i].len > 0);
	}
}

static void test_valid_strings(void **state)
{
	assert_true(utf8_valid("", 0));
	assert_true(utf8_valid("Caf\xc3\xa9 \xe2\x82\xac", 9));
	assert_false(utf8_valid("Caf\xc3", 4));                /* cut at the end */
	assert_true(utf8_valid("a\0b", 3));                    /* NUL is valid UTF-8 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_valid_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
