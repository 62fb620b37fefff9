/* Address and domain syntax and normalisation; see addr.h.
 *
 * RFC 5321 4.1.2:
 *   Mailbox        = Local-part "@" ( Domain / address-literal )
 *   Local-part     = Dot-string / Quoted-string
 *   Dot-string     = Atom *("."  Atom)
 *   Atom           = 1*atext
 *   Domain         = sub-domain *("." sub-domain)
 *   sub-domain     = Let-dig [Ldh-str]
 *   Let-dig        = ALPHA / DIGIT
 *   Ldh-str        = *( ALPHA / DIGIT / "-" ) Let-dig
 * RFC 5322 3.2.3:
 *   atext          = ALPHA / DIGIT / "!" / "#" / "$" / "%" / "&" / "'" / "*" /
 *                    "+" / "-" / "/" / "=" / "?" / "^" / "_" / "`" / "{" /
 *                    "|" / "}" / "~"
 * RFC 6531 3.3 (SMTPUTF8):
 *   sub-domain     =/ U-label
 *   atext          =/ UTF8-non-ascii
 * RFC 6532 3.1 and RFC 3629 4:
 *   UTF8-non-ascii = UTF8-2 / UTF8-3 / UTF8-4
 *   UTF8-2         = %xC2-DF UTF8-tail
 *   UTF8-3         = %xE0 %xA0-BF UTF8-tail / %xE1-EC 2( UTF8-tail ) /
 *                    %xED %x80-9F UTF8-tail / %xEE-EF 2( UTF8-tail )
 *   UTF8-4         = %xF0 %x90-BF 2( UTF8-tail ) / %xF1-F3 3( UTF8-tail ) /
 *                    %xF4 %x80-8F 2( UTF8-tail )
 *   UTF8-tail      = %x80-BF
 *
 * Surel's choices: Quoted-string local parts and address literals are
 * refused (no mailbox of ours has one, and they are a classic source of
 * parser disagreements). U-labels go through IDNA2008 with UTS #46
 * non-transitional mapping (libidn2), so "BÜCHER.example", "bücher.example"
 * and "xn--bcher-kva.example" are one domain; the stored form is always the
 * lower-case A-label, checked again as LDH labels after the conversion. */
#include "account/addr.h"

#include <idn2.h>
#include <stdbool.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmalloc.h"

/* How much of a bad input an error message repeats. */
#define QUOTE_MAX 300

static bool is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static char ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool is_atext(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Length of the UTF8-non-ascii sequence at p (RFC 3629), 0 when invalid. */
static size_t utf8_seq_len(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0];
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf;   /* allowed range of the second byte */
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;          /* no overlong forms */
		else if (c == 0xed)
			hi = 0x9f;          /* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;          /* nothing above U+10FFFF */
	} else
		return 0;
	if (avail < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

static bool utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < len;) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		size_t n = utf8_seq_len(p + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/* Input as it may be shown in a message: control bytes and invalid UTF-8 as
 * \xNN, cut after QUOTE_MAX bytes. */
static void quote_input(struct buf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t start = out->len;
	for (size_t i = 0; i < len;) {
		if (out->len - start >= QUOTE_MAX) {
			buf_append_str(out, "...");
			return;
		}
		size_t n = p[i] >= 0x80 ? utf8_seq_len(p + i, len - i) : 1;
		if (n == 0 || p[i] < 0x20 || p[i] == 0x7f) {
			buf_appendf(out, "\\x%02x", p[i]);
			i++;
			continue;
		}
		buf_append(out, p + i, n);
		i += n;
	}
}

/* *error_r = "invalid KIND 'INPUT': REASON"; returns -1. */
static int fail(char **error_r, const char *kind, const char *s, size_t len, const char *reason)
{
	struct buf msg = BUF_INIT;
	buf_appendf(&msg, "invalid %s '", kind);
	quote_input(&msg, s, len);
	buf_appendf(&msg, "': %s", reason);
	*error_r = buf_steal(&msg);
	return -1;
}

/* ---- domains ---- */

/* One label of an ASCII domain: LDH, 1..63 octets, no hyphen at either end,
 * no "--" in positions 3-4 unless an A-label (RFC 5891 4.2.3.1). */
static int check_ldh_label(const char *l, size_t n, struct buf *reason)
{
	if (n == 0) {
		buf_append_str(reason, "has an empty label");
		return -1;
	}
	if (n > ADDR_LABEL_MAX) {
		buf_appendf(reason, "label longer than %d characters", ADDR_LABEL_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)l[i];
		if (!is_alpha(c) && !is_digit(c) && c != '-') {
			buf_append_str(reason, "has the character '");
			quote_input(reason, l + i, 1);
			buf_append_str(reason, "' (only letters, digits and hyphens are allowed)");
			return -1;
		}
	}
	if (l[0] == '-' || l[n - 1] == '-') {
		buf_appendf(reason, "label '%.*s' %s with a hyphen", (int)n, l,
			    l[0] == '-' ? "begins" : "ends");
		return -1;
	}
	if (n >= 4 && l[2] == '-' && l[3] == '-' &&
	    !(ascii_lower(l[0]) == 'x' && ascii_lower(l[1]) == 'n')) {
		buf_appendf(reason, "label '%.*s' has '--' in the third and fourth positions "
			    "(reserved for IDNA)", (int)n, l);
		return -1;
	}
	return 0;
}

static bool all_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

/* Before IDNA: empty labels anywhere, and the LDH rules for labels that are
 * already ASCII, so that their errors are precise. */
static int precheck_labels(const char *s, size_t len, struct buf *reason)
{
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		size_t n = i - start;
		if (n == 0 || all_ascii(s + start, n)) {
			if (check_ldh_label(s + start, n, reason) < 0)
				return -1;
		}
		start = i + 1;
	}
	return 0;
}

