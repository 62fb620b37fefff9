/* The IMAP command parser: see imap_parser.h for the grammar and the limits.
 *
 * Each line is parsed whole (a literal can only end a line), so the state
 * kept between lines is small: the open lists, each building its elements
 * in a vector of its own (levels[d] for the list open at depth d, levels[0]
 * for the top level), and the literal being read. A list's elements are
 * copied into the arena when it closes, so every pointer in the tree stays
 * valid until imap_parser_reset(). Strings (tag, name, atoms, unescaped
 * quoted strings, literals) live in the arena as well.
 *
 * Memory for one command is bounded by max_command (every line and every
 * in-memory literal is counted before it is copied) and max_args (the arg
 * structs). A refused command leaves the parser failed: later lines of it
 * only answer BAD again (with skip_literal for a literal they announce), and
 * later literal bytes are dropped, until imap_parser_reset(). */
#include "imap/imap_parser.h"

#include <assert.h>
#include <stdalign.h>
#include <string.h>

#include "core/xmalloc.h"
#include "core/utf8.h"

/* ---- arena: the strings and closed lists of one command ---- */

#define ARENA_BLOCK 8192

struct arena_block {
	struct arena_block *next;
	size_t size, used;
	max_align_t data[];
};

struct arena {
	struct arena_block *first, *cur;
};

static struct arena_block *arena_grow(struct arena *a, size_t n)
{
	size_t size = n > ARENA_BLOCK ? n : ARENA_BLOCK;
	struct arena_block *b = xmalloc(sizeof *b + size);
	b->next = NULL;
	b->size = size;
	b->used = 0;
	if (a->cur != NULL)
		a->cur->next = b;
	else
		a->first = b;
	a->cur = b;
	return b;
}

static void *arena_alloc(struct arena *a, size_t n, size_t align)
{
	struct arena_block *b = a->cur;
	if (b != NULL) {
		size_t at = (b->used + align - 1) & ~(align - 1);
		if (at <= b->size && n <= b->size - at) {
			b->used = at + n;
			return (char *)b->data + at;
		}
	}
	b = arena_grow(a, n);
	b->used = n;
	return b->data;
}

static char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *r = arena_alloc(a, n + 1, 1);
	memcpy(r, s, n);
	r[n] = '\0';
	return r;
}

/* Keep the first block for the next command, give back the rest. */
static void arena_reset(struct arena *a)
{
	if (a->first == NULL)
		return;
	struct arena_block *b = a->first->next;
	while (b != NULL) {
		struct arena_block *next = b->next;
		free(b);
		b = next;
	}
	a->first->next = NULL;
	a->first->used = 0;
	a->cur = a->first;
}

static void arena_free(struct arena *a)
{
	arena_reset(a);
	xfree(&a->first);
	a->cur = NULL;
}

/* ---- the elements of a list being built ---- */

/* A vector larger than this is given back on reset rather than kept. */
#define VEC_KEEP 256

struct arg_vec {
	struct imap_arg *v;
	size_t count, cap;
};

static struct imap_arg *vec_push(struct arg_vec *vec)
{
	if (vec->count == vec->cap) {
		vec->cap = vec->cap == 0 ? 16 : vec->cap * 2;
		vec->v = xrealloc(vec->v, vec->cap * sizeof vec->v[0]);
	}
	struct imap_arg *a = &vec->v[vec->count++];
	memset(a, 0, sizeof *a);
	return a;
}

/* ---- the parser ---- */

enum parser_state {
	PS_TAG,        /* the next line starts a command */
	PS_ARGS,       /* after a literal: the next line goes on with the command */
	PS_LITERAL,    /* a literal was announced: its bytes are due */
	PS_DONE,       /* a whole command */
	PS_FAILED,     /* refused: see err */
};

struct imap_parser {
	struct imap_parser_limits limits;
	enum parser_state state;
	struct arena arena;
	struct arg_vec *levels;   /* [0]: the top level, [d]: the list open at depth d */
	size_t n_levels;
	unsigned depth;
	size_t n_args;            /* against max_args */
	size_t bytes;             /* lines and in-memory literals, against max_command */
	struct imap_command cmd;
	struct imap_literal lit;
	char *lit_buf;            /* NULL until its first bytes */
	uint64_t lit_got;
	bool lit_claimed;
	bool allow_nul;
	bool (*claim)(const struct imap_literal *lit, void *ctx);
	void *claim_ctx;
	void **exts;
	size_t n_exts, cap_exts;
	struct imap_parse_error err;
};

