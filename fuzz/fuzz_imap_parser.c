/* libFuzzer target: the IMAP command parser, as the session drives it. The
 * input is a client's stream: lines end at LF (a CR before it is dropped);
 * when the parser asks for a literal, the next bytes are its data (in two
 * pieces), or, for APPEND's message, they are skipped and the literal given
 * as external. Every complete tree is walked and checked against the limits,
 * and every atom also goes through imap_seqset_parse() and the translations. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "imap/imap_parser.h"
#include "imap/imap_seqset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct imap_parser_limits limits = {
	.max_depth = 8, .max_args = 200, .max_literal = 4096, .max_command = 16384,
};

static const uint32_t mailbox[] = { 1, 2, 5, 9, 10, 11, 4000000000u };

static void check(int ok)
{
	if (!ok)
		abort();
}

static void seqset(const char *s, size_t len)
{
	struct imap_seqset set;
	const char *error = NULL;
	if (!imap_seqset_parse(s, len, &set, &error)) {
		check(error != NULL && set.ranges == NULL);
		return;
	}
	struct store_uid_list out = { 0 };
	struct buf w = BUF_INIT;
	size_t n = sizeof mailbox / sizeof mailbox[0];
	imap_seqset_to_uids(&set, mailbox, n, &out);
	check(out.count <= n);
	imap_seqset_uids(&set, mailbox, n, &out);
	check(out.count <= n);
	for (size_t i = 0; i < out.count; i++)
		check(imap_uid_to_seq(mailbox, n, out.uids[i]) != 0);
	imap_seqset_write(out.uids, out.count, &w);
	size_t count;
	free(imap_uid_list_ranges(out.uids, out.count, &count));
	buf_free(&w);
	store_uid_list_free(&out);
	imap_seqset_free(&set);
}

/* Returns the number of arguments in args, nested ones included. */
static size_t walk(const struct imap_arg *args, size_t count, unsigned depth)
{
	size_t total = count;
	check(depth <= limits.max_depth);
	for (size_t i = 0; i < count; i++) {
		const struct imap_arg *a = &args[i];
		uint64_t n64;
		bool nil;
		switch (a->type) {
		case IMAP_ARG_ATOM:
		case IMAP_ARG_NIL:
			check(a->len > 0 && a->str[a->len] == '\0' && strlen(a->str) == a->len);
			seqset(a->str, a->len);
			imap_arg_number64(a, &n64);
			break;
		case IMAP_ARG_STRING:
			check(a->str[a->len] == '\0');
			check(a->literal || memchr(a->str, '\0', a->len) == NULL);
			break;
		case IMAP_ARG_LIST:
			check((a->count == 0) == (a->list == NULL));
			total += walk(a->list, a->count, depth + 1);
			break;
		case IMAP_ARG_EXTERNAL:
			check(a->literal && a->ext != NULL);
			break;
		}
		imap_arg_astring(a);
		imap_arg_nstring(a, &nil);
	}
	return total;
}

static bool claim_append(const struct imap_literal *lit, void *ctx)
{
	return lit->depth == 0 && lit->index >= 1 && strcasecmp(lit->so_far->name, "APPEND") == 0;
}

/* The literal's bytes from data[*pos..size); false when the input ends first. */
static bool literal(struct imap_parser *p, const uint8_t *data, size_t size, size_t *pos)
{
	static int external;
	const struct imap_literal *lit = imap_parser_literal(p);
	check(lit != NULL && lit->so_far != NULL && lit->so_far->name != NULL);
	check(lit->depth <= limits.max_depth);
	if (lit->size > size - *pos)
		return false;
	size_t n = (size_t)lit->size;
	if (claim_append(lit, NULL)) {
		*pos += n;
		imap_parser_literal_external(p, &external);
		return true;
	}
	if (lit->size > limits.max_literal)
		abort();   /* an unclaimed literal over the limit is refused */
	/* "{0}" is given as no bytes at all, or as one empty piece */
	size_t half = n / 2;
	if (half > 0 || (n == 0 && (*pos & 1) != 0))
		imap_parser_literal_data(p, data + *pos, half);
	if (n > 0)
		imap_parser_literal_data(p, data + *pos + half, n - half);
	*pos += n;
	return true;
}

static void done(struct imap_parser *p, enum imap_parse_result r)
{
	if (r == IMAP_PARSE_COMMAND) {
		const struct imap_command *cmd = imap_parser_command(p);
		check(cmd != NULL && cmd->tag != NULL && cmd->name != NULL);
		check(walk(cmd->args, cmd->count, 0) <= limits.max_args);
	} else if (r == IMAP_PARSE_BAD) {
		const struct imap_parse_error *e = imap_parser_error(p);
		check(e != NULL && e->reason != NULL);
	}
	imap_parser_reset(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parser *p = imap_parser_new(&limits);
	imap_parser_set_claim(p, claim_append, NULL);
	struct buf line = BUF_INIT;
	size_t pos = 0;
	while (pos < size) {
		const uint8_t *lf = memchr(data + pos, '\n', size - pos);
		size_t end = lf != NULL ? (size_t)(lf - data) : size;
		size_t len = end - pos;
		if (len > 0 && data[end - 1] == '\r')
			len--;
		buf_set(&line, data + pos, len);
		pos = lf != NULL ? end + 1 : size;
		imap_parser_allow_nul(p, (len & 1) != 0);
		/* a copy of exactly len + 1 bytes: ASan sees any read past its NUL */
		char *copy = malloc(len + 1);
		memcpy(copy, line.data != NULL ? line.data : "", len + 1);
		enum imap_parse_result r = imap_parser_line(p, copy, len);
		free(copy);
		if (r == IMAP_PARSE_LITERAL) {
			if (!literal(p, data, size, &pos))
				break;
			continue;
		}
		done(p, r);
	}
	imap_parser_reset(p);
	imap_parser_free(&p);
	buf_free(&line);
	return 0;
}
