/* POP3 command parser and message output (see pop3_parse.h). */
#include "pop3/pop3_parse.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"

enum arg_kind {
	ARGS_NONE,     /* no parameter */
	ARGS_REST,     /* the rest of the line, unparsed (USER, PASS, AUTH, ...) */
	ARGS_MSG_OPT,  /* [msg] */
	ARGS_MSG,      /* msg */
	ARGS_TOP,      /* msg n */
};

struct cmd_syntax {
	const char *name;
	enum pop3_cmd_id id;
	enum arg_kind args;
	const char *syntax;   /* the error for wrong parameters */
};

static const struct cmd_syntax commands[] = {
	{ "CAPA", POP3_CMD_CAPA, ARGS_NONE, "CAPA takes no arguments" },
	{ "QUIT", POP3_CMD_QUIT, ARGS_NONE, "QUIT takes no arguments" },
	{ "STLS", POP3_CMD_STLS, ARGS_NONE, "STLS takes no arguments" },
	{ "USER", POP3_CMD_USER, ARGS_REST, NULL },
	{ "PASS", POP3_CMD_PASS, ARGS_REST, NULL },
	{ "AUTH", POP3_CMD_AUTH, ARGS_REST, NULL },
	{ "APOP", POP3_CMD_APOP, ARGS_REST, NULL },
	{ "UTF8", POP3_CMD_UTF8, ARGS_REST, NULL },
	{ "LANG", POP3_CMD_LANG, ARGS_REST, NULL },
	{ "STAT", POP3_CMD_STAT, ARGS_NONE, "STAT takes no arguments" },
	{ "LIST", POP3_CMD_LIST, ARGS_MSG_OPT, "Syntax: LIST [msg]" },
	{ "RETR", POP3_CMD_RETR, ARGS_MSG, "Syntax: RETR msg" },
	{ "DELE", POP3_CMD_DELE, ARGS_MSG, "Syntax: DELE msg" },
	{ "NOOP", POP3_CMD_NOOP, ARGS_NONE, "NOOP takes no arguments" },
	{ "RSET", POP3_CMD_RSET, ARGS_NONE, "RSET takes no arguments" },
	{ "TOP", POP3_CMD_TOP, ARGS_TOP, "Syntax: TOP msg n" },
	{ "UIDL", POP3_CMD_UIDL, ARGS_MSG_OPT, "Syntax: UIDL [msg]" },
};

const char *pop3_cmd_name(enum pop3_cmd_id id)
{
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (commands[i].id == id)
			return commands[i].name;
	return "";
}

/* param = 1*40VCHAR, here 1*10DIGIT with a value of at least 1 (msg) or 0
 * (TOP's n), below 2^32. */
static bool parse_number(const char *p, size_t len, uint32_t *n_r)
{
	if (len == 0 || len > 10)
		return false;
	uint64_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		n = n * 10 + (uint64_t)(p[i] - '0');
	}
	if (n > UINT32_MAX)
		return false;
	*n_r = (uint32_t)n;
	return true;
}

/* Split "a b" into at most max parameters separated by one SP each. */
static enum pop3_parse_result parse_params(const char *p, size_t len, const struct cmd_syntax *c,
					   struct pop3_command *cmd, const char **error_r)
{
	size_t min = 0, max = 0;
	switch (c->args) {
	case ARGS_NONE: break;
	case ARGS_REST: break;
	case ARGS_MSG_OPT: max = 1; break;
	case ARGS_MSG: min = max = 1; break;
	case ARGS_TOP: min = max = 2; break;
	}
	size_t pos = 0;
	while (p != NULL && pos <= len) {
		size_t n = 0;
		while (pos + n < len && p[pos + n] != ' ')
			n++;
		if (cmd->n_params == max || n == 0 || n > POP3_PARAM_MAX) {
			*error_r = c->syntax;
			return POP3_PARSE_BAD;
		}
		if (!parse_number(p + pos, n, &cmd->params[cmd->n_params]) ||
		    (cmd->n_params == 0 && cmd->params[0] == 0)) {
			*error_r = "Invalid message number";
			if (cmd->n_params == 1)
				*error_r = "Invalid number of lines";
			return POP3_PARSE_BAD;
		}
		cmd->n_params++;
		pos += n + 1;
	}
	if (cmd->n_params < min) {
		*error_r = c->syntax;
		return POP3_PARSE_BAD;
	}
	return POP3_PARSE_OK;
}