/* One line being read. */
struct cursor {
	const char *s;
	size_t len, pos;
};

static bool at_end(const struct cursor *c)
{
	return c->pos >= c->len;
}

static unsigned char cur(const struct cursor *c)
{
	return (unsigned char)c->s[c->pos];
}

/* The steps of the argument loop. */
enum step { STEP_OK, STEP_END, STEP_LITERAL, STEP_BAD };

static enum step fail(struct imap_parser *p, const char *reason)
{
	p->state = PS_FAILED;
	p->err.tag = p->cmd.tag;
	p->err.reason = reason;
	return STEP_BAD;
}

static enum step fail_limit(struct imap_parser *p, const char *reason)
{
	p->err.too_big = true;
	return fail(p, reason);
}

static enum imap_parse_result bad(struct imap_parser *p, const char *reason)
{
	fail(p, reason);
	return IMAP_PARSE_BAD;
}

static enum imap_parse_result bad_limit(struct imap_parser *p, const char *reason)
{
	fail_limit(p, reason);
	return IMAP_PARSE_BAD;
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* number64 = 1*DIGIT   ; unsigned 63-bit integer (0 <= n <= 9,223,372,036,854,775,807) */
static bool parse_number64(const char *s, size_t n, uint64_t *n_r)
{
	uint64_t v = 0;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit((unsigned char)s[i]))
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > ((uint64_t)INT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*n_r = v;
	return true;
}

static bool count_bytes(struct imap_parser *p, uint64_t n)
{
	if (n > p->limits.max_command - p->bytes)
		return false;
	p->bytes += (size_t)n;
	return true;
}

static enum step count_arg(struct imap_parser *p)
{
	if (p->n_args >= p->limits.max_args)
		return fail_limit(p, "Too many arguments");
	p->n_args++;
	return STEP_OK;
}

static struct arg_vec *level(struct imap_parser *p, unsigned depth)
{
	if (depth >= p->n_levels) {
		size_t n = p->n_levels == 0 ? 4 : p->n_levels * 2;
		while (n <= depth)
			n *= 2;
		p->levels = xrealloc(p->levels, n * sizeof p->levels[0]);
		memset(p->levels + p->n_levels, 0, (n - p->n_levels) * sizeof p->levels[0]);
		p->n_levels = n;
	}
	return &p->levels[depth];
}

static void update_command(struct imap_parser *p)
{
	struct arg_vec *top = level(p, 0);
	p->cmd.args = top->v;
	p->cmd.count = top->count;
}

/* ---- tokens ---- */

/* list = "(" [arg *(SP arg)] ")" */
static enum step open_list(struct imap_parser *p)
{
	if (p->depth >= p->limits.max_depth)
		return fail_limit(p, "Too deeply nested lists");
	if (count_arg(p) != STEP_OK)
		return STEP_BAD;
	p->depth++;
	level(p, p->depth)->count = 0;
	return STEP_OK;
}

static enum step close_list(struct imap_parser *p)
{
	if (p->depth == 0)
		return fail(p, "Unexpected )");
	struct arg_vec *children = level(p, p->depth);
	struct imap_arg *list = NULL;
	if (children->count > 0) {
		size_t size = children->count * sizeof children->v[0];
		list = arena_alloc(&p->arena, size, alignof(struct imap_arg));
		memcpy(list, children->v, size);
	}
	size_t count = children->count;
	children->count = 0;
	p->depth--;
	struct imap_arg *a = vec_push(level(p, p->depth));
	a->type = IMAP_ARG_LIST;
	a->list = list;
	a->count = count;
	return STEP_OK;
}

/* The parser's atom (wider than ABNF's, see imap_parser.h):
 *   1*<any CHAR except "(" / ")" / "{" / SP / CTL / DQUOTE>
 * with "[" opening a section up to the matching "]". */
static bool is_atom_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '(' && c != ')' && c != '{' && c != '"';
}

static enum step scan_quoted(struct imap_parser *p, struct cursor *c, size_t *value_len);

/* section: "[" up to the matching "]", holding atom characters, SP, "(",
 * ")", nested "[...]" and quoted strings, kept as written. */
