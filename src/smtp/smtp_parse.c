/* MAIL and RCPT arguments; see smtp_parse.h.
 *
 * RFC 5321 4.1.1.2, 4.1.1.3:
 *   mail = "MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF
 *   rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" /
 *                       Forward-path ) [SP Rcpt-parameters] CRLF
 * RFC 5321 4.1.2:
 *   Reverse-path   = Path / "<>"
 *   Forward-path   = Path
 *   Path           = "<" [ A-d-l ":" ] Mailbox ">"
 *   A-d-l          = At-domain *( "," At-domain )
 *                  ; Note that this form, the so-called "source route",
 *                  ; MUST BE accepted, SHOULD NOT be generated, and SHOULD be
 *                  ; ignored.
 *   At-domain      = "@" Domain
 *   Mail-parameters  = esmtp-param *(SP esmtp-param)
 *   Rcpt-parameters  = esmtp-param *(SP esmtp-param)
 *   esmtp-param    = esmtp-keyword ["=" esmtp-value]
 *   esmtp-keyword  = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
 *   esmtp-value    = 1*(%d33-60 / %d62-126)
 *                  ; any CHAR excluding "=", SP, and control characters.
 *   Domain         = sub-domain *("." sub-domain)
 *   sub-domain     = Let-dig [Ldh-str]
 *   Let-dig        = ALPHA / DIGIT
 *   Ldh-str        = *( ALPHA / DIGIT / "-" ) Let-dig
 *   address-literal  = "[" ( IPv4-address-literal /
 *                      IPv6-address-literal /
 *                      General-address-literal ) "]"
 *   Mailbox        = Local-part "@" ( Domain / address-literal )
 *   Local-part     = Dot-string / Quoted-string
 *   Dot-string     = Atom *("."  Atom)
 *   Atom           = 1*atext
 *   Quoted-string  = DQUOTE *QcontentSMTP DQUOTE
 *   QcontentSMTP   = qtextSMTP / quoted-pairSMTP
 *   quoted-pairSMTP  = %d92 %d32-126
 *   qtextSMTP      = %d32-33 / %d35-91 / %d93-126
 * RFC 5321 4.1.3:
 *   IPv4-address-literal  = Snum 3("."  Snum)
 *   IPv6-address-literal  = "IPv6:" IPv6-addr
 *   General-address-literal  = Standardized-tag ":" 1*dcontent
 *   Standardized-tag  = Ldh-str
 *   dcontent       = %d33-90 / %d94-126
 * RFC 6531 3.3 (with SMTPUTF8):
 *   sub-domain     =/ U-label
 *   atext          =/ UTF8-non-ascii
 *   qtextSMTP      =/ UTF8-non-ascii
 *   esmtp-value    =/ UTF8-non-ascii
 * RFC 1870:  size-param = "SIZE=" size-value ; size-value = 1*20DIGIT
 * RFC 6152 / RFC 3030:  body-param = "BODY=" ("7BIT" / "8BITMIME" / "BINARYMIME")
 * RFC 3461:
 *   ret-param    = "RET=" ("FULL" / "HDRS")
 *   envid-param  = "ENVID=" xtext      ; at most 100 characters
 *   notify-param = "NOTIFY=" ("NEVER" / notify-list-element
 *                  *("," notify-list-element))
 *   notify-list-element = "SUCCESS" / "FAILURE" / "DELAY"
 *   orcpt-param  = "ORCPT=" addr-type ";" xtext
 *   addr-type    = atom
 *   xtext        = *( xchar / hexchar )
 *   xchar        = any ASCII CHAR between "!" (33) and "~" (126) inclusive,
 *                  except for "+" and "=".
 *   hexchar      = ASCII "+" immediately followed by two upper case
 *                  hexadecimal digits
 *
 * Parameter names and values of our keywords are case-insensitive. A
 * parameter given twice is a syntax error. UTF-8 is allowed in addresses
 * only with SMTPUTF8 (553 5.6.7, RFC 6531 3.7.4.1 / RFC 6533). */
#include "smtp/smtp_parse.h"

#include <arpa/inet.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"

