/* libFuzzer target: IMAP astring arguments. The input is one command line's
 * arguments; astrings are read one after the other, separated by a space, as
 * LOGIN does, until one is not OK. Every value must lie within the line and
 * every position must advance. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/imap_args.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy without a terminator past the end: ASan sees any over-read. */
	char *line = malloc(size > 0 ? size : 1);
	if (line == NULL)
		abort();
	memcpy(line, data, size);
	struct buf out = BUF_INIT;
	size_t pos = 0;
	for (;;) {
		size_t before = pos;
		const char *error = NULL;
		enum imap_arg_result r = imap_parse_astring(line, size, &pos, &out, &error);
		if (r != IMAP_ARG_OK) {
			if (pos != before || (r == IMAP_ARG_BAD && error == NULL))
				abort();
			break;
		}
		if (pos <= before || pos > size || out.len > pos - before)
			abort();
		if (pos == size || line[pos] != ' ')
			break;
		pos++;
	}
	buf_free(&out);
	free(line);
	return 0;
}