static enum step scan_section(struct imap_parser *p, struct cursor *c)
{
	size_t nesting = 0, unused;
	while (!at_end(c)) {
		unsigned char ch = cur(c);
		if (ch == '"') {
			if (scan_quoted(p, c, &unused) != STEP_OK)
				return STEP_BAD;
			continue;
		}
		if (ch == '[')
			nesting++;
		else if (ch == ']' && --nesting == 0) {
			c->pos++;
			return STEP_OK;
		} else if (ch != ' ' && ch != '(' && ch != ')' && !is_atom_char(ch))
			return fail(p, "Invalid character in section");
		c->pos++;
	}
	return fail(p, "Missing ]");
}

/* nil = "NIL" */
static bool is_nil(const char *s, size_t n)
{
	return n == 3 && (s[0] | 0x20) == 'n' && (s[1] | 0x20) == 'i' && (s[2] | 0x20) == 'l';
}

static enum step parse_atom(struct imap_parser *p, struct cursor *c)
{
	size_t start = c->pos;
	while (!at_end(c)) {
		if (cur(c) == '[') {
			if (scan_section(p, c) != STEP_OK)
				return STEP_BAD;
		} else if (is_atom_char(cur(c)))
			c->pos++;
		else
			break;
	}
	if (c->pos == start)
		return fail(p, "Invalid character in argument");
	if (!at_end(c) && cur(c) != ' ' && cur(c) != ')')
		return fail(p, "Invalid character in atom");
	if (count_arg(p) != STEP_OK)
		return STEP_BAD;
	size_t n = c->pos - start;
	struct imap_arg *a = vec_push(level(p, p->depth));
	a->type = is_nil(c->s + start, n) ? IMAP_ARG_NIL : IMAP_ARG_ATOM;
	a->str = arena_strndup(&p->arena, c->s + start, n);
	a->len = n;
	return STEP_OK;
}

/* quoted          = DQUOTE *QUOTED-CHAR DQUOTE
 * QUOTED-CHAR     = <any TEXT-CHAR except quoted-specials> /
 *                   "\" quoted-specials / UTF8-2 / UTF8-3 / UTF8-4
 * quoted-specials = DQUOTE / "\"
 * TEXT-CHAR       = <any CHAR except CR and LF>
 * Checks the string at c (on its DQUOTE) and moves past it; *value_len is
 * its length unescaped. */
static enum step scan_quoted(struct imap_parser *p, struct cursor *c, size_t *value_len)
{
	const unsigned char *s = (const unsigned char *)c->s;
	size_t i = c->pos + 1, n = 0;
	while (i < c->len) {
		if (s[i] == '"') {
			c->pos = i + 1;
			*value_len = n;
			return STEP_OK;
		}
		size_t k = 1, value = 1;
		if (s[i] == '\\') {
			if (i + 1 >= c->len || (s[i + 1] != '"' && s[i + 1] != '\\'))
				return fail(p, "Invalid escape in quoted string");
			k = 2;   /* the backslash is not part of the value */
		} else if (s[i] >= 0x80) {
			k = value = utf8_decode(s + i, c->len - i, NULL);
			if (k == 0)
				return fail(p, "Invalid UTF-8 in quoted string");
		} else if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') {
			return fail(p, "Invalid character in quoted string");
		}
		i += k;
		n += value;
	}
	return fail(p, "Unterminated quoted string");
}

static enum step parse_quoted(struct imap_parser *p, struct cursor *c)
{
	size_t start = c->pos, n;
	if (scan_quoted(p, c, &n) != STEP_OK || count_arg(p) != STEP_OK)
		return STEP_BAD;
	char *value = arena_alloc(&p->arena, n + 1, 1);
	size_t k = 0;
	for (size_t i = start + 1; i < c->pos - 1; i++) {
		if (c->s[i] == '\\')
			i++;
		value[k++] = c->s[i];
	}
	assert(k == n);
	value[n] = '\0';
	struct imap_arg *a = vec_push(level(p, p->depth));
	a->type = IMAP_ARG_STRING;
	a->str = value;
	a->len = n;
	return STEP_OK;
}

/* The limits of a literal kept in memory. */
static enum step literal_limits(struct imap_parser *p)
{
	if (p->lit.size > p->limits.max_literal)
		return fail_limit(p, "Literal too big");
	if (p->lit.size > p->limits.max_command - p->bytes)
		return fail_limit(p, "Command too long");
	return STEP_OK;
}

/* literal  = "{" number64 ["+"] "}" CRLF *CHAR8
 * literal8 = "~{" number64 ["+"] "}" CRLF *OCTET      (RFC 3516)
 * and nothing after it on the line. */
