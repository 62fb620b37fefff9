/* The IMAP command parser (RFC 9051 section 9, RFC 3501 section 9), fed one
 * line at a time by the session and the bytes of each literal in between.
 *
 * A command is "tag SP name [SP args] CRLF", where a literal ("{N}", "{N+}"
 * for LITERAL+, "~{N}" for BINARY's literal8) at the end of a line carries the
 * command on to N raw bytes and then the next line. The parser keeps its
 * state between the pieces (the open lists, the arguments so far), so a
 * command split over many lines and literals of any size give the same tree
 * as one that arrived whole.
 *
 *   struct imap_parser *p = imap_parser_new(&limits);
 *   for each line from the session:
 *     switch (imap_parser_line(p, line, len)) {
 *     case IMAP_PARSE_LITERAL:   (p announced a literal of imap_parser_literal()->size)
 *         the engine answers "+" for a synchronising literal, reads the bytes
 *         (session_read_raw) and gives them with imap_parser_literal_data()
 *         or, for a message it streams to the store, with
 *         imap_parser_literal_external(); then waits for the next line.
 *     case IMAP_PARSE_COMMAND:   imap_parser_command(p) is complete
 *     case IMAP_PARSE_BAD:       imap_parser_error(p) says why (the command
 *                                is abandoned, see struct imap_parse_error)
 *     }
 *   imap_parser_reset(p) before the next command.
 *
 * Tokens (ABNF from RFC 9051; the differences are said where they are):
 *
 *   atom          = 1*ATOM-CHAR
 *   ATOM-CHAR     = <any CHAR except atom-specials>
 *   atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards /
 *                   quoted-specials / resp-specials
 *
 *   The parser's atoms are wider than ABNF atoms, as every server's are, so
 *   that the command's own grammar can judge them: an atom here is 1* of any
 *   CHAR except "(" / ")" / "{" / SP / CTL / DQUOTE, so that it also holds
 *   "\Seen" (flag), "1:*,$" (sequence-set), "Foo*%" (list-mailbox) and "]"
 *   (astring). A "[" inside an atom opens a section that runs to the
 *   matching "]" and may hold SP, "(", ")" and quoted strings: the whole of
 *   BODY.PEEK[HEADER.FIELDS (From "To")]<0.100> is one atom, which FETCH
 *   parses (imap_section.h). A "{" after the start of an atom is an error.
 *
 *   quoted        = DQUOTE *QUOTED-CHAR DQUOTE
 *   QUOTED-CHAR   = <any TEXT-CHAR except quoted-specials> /
 *                   "\" quoted-specials / UTF8-2 / UTF8-3 / UTF8-4
 *   literal       = "{" number64 ["+"] "}" CRLF *CHAR8
 *   literal8      = "~{" number64 ["+"] "}" CRLF *OCTET      (RFC 3516)
 *   nil           = "NIL"   (any case; as an atom it is IMAP_ARG_NIL)
 *   list          = "(" [arg *(SP arg)] ")"
 *
 * A quoted string must be valid UTF-8 (8-bit bytes are allowed only as
 * UTF-8, RFC 9051 and RFC 6855); a NUL byte is refused anywhere outside a
 * literal8, and in a literal unless the command allows it (APPEND).
 *
 * Limits (struct imap_parser_limits), each reported as IMAP_PARSE_BAD with a
 * reason: the depth of nested lists, the number of arguments in one command,
 * the size of one literal kept in memory and the bytes of one command kept in
 * memory. A literal the engine streams elsewhere (APPEND's message) is not
 * counted; its size limit is the engine's. */
#ifndef SUREL_IMAP_IMAP_PARSER_H
#define SUREL_IMAP_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum imap_arg_type {
	IMAP_ARG_ATOM,       /* str: the atom as written */
	IMAP_ARG_STRING,     /* str: quoted (unescaped) or literal */
	IMAP_ARG_NIL,        /* the atom NIL */
	IMAP_ARG_LIST,       /* list/count: the elements */
	IMAP_ARG_EXTERNAL,   /* a literal whose bytes went elsewhere (ext) */
};

struct imap_arg {
	enum imap_arg_type type;
	char *str;           /* ATOM, STRING: NUL-terminated (may hold NULs: len) */
	size_t len;
	bool literal;        /* STRING or EXTERNAL from a literal */
	bool literal8;       /* ... from a literal8 "~{N}" */
	struct imap_arg *list;   /* LIST */
	size_t count;
	void *ext;           /* EXTERNAL: what imap_parser_literal_external() got */
	uint64_t ext_size;   /* EXTERNAL: the literal's size */
};

struct imap_parser_limits {
	unsigned max_depth;        /* nested lists, default 16 */
	size_t max_args;           /* arguments (every atom, string, list) in one command, default 10000 */
	uint64_t max_literal;      /* one literal kept in memory, default 64 KiB */
	size_t max_command;        /* bytes of one command kept in memory (lines + literals), default 1 MiB */
};
#define IMAP_PARSER_DEFAULT_MAX_DEPTH 16
#define IMAP_PARSER_DEFAULT_MAX_ARGS 10000
#define IMAP_PARSER_DEFAULT_MAX_LITERAL (64 * 1024)
#define IMAP_PARSER_DEFAULT_MAX_COMMAND (1024 * 1024)