enum pop3_parse_result pop3_parse_command(const char *line, size_t len, struct pop3_command *cmd,
					  const char **error_r)
{
	memset(cmd, 0, sizeof *cmd);
	*error_r = NULL;
	size_t klen = 0;
	while (klen < len && line[klen] != ' ')
		klen++;
	if (klen < 3 || klen > 4)
		return POP3_PARSE_UNKNOWN;
	for (size_t i = 0; i < klen; i++) {
		char ch = line[i];
		if (ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		cmd->keyword[i] = ch;
	}
	cmd->keyword[klen] = '\0';
	const struct cmd_syntax *c = NULL;
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(commands[i].name, cmd->keyword) == 0)
			c = &commands[i];
	if (c == NULL)
		return POP3_PARSE_UNKNOWN;
	cmd->id = c->id;
	if (memchr(line, '\0', len) != NULL) {
		*error_r = "NUL byte in command";
		return POP3_PARSE_BAD;
	}
	const char *params = klen < len ? line + klen + 1 : NULL;
	size_t plen = klen < len ? len - klen - 1 : 0;
	if (c->args == ARGS_REST) {
		cmd->rest = params;
		cmd->rest_len = plen;
		return POP3_PARSE_OK;
	}
	if (len + 2 > POP3_COMMAND_MAX) {
		*error_r = "Line too long";
		return POP3_PARSE_BAD;
	}
	if (c->args == ARGS_NONE) {
		if (params != NULL) {
			*error_r = c->syntax;
			return POP3_PARSE_BAD;
		}
		return POP3_PARSE_OK;
	}
	return parse_params(params, plen, c, cmd, error_r);
}

/* ---- message output ---- */

void pop3_stuffer_init(struct pop3_stuffer *st, int64_t top_lines)
{
	*st = (struct pop3_stuffer){
		.line_start = true,
		.line_empty = true,
		.body_lines_left = top_lines,
	};
	if (top_lines == 0)
		st->body_lines_left = 0;
}

/* A line ended (its LF was copied): count it for TOP. */
static void line_done(struct pop3_stuffer *st)
{
	if (st->body_lines_left < 0)
		return;
	if (!st->in_body) {
		if (st->line_empty) {
			st->in_body = true;
			if (st->body_lines_left == 0)
				st->done = true;
		}
	} else if (--st->body_lines_left == 0) {
		st->done = true;
	}
}

void pop3_stuff(struct pop3_stuffer *st, const char *data, size_t len, struct buf *out)
{
	size_t pos = 0;
	buf_reserve(out, len + len / 64 + 8);
	while (pos < len && !st->done) {
		if (st->line_start) {
			if (data[pos] == '.')
				buf_putc(out, '.');
			st->line_start = false;
			st->line_empty = true;
			st->last_cr = false;
		}
		const char *lf = memchr(data + pos, '\n', len - pos);
		size_t end = lf != NULL ? (size_t)(lf - data) : len;   /* the LF or the end */
		if (end > pos) {
			buf_append(out, data + pos, end - pos);
			/* empty so far: nothing, or just the CR of a CRLF */
			if (st->line_empty && !(end - pos == 1 && data[pos] == '\r' && !st->last_cr))
				st->line_empty = false;
			st->last_cr = data[end - 1] == '\r';
		}
		if (lf == NULL)
			break;
		if (!st->last_cr)
			buf_putc(out, '\r');   /* bare LF */
		buf_putc(out, '\n');
		pos = end + 1;
		st->line_start = true;
		line_done(st);
	}
}

void pop3_stuff_finish(struct pop3_stuffer *st, struct buf *out)
{
	if (!st->line_start && !st->done)
		buf_append_str(out, st->last_cr ? "\n" : "\r\n");
	buf_append_str(out, ".\r\n");
}

void pop3_uidl(uint32_t uidvalidity, uint32_t uid, char out[17])
{
	snprintf(out, 17, "%08X%08X", (unsigned)uid, (unsigned)uidvalidity);
}