static enum step announce_literal(struct imap_parser *p, struct cursor *c, bool literal8)
{
	size_t i = c->pos + (literal8 ? 2 : 1), digits = i;
	uint64_t size;
	while (i < c->len && is_digit((unsigned char)c->s[i]))
		i++;
	if (!parse_number64(c->s + digits, i - digits, &size))
		return fail(p, "Invalid literal size");
	bool sync = true;
	if (i < c->len && c->s[i] == '+') {
		sync = false;
		i++;
	}
	if (i >= c->len || c->s[i] != '}')
		return fail(p, "Invalid literal");
	if (i + 1 != c->len)
		return fail(p, "Literal not at the end of the line");
	if (count_arg(p) != STEP_OK)
		return STEP_BAD;
	update_command(p);
	p->lit = (struct imap_literal){
		.size = size, .sync = sync, .literal8 = literal8, .depth = p->depth,
		.index = level(p, p->depth)->count, .so_far = &p->cmd,
	};
	p->lit_claimed = p->claim != NULL && p->claim(&p->lit, p->claim_ctx);
	if (!p->lit_claimed && literal_limits(p) != STEP_OK)
		return STEP_BAD;
	c->pos = c->len;
	p->lit_buf = NULL;
	p->lit_got = 0;
	p->state = PS_LITERAL;
	return STEP_LITERAL;
}

/* ---- the argument loop ---- */

enum where {
	AFTER_ARG,    /* SP, ")" or the end of the line may come */
	AFTER_OPEN,   /* after "(": ")" or an argument */
	AT_ARG,       /* an argument must come */
};

/* After an argument (or the command name): SP and the next argument, ")"
 * closing a list, or the end of the line. Exactly one SP between two. */
static enum step after_arg(struct imap_parser *p, struct cursor *c, enum where *w)
{
	if (at_end(c))
		return STEP_END;
	unsigned char ch = cur(c);
	c->pos++;
	if (ch == ')')
		return close_list(p);
	if (ch != ' ')
		return fail(p, "Missing space after argument");
	if (at_end(c))
		return fail(p, "Unexpected space at the end of the line");
	if (cur(c) == ' ' || cur(c) == ')')
		return fail(p, "Unexpected space");
	*w = AT_ARG;
	return STEP_OK;
}

static enum step after_open(struct imap_parser *p, struct cursor *c, enum where *w)
{
	if (at_end(c))
		return STEP_END;   /* the list stays open: "Missing )" */
	if (cur(c) == ' ')
		return fail(p, "Unexpected space");
	if (cur(c) == ')') {
		c->pos++;
		*w = AFTER_ARG;
		return close_list(p);
	}
	*w = AT_ARG;
	return STEP_OK;
}

/* arg = atom / nil / quoted / literal / literal8 / list */
static enum step at_arg(struct imap_parser *p, struct cursor *c, enum where *w)
{
	unsigned char ch = cur(c);
	*w = AFTER_ARG;
	if (ch == '(') {
		c->pos++;
		*w = AFTER_OPEN;
		return open_list(p);
	}
	if (ch == '"')
		return parse_quoted(p, c);
	if (ch == '{')
		return announce_literal(p, c, false);
	if (ch == '~' && c->pos + 1 < c->len && c->s[c->pos + 1] == '{')
		return announce_literal(p, c, true);
	return parse_atom(p, c);
}

static enum imap_parse_result line_end(struct imap_parser *p)
{
	if (p->depth > 0)
		return bad(p, "Missing )");
	update_command(p);
	p->state = PS_DONE;
	return IMAP_PARSE_COMMAND;
}

static enum imap_parse_result parse_args(struct imap_parser *p, struct cursor *c)
{
	enum where w = AFTER_ARG;
	for (;;) {
		enum step r;
		if (w == AFTER_ARG)
			r = after_arg(p, c, &w);
		else if (w == AFTER_OPEN)
			r = after_open(p, c, &w);
		else
			r = at_arg(p, c, &w);
		if (r == STEP_END)
			return line_end(p);
		if (r == STEP_LITERAL)
			return IMAP_PARSE_LITERAL;
		if (r == STEP_BAD)
			return IMAP_PARSE_BAD;
	}
}

/* ---- lines ---- */

/* tag          = 1*<any ASTRING-CHAR except "+">
 * ASTRING-CHAR = ATOM-CHAR / resp-specials */
static bool is_tag_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\+", c) == NULL;
}

/* The command name: the parser knows no names, only their shape. */
static bool is_name_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '-' ||
	       c == '.';
}