#define R_MAIL_SYNTAX   "501 5.5.4 Syntax: MAIL FROM:<address>"
#define R_RCPT_SYNTAX   "501 5.5.4 Syntax: RCPT TO:<address>"
#define R_BAD_SENDER    "501 5.1.7 Bad sender address syntax"
#define R_BAD_RCPT      "501 5.1.3 Bad recipient address syntax"
#define R_UTF8          "553 5.6.7 Non-ASCII address requires SMTPUTF8"
#define R_PARAM_SYNTAX  "501 5.5.4 Syntax error in parameters"
#define R_PARAM_UNKNOWN "555 5.5.4 Unsupported parameter"
#define R_PARAM_DUP     "501 5.5.4 Duplicate parameter"
#define R_NO_ESMTP      "555 5.5.4 Parameters need EHLO"
#define R_SIZE          "501 5.5.4 Bad SIZE value"
#define R_BODY          "501 5.5.4 Unsupported BODY type"
#define R_RET           "501 5.5.4 Bad RET value"
#define R_ENVID         "501 5.5.4 Bad ENVID value"
#define R_NOTIFY        "501 5.5.4 Bad NOTIFY value"
#define R_ORCPT         "501 5.5.4 Bad ORCPT value"
#define R_SMTPUTF8      "501 5.5.4 SMTPUTF8 takes no value"

struct cursor {
	const char *p;
	size_t len, pos;
};

static bool at_end(const struct cursor *c)
{
	return c->pos >= c->len;
}

static unsigned char peek(const struct cursor *c)
{
	return at_end(c) ? 0 : (unsigned char)c->p[c->pos];
}

