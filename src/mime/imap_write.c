/* IMAP ENVELOPE and BODY/BODYSTRUCTURE (RFC 9051 7.5.2, RFC 3501 7.4.2),
 * written as Dovecot writes them, so that clients see the same answers
 * from both (docs/mime.md lists where and why we differ). */
#include <string.h>
#include <strings.h>

#include "mime/mime_int.h"

/* Values longer than this go out as literals: a client that reads lines
 * into a fixed buffer copes with a literal more easily. */
#define QUOTED_MAX 4096

/*
 * RFC 9051 4.3:
 *   string          = quoted / literal
 *   quoted          = DQUOTE *QUOTED-CHAR DQUOTE
 *   QUOTED-CHAR     = <any TEXT-CHAR except quoted-specials> / "\" quoted-specials
 *   TEXT-CHAR       = <any CHAR except CR and LF>
 *   literal         = "{" number64 ["+"] "}" CRLF *CHAR8
 * Quoted when it can be: no CR, LF, NUL or 8-bit byte, at most four
 * characters to escape (Dovecot's rule) and not too long.
 */
void mime_imap_string(struct buf *out, const char *s, size_t len)
{
	unsigned escapes = 0;
	bool literal = len > QUOTED_MAX;
	for (size_t i = 0; i < len && !literal; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			literal = ++escapes > 4;
		else if (c == '\r' || c == '\n' || c == '\0' || c >= 0x80)
			literal = true;
	}
	if (literal) {
		buf_appendf(out, "{%zu}\r\n", len);
		buf_append(out, s, len);
		return;
	}
	buf_putc(out, '"');
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_putc(out, '\\');
		buf_putc(out, s[i]);
	}
	buf_putc(out, '"');
}

void mime_imap_nstring(struct buf *out, const char *s)
{
	if (s == NULL)
		buf_append_str(out, "NIL");
	else
		mime_imap_string(out, s, strlen(s));
}

/* nstring without line breaks: each CR or LF goes, and a space takes its
 * place when the next character is not whitespace (Dovecot's
 * imap_append_nstring_nolf()). */
static void nstring_nolf(struct buf *out, const char *s)
{
	if (s == NULL || strpbrk(s, "\r\n") == NULL) {
		mime_imap_nstring(out, s);
		return;
	}
	struct buf tmp = BUF_INIT;
	for (size_t i = 0; s[i] != '\0'; i++) {
		if (s[i] != '\r' && s[i] != '\n')
			buf_putc(&tmp, s[i]);
		else if (s[i + 1] != ' ' && s[i + 1] != '\t' && s[i + 1] != '\r' &&
			 s[i + 1] != '\n' && s[i + 1] != '\0')
			buf_putc(&tmp, ' ');
	}
	mime_imap_string(out, buf_cstr(&tmp), tmp.len);
	buf_free(&tmp);
}

/* Text for people (subject, display names): runs of whitespace, CR and LF
 * become one space, none at either end (Dovecot's
 * imap_append_string_for_humans()). */
static void string_for_humans(struct buf *out, const char *s)
{
	if (s == NULL) {
		buf_append_str(out, "NIL");
		return;
	}
	struct buf tmp = BUF_INIT;
	bool space = false;
	for (size_t i = 0; s[i] != '\0'; i++) {
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
			space = true;
			continue;
		}
		if (space && tmp.len > 0)
			buf_putc(&tmp, ' ');
		space = false;
		buf_putc(&tmp, s[i]);
	}
	mime_imap_string(out, buf_cstr(&tmp), tmp.len);
	buf_free(&tmp);
}

/*
 * RFC 9051 7.5.2:
 *   env-from = "(" 1*address ")" / nil
 *   address  = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"
 */
static bool write_addresses(struct buf *out, const char *value)
{
	if (value == NULL)
		return false;
	struct mime_address *list;
	size_t n;
	mime_address_parse(value, strlen(value), &list, &n);
	if (n == 0)
		return false;
	buf_putc(out, '(');
	for (size_t i = 0; i < n; i++) {
		buf_putc(out, '(');
		string_for_humans(out, list[i].name);
		buf_putc(out, ' ');
		mime_imap_nstring(out, list[i].adl);
		buf_putc(out, ' ');
		mime_imap_nstring(out, list[i].mailbox);
		buf_putc(out, ' ');
		mime_imap_nstring(out, list[i].domain);
		buf_putc(out, ')');
	}
	buf_putc(out, ')');
	mime_address_list_free(&list, &n);
	return true;
}

