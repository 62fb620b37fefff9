/* Content-Type and Content-Disposition: type, subtype and parameters, with
 * RFC 2231 continuations, charsets and languages. Each parameter is kept
 * twice: decoded to UTF-8 for Surel's own use, and in the form IMAP's
 * BODYSTRUCTURE shows (continuations joined, the extended value still
 * %-encoded under the name "NAME*"), as Dovecot and UW imapd show it. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"
#include "mime/mime_int.h"

struct raw_param {
	char *name;          /* as written, "title*0*" */
	char *value;         /* unquoted */
	bool quoted;
	/* RFC 2231 section, filled for names that hold a "*" */
	char *key;           /* the name before the first '*' */
	unsigned idx;
	bool extended;
	size_t order;
};

static void raw_params_free(struct raw_param *rp, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rp[i].name);
		free(rp[i].value);
		free(rp[i].key);
	}
	free(rp);
}

static void skip_to_semicolon(struct mime_lex *lx)
{
	while (lx->p < lx->end && *lx->p != ';') {
		if (*lx->p == '"') {
			struct buf junk = BUF_INIT;
			mime_lex_quoted_string(lx, &junk);
			buf_free(&junk);
		} else if (*lx->p == '(') {
			mime_lex_skip_cfws(lx, NULL);
		} else {
			lx->p++;
		}
	}
}

/* A quoted string that ends before its closing quote is not a value. */
static bool quoted_complete(const char *start, const char *end)
{
	const char *p = start + 1;
	while (p < end) {
		if (*p == '\\' && p + 1 < end) {
			p += 2;
			continue;
		}
		if (*p == '"')
			return true;
		p++;
	}
	return false;
}

/* Does a "name =" start here (a parameter whose ";" is missing)? */
static bool at_param_start(const struct mime_lex *lx)
{
	struct mime_lex t = *lx;
	struct buf name = BUF_INIT;
	bool ok = mime_lex_token(&t, &name);
	buf_free(&name);
	if (!ok)
		return false;
	mime_lex_skip_cfws(&t, NULL);
	return !mime_lex_eof(&t) && *t.p == '=';
}

/*
 * RFC 2045 5.1:
 *   parameter := attribute "=" value
 *   attribute := token
 *   value := token / quoted-string
 * A broken parameter is skipped the way Dovecot's rfc2231_parse() skips
 * it: one byte on, then up to the next ";". Two tolerances of ours: a
 * parameter whose ";" is missing ("multipart/mixed boundary=x", a folded
 * header that lost it) is read; and, as in Dovecot, an unquoted value that
 * starts with "=" (a raw RFC 2047 word, name==?utf-8?b?...?=) runs to the
 * next ";" or whitespace. An unterminated quoted string is no value.
 */
static struct raw_param *parse_raw_params(struct mime_lex *lx, size_t *n_r)
{
	struct raw_param *rp = NULL;
	size_t n = 0;
	struct buf name = BUF_INIT, value = BUF_INIT;
	for (;;) {
		mime_lex_skip_cfws(lx, NULL);
		if (mime_lex_eof(lx))
			break;
		if (*lx->p == ';')
			lx->p++;
		else if (!at_param_start(lx))
			goto broken;
		mime_lex_skip_cfws(lx, NULL);
		buf_clear(&name);
		buf_clear(&value);
		if (!mime_lex_token(lx, &name))
			goto broken;
		mime_lex_skip_cfws(lx, NULL);
		if (mime_lex_eof(lx) || *lx->p != '=')
			goto broken;
		lx->p++;
		mime_lex_skip_cfws(lx, NULL);
		bool quoted = false;
		if (!mime_lex_eof(lx) && *lx->p == '"') {
			if (!quoted_complete(lx->p, lx->end))
				break;
			mime_lex_quoted_string(lx, &value);
			quoted = true;
		} else if (!mime_lex_eof(lx) && *lx->p == '=') {
			const char *s = lx->p;
			while (lx->p < lx->end && *lx->p != ';' && !mime_is_wsp((unsigned char)*lx->p))
				lx->p++;
			buf_append(&value, s, (size_t)(lx->p - s));
		} else if (!mime_lex_token(lx, &value)) {
			goto broken;
		}
		rp = xrealloc(rp, (n + 1) * sizeof *rp);
		memset(&rp[n], 0, sizeof rp[n]);
		rp[n].name = xstrndup(name.data, name.len);
		rp[n].value = xstrndup(buf_cstr(&value), value.len);
		rp[n].quoted = quoted;
		rp[n].order = n;
		n++;
		continue;
broken:
		if (mime_lex_eof(lx))
			break;
		lx->p++;
		skip_to_semicolon(lx);
	}
	buf_free(&name);
	buf_free(&value);
	*n_r = n;
	return rp;
}