static bool is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_atext(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Length of one well-formed UTF-8 sequence of 2-4 bytes at p (RFC 3629 4),
 * 0 when there is none. */
static size_t utf8_seq(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0];
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (avail < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* One UTF8-non-ascii character at the cursor: advance and set *utf8. */
static bool take_utf8(struct cursor *c, bool *utf8)
{
	size_t n = utf8_seq((const unsigned char *)c->p + c->pos, c->len - c->pos);
	if (n == 0)
		return false;
	c->pos += n;
	*utf8 = true;
	return true;
}

/* Domain = sub-domain *("." sub-domain), U-labels allowed (checked for
 * IDNA later, where the domain is looked up). */
static bool parse_domain(struct cursor *c, bool *utf8)
{
	size_t start = c->pos;
	for (;;) {
		size_t label = c->pos;
		unsigned char last = 0;
		while (!at_end(c)) {
			unsigned char ch = peek(c);
			if (is_alpha(ch) || is_digit(ch) || ch == '-') {
				last = ch;
				c->pos++;
			} else if (ch >= 0x80) {
				if (!take_utf8(c, utf8))
					return false;
				last = 'a';
			} else {
				break;
			}
		}
		if (c->pos == label || c->p[label] == '-' || last == '-' ||
		    c->pos - label > 63 * 4)
			return false;
		if (peek(c) != '.')
			break;
		c->pos++;
	}
	return c->pos - start <= SMTP_DOMAIN_MAX;
}

/* address-literal = "[" ... "]" */
static bool parse_literal(struct cursor *c)
{
	size_t start = ++c->pos;   /* past '[' */
	while (!at_end(c) && peek(c) != ']') {
		unsigned char ch = peek(c);
		if (ch < 33 || ch > 126 || ch == '[' || ch == '\\')
			return false;
		c->pos++;
	}
	if (at_end(c))
		return false;
	size_t n = c->pos - start;
	c->pos++;   /* ']' */
	if (n == 0 || n > 100)
		return false;
	char text[101];
	memcpy(text, c->p + start, n);
	text[n] = '\0';
	unsigned char bin[16];
	if (strncasecmp(text, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, text + 5, bin) == 1;
	if (is_digit((unsigned char)text[0])) {
		/* Snum 3("." Snum): inet_pton() takes exactly dotted quads. */
		return inet_pton(AF_INET, text, bin) == 1;
	}
	/* General-address-literal = Standardized-tag ":" 1*dcontent */
	const char *colon = strchr(text, ':');
	if (colon == NULL || colon == text || colon[1] == '\0')
		return false;
	for (const char *p = text; p < colon; p++)
		if (!is_alpha((unsigned char)*p) && !is_digit((unsigned char)*p) && *p != '-')
			return false;
	return colon[-1] != '-';
}

/* Dot-string; true when well-formed. */
static bool parse_dot_string(struct cursor *c, bool allow_utf8, bool *utf8)
{
	for (;;) {
		size_t atom = c->pos;
		while (!at_end(c)) {
			unsigned char ch = peek(c);
			if (is_atext(ch)) {
				c->pos++;
			} else if (ch >= 0x80 && allow_utf8) {
				if (!take_utf8(c, utf8))
					return false;
			} else {
				break;
			}
		}
		if (c->pos == atom)
			return false;
		if (peek(c) != '.')
			return true;
		c->pos++;
	}
}

/* Whether s[0..n) is a Dot-string (ASCII or UTF-8 atext). */
static bool is_dot_string(const char *s, size_t n)
{
	struct cursor c = { s, n, 0 };
	bool utf8 = false;
	return n > 0 && parse_dot_string(&c, true, &utf8) && at_end(&c);
}

/* Quoted-string: content (escapes removed) into *content. */
static bool parse_quoted(struct cursor *c, struct buf *content, bool *utf8)
{
	c->pos++;   /* DQUOTE */
	while (!at_end(c)) {
		unsigned char ch = peek(c);
		if (ch == '"') {
			c->pos++;
			return true;
		}
		if (ch == '\\') {
			c->pos++;
			unsigned char q = peek(c);
			if (at_end(c) || q < 32 || q > 126)
				return false;
			buf_putc(content, (char)q);
			c->pos++;
		} else if (ch >= 32 && ch <= 126) {
			buf_putc(content, (char)ch);
			c->pos++;
		} else if (ch >= 0x80) {
			size_t from = c->pos;
			if (!take_utf8(c, utf8))
				return false;
			buf_append(content, c->p + from, c->pos - from);
		} else {
			return false;
		}
	}
	return false;
}

/* Path = "<" [ A-d-l ":" ] Mailbox ">", or "<>" when allow_null. The
 * cursor is at the "<". */
static bool parse_path(struct cursor *c, bool allow_null, bool allow_postmaster,
		       struct smtp_path *out)
{
	size_t start = c->pos;
	buf_clear(&out->address);
	c->pos++;   /* '<' */
	if (peek(c) == '>') {
		if (!allow_null)
			return false;
		c->pos++;
		out->null = true;
		return true;
	}
	/* A-d-l ":" (source route): checked, then dropped. */
	if (peek(c) == '@') {
		for (;;) {
			if (peek(c) != '@')
				return false;
			c->pos++;
			bool ignored = false;
			if (!parse_domain(c, &ignored))
				return false;
			if (peek(c) == ',') {
				c->pos++;
				continue;
			}
			if (peek(c) != ':')
				return false;
			c->pos++;
			break;
		}
	}
	/* Local-part */
	size_t local_start = c->pos;
	bool utf8 = false;
	if (peek(c) == '"') {
		struct buf content = BUF_INIT;
		bool ok = parse_quoted(c, &content, &utf8);
		if (ok && is_dot_string(content.data, content.len)) {
			buf_append(&out->address, content.data, content.len);
		} else if (ok) {
			buf_append(&out->address, c->p + local_start, c->pos - local_start);
			out->quoted = true;
		}
		size_t clen = content.len;
		buf_free(&content);
		if (!ok || clen > SMTP_LOCAL_MAX)
			return false;
	} else {
		if (!parse_dot_string(c, true, &utf8))
			return false;
		if (c->pos - local_start > SMTP_LOCAL_MAX)
			return false;
		buf_append(&out->address, c->p + local_start, c->pos - local_start);
	}
	if (peek(c) == '>' && allow_postmaster && !out->quoted &&
	    strcasecmp(buf_cstr(&out->address), "postmaster") == 0) {
		c->pos++;
		buf_set(&out->address, "postmaster", 10);
		out->postmaster = true;
		return true;
	}
	if (peek(c) != '@')
		return false;
	out->at = out->address.len;
	c->pos++;
	size_t dom = c->pos;
	if (peek(c) == '[') {
		if (!parse_literal(c))
			return false;
		out->literal = true;
	} else if (!parse_domain(c, &utf8)) {
		return false;
	}
	buf_putc(&out->address, '@');
	buf_append(&out->address, c->p + dom, c->pos - dom);
	if (peek(c) != '>')
		return false;
	c->pos++;
	out->utf8 = utf8;
	return c->pos - start <= SMTP_PATH_MAX;
}

/* "FROM:" / "TO:" and the path. Returns 0, or -1 with *reply_r. */
static int parse_command_path(struct cursor *c, const char *keyword, unsigned flags,
			      bool is_mail, struct smtp_path *path, const char **reply_r)
{
	size_t klen = strlen(keyword);
	if (c->len < klen || strncasecmp(c->p, keyword, klen) != 0) {
		*reply_r = is_mail ? R_MAIL_SYNTAX : R_RCPT_SYNTAX;
		return -1;
	}
	c->pos = klen;
	if ((flags & SMTP_PARSE_SPACE_AFTER_COLON) != 0 && peek(c) == ' ')
		c->pos++;
	if (peek(c) != '<') {
		*reply_r = is_mail ? R_MAIL_SYNTAX : R_RCPT_SYNTAX;
		return -1;
	}
	if (!parse_path(c, is_mail, !is_mail, path)) {
		*reply_r = is_mail ? R_BAD_SENDER : R_BAD_RCPT;
		return -1;
	}
	if (!at_end(c) && peek(c) != ' ') {
		*reply_r = is_mail ? R_BAD_SENDER : R_BAD_RCPT;
		return -1;
	}
	return 0;
}

/* One esmtp-param: name into *name (bounded), value span. */
struct param {
	char name[21];
	const char *value;    /* NULL when there is no "=" */
	size_t value_len;
};

static int next_param(struct cursor *c, bool allow_utf8, struct param *p, const char **reply_r)
{
	size_t start = c->pos;
	while (!at_end(c) && (is_alpha(peek(c)) || is_digit(peek(c)) || peek(c) == '-'))
		c->pos++;
	size_t n = c->pos - start;
	if (n == 0 || c->p[start] == '-' || (!at_end(c) && peek(c) != '=' && peek(c) != ' ')) {
		*reply_r = R_PARAM_SYNTAX;
		return -1;
	}
	if (n >= sizeof p->name) {
		*reply_r = R_PARAM_UNKNOWN;
		return -1;
	}
	memcpy(p->name, c->p + start, n);
	p->name[n] = '\0';
	p->value = NULL;
	p->value_len = 0;
	if (peek(c) != '=')
		return 0;
	c->pos++;
	size_t vstart = c->pos;
	bool utf8 = false;
	while (!at_end(c) && peek(c) != ' ') {
		unsigned char ch = peek(c);
		if (ch >= 33 && ch <= 126 && ch != '=') {
			c->pos++;
		} else if (ch >= 0x80 && allow_utf8 && take_utf8(c, &utf8)) {
			continue;
		} else {
			*reply_r = R_PARAM_SYNTAX;
			return -1;
		}
	}
	if (c->pos == vstart) {
		*reply_r = R_PARAM_SYNTAX;
		return -1;
	}
	p->value = c->p + vstart;
	p->value_len = c->pos - vstart;
	return 0;
}

static bool value_is(const struct param *p, const char *s)
{
	return p->value_len == strlen(s) && strncasecmp(p->value, s, p->value_len) == 0;
}

bool smtp_xtext_valid(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '+') {
			if (i + 2 >= len)
				return false;
			for (size_t k = 1; k <= 2; k++) {
				unsigned char h = (unsigned char)s[i + k];
				if (!is_digit(h) && !(h >= 'A' && h <= 'F'))
					return false;
			}
			i += 2;
		} else if (ch < 33 || ch > 126 || ch == '=') {
			return false;
		}
	}
	return true;
}

static int hexval(unsigned char h)
{
	return is_digit(h) ? h - '0' : h - 'A' + 10;
}

void smtp_xtext_decode(const char *s, size_t len, struct buf *out)
{
	if (!smtp_xtext_valid(s, len)) {
		buf_append(out, s, len);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '+') {
			buf_putc(out, (char)(hexval((unsigned char)s[i + 1]) * 16 +
					     hexval((unsigned char)s[i + 2])));
			i += 2;
		} else {
			buf_putc(out, s[i]);
		}
	}
}

