/* MAIL and RCPT arguments: one table row per case, the argument as the
 * client sent it after "MAIL " / "RCPT ", and either the parsed result or
 * the exact reply. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "smtp/smtp_parse.h"

#define E SMTP_PARSE_ESMTP
#define SP SMTP_PARSE_SPACE_AFTER_COLON
#define U SMTP_PARSE_UTF8

struct mail_case {
	const char *arg;
	unsigned flags;
	const char *reply;       /* NULL: accepted */
	const char *address;     /* accepted: the envelope address */
	long long size;
	enum smtp_body body;
	bool smtputf8;
	enum smtp_ret ret;
	const char *envid;
};

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct mail_case mail_cases[] = {
	{ "FROM:<alice@example.org>", E, NULL, "alice@example.org", -1 },
	{ "from:<alice@example.org>", E, NULL, "alice@example.org", -1 },
	{ "FROM:<>", E, NULL, "", -1 },
	{ "FROM:<@a.example,@b.example:alice@example.org>", E, NULL, "alice@example.org", -1 },
	{ "FROM:<\"alice\"@example.org>", E, NULL, "alice@example.org", -1 },
	{ "FROM:<\"a b\"@example.org>", E, NULL, "\"a b\"@example.org", -1 },
	{ "FROM:<\"a\\\"b\"@example.org>", E, NULL, "\"a\\\"b\"@example.org", -1 },
	{ "FROM:<a@[192.0.2.1]>", E, NULL, "a@[192.0.2.1]", -1 },
	{ "FROM:<a@[IPv6:2001:db8::1]>", E, NULL, "a@[IPv6:2001:db8::1]", -1 },
	{ "FROM:<a@[x-tag:stuff]>", E, NULL, "a@[x-tag:stuff]", -1 },
	{ "FROM:<a.b-c+d@sub.example.org>", E, NULL, "a.b-c+d@sub.example.org", -1 },
	{ "FROM: <alice@example.org>", E | SP, NULL, "alice@example.org", -1 },
	{ "FROM:<a@b.example> SIZE=1000", E, NULL, "a@b.example", 1000 },
	{ "FROM:<a@b.example> size=0 BODY=8bitmime", E, NULL, "a@b.example", 0, SMTP_BODY_8BITMIME },
	{ "FROM:<a@b.example> BODY=7BIT", E, NULL, "a@b.example", -1, SMTP_BODY_7BIT },
	{ "FROM:<a@b.example> SIZE=99999999999999999999", E, NULL, "a@b.example", 9223372036854775807LL },
	{ "FROM:<a@b.example> RET=HDRS ENVID=QQ314159", E, NULL, "a@b.example", -1, 0, false,
	  SMTP_RET_HDRS, "QQ314159" },
	{ "FROM:<a@b.example> RET=full ENVID=a+2Bb", E, NULL, "a@b.example", -1, 0, false,
	  SMTP_RET_FULL, "a+2Bb" },
	{ "FROM:<j\xc3\xb6rg@b\xc3\xbc" "cher.example> SMTPUTF8", E, NULL,
	  "j\xc3\xb6rg@b\xc3\xbc" "cher.example", -1, 0, true },
	/* ---- syntax of the command ---- */
	{ "FROM: <alice@example.org>", E, "501 5.5.4 Syntax: MAIL FROM:<address>" },
	{ "FROM:alice@example.org", E, "501 5.5.4 Syntax: MAIL FROM:<address>" },
	{ "TO:<alice@example.org>", E, "501 5.5.4 Syntax: MAIL FROM:<address>" },
	{ "FROM", E, "501 5.5.4 Syntax: MAIL FROM:<address>" },
	{ "", E, "501 5.5.4 Syntax: MAIL FROM:<address>" },
	/* ---- bad addresses ---- */
	{ "FROM:<alice@example.org", E, "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<alice>", E, "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<alice@>", E, "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<@example.org>", E, "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<a..b@example.org>", E, "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<.a@example.org>", E, "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<a@-x.example>", E, "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<a@x-.example>", E, "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<a@x..example>", E, "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<a@x_y.example>", E, "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<a b@example.org>", E, "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<a@[300.1.1.1]>", E, "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<a@[IPv6:zz::1]>", E, "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<a@[]>", E, "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<\"unterminated@example.org>", E, "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<\"a\rb\"@example.org>", E, "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<@a.example:>", E, "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<@a.example,alice@example.org>", E, "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<alice@example.org>x", E, "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<a\xff@example.org> SMTPUTF8", E, "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<a\xc0\xaf@example.org> SMTPUTF8", E, "501 5.1.7 Bad sender address syntax" },
	{ "FROM:<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.org>", E,
	  "501 5.1.7 Bad sender address syntax" },   /* 65 octets */
	{ "FROM:<j\xc3\xb6rg@example.org>", E, "553 5.6.7 Non-ASCII address requires SMTPUTF8" },
	/* ---- parameters ---- */
	{ "FROM:<a@b.example> SIZE=1000", 0, "555 5.5.4 Parameters need EHLO" },
	{ "FROM:<a@b.example> FOO=bar", E, "555 5.5.4 Unsupported parameter" },
	{ "FROM:<a@b.example> NOTIFY=NEVER", E, "555 5.5.4 Unsupported parameter" },
	{ "FROM:<a@b.example> SIZE=12x", E, "501 5.5.4 Bad SIZE value" },
	{ "FROM:<a@b.example> SIZE", E, "501 5.5.4 Bad SIZE value" },
	{ "FROM:<a@b.example> SIZE=123456789012345678901", E, "501 5.5.4 Bad SIZE value" },
	{ "FROM:<a@b.example> SIZE=1 SIZE=2", E, "501 5.5.4 Duplicate parameter" },
	{ "FROM:<a@b.example> BODY=BINARYMIME", E, "501 5.5.4 Unsupported BODY type" },
	{ "FROM:<a@b.example> BODY=9BIT", E, "501 5.5.4 Unsupported BODY type" },
	{ "FROM:<a@b.example> SMTPUTF8=yes", E, "501 5.5.4 SMTPUTF8 takes no value" },
	{ "FROM:<a@b.example> RET=ALL", E, "501 5.5.4 Bad RET value" },
	{ "FROM:<a@b.example> ENVID=a+2b", E, "501 5.5.4 Bad ENVID value" },
	{ "FROM:<a@b.example> ENVID=a+2", E, "501 5.5.4 Bad ENVID value" },
	{ "FROM:<a@b.example>  SIZE=1", E, "501 5.5.4 Syntax error in parameters" },
	{ "FROM:<a@b.example> ", E, "501 5.5.4 Syntax error in parameters" },
	{ "FROM:<a@b.example> =x", E, "501 5.5.4 Syntax error in parameters" },
	{ "FROM:<a@b.example> SIZE=", E, "501 5.5.4 Syntax error in parameters" },
	{ "FROM:<a@b.example> X=a=b", E, "501 5.5.4 Syntax error in parameters" },
	{ "FROM:<a@b.example> X=\x01", E, "501 5.5.4 Syntax error in parameters" },
};

