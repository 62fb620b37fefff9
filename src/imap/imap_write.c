/* IMAP response syntax (RFC 9051 section 9) and the arguments every command
 * family shares: strings, mailbox names, flags, dates.
 *
 *   astring  = 1*ASTRING-CHAR / string
 *   string   = quoted / literal
 *   nstring  = string / nil
 *   mailbox  = "INBOX" / astring
 *   flag-list = "(" [flag *(SP flag)] ")"
 *   flag     = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" / "\Draft" /
 *              flag-keyword / flag-extension
 *   date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "core/mutf7.h"
#include "core/xmalloc.h"
#include "core/utf8.h"
#include "imap/imap_int.h"

static bool is_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\]", c) == NULL;
}

/* quoted: no CR, LF, NUL; 8-bit only where UTF-8 is allowed (utf8). */
static bool quotable(const char *s, size_t len, bool utf8)
{
	if (len > 1024)   /* long values read better as literals */
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\0' || c == '\r' || c == '\n' || (c >= 0x80 && !utf8))
			return false;
	}
	return true;
}

static void write_quoted(struct buf *out, const char *s, size_t len)
{
	buf_putc(out, '"');
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_putc(out, '\\');
		buf_putc(out, s[i]);
	}
	buf_putc(out, '"');
}

void imap_write_literal(struct buf *out, const void *data, size_t len, bool binary)
{
	buf_appendf(out, "%s{%zu}\r\n", binary ? "~" : "", len);
	buf_append(out, data, len);
}

static void write_string(struct buf *out, const char *s, size_t len, bool atom_ok, bool utf8)
{
	bool atom = atom_ok && len > 0 && !(len == 3 && strncasecmp(s, "NIL", 3) == 0);
	for (size_t i = 0; atom && i < len; i++)
		atom = is_atom_char((unsigned char)s[i]);
	if (atom)
		buf_append(out, s, len);
	else if (quotable(s, len, utf8))
		write_quoted(out, s, len);
	else
		imap_write_literal(out, s, len, false);
}

void imap_write_astring(struct buf *out, const char *s, size_t len)
{
	write_string(out, s, len, true, false);
}

void imap_write_nstring(struct buf *out, const char *s, size_t len)
{
	if (s == NULL)
		buf_append_str(out, "NIL");
	else
		write_string(out, s, len, false, false);
}

/* ---- mailbox names ---- */

void imap_write_mailbox(struct buf *out, const struct imap_state *st, const char *name)
{
	if (st->utf8) {
		write_string(out, name, strlen(name), true, true);
		return;
	}
	struct buf enc = BUF_INIT;
	mutf7_encode_imap(name, &enc);
	write_string(out, buf_cstr(&enc), enc.len, true, false);
	buf_free(&enc);
}

char *imap_mailbox_arg(struct imap_cmd *c, const struct imap_arg *a)
{
	const char *raw = imap_arg_astring(a);
	if (raw == NULL) {
		imap_bad(c, "Invalid mailbox name");
		return NULL;
	}
	struct buf name = BUF_INIT;
	if (c->st->utf8) {
		if (!utf8_valid(raw, strlen(raw))) {
			imap_bad(c, "Mailbox name is not valid UTF-8");
			return NULL;
		}
		buf_append_str(&name, raw);
	} else if (mutf7_decode(raw, &name) < 0) {
		buf_free(&name);
		imap_no(c, "[CANNOT] Mailbox name is not valid modified UTF-7 (RFC 3501 5.1.3)");
		return NULL;
	}
	/* INBOX is case-insensitive, also as the parent of other mailboxes. */
	if (name.len >= 5 && strncasecmp(name.data, "INBOX", 5) == 0 &&
	    (name.len == 5 || name.data[5] == '/'))
		memcpy(name.data, "INBOX", 5);
	return buf_steal(&name);
}

/* ---- flags ---- */

static const struct {
	const char *name;
	unsigned flag;
} system_flags[] = {
	{ "\\Answered", STORE_FLAG_ANSWERED }, { "\\Flagged", STORE_FLAG_FLAGGED },
	{ "\\Deleted", STORE_FLAG_DELETED },   { "\\Seen", STORE_FLAG_SEEN },
	{ "\\Draft", STORE_FLAG_DRAFT },
};

void imap_write_flags(struct buf *out, unsigned flags, const char *const *keywords, size_t n,
		      bool recent)
{
	/* The system flags are put together here and appended at once: this
	 * runs for every line of a FETCH 1:* (FLAGS). */
	char sys[64];
	size_t len = 0;
	sys[len++] = '(';
	for (size_t i = 0; i < sizeof system_flags / sizeof system_flags[0]; i++) {
		if (!(flags & system_flags[i].flag))
			continue;
		if (len > 1)
			sys[len++] = ' ';
		size_t l = strlen(system_flags[i].name);
		memcpy(sys + len, system_flags[i].name, l);
		len += l;
	}
	if (recent) {
		if (len > 1)
			sys[len++] = ' ';
		memcpy(sys + len, "\\Recent", 7);
		len += 7;
	}
	bool first = len == 1;
	buf_append(out, sys, len);
	for (size_t i = 0; i < n; i++) {
		if (!first)
			buf_putc(out, ' ');
		buf_append_str(out, keywords[i]);
		first = false;
	}
	buf_putc(out, ')');
}

