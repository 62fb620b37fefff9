/* libFuzzer target: SMTP MAIL and RCPT arguments (smtp_parse.h). The first
 * byte picks the command and the parser flags; the rest is the argument.
 * An accepted path must lie within the input's length limits, and an error
 * must come with a reply line of the form "ddd d.d.d text". */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "smtp/smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reply(const char *reply)
{
	if (reply == NULL || strlen(reply) < 10 || reply[3] != ' ' || reply[5] != '.')
		abort();
	if (reply[0] != '5' || reply[4] != '5')
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	unsigned flags = data[0] & 7;
	bool rcpt = (data[0] & 8) != 0;
	size--;
	/* A copy without a terminator past the end: ASan sees any over-read. */
	char *arg = malloc(size > 0 ? size : 1);
	if (arg == NULL)
		abort();
	memcpy(arg, data + 1, size);
	const char *reply = NULL;
	if (rcpt) {
		struct smtp_rcpt_args a = { 0 };
		if (smtp_parse_rcpt(arg, size, flags, &a, &reply) < 0)
			check_reply(reply);
		else if (a.path.address.len > SMTP_PATH_MAX || a.path.address.len == 0)
			abort();
		buf_free(&a.path.address);
		buf_free(&a.orcpt);
	} else {
		struct smtp_mail_args a = { 0 };
		if (smtp_parse_mail(arg, size, flags, &a, &reply) < 0)
			check_reply(reply);
		else if (a.path.address.len > SMTP_PATH_MAX || (a.path.null != (a.path.address.len == 0)))
			abort();
		buf_free(&a.path.address);
		buf_free(&a.envid);
	}
	free(arg);
	return 0;
}