/*
 * RFC 2231 3, 4:
 *   regular-parameter-name := attribute [section]
 *   section := initial-section / other-sections
 *   initial-section := "*0"
 *   other-sections := "*" ("1" / "2" / "3" / "4" / "5" / "6" / "7" / "8" / "9") *DIGIT)
 *   extended-initial-name := attribute [initial-section] "*"
 *   extended-other-names := attribute other-sections "*"
 * Returns false for a name that is not of that form (it stays a plain one).
 */
static bool split_2231_name(struct raw_param *rp)
{
	const char *star = strchr(rp->name, '*');
	if (star == NULL || star == rp->name)
		return false;
	const char *p = star + 1;
	unsigned long idx = 0;
	bool extended = false;
	if (*p == '\0') {
		extended = true;            /* "name*": one extended value */
	} else {
		const char *digits = p;
		while (*p >= '0' && *p <= '9') {
			idx = idx * 10 + (unsigned long)(*p - '0');
			if (idx > 100000)
				return false;
			p++;
		}
		if (p == digits || (p - digits > 1 && digits[0] == '0'))
			return false;
		if (*p == '*') {
			extended = true;
			p++;
		}
		if (*p != '\0')
			return false;
	}
	rp->key = xstrndup(rp->name, (size_t)(star - rp->name));
	rp->idx = (unsigned)idx;
	rp->extended = extended;
	return true;
}

static int cmp_2231(const void *a, const void *b)
{
	const struct raw_param *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	if (c != 0)
		return c;
	if (x->idx != y->idx)
		return x->idx < y->idx ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

static struct mime_param *add_param(struct mime_param **params, size_t *n)
{
	*params = xrealloc(*params, (*n + 1) * sizeof **params);
	struct mime_param *p = &(*params)[(*n)++];
	memset(p, 0, sizeof *p);
	return p;
}

/* A regular value decoded for Surel's use: raw RFC 2047 words (common in
 * file names, though RFC 2047 5 forbids them in quoted strings) decoded,
 * raw 8-bit text read as UTF-8 or windows-1252. */
static char *decode_regular_value(const char *v)
{
	struct buf out = BUF_INIT;
	if (strstr(v, "=?") != NULL)
		mime_decode_header(v, strlen(v), &out);
	else
		mime_append_text_guess(&out, v, strlen(v));
	return buf_steal(&out);
}

/*
 * RFC 2231 4:
 *   extended-initial-value := [charset] "'" [language] "'" extended-other-values
 *   extended-other-values := *(ext-octet / attribute-char)
 *   ext-octet := "%" 2(DIGIT / "A" / "B" / "C" / "D" / "E" / "F")
 */
static char *decode_extended(const struct raw_param *seg, size_t n)
{
	char charset[65] = "";
	struct buf bytes = BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		const char *v = seg[i].value;
		if (i == 0 && seg[i].extended) {
			const char *q1 = strchr(v, '\'');
			const char *q2 = q1 != NULL ? strchr(q1 + 1, '\'') : NULL;
			if (q2 != NULL) {
				size_t cl = (size_t)(q1 - v);
				if (cl < sizeof charset) {
					memcpy(charset, v, cl);
					charset[cl] = '\0';
				}
				v = q2 + 1;
			}
		}
		if (!seg[i].extended) {
			buf_append_str(&bytes, v);
			continue;
		}
		for (; *v != '\0'; v++) {
			int h1, h2;
			if (*v == '%' && (h1 = mime_hexval((unsigned char)v[1])) >= 0 &&
			    (h2 = mime_hexval((unsigned char)v[2])) >= 0) {
				buf_putc(&bytes, (char)(h1 * 16 + h2));
				v += 2;
			} else {
				buf_putc(&bytes, *v);
			}
		}
	}
	struct buf out = BUF_INIT;
	mime_charset_to_utf8(charset, bytes.data, bytes.len, &out);
	buf_free(&bytes);
	return buf_steal(&out);
}

/* Regular parameters first, in order; then the RFC 2231 ones sorted by name
 * and section, each complete run joined into one parameter. A run with a
 * missing section stays as separate "name*N" parameters (Dovecot's
 * rfc2231_parse() does the same; only then do the two agree). */