static void write_address_field(struct buf *out, const char *value, const char *fallback)
{
	if (write_addresses(out, value))
		return;
	/* RFC 9051 7.5.2: Sender and Reply-To default to From. */
	if (fallback != NULL && write_addresses(out, fallback))
		return;
	buf_append_str(out, "NIL");
}

/*
 *   envelope = "(" env-date SP env-subject SP env-from SP env-sender SP
 *              env-reply-to SP env-to SP env-cc SP env-bcc SP
 *              env-in-reply-to SP env-message-id ")"
 */
void mime_write_envelope(const struct mime_message *m, struct buf *out)
{
	buf_putc(out, '(');
	nstring_nolf(out, m->date);
	buf_putc(out, ' ');
	string_for_humans(out, m->subject);
	buf_putc(out, ' ');
	write_address_field(out, m->from, NULL);
	buf_putc(out, ' ');
	write_address_field(out, m->sender, m->from);
	buf_putc(out, ' ');
	write_address_field(out, m->reply_to, m->from);
	buf_putc(out, ' ');
	write_address_field(out, m->to, NULL);
	buf_putc(out, ' ');
	write_address_field(out, m->cc, NULL);
	buf_putc(out, ' ');
	write_address_field(out, m->bcc, NULL);
	buf_putc(out, ' ');
	nstring_nolf(out, m->in_reply_to);
	buf_putc(out, ' ');
	nstring_nolf(out, m->message_id);
	buf_putc(out, ')');
}

/*
 *   body-fld-param  = "(" string SP string *(SP string SP string) ")" / nil
 * A text part without a charset gets charset "us-ascii" (RFC 2045 5.2),
 * added at the end, as Dovecot does.
 */
static void write_params(struct buf *out, const struct mime_param *params, size_t n,
			 bool default_charset)
{
	bool charset = false;
	if (n == 0 && !default_charset) {
		buf_append_str(out, "NIL");
		return;
	}
	buf_putc(out, '(');
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			buf_putc(out, ' ');
		if (strcasecmp(params[i].bs_name, "charset") == 0)
			charset = true;
		mime_imap_nstring(out, params[i].bs_name);
		buf_putc(out, ' ');
		mime_imap_nstring(out, params[i].bs_value);
	}
	if (default_charset && !charset)
		buf_append_str(out, n > 0 ? " \"charset\" \"us-ascii\"" : "\"charset\" \"us-ascii\"");
	buf_putc(out, ')');
}

/* Content-Language (RFC 3282): a comma-separated list of tags. */
static void write_language(struct buf *out, const char *value)
{
	struct mime_lex lx;
	struct buf tag = BUF_INIT;
	size_t count = 0;
	if (value != NULL) {
		mime_lex_init(&lx, value, strlen(value));
		for (;;) {
			mime_lex_skip_cfws(&lx, NULL);
			buf_clear(&tag);
			if (!mime_lex_atom(&lx, &tag))
				break;
			buf_append_str(out, count++ == 0 ? "(" : " ");
			mime_imap_string(out, tag.data, tag.len);
			mime_lex_skip_cfws(&lx, NULL);
			if (mime_lex_eof(&lx) || *lx.p != ',')
				break;
			lx.p++;
		}
	}
	buf_free(&tag);
	buf_append_str(out, count > 0 ? ")" : "NIL");
}

/*
 *   body-fld-dsp    = "(" string SP body-fld-param ")" / nil
 *   body-fld-lang   = nstring / "(" string *(SP string) ")"
 *   body-fld-loc    = nstring
 */
static void write_ext_common(struct buf *out, const struct mime_part *part)
{
	buf_putc(out, ' ');
	if (part->disposition == NULL) {
		buf_append_str(out, "NIL");
	} else {
		buf_putc(out, '(');
		mime_imap_nstring(out, part->disposition);
		buf_putc(out, ' ');
		write_params(out, part->disp_params, part->n_disp_params, false);
		buf_putc(out, ')');
	}
	buf_putc(out, ' ');
	write_language(out, part->language);
	buf_putc(out, ' ');
	nstring_nolf(out, part->location);
}

static void write_part(struct buf *out, const struct mime_part *part, bool extended);

/* A multipart with no parts is not valid IMAP; write one empty text/plain
 * part, as Dovecot does. */
static const char EMPTY_BODY[] = "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0";

/*
 *   body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
 *   body-ext-mpart  = body-fld-param [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc *(SP body-extension)]]]
 */