struct rcpt_case {
	const char *arg;
	unsigned flags;
	const char *reply;
	const char *address;
	unsigned notify;
	const char *orcpt;
	bool postmaster;
};

static const struct rcpt_case rcpt_cases[] = {
	{ "TO:<bob@example.org>", E, NULL, "bob@example.org" },
	{ "to:<Bob@Example.ORG>", E, NULL, "Bob@Example.ORG" },
	{ "TO:<Postmaster>", E, NULL, "postmaster", 0, NULL, true },
	{ "TO:<postMASTER>", E, NULL, "postmaster", 0, NULL, true },
	{ "TO:<postmaster@example.org>", E, NULL, "postmaster@example.org" },
	{ "TO:<@relay.example:bob@example.org>", E, NULL, "bob@example.org" },
	{ "TO:<bob@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.org", E, NULL,
	  "bob@example.org", SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE, "rfc822;bob@example.org" },
	{ "TO:<bob@example.org> notify=never", E, NULL, "bob@example.org", SMTP_NOTIFY_NEVER },
	{ "TO:<bob@example.org> NOTIFY=DELAY", E, NULL, "bob@example.org", SMTP_NOTIFY_DELAY },
	{ "TO:<b\xc3\xb6" "b@example.org>", E | U, NULL, "b\xc3\xb6" "b@example.org" },
	{ "TO:<>", E, "501 5.1.3 Bad recipient address syntax" },
	{ "TO:<bob>", E, "501 5.1.3 Bad recipient address syntax" },
	{ "TO:<\"Postmaster\">", E, NULL, "postmaster", 0, NULL, true },
	{ "TO:<bob@example.org", E, "501 5.1.3 Bad recipient address syntax" },
	{ "TO:bob@example.org", E, "501 5.5.4 Syntax: RCPT TO:<address>" },
	{ "FROM:<bob@example.org>", E, "501 5.5.4 Syntax: RCPT TO:<address>" },
	{ "TO:<b\xc3\xb6" "b@example.org>", E, "553 5.6.7 Non-ASCII address requires SMTPUTF8" },
	{ "TO:<bob@example.org> NOTIFY=NEVER,SUCCESS", E, "501 5.5.4 Bad NOTIFY value" },
	{ "TO:<bob@example.org> NOTIFY=SUCCESS,SUCCESS", E, "501 5.5.4 Bad NOTIFY value" },
	{ "TO:<bob@example.org> NOTIFY=SUCCESS,", E, "501 5.5.4 Bad NOTIFY value" },
	{ "TO:<bob@example.org> NOTIFY=SOMETIMES", E, "501 5.5.4 Bad NOTIFY value" },
	{ "TO:<bob@example.org> ORCPT=bob@example.org", E, "501 5.5.4 Bad ORCPT value" },
	{ "TO:<bob@example.org> ORCPT=rfc822;", E, "501 5.5.4 Bad ORCPT value" },
	{ "TO:<bob@example.org> ORCPT=rfc822;a+zz", E, "501 5.5.4 Bad ORCPT value" },
	{ "TO:<bob@example.org> SIZE=10", E, "555 5.5.4 Unsupported parameter" },
	{ "TO:<bob@example.org> NOTIFY=NEVER", 0, "555 5.5.4 Parameters need EHLO" },
};