/* Parameters after the path: call fn for each; stop at the first error. */
typedef int param_fn(const struct param *p, void *ctx, const char **reply_r);

static int parse_params(struct cursor *c, unsigned flags, bool allow_utf8, param_fn *fn,
			void *ctx, const char **reply_r)
{
	while (!at_end(c)) {
		c->pos++;   /* SP */
		if ((flags & SMTP_PARSE_ESMTP) == 0) {
			*reply_r = R_NO_ESMTP;
			return -1;
		}
		struct param p;
		if (next_param(c, allow_utf8, &p, reply_r) < 0)
			return -1;
		if (fn(&p, ctx, reply_r) < 0)
			return -1;
	}
	return 0;
}

struct mail_ctx {
	struct smtp_mail_args *a;
	unsigned seen;
};

enum { SEEN_SIZE = 1, SEEN_BODY = 2, SEEN_UTF8 = 4, SEEN_RET = 8, SEEN_ENVID = 16,
       SEEN_NOTIFY = 32, SEEN_ORCPT = 64 };

static int once(unsigned *seen, unsigned bit, const char **reply_r)
{
	if (*seen & bit) {
		*reply_r = R_PARAM_DUP;
		return -1;
	}
	*seen |= bit;
	return 0;
}

static int mail_param(const struct param *p, void *arg, const char **reply_r)
{
	struct mail_ctx *ctx = arg;
	struct smtp_mail_args *a = ctx->a;
	if (strcasecmp(p->name, "SIZE") == 0) {
		if (once(&ctx->seen, SEEN_SIZE, reply_r) < 0)
			return -1;
		if (p->value == NULL || p->value_len > 20) {
			*reply_r = R_SIZE;
			return -1;
		}
		long long v = 0;
		for (size_t i = 0; i < p->value_len; i++) {
			unsigned char d = (unsigned char)p->value[i];
			if (!is_digit(d)) {
				*reply_r = R_SIZE;
				return -1;
			}
			/* Saturate: a size beyond any limit is refused as too big. */
			v = v > (LLONG_MAX - 9) / 10 ? LLONG_MAX : v * 10 + (d - '0');
		}
		a->size = v;
	} else if (strcasecmp(p->name, "BODY") == 0) {
		if (once(&ctx->seen, SEEN_BODY, reply_r) < 0)
			return -1;
		if (p->value != NULL && value_is(p, "7BIT")) {
			a->body = SMTP_BODY_7BIT;
		} else if (p->value != NULL && value_is(p, "8BITMIME")) {
			a->body = SMTP_BODY_8BITMIME;
		} else {
			/* BINARYMIME (RFC 3030) is not announced. */
			*reply_r = R_BODY;
			return -1;
		}
	} else if (strcasecmp(p->name, "SMTPUTF8") == 0) {
		if (once(&ctx->seen, SEEN_UTF8, reply_r) < 0)
			return -1;
		if (p->value != NULL) {
			*reply_r = R_SMTPUTF8;
			return -1;
		}
		a->smtputf8 = true;
	} else if (strcasecmp(p->name, "RET") == 0) {
		if (once(&ctx->seen, SEEN_RET, reply_r) < 0)
			return -1;
		if (p->value != NULL && value_is(p, "FULL")) {
			a->ret = SMTP_RET_FULL;
		} else if (p->value != NULL && value_is(p, "HDRS")) {
			a->ret = SMTP_RET_HDRS;
		} else {
			*reply_r = R_RET;
			return -1;
		}
	} else if (strcasecmp(p->name, "ENVID") == 0) {
		if (once(&ctx->seen, SEEN_ENVID, reply_r) < 0)
			return -1;
		if (p->value == NULL || p->value_len > SMTP_ENVID_MAX ||
		    !smtp_xtext_valid(p->value, p->value_len)) {
			*reply_r = R_ENVID;
			return -1;
		}
		buf_set(&a->envid, p->value, p->value_len);
	} else {
		*reply_r = R_PARAM_UNKNOWN;
		return -1;
	}
	return 0;
}