static void write_multipart(struct buf *out, const struct mime_part *part, bool extended)
{
	for (size_t i = 0; i < part->n_children; i++)
		write_part(out, &part->children[i], extended);
	if (part->n_children == 0) {
		buf_append_str(out, EMPTY_BODY);
		buf_append_str(out, extended ? " NIL NIL NIL NIL)" : ")");
	}
	buf_putc(out, ' ');
	mime_imap_nstring(out, part->bs_subtype);
	if (!extended)
		return;
	buf_putc(out, ' ');
	write_params(out, part->params, part->n_params, false);
	write_ext_common(out, part);
}

/*
 *   body-type-1part = (body-type-basic / body-type-msg / body-type-text) [SP body-ext-1part]
 *   body-type-basic = media-basic SP body-fields
 *   body-type-msg   = media-message SP body-fields SP envelope SP body SP body-fld-lines
 *   body-type-text  = media-text SP body-fields SP body-fld-lines
 *   body-fields     = body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc SP body-fld-octets
 *   body-ext-1part  = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc *(SP body-extension)]]]
 */
static void write_single(struct buf *out, const struct mime_part *part, bool extended)
{
	bool text = strcmp(part->type, "text") == 0;
	if (part->message != NULL) {
		buf_append_str(out, strcmp(part->subtype, "global") == 0 ? "\"message\" \"global\""
									: "\"message\" \"rfc822\"");
	} else if (strcmp(part->type, "message") == 0 &&
		   (strcmp(part->subtype, "rfc822") == 0 || strcmp(part->subtype, "global") == 0)) {
		/* Not parsed (a limit): without an envelope it cannot be
		 * shown as a message. */
		buf_append_str(out, "\"application\" \"octet-stream\"");
	} else {
		mime_imap_nstring(out, part->bs_type);
		buf_putc(out, ' ');
		mime_imap_nstring(out, part->bs_subtype);
	}
	buf_putc(out, ' ');
	write_params(out, part->params, part->n_params, text);
	buf_putc(out, ' ');
	nstring_nolf(out, part->id);
	buf_putc(out, ' ');
	nstring_nolf(out, part->description);
	buf_putc(out, ' ');
	if (part->encoding != NULL)
		mime_imap_nstring(out, part->encoding);
	else
		buf_append_str(out, "\"7bit\"");
	buf_appendf(out, " %llu", (unsigned long long)(part->body_end - part->body_start));
	if (text) {
		buf_appendf(out, " %llu", (unsigned long long)part->body_lines);
	} else if (part->message != NULL) {
		buf_putc(out, ' ');
		mime_write_envelope(part->message, out);
		buf_putc(out, ' ');
		write_part(out, &part->message->root, extended);
		buf_appendf(out, " %llu", (unsigned long long)part->body_lines);
	}
	if (!extended)
		return;
	buf_putc(out, ' ');
	nstring_nolf(out, part->md5);
	write_ext_common(out, part);
}

static void write_part(struct buf *out, const struct mime_part *part, bool extended)
{
	buf_putc(out, '(');
	if (mime_part_is_multipart(part))
		write_multipart(out, part, extended);
	else
		write_single(out, part, extended);
	buf_putc(out, ')');
}

/* A message that is one text/plain part with nothing but the defaults
 * (charset us-ascii, 7bit, no other Content-* field). Dovecot writes such a
 * message's structure from the defaults, in lower case, whatever the case
 * of the header; we do the same so that the two agree. */
static bool is_plain_7bit(const struct mime_part *p)
{
	if (strcmp(p->type, "text") != 0 || strcmp(p->subtype, "plain") != 0)
		return false;
	if (p->n_params > 1 ||
	    (p->n_params == 1 && (strcasecmp(p->params[0].bs_name, "charset") != 0 ||
				  strcasecmp(p->params[0].bs_value, "us-ascii") != 0)))
		return false;
	if (p->encoding != NULL && strcasecmp(p->encoding, "7bit") != 0)
		return false;
	return p->id == NULL && p->description == NULL && p->md5 == NULL &&
	       p->disposition == NULL && p->language == NULL && p->location == NULL;
}

void mime_write_bodystructure(const struct mime_message *m, bool extended, struct buf *out)
{
	const struct mime_part *root = &m->root;
	if (!is_plain_7bit(root)) {
		write_part(out, root, extended);
		return;
	}
	buf_appendf(out, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" %llu %llu%s)",
		    (unsigned long long)(root->body_end - root->body_start),
		    (unsigned long long)root->body_lines, extended ? " NIL NIL NIL NIL" : "");
}
