#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmalloc.h"

static void test_empty_is_valid_cstring(void **state)
{
	struct buf b = BUF_INIT;
	assert_string_equal(buf_cstr(&b), "");
	assert_int_equal(b.len, 0);
	char *s = buf_steal(&b);
	assert_string_equal(s, "");
	free(s);
}

static void test_append_grows_and_terminates(void **state)
{
	struct buf b = BUF_INIT;
	for (int i = 0; i < 1000; i++)
		buf_append(&b, "ab", 2);
	assert_int_equal(b.len, 2000);
	assert_int_equal(b.data[b.len], '\0');
	assert_true(b.cap > b.len);
	buf_free(&b);
	assert_null(b.data);
}

static void test_appendf_long_and_short(void **state)
{
	struct buf b = BUF_INIT;
	buf_appendf(&b, "%d-%s", 42, "x");
	assert_string_equal(buf_cstr(&b), "42-x");
	char big[1000];
	memset(big, 'z', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	buf_appendf(&b, "%s", big);
	assert_int_equal(b.len, 4 + 999);
	assert_int_equal(strlen(buf_cstr(&b)), 4 + 999);
	buf_free(&b);
}

static void test_embedded_nul_and_consume(void **state)
{
	struct buf b = BUF_INIT;
	buf_append(&b, "a\0b\0c", 5);
	assert_int_equal(b.len, 5);
	buf_consume(&b, 2);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "b\0c", 3);
	buf_consume(&b, 10);
	assert_int_equal(b.len, 0);
	assert_string_equal(buf_cstr(&b), "");
	buf_free(&b);
}

static void test_set_truncate_eq(void **state)
{
	struct buf b = BUF_INIT;
	buf_set(&b, "hello", 5);
	assert_true(buf_eq_str(&b, "hello"));
	buf_truncate(&b, 4);
	assert_true(buf_eq_str(&b, "hell"));
	assert_false(buf_eq_str(&b, "hello"));
	buf_truncate(&b, 10);       /* longer than content: no change */
	assert_true(buf_eq_str(&b, "hell"));
	buf_clear(&b);
	assert_true(buf_eq_str(&b, ""));
	buf_free(&b);
}

static void test_reserve_keeps_a_string(void **state)
{
	struct buf b = BUF_INIT;
	buf_reserve(&b, 100);
	assert_int_equal(b.len, 0);
	assert_string_equal(buf_cstr(&b), "");
	assert_true(b.cap >= 101);
	buf_free(&b);
}

static void test_xfree_clears(void **state)
{
	char *p = xstrdup("x");
	xfree(&p);
	assert_null(p);
	xfree(&p);   /* freeing twice is harmless */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_is_valid_cstring),
		cmocka_unit_test(test_append_grows_and_terminates),
		cmocka_unit_test(test_appendf_long_and_short),
		cmocka_unit_test(test_embedded_nul_and_consume),
		cmocka_unit_test(test_set_truncate_eq),
		cmocka_unit_test(test_reserve_keeps_a_string),
		cmocka_unit_test(test_xfree_clears),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
