/* libFuzzer target: a SASL exchange. The first byte picks the mechanism and
 * whether there is an initial response; the rest is client lines split on LF. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "account/sasl.h"
#include "core/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct sasl *s = sasl_new((data[0] & 1) ? "PLAIN" : "LOGIN");
	if (s == NULL)
		abort();
	bool initial = (data[0] & 2) != 0;
	struct buf challenge = BUF_INIT;
	char *err = NULL;
	enum sasl_status st = SASL_CONTINUE;
	if (!initial)
		st = sasl_step(s, NULL, &challenge, &err);
	size_t pos = 1;
	while (st == SASL_CONTINUE && pos <= size) {
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t len = nl ? (size_t)(nl - (data + pos)) : size - pos;
		char *line = strndup((const char *)data + pos, len);
		free(err);
		err = NULL;
		buf_clear(&challenge);
		st = sasl_step(s, line, &challenge, &err);
		free(line);
		pos += len + 1;
	}
	if (st == SASL_DONE && (sasl_authcid(s) == NULL || sasl_password(s) == NULL))
		abort();
	free(err);
	buf_free(&challenge);
	sasl_free(&s);
	return 0;
}
