/* libFuzzer target: the line reader. The input is delivered in pieces whose
 * sizes come from the input itself; the items must be the same as when the
 * whole input is delivered at once, lines must respect the limit, and a line
 * announcing "{N}" switches to raw mode for N bytes, as IMAP literals do. */
#include <event2/buffer.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "server/linereader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LINE 64

/* Every item as "L<len>:" + bytes, "T", or "R:" + the bytes of a run of raw
 * items (how a raw run is cut into items depends on how the bytes arrive). */
static void run(const uint8_t *data, size_t size, const uint8_t *splits, size_t n_splits,
		struct buf *trace)
{
	struct linereader lr;
	linereader_init(&lr, MAX_LINE);
	struct evbuffer *in = evbuffer_new();
	size_t pos = 0, k = 0;
	bool in_raw = false;
	for (;;) {
		size_t piece = size - pos;
		if (n_splits > 0)
			piece = (size_t)(splits[k++ % n_splits] % 17) + 1;
		if (piece > size - pos)
			piece = size - pos;
		evbuffer_add(in, data + pos, piece);
		pos += piece;
		const char *item;
		size_t len;
		enum linereader_result r;
		while ((r = linereader_next(&lr, in, &item, &len)) != LINEREADER_MORE) {
			if (r != LINEREADER_RAW)
				in_raw = false;
			if (r == LINEREADER_LINE) {
				if (len > MAX_LINE)
					abort();
				buf_appendf(trace, "L%zu:", len);
				buf_append(trace, item, len);
				/* "{N}" at the end of a line: N raw bytes follow. */
				if (len >= 3 && item[len - 1] == '}') {
					const char *open = memchr(item, '{', len);
					if (open != NULL)
						linereader_set_raw(&lr, strtoull(open + 1, NULL, 10) % 200);
				}
			} else if (r == LINEREADER_TOO_LONG) {
				buf_append_str(trace, "T");
			} else {
				if (!in_raw)
					buf_append_str(trace, "R:");
				in_raw = true;
				buf_append(trace, item, len);
			}
		}
		if (pos >= size)
			break;
	}
	evbuffer_free(in);
	linereader_free(&lr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t n_splits = data[0] % 8;
	if (n_splits + 1 > size)
		return 0;
	const uint8_t *splits = data + 1;
	data += 1 + n_splits;
	size -= 1 + n_splits;

	struct buf whole = BUF_INIT, pieces = BUF_INIT;
	run(data, size, NULL, 0, &whole);
	run(data, size, splits, n_splits, &pieces);
	if (whole.len != pieces.len || (whole.len && memcmp(whole.data, pieces.data, whole.len)))
		abort();
	buf_free(&whole);
	buf_free(&pieces);
	return 0;
}