static void test_mail(void **state)
{
	struct smtp_mail_args a = { 0 };
	for (size_t i = 0; i < sizeof mail_cases / sizeof mail_cases[0]; i++) {
		const struct mail_case *c = &mail_cases[i];
		print_message("MAIL %s\n", c->arg);
		const char *reply = NULL;
		int rc = smtp_parse_mail(c->arg, strlen(c->arg), c->flags, &a, &reply);
		if (c->reply != NULL) {
			assert_int_equal(rc, -1);
			assert_string_equal(reply, c->reply);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_string_equal(buf_cstr(&a.path.address), c->address);
		assert_int_equal(a.path.null, c->address[0] == '\0');
		assert_int_equal(a.size, c->size);
		assert_int_equal(a.body, c->body);
		assert_int_equal(a.smtputf8, c->smtputf8);
		assert_int_equal(a.ret, c->ret);
		assert_string_equal(buf_cstr(&a.envid), c->envid != NULL ? c->envid : "");
	}
	buf_free(&a.path.address);
	buf_free(&a.envid);
}

static void test_rcpt(void **state)
{
	struct smtp_rcpt_args a = { 0 };
	for (size_t i = 0; i < sizeof rcpt_cases / sizeof rcpt_cases[0]; i++) {
		const struct rcpt_case *c = &rcpt_cases[i];
		print_message("RCPT %s\n", c->arg);
		const char *reply = NULL;
		int rc = smtp_parse_rcpt(c->arg, strlen(c->arg), c->flags, &a, &reply);
		if (c->reply != NULL) {
			assert_int_equal(rc, -1);
			assert_string_equal(reply, c->reply);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_string_equal(buf_cstr(&a.path.address), c->address);
		assert_int_equal(a.notify, c->notify);
		assert_string_equal(buf_cstr(&a.orcpt), c->orcpt != NULL ? c->orcpt : "");
		assert_int_equal(a.path.postmaster, c->postmaster);
	}
	buf_free(&a.path.address);
	buf_free(&a.orcpt);
}

/* A NUL anywhere is refused, and the parser never reads past len. */
static void test_nul_and_bounds(void **state)
{
	struct smtp_mail_args a = { 0 };
	const char *reply = NULL;
	assert_int_equal(smtp_parse_mail("FROM:<a\0b@example.org>", 22, E, &a, &reply), -1);
	assert_string_equal(reply, "501 5.5.4 Syntax: MAIL FROM:<address>");
	const char *full = "FROM:<alice@example.org> SIZE=10";
	for (size_t n = 0; n < strlen(full); n++) {
		char *copy = malloc(n + 1);
		memcpy(copy, full, n);
		int rc = smtp_parse_mail(copy, n, E, &a, &reply);
		if (rc != (n == 24 || n == 31 ? 0 : -1))
			print_error("prefix %zu\n", n);
		/* Every proper prefix is an error but those ending after ">" and "SIZE=1". */
		assert_int_equal(rc, n == 24 || n == 31 ? 0 : -1);
		free(copy);
	}
	buf_free(&a.path.address);
	buf_free(&a.envid);
}

static void test_xtext_and_names(void **state)
{
	struct buf b = BUF_INIT;
	smtp_xtext_decode("a+2Bb+3Dc", 9, &b);
	assert_string_equal(buf_cstr(&b), "a+b=c");
	buf_clear(&b);
	smtp_notify_format(SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_DELAY, &b);
	assert_string_equal(buf_cstr(&b), "SUCCESS,DELAY");
	buf_clear(&b);
	smtp_notify_format(SMTP_NOTIFY_NEVER, &b);
	assert_string_equal(buf_cstr(&b), "NEVER");
	buf_free(&b);
	assert_true(smtp_xtext_valid("", 0));
	assert_false(smtp_xtext_valid("a b", 3));
	assert_false(smtp_xtext_valid("+4", 2));
	assert_string_equal(smtp_body_name(SMTP_BODY_8BITMIME), "8BITMIME");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mail),
		cmocka_unit_test(test_rcpt),
		cmocka_unit_test(test_nul_and_bounds),
		cmocka_unit_test(test_xtext_and_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