/* command = tag SP name [SP args] */
static enum imap_parse_result first_line(struct imap_parser *p, struct cursor *c)
{
	size_t t = 0;
	while (t < c->len && is_tag_char((unsigned char)c->s[t]))
		t++;
	bool tag_ok = t > 0 && (t == c->len || c->s[t] == ' ');
	if (tag_ok && t <= p->limits.max_command)
		p->cmd.tag = arena_strndup(&p->arena, c->s, t);
	if (!count_bytes(p, c->len))
		return bad_limit(p, "Command too long");
	if (memchr(c->s, '\0', c->len) != NULL)
		return bad(p, "NUL byte in command");
	if (c->len == 0)
		return bad(p, "Empty command");
	if (!tag_ok)
		return bad(p, "Invalid tag");
	c->pos = t < c->len ? t + 1 : t;
	size_t start = c->pos;
	while (!at_end(c) && is_name_char(cur(c)))
		c->pos++;
	if (c->pos == start)
		return bad(p, "Missing command");
	if (!at_end(c) && cur(c) != ' ')
		return bad(p, "Invalid command name");
	p->cmd.name = arena_strndup(&p->arena, c->s + start, c->pos - start);
	return parse_args(p, c);
}

/* After a literal: "", SP and more arguments, or ")". */
static enum imap_parse_result next_line(struct imap_parser *p, struct cursor *c)
{
	if (!count_bytes(p, c->len))
		return bad_limit(p, "Command too long");
	if (memchr(c->s, '\0', c->len) != NULL)
		return bad(p, "NUL byte in command");
	return parse_args(p, c);
}

/* "{N}" / "{N+}" / "~{N}" at the end of a refused line: the engine may
 * have to drop N bytes. */
static void note_skip(struct imap_parser *p, const char *line, size_t len)
{
	p->err.skip_literal = 0;
	p->err.skip_sync = false;
	if (len < 3 || line[len - 1] != '}')
		return;
	size_t i = len - 1;
	bool sync = true;
	if (line[i - 1] == '+') {
		sync = false;
		i--;
	}
	size_t end = i;
	while (i > 0 && is_digit((unsigned char)line[i - 1]))
		i--;
	uint64_t n;
	if (i == 0 || line[i - 1] != '{' || !parse_number64(line + i, end - i, &n))
		return;
	p->err.skip_literal = n;
	p->err.skip_sync = sync;
}

static void literal_done(struct imap_parser *p, struct imap_arg *a)
{
	a->literal = true;
	a->literal8 = p->lit.literal8;
	p->lit_buf = NULL;
	p->lit_got = 0;
	p->state = PS_ARGS;
}

/* Room for the literal's bytes, when they first come. */
static bool literal_alloc(struct imap_parser *p)
{
	if (literal_limits(p) != STEP_OK)
		return false;
	count_bytes(p, p->lit.size);
	p->lit_buf = arena_alloc(&p->arena, (size_t)p->lit.size + 1, 1);
	p->lit_buf[p->lit.size] = '\0';
	return true;
}

enum imap_parse_result imap_parser_literal_data(struct imap_parser *p, const void *data, size_t len)
{
	if (p->state == PS_FAILED)
		return IMAP_PARSE_BAD;   /* the rest of a refused literal: dropped */
	assert(p->state == PS_LITERAL && len <= p->lit.size - p->lit_got);
	if (p->state != PS_LITERAL || len > p->lit.size - p->lit_got)
		return bad(p, "Literal longer than announced");
	if (p->lit_buf == NULL && !literal_alloc(p))
		return IMAP_PARSE_BAD;
	if (!p->lit.literal8 && !p->allow_nul && len > 0 && memchr(data, '\0', len) != NULL)
		return bad(p, "NUL byte in literal");
	if (len > 0)
		memcpy(p->lit_buf + p->lit_got, data, len);
	p->lit_got += len;
	if (p->lit_got == p->lit.size) {
		struct imap_arg *a = vec_push(level(p, p->depth));
		a->type = IMAP_ARG_STRING;
		a->str = p->lit_buf;
		a->len = (size_t)p->lit.size;
		literal_done(p, a);
	}
	return IMAP_PARSE_LITERAL;
}