static bool parse_flag(struct imap_cmd *c, const struct imap_arg *a, unsigned *flags,
		       const char ***kw, size_t *n)
{
	const char *f = imap_arg_atom(a);
	if (f == NULL) {
		imap_bad(c, "Invalid flag");
		return false;
	}
	if (f[0] == '\\') {
		for (size_t i = 0; i < sizeof system_flags / sizeof system_flags[0]; i++) {
			if (strcasecmp(f, system_flags[i].name) == 0) {
				*flags |= system_flags[i].flag;
				return true;
			}
		}
		imap_bad(c, strcasecmp(f, "\\Recent") == 0 ? "\\Recent cannot be set"
							    : "Invalid system flag %s", f);
		return false;
	}
	if (!store_keyword_valid(f)) {
		imap_bad(c, "Invalid keyword");
		return false;
	}
	for (size_t i = 0; i < *n; i++)
		if (strcasecmp((*kw)[i], f) == 0)
			return true;   /* given twice */
	if (*n >= STORE_KEYWORDS_MAX) {
		imap_no(c, "[LIMIT] Too many keywords (at most %d)", STORE_KEYWORDS_MAX);
		return false;
	}
	*kw = xrealloc(*kw, (*n + 1) * sizeof **kw);
	(*kw)[(*n)++] = f;
	return true;
}

bool imap_parse_flags(struct imap_cmd *c, const struct imap_arg *args, size_t count,
		      unsigned *flags_r, const char ***keywords_r, size_t *n_r)
{
	*flags_r = 0;
	*keywords_r = NULL;
	*n_r = 0;
	if (count == 1 && args[0].type == IMAP_ARG_LIST) {
		count = args[0].count;
		args = args[0].list;
	}
	for (size_t i = 0; i < count; i++) {
		if (!parse_flag(c, &args[i], flags_r, keywords_r, n_r)) {
			xfree(keywords_r);
			*n_r = 0;
			return false;
		}
	}
	return true;
}

/* ---- date-time ---- */

static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

void imap_write_datetime(struct buf *out, time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	buf_appendf(out, "\"%02d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday, months[tm.tm_mon],
		    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static bool digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

/*   date-time       = DQUOTE date-day-fixed "-" date-month "-" date-year
 *                     SP time SP zone DQUOTE
 *   date-day-fixed  = (SP DIGIT) / 2DIGIT
 *   time            = 2DIGIT ":" 2DIGIT ":" 2DIGIT
 *   zone            = ("+" / "-") 4DIGIT
 * (s is the string without its quotes.) */
bool imap_parse_datetime(const char *s, time_t *t_r)
{
	if (strlen(s) != 26 || s[2] != '-' || s[6] != '-' || s[11] != ' ' || s[14] != ':' ||
	    s[17] != ':' || s[20] != ' ' || (s[21] != '+' && s[21] != '-'))
		return false;
	struct tm tm = { 0 };
	int day, year, hh, mm, ss, zone;
	char d2[2] = { s[0] == ' ' ? '0' : s[0], s[1] };
	if (!digits(d2, 2, &day) || !digits(s + 7, 4, &year) || !digits(s + 12, 2, &hh) ||
	    !digits(s + 15, 2, &mm) || !digits(s + 18, 2, &ss) || !digits(s + 22, 4, &zone))
		return false;
	int mon = -1;
	for (int i = 0; i < 12; i++)
		if (strncasecmp(s + 3, months[i], 3) == 0)
			mon = i;
	if (mon < 0 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || zone % 100 > 59 ||
	    year < 1900)
		return false;
	tm.tm_mday = day;
	tm.tm_mon = mon;
	tm.tm_year = year - 1900;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	time_t t = timegm(&tm);
	long offset = (zone / 100) * 3600L + (zone % 100) * 60L;
	*t_r = s[21] == '+' ? t - offset : t + offset;
	return true;
}

/* ---- RFC 8474 object ids ---- */

void imap_emailid(const struct store_message *m, char out[IMAP_EMAILID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	out[0] = 'M';
	if (m->prefix_len == 0) {   /* the blob's own SHA-256 */
		memcpy(out + 1, m->blob_id, IMAP_EMAILID_LEN - 1);
		out[IMAP_EMAILID_LEN] = '\0';
		return;
	}
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, m->blob_id, strlen(m->blob_id)) != 1 ||
	    EVP_DigestUpdate(md, m->prefix, m->prefix_len) != 1 ||
	    EVP_DigestFinal_ex(md, digest, &n) != 1 || n < 12)
		memset(digest, 0, sizeof digest);
	EVP_MD_CTX_free(md);
	for (size_t i = 0; i < (IMAP_EMAILID_LEN - 1) / 2; i++) {
		out[1 + 2 * i] = hex[digest[i] >> 4];
		out[2 + 2 * i] = hex[digest[i] & 15];
	}
	out[IMAP_EMAILID_LEN] = '\0';
}
