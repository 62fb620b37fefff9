/* POP3 command lines and message output, without any I/O: the parts of the
 * POP3 engine that read untrusted input or transform message bytes, kept
 * apart so that the unit tests and the fuzzer reach them directly.
 *
 * RFC 1939 3 and RFC 2449 4:
 *   command  = keyword *(SP param) CRLF    ; at most 255 octets with CRLF
 *   keyword  = 3*4VCHAR                    ; case-insensitive
 *   param    = 1*40VCHAR
 *   msg      = 1*DIGIT                     ; a message number, 1 = first
 *
 * USER, PASS and AUTH take the rest of the line as it is (a password may
 * hold spaces, a SASL initial response may be longer than 40 octets), and
 * their line may be as long as limits.line_max. */
#ifndef SUREL_POP3_POP3_PARSE_H
#define SUREL_POP3_POP3_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

#define POP3_COMMAND_MAX 255   /* octets, CRLF included (RFC 2449 4) */
#define POP3_PARAM_MAX 40      /* octets of one parameter (RFC 2449 4) */
#define POP3_PARAMS_MAX 2      /* TOP msg n */

enum pop3_cmd_id {
	POP3_CMD_UNKNOWN = 0,
	POP3_CMD_CAPA, POP3_CMD_QUIT, POP3_CMD_STLS, POP3_CMD_USER, POP3_CMD_PASS,
	POP3_CMD_AUTH, POP3_CMD_APOP, POP3_CMD_UTF8, POP3_CMD_LANG,
	POP3_CMD_STAT, POP3_CMD_LIST, POP3_CMD_RETR, POP3_CMD_DELE, POP3_CMD_NOOP,
	POP3_CMD_RSET, POP3_CMD_TOP, POP3_CMD_UIDL,
	POP3_CMD_COUNT
};

struct pop3_command {
	enum pop3_cmd_id id;
	char keyword[5];             /* as sent, upper-cased; "" when not 3-4 letters */
	/* USER, PASS, AUTH: what follows "KEYWORD " (NULL when nothing does) */
	const char *rest;
	size_t rest_len;
	/* the others: numeric parameters (LIST/UIDL/RETR/DELE msg, TOP msg n) */
	size_t n_params;
	uint32_t params[POP3_PARAMS_MAX];
};

enum pop3_parse_result {
	POP3_PARSE_OK,
	POP3_PARSE_UNKNOWN,          /* no such keyword */
	POP3_PARSE_BAD,              /* *error_r: the reason, for "-ERR <reason>" */
};

/* Parse one command line (without its CRLF; it may hold any byte). On
 * POP3_PARSE_BAD, cmd->id and cmd->keyword are set when the keyword is known,
 * and *error_r is a static string. */
enum pop3_parse_result pop3_parse_command(const char *line, size_t len, struct pop3_command *cmd,
					  const char **error_r);

/* The keyword's name ("RETR"), "" for POP3_CMD_UNKNOWN. */
const char *pop3_cmd_name(enum pop3_cmd_id id);

/* ---- message output (RETR, TOP) ----
 * A message goes out line by line with CRLF line ends (a bare LF becomes
 * CRLF), a line starting with "." gets another "." in front (RFC 1939 3),
 * and the reply ends with ".\r\n" after a final CRLF. TOP stops after the
 * header, the empty line and n lines of the body (RFC 1939 7). The message
 * may arrive in pieces of any size: the result is the same. */
struct pop3_stuffer {
	bool line_start;             /* the next byte starts a line */
	bool last_cr;                /* the last byte copied was a CR */
	bool in_body;                /* past the empty line after the header */
	bool line_empty;             /* only a CR so far on this line */
	bool done;                   /* TOP: enough lines; ignore the rest */
	int64_t body_lines_left;     /* TOP: body lines still to send; -1 for RETR */
};

/* top_lines: -1 for RETR, n for TOP msg n. */
void pop3_stuffer_init(struct pop3_stuffer *st, int64_t top_lines);
/* Append the output for these message bytes to out. */
void pop3_stuff(struct pop3_stuffer *st, const char *data, size_t len, struct buf *out);
/* Append the end of the reply: CRLF if the last line had none, ".\r\n". */
void pop3_stuff_finish(struct pop3_stuffer *st, struct buf *out);

/* ---- UIDL ----
 * A message's unique id: its UID and its mailbox's UIDVALIDITY, as eight
 * upper-case hex digits each (Dovecot's default pop3_uidl_format
 * "%08Xu%08Xv", so mail imported from Dovecot with its dovecot-uidlist keeps
 * its UIDLs). out must hold 17 bytes. */
void pop3_uidl(uint32_t uidvalidity, uint32_t uid, char out[17]);

#endif