/* After IDNA: the A-label form must be a host name of two labels or more
 * whose top label is not all digits (that would be an IPv4 address). */
static int check_ascii_domain(const char *d, struct buf *reason)
{
	size_t len = strlen(d);
	if (len > ADDR_DOMAIN_MAX) {
		buf_appendf(reason, "is longer than %d characters", ADDR_DOMAIN_MAX);
		return -1;
	}
	size_t start = 0, labels = 0;
	bool digits_only = true;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && d[i] != '.') {
			digits_only = digits_only && is_digit((unsigned char)d[i]);
			continue;
		}
		if (check_ldh_label(d + start, i - start, reason) < 0)
			return -1;
		labels++;
		if (i < len)
			digits_only = true;
		start = i + 1;
	}
	if (labels < 2) {
		buf_append_str(reason, "needs at least two labels (like example.org)");
		return -1;
	}
	if (digits_only) {
		buf_append_str(reason, "has an all-digit top-level label (an IP address is not a domain)");
		return -1;
	}
	return 0;
}

/* IDNA2008 with UTS #46 non-transitional mapping: lower-case A-labels. */
static int idna_to_ascii(const char *s, size_t len, char **ascii_r, struct buf *reason)
{
	char *in = xstrndup(s, len);
	char *out = NULL;
	int rc = idn2_to_ascii_8z(in, &out, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
	free(in);
	if (rc == IDN2_TOO_BIG_DOMAIN) {
		buf_appendf(reason, "is longer than %d characters", ADDR_DOMAIN_MAX);
		return -1;
	}
	/* libidn2 encodes a label into a 63-octet buffer: too big is too long */
	if (rc == IDN2_TOO_BIG_LABEL || rc == IDN2_PUNYCODE_BIG_OUTPUT) {
		buf_appendf(reason, "label longer than %d characters", ADDR_LABEL_MAX);
		return -1;
	}
	if (rc != IDN2_OK) {
		buf_appendf(reason, "is not a valid internationalised domain name (%s)",
			    idn2_strerror(rc));
		return -1;
	}
	char *ascii = xstrdup(out);
	idn2_free(out);
	for (char *p = ascii; *p != '\0'; p++)
		*p = ascii_lower(*p);
	*ascii_r = ascii;
	return 0;
}

static int domain_to_ascii(const char *s, size_t len, char **ascii_r, struct buf *reason)
{
	if (len == 0) {
		buf_append_str(reason, "is empty");
		return -1;
	}
	if (memchr(s, '\0', len) != NULL) {
		buf_append_str(reason, "contains a NUL byte");
		return -1;
	}
	if (s[0] == '[') {
		buf_append_str(reason, "is an address literal (not supported)");
		return -1;
	}
	/* A U-label takes at most 4 octets a character; anything longer than
	 * that cannot fit in ADDR_DOMAIN_MAX octets of A-labels. */
	if (len > 4 * ADDR_DOMAIN_MAX) {
		buf_appendf(reason, "is longer than %d characters", ADDR_DOMAIN_MAX);
		return -1;
	}
	if (!utf8_valid(s, len)) {
		buf_append_str(reason, "is not valid UTF-8");
		return -1;
	}
	char *ascii = NULL;
	if (precheck_labels(s, len, reason) < 0 || idna_to_ascii(s, len, &ascii, reason) < 0)
		return -1;
	if (check_ascii_domain(ascii, reason) < 0) {
		free(ascii);
		return -1;
	}
	*ascii_r = ascii;
	return 0;
}

int addr_domain_normalize(const char *domain, size_t len, char **ascii_r, char **error_r)
{
	struct buf reason = BUF_INIT;
	int rc = domain_to_ascii(domain, len, ascii_r, &reason);
	if (rc < 0)
		fail(error_r, "domain", domain, len, buf_cstr(&reason));
	buf_free(&reason);
	return rc;
}

/* ---- local parts and addresses ---- */

static int check_local_part(const char *s, size_t n, struct buf *reason)
{
	const unsigned char *p = (const unsigned char *)s;
	if (n == 0) {
		buf_append_str(reason, "empty local part");
		return -1;
	}
	if (n > ADDR_LOCAL_MAX) {
		buf_appendf(reason, "local part longer than %d octets", ADDR_LOCAL_MAX);
		return -1;
	}
	for (size_t i = 0; i < n;) {
		if (p[i] == '.') {
			const char *what = i == 0 ? "begins with a dot" : i == n - 1 ? "ends with a dot"
					 : p[i - 1] == '.' ? "has two dots in a row" : NULL;
			if (what != NULL) {
				buf_appendf(reason, "local part %s", what);
				return -1;
			}
			i++;
		} else if (p[i] < 0x80) {
			if (!is_atext(p[i])) {
				buf_append_str(reason, "local part has the character '");
				quote_input(reason, s + i, 1);
				buf_append_str(reason, "', which needs quoting (not supported)");
				return -1;
			}
			i++;
		} else {
			size_t len = utf8_seq_len(p + i, n - i);
			if (len == 0) {
				buf_append_str(reason, "local part is not valid UTF-8");
				return -1;
			}
			i += len;
		}
	}
	return 0;
}

/* Local part and domain of "local@domain" into *norm_r; reason on error. */
static int normalize_mailbox(const char *s, size_t len, char **norm_r, struct buf *reason)
{
	if (len == 0) {
		buf_append_str(reason, "is empty");
		return -1;
	}
	if (memchr(s, '\0', len) != NULL) {
		buf_append_str(reason, "contains a NUL byte");
		return -1;
	}
	if (len > 4 * ADDR_PATH_MAX) {
		buf_appendf(reason, "is longer than %d characters", ADDR_PATH_MAX);
		return -1;
	}
	if (s[0] == '"') {
		buf_append_str(reason, "quoted local parts are not supported "
			       "(use a dot-atom local part such as first.last)");
		return -1;
	}
	const char *at = memrchr(s, '@', len);
	if (at == NULL) {
		buf_append_str(reason, "missing '@' and domain");
		return -1;
	}
	size_t local_len = (size_t)(at - s);
	if (check_local_part(s, local_len, reason) < 0)
		return -1;
	char *domain = NULL;
	size_t mark = reason->len;
	buf_append_str(reason, "domain ");
	if (domain_to_ascii(at + 1, len - local_len - 1, &domain, reason) < 0)
		return -1;
	buf_truncate(reason, mark);

	struct buf out = BUF_INIT;
	for (size_t i = 0; i < local_len; i++)
		buf_putc(&out, ascii_lower(s[i]));
	buf_putc(&out, '@');
	buf_append_str(&out, domain);
	free(domain);
	if (out.len > ADDR_PATH_MAX) {
		buf_free(&out);
		buf_appendf(reason, "is longer than %d characters", ADDR_PATH_MAX);
		return -1;
	}
	*norm_r = buf_steal(&out);
	return 0;
}

int addr_normalize(const char *address, size_t len, char **norm_r, char **error_r)
{
	struct buf reason = BUF_INIT;
	int rc = normalize_mailbox(address, len, norm_r, &reason);
	if (rc < 0)
		fail(error_r, "address", address, len, buf_cstr(&reason));
	buf_free(&reason);
	return rc;
}

int addr_source_normalize(const char *source, size_t len, char **norm_r, char **error_r)
{
	struct buf reason = BUF_INIT;
	int rc;
	if (len > 0 && source[0] == '@') {
		char *domain = NULL;
		buf_append_str(&reason, "domain ");
		rc = domain_to_ascii(source + 1, len - 1, &domain, &reason);
		if (rc == 0) {
			*norm_r = xasprintf("@%s", domain);
			free(domain);
		}
	} else {
		rc = normalize_mailbox(source, len, norm_r, &reason);
	}
	if (rc < 0)
		fail(error_r, "alias source", source, len, buf_cstr(&reason));
	buf_free(&reason);
	return rc;
}

/* ---- display ---- */

int addr_domain_to_unicode(const char *ascii, char **unicode_r, char **error_r)
{
	char *out = NULL;
	int rc = idn2_to_unicode_8z8z(ascii, &out, 0);
	if (rc != IDN2_OK) {
		struct buf msg = BUF_INIT;
		buf_append_str(&msg, "cannot show '");
		quote_input(&msg, ascii, strlen(ascii));
		buf_appendf(&msg, "' in Unicode: %s", idn2_strerror(rc));
		*error_r = buf_steal(&msg);
		return -1;
	}
	*unicode_r = xstrdup(out);
	idn2_free(out);
	return 0;
}

int addr_to_unicode(const char *norm, char **unicode_r, char **error_r)
{
	const char *domain = addr_domain_of(norm);
	char *udomain = NULL;
	if (addr_domain_to_unicode(domain, &udomain, error_r) < 0)
		return -1;
	*unicode_r = xasprintf("%.*s%s", (int)(domain - norm), norm, udomain);
	free(udomain);
	return 0;
}

const char *addr_domain_of(const char *norm)
{
	const char *at = strrchr(norm, '@');
	return at != NULL ? at + 1 : norm;
}