int smtp_parse_mail(const char *arg, size_t len, unsigned flags, struct smtp_mail_args *out,
		    const char **reply_r)
{
	smtp_mail_args_clear(out);
	struct cursor c = { arg, len, 0 };
	if (memchr(arg, '\0', len) != NULL) {
		*reply_r = R_MAIL_SYNTAX;
		return -1;
	}
	if (parse_command_path(&c, "FROM:", flags, true, &out->path, reply_r) < 0)
		return -1;
	struct mail_ctx ctx = { out, 0 };
	if (parse_params(&c, flags, false, mail_param, &ctx, reply_r) < 0)
		return -1;
	if (out->path.utf8 && !out->smtputf8) {
		*reply_r = R_UTF8;
		return -1;
	}
	return 0;
}

struct rcpt_ctx {
	struct smtp_rcpt_args *a;
	unsigned seen;
};

/* NOTIFY = "NEVER" / 1#("SUCCESS" / "FAILURE" / "DELAY") */
static int parse_notify(const struct param *p, unsigned *out)
{
	if (p->value == NULL)
		return -1;
	if (value_is(p, "NEVER")) {
		*out = SMTP_NOTIFY_NEVER;
		return 0;
	}
	unsigned v = 0;
	size_t i = 0;
	while (i <= p->value_len) {
		size_t j = i;
		while (j < p->value_len && p->value[j] != ',')
			j++;
		struct param one = { .value = p->value + i, .value_len = j - i };
		unsigned bit = value_is(&one, "SUCCESS") ? SMTP_NOTIFY_SUCCESS
			     : value_is(&one, "FAILURE") ? SMTP_NOTIFY_FAILURE
			     : value_is(&one, "DELAY") ? SMTP_NOTIFY_DELAY : 0;
		if (bit == 0 || (v & bit) != 0)
			return -1;
		v |= bit;
		i = j + 1;
	}
	*out = v;
	return 0;
}