void imap_parser_literal_external(struct imap_parser *p, void *ext)
{
	if (p->n_exts == p->cap_exts) {
		p->cap_exts = p->cap_exts == 0 ? 4 : p->cap_exts * 2;
		p->exts = xrealloc(p->exts, p->cap_exts * sizeof p->exts[0]);
	}
	p->exts[p->n_exts++] = ext;   /* the engine releases it, whatever happens */
	if (p->state == PS_FAILED)
		return;
	assert(p->state == PS_LITERAL && p->lit_got == 0);
	struct imap_arg *a = vec_push(level(p, p->depth));
	a->type = IMAP_ARG_EXTERNAL;
	a->ext = ext;
	a->ext_size = p->lit.size;
	literal_done(p, a);
}

enum imap_parse_result imap_parser_line(struct imap_parser *p, const char *line, size_t len)
{
	struct cursor c = { line, len, 0 };
	enum imap_parse_result r = IMAP_PARSE_BAD;
	if (p->state == PS_LITERAL && p->lit.size == 0)
		imap_parser_literal_data(p, NULL, 0);   /* "{0}": nothing was fed */
	switch (p->state) {
	case PS_TAG:
		r = first_line(p, &c);
		break;
	case PS_ARGS:
		r = next_line(p, &c);
		break;
	case PS_FAILED:
		break;   /* a line of a refused command: BAD again */
	case PS_LITERAL:
	case PS_DONE:
		assert(!"imap_parser_line() inside a literal or after a command");
		r = bad(p, "Command out of sequence");
		break;
	}
	if (r == IMAP_PARSE_BAD)
		note_skip(p, line, len);
	return r;
}

/* ---- life cycle and accessors ---- */

struct imap_parser *imap_parser_new(const struct imap_parser_limits *limits)
{
	struct imap_parser *p = xcalloc(1, sizeof *p);
	if (limits != NULL)
		p->limits = *limits;
	/* 0: the default */
	if (p->limits.max_depth == 0)
		p->limits.max_depth = IMAP_PARSER_DEFAULT_MAX_DEPTH;
	if (p->limits.max_args == 0)
		p->limits.max_args = IMAP_PARSER_DEFAULT_MAX_ARGS;
	if (p->limits.max_literal == 0)
		p->limits.max_literal = IMAP_PARSER_DEFAULT_MAX_LITERAL;
	if (p->limits.max_command == 0)
		p->limits.max_command = IMAP_PARSER_DEFAULT_MAX_COMMAND;
	p->state = PS_TAG;
	return p;
}

void imap_parser_free(struct imap_parser **pp)
{
	struct imap_parser *p = *pp;
	if (p == NULL)
		return;
	arena_free(&p->arena);
	for (size_t i = 0; i < p->n_levels; i++)
		free(p->levels[i].v);
	free(p->levels);
	free(p->exts);
	free(p);
	*pp = NULL;
}

/* Cheap: the arena's first block and the small vectors are kept. The
 * externals are forgotten (imap_parser_each_external() before this). */
void imap_parser_reset(struct imap_parser *p)
{
	arena_reset(&p->arena);
	for (size_t i = 0; i < p->n_levels; i++) {
		p->levels[i].count = 0;
		if (p->levels[i].cap > VEC_KEEP) {
			xfree(&p->levels[i].v);
			p->levels[i].cap = 0;
		}
	}
	p->state = PS_TAG;
	p->depth = 0;
	p->n_args = 0;
	p->bytes = 0;
	p->cmd = (struct imap_command){ 0 };
	p->lit = (struct imap_literal){ 0 };
	p->lit_buf = NULL;
	p->lit_got = 0;
	p->lit_claimed = false;
	p->allow_nul = false;   /* per command, like APPEND's message */
	p->n_exts = 0;
	p->err = (struct imap_parse_error){ 0 };
}

const struct imap_literal *imap_parser_literal(const struct imap_parser *p)
{
	return p->state == PS_LITERAL ? &p->lit : NULL;
}

void imap_parser_allow_nul(struct imap_parser *p, bool allow)
{
	p->allow_nul = allow;
}

void imap_parser_set_claim(struct imap_parser *p,
			   bool (*claim)(const struct imap_literal *lit, void *ctx), void *ctx)
{
	p->claim = claim;
	p->claim_ctx = ctx;
}

const struct imap_command *imap_parser_command(const struct imap_parser *p)
{
	return p->state == PS_DONE ? &p->cmd : NULL;
}

const struct imap_parse_error *imap_parser_error(const struct imap_parser *p)
{
	return p->state == PS_FAILED ? &p->err : NULL;
}

void imap_parser_each_external(const struct imap_parser *p, void (*fn)(void *ext, void *ctx),
			       void *ctx)
{
	for (size_t i = 0; i < p->n_exts; i++)
		fn(p->exts[i], ctx);
}