enum imap_parse_result {
	IMAP_PARSE_COMMAND,  /* a whole command */
	IMAP_PARSE_LITERAL,  /* the line ended with a literal: give its bytes */
	IMAP_PARSE_BAD,      /* a syntax error or a limit */
};

/* The complete command. The tree is owned by the parser (valid until the next
 * imap_parser_reset / imap_parser_free). */
struct imap_command {
	const char *tag;
	const char *name;           /* as written ("uid", "FETCH"): compare without case */
	const struct imap_arg *args;   /* what follows the name, top level */
	size_t count;
};

/* The literal announced by the last IMAP_PARSE_LITERAL. */
struct imap_literal {
	uint64_t size;
	bool sync;          /* "{N}": the client waits for "+" (false: "{N+}") */
	bool literal8;      /* "~{N}" */
	unsigned depth;     /* 0: a top-level argument, 1: in a list, ... */
	size_t index;       /* its position among the arguments of its list (top
			       level: after the name; 0 is the first argument) */
	const struct imap_command *so_far;   /* tag, name and the top-level
						arguments before it */
};

/* Why a command was refused. The engine answers "tag BAD reason" (or
 * "* BAD reason" without a tag). When the refused line itself ended with a
 * literal announcement, skip_literal says so: for a synchronising literal the
 * engine just sends BAD (the client sends nothing more, RFC 9051 7.5); for a
 * non-synchronising one it must read and drop skip_literal bytes (and then
 * the rest of the command, up to a line without a literal: discard_lines). */
struct imap_parse_error {
	const char *tag;            /* NULL when the line had no valid tag */
	const char *reason;         /* static text, no CRLF */
	bool too_big;               /* a limit: the engine may add [TOOBIG] / [LIMIT] */
	uint64_t skip_literal;
	bool skip_sync;
};

struct imap_parser *imap_parser_new(const struct imap_parser_limits *limits /* NULL: defaults */);
void imap_parser_free(struct imap_parser **p);

/* One line (CRLF stripped; line[len] is NUL; it may hold NULs). */
enum imap_parse_result imap_parser_line(struct imap_parser *p, const char *line, size_t len);
/* After IMAP_PARSE_LITERAL. */
const struct imap_literal *imap_parser_literal(const struct imap_parser *p);
/* Bytes of the announced literal, in any pieces; the total must be its size.
 * Returns IMAP_PARSE_BAD for a NUL byte in a literal that may not hold one
 * (the rest of the literal must still be fed, and is dropped). */
enum imap_parse_result imap_parser_literal_data(struct imap_parser *p, const void *data, size_t len);
/* Instead of the bytes: the literal was consumed by the engine (streamed to
 * the store); it becomes an IMAP_ARG_EXTERNAL argument holding ext. */
void imap_parser_literal_external(struct imap_parser *p, void *ext);
/* Let literals hold NUL bytes (APPEND's message, RFC 9051 allows none in a
 * literal, but binary messages arrive that way through literal8 anyway). */
void imap_parser_allow_nul(struct imap_parser *p, bool allow);
/* Let the engine claim a literal it will stream (APPEND's message) as it is
 * announced, before max_literal and max_command are checked: when claim()
 * returns true the literal is not held to them, and the engine gives it with
 * imap_parser_literal_external() (its own size limit applies). NULL, the
 * default: every literal is held to the limits. Kept across resets. */
void imap_parser_set_claim(struct imap_parser *p,
			   bool (*claim)(const struct imap_literal *lit, void *ctx), void *ctx);

const struct imap_command *imap_parser_command(const struct imap_parser *p);
const struct imap_parse_error *imap_parser_error(const struct imap_parser *p);
/* Every EXTERNAL argument's ext, for the engine to release after a BAD or a
 * reset (the parser never frees them). Calls fn for each. */
void imap_parser_each_external(const struct imap_parser *p, void (*fn)(void *ext, void *ctx),
			       void *ctx);
/* Forget the command (tree, literal, error) and start a new one. */
void imap_parser_reset(struct imap_parser *p);

/* ---- helpers for the commands ---- */

/* An astring argument (atom, quoted or literal, no NUL): its value, or NULL. */
const char *imap_arg_astring(const struct imap_arg *a);
/* A string argument (quoted or literal, no NUL) or NULL. */
const char *imap_arg_string(const struct imap_arg *a);
/* An atom argument or NULL. */
const char *imap_arg_atom(const struct imap_arg *a);
/* nstring: NIL gives "" with *is_nil = true. */
const char *imap_arg_nstring(const struct imap_arg *a, bool *is_nil);
/* A number (RFC 9051 number: 0..4294967295) / number64 (0..2^63-1) atom. */
bool imap_arg_number(const struct imap_arg *a, uint32_t *n_r);
bool imap_arg_number64(const struct imap_arg *a, uint64_t *n_r);

#endif