/* ORCPT = addr-type ";" xtext, addr-type = atom (RFC 5322). */
static bool orcpt_valid(const char *v, size_t n)
{
	const char *semi = memchr(v, ';', n);
	if (semi == NULL || semi == v || n > SMTP_ORCPT_MAX)
		return false;
	for (const char *p = v; p < semi; p++)
		if (!is_atext((unsigned char)*p))
			return false;
	return smtp_xtext_valid(semi + 1, n - (size_t)(semi + 1 - v)) && semi + 1 < v + n;
}

static int rcpt_param(const struct param *p, void *arg, const char **reply_r)
{
	struct rcpt_ctx *ctx = arg;
	if (strcasecmp(p->name, "NOTIFY") == 0) {
		if (once(&ctx->seen, SEEN_NOTIFY, reply_r) < 0)
			return -1;
		if (parse_notify(p, &ctx->a->notify) < 0) {
			*reply_r = R_NOTIFY;
			return -1;
		}
	} else if (strcasecmp(p->name, "ORCPT") == 0) {
		if (once(&ctx->seen, SEEN_ORCPT, reply_r) < 0)
			return -1;
		if (p->value == NULL || !orcpt_valid(p->value, p->value_len)) {
			*reply_r = R_ORCPT;
			return -1;
		}
		buf_set(&ctx->a->orcpt, p->value, p->value_len);
	} else {
		*reply_r = R_PARAM_UNKNOWN;
		return -1;
	}
	return 0;
}

int smtp_parse_rcpt(const char *arg, size_t len, unsigned flags, struct smtp_rcpt_args *out,
		    const char **reply_r)
{
	smtp_rcpt_args_clear(out);
	struct cursor c = { arg, len, 0 };
	if (memchr(arg, '\0', len) != NULL) {
		*reply_r = R_RCPT_SYNTAX;
		return -1;
	}
	if (parse_command_path(&c, "TO:", flags, false, &out->path, reply_r) < 0)
		return -1;
	struct rcpt_ctx ctx = { out, 0 };
	if (parse_params(&c, flags, (flags & SMTP_PARSE_UTF8) != 0, rcpt_param, &ctx, reply_r) < 0)
		return -1;
	if (out->path.utf8 && (flags & SMTP_PARSE_UTF8) == 0) {
		*reply_r = R_UTF8;
		return -1;
	}
	return 0;
}

static void path_clear(struct smtp_path *p)
{
	buf_clear(&p->address);
	p->at = 0;
	p->null = p->postmaster = p->quoted = p->utf8 = p->literal = false;
}

void smtp_mail_args_clear(struct smtp_mail_args *a)
{
	path_clear(&a->path);
	a->size = -1;
	a->body = SMTP_BODY_NONE;
	a->smtputf8 = false;
	a->ret = SMTP_RET_NONE;
	buf_clear(&a->envid);
}

void smtp_rcpt_args_clear(struct smtp_rcpt_args *a)
{
	path_clear(&a->path);
	a->notify = 0;
	buf_clear(&a->orcpt);
}

const char *smtp_body_name(enum smtp_body body)
{
	switch (body) {
	case SMTP_BODY_NONE: return NULL;
	case SMTP_BODY_7BIT: return "7BIT";
	case SMTP_BODY_8BITMIME: return "8BITMIME";
	case SMTP_BODY_BINARYMIME: return "BINARYMIME";
	}
	return NULL;
}

void smtp_notify_format(unsigned notify, struct buf *out)
{
	if (notify & SMTP_NOTIFY_NEVER) {
		buf_append_str(out, "NEVER");
		return;
	}
	static const char *const names[] = { "SUCCESS", "FAILURE", "DELAY" };
	static const unsigned bits[] = { SMTP_NOTIFY_SUCCESS, SMTP_NOTIFY_FAILURE, SMTP_NOTIFY_DELAY };
	bool first = true;
	for (size_t i = 0; i < 3; i++) {
		if (notify & bits[i]) {
			if (!first)
				buf_putc(out, ',');
			buf_append_str(out, names[i]);
			first = false;
		}
	}
}
