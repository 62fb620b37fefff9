/* libFuzzer target: the POP3 command parser and message output. The input
 * is one command line (any bytes): the parse must not read outside it, its
 * results must lie within it; then the same bytes as a message are
 * byte-stuffed whole and in two pieces, and both outputs must be equal,
 * end in CRLF.CRLF and hold no line starting with a single dot. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "pop3/pop3_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void stuff(const char *in, size_t len, size_t split, int64_t top, struct buf *out)
{
	struct pop3_stuffer st;
	pop3_stuffer_init(&st, top);
	pop3_stuff(&st, in, split, out);
	pop3_stuff(&st, in + split, len - split, out);
	pop3_stuff_finish(&st, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy without a terminator past the end: ASan sees any over-read. */
	char *line = malloc(size > 0 ? size : 1);
	if (line == NULL)
		abort();
	memcpy(line, data, size);
	struct pop3_command cmd;
	const char *error;
	enum pop3_parse_result r = pop3_parse_command(line, size, &cmd, &error);
	if (r == POP3_PARSE_BAD && error == NULL)
		abort();
	if (r == POP3_PARSE_OK) {
		if (cmd.rest != NULL && (cmd.rest < line || cmd.rest + cmd.rest_len > line + size))
			abort();
		if (cmd.n_params > POP3_PARAMS_MAX || strlen(cmd.keyword) > 4)
			abort();
	}

	int64_t top = size > 0 ? (int64_t)(data[0] % 4) - 1 : -1;
	struct buf a = BUF_INIT, b = BUF_INIT;
	stuff(line, size, 0, top, &a);
	stuff(line, size, size / 2, top, &b);
	if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
		abort();
	if (a.len < 3 || memcmp(a.data + a.len - 3, ".\r\n", 3) != 0 ||
	    (a.len > 3 && memcmp(a.data + a.len - 5, "\r\n", 2) != 0))
		abort();
	/* every line except the terminator that starts with "." has ".." */
	for (size_t i = 0; i + 3 < a.len; i++)
		if ((i == 0 || a.data[i - 1] == '\n') && a.data[i] == '.' && a.data[i + 1] != '.')
			abort();
	buf_free(&a);
	buf_free(&b);
	free(line);
	return 0;
}