static void build_params(struct raw_param *rp, size_t n, struct mime_param **params_r,
			 size_t *n_r)
{
	struct mime_param *params = NULL;
	size_t np = 0;
	struct raw_param *ext = xcalloc(n + 1, sizeof *ext);
	size_t next = 0;

	for (size_t i = 0; i < n; i++) {
		if (split_2231_name(&rp[i])) {
			ext[next++] = rp[i];
			continue;
		}
		struct mime_param *p = add_param(&params, &np);
		p->name = xstrdup(rp[i].name);
		lower(p->name);
		p->value = decode_regular_value(rp[i].value);
		p->bs_name = xstrdup(rp[i].name);
		p->bs_value = xstrdup(rp[i].value);
	}
	qsort(ext, next, sizeof *ext, cmp_2231);
	for (size_t i = 0, j; i < next; i = j) {
		bool valid = true, any_ext = false;
		unsigned want = 0;
		for (j = i; j < next && strcasecmp(ext[i].key, ext[j].key) == 0; j++) {
			if (ext[j].idx != want++)
				valid = false;
			if (ext[j].extended)
				any_ext = true;
		}
		if (!valid) {
			for (size_t k = i; k < j; k++) {
				struct mime_param *p = add_param(&params, &np);
				p->name = xstrdup(ext[k].name);
				lower(p->name);
				p->value = decode_regular_value(ext[k].value);
				p->bs_name = xstrdup(ext[k].name);
				p->bs_value = xstrdup(ext[k].value);
			}
			continue;
		}
		struct buf joined = BUF_INIT;
		for (size_t k = i; k < j; k++)
			buf_append_str(&joined, ext[k].value);
		struct mime_param *p = add_param(&params, &np);
		p->name = xstrdup(ext[i].key);
		lower(p->name);
		p->value = any_ext ? decode_extended(&ext[i], j - i)
				   : decode_regular_value(buf_cstr(&joined));
		p->bs_name = any_ext ? xasprintf("%s*", ext[i].key) : xstrdup(ext[i].key);
		p->bs_value = buf_steal(&joined);
	}
	free(ext);
	*params_r = params;
	*n_r = np;
}

void mime_params_free(struct mime_param **params, size_t *n)
{
	for (size_t i = 0; i < *n; i++) {
		free((*params)[i].name);
		free((*params)[i].value);
		free((*params)[i].bs_name);
		free((*params)[i].bs_value);
	}
	xfree(params);
	*n = 0;
}

static void parse_params(struct mime_lex *lx, struct mime_param **params_r, size_t *n_r)
{
	size_t n = 0;
	struct raw_param *rp = parse_raw_params(lx, &n);
	build_params(rp, n, params_r, n_r);
	raw_params_free(rp, n);
}

/*
 * RFC 2045 5.1:
 *   content := "Content-Type" ":" type "/" subtype *(";" parameter)
 *   type := discrete-type / composite-type     ; a token, case-insensitive
 *   subtype := extension-token / iana-token
 * RFC 822 lexical rules apply: comments and whitespace may stand around
 * the "/". A value that does not start with type "/" subtype is not a
 * Content-Type; the caller uses the default (RFC 2045 5.2).
 */
void mime_parse_content_type(const char *value, size_t len, char **type_r, char **subtype_r,
			     struct mime_param **params_r, size_t *n_params_r)
{
	struct mime_lex lx;
	struct buf type = BUF_INIT, subtype = BUF_INIT;
	*type_r = *subtype_r = NULL;
	*params_r = NULL;
	*n_params_r = 0;
	mime_lex_init(&lx, value, len);
	mime_lex_skip_cfws(&lx, NULL);
	if (!mime_lex_token(&lx, &type))
		goto out;
	mime_lex_skip_cfws(&lx, NULL);
	if (mime_lex_eof(&lx) || *lx.p != '/')
		goto out;
	lx.p++;
	mime_lex_skip_cfws(&lx, NULL);
	if (!mime_lex_token(&lx, &subtype))
		goto out;
	*type_r = buf_steal(&type);
	*subtype_r = buf_steal(&subtype);
	parse_params(&lx, params_r, n_params_r);
out:
	buf_free(&type);
	buf_free(&subtype);
}

/*
 * RFC 2183 2:
 *   disposition := "Content-Disposition" ":" disposition-type *(";" disposition-parm)
 *   disposition-type := "inline" / "attachment" / extension-token
 * A missing disposition type is kept as "" (its parameters still count).
 */
void mime_parse_disposition(const char *value, size_t len, char **disp_r,
			    struct mime_param **params_r, size_t *n_params_r)
{
	struct mime_lex lx;
	struct buf disp = BUF_INIT;
	mime_lex_init(&lx, value, len);
	mime_lex_skip_cfws(&lx, NULL);
	mime_lex_token(&lx, &disp);
	*disp_r = buf_steal(&disp);
	parse_params(&lx, params_r, n_params_r);
}

const char *mime_param_get(const struct mime_param *params, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(params[i].name, name) == 0)
			return params[i].value;
	return NULL;
}
