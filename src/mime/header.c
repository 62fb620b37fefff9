/* Header field values: RFC 5322 lexical tokens, unfolding, and the decoding
 * of RFC 2047 encoded words for display and search. */
#include <string.h>

#include "core/xmalloc.h"
#include "mime/mime_int.h"

bool mime_has_8bit(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

/*
 * RFC 5322 3.2.2:
 *   FWS      = ([*WSP CRLF] 1*WSP) / obs-FWS
 *   ctext    = %d33-39 / %d42-91 / %d93-126 / obs-ctext
 *   ccontent = ctext / quoted-pair / comment
 *   comment  = "(" *([FWS] ccontent) [FWS] ")"
 *   CFWS     = (1*([FWS] comment) [FWS]) / FWS
 * An unterminated comment runs to the end of the value.
 */
static void lex_comment(struct mime_lex *lx, struct buf *out)
{
	unsigned depth = 0;
	bool space = false;
	while (lx->p < lx->end) {
		unsigned char c = (unsigned char)*lx->p++;
		if (c == '\\' && lx->p < lx->end) {
			c = (unsigned char)*lx->p++;
		} else if (c == '(') {
			if (depth++ == 0)
				continue;
		} else if (c == ')') {
			if (--depth == 0)
				return;
		} else if (c == '\r' || c == '\n') {
			continue;
		}
		if (out == NULL)
			continue;
		if (c == ' ' || c == '\t') {
			space = true;
			continue;
		}
		if (space && out->len > 0)
			buf_putc(out, ' ');
		space = false;
		buf_putc(out, (char)c);
	}
}

void mime_lex_skip_cfws(struct mime_lex *lx, struct buf *comments_out)
{
	while (lx->p < lx->end) {
		if (mime_is_wsp((unsigned char)*lx->p)) {
			lx->p++;
		} else if (*lx->p == '(') {
			if (comments_out != NULL && comments_out->len > 0)
				buf_putc(comments_out, ' ');
			lex_comment(lx, comments_out);
		} else {
			break;
		}
	}
}

/*
 * RFC 5322 3.2.3:
 *   atext = ALPHA / DIGIT / "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
 *           "-" / "/" / "=" / "?" / "^" / "_" / "`" / "{" / "|" / "}" / "~"
 * RFC 6532 3.2 adds UTF8-non-ascii; any 8-bit byte is taken here.
 */
bool mime_is_atext(unsigned char c)
{
	if (c >= 0x80)
		return true;
	if (c <= 0x20 || c == 0x7f)
		return false;
	return strchr("()<>[]:;@\\,.\"", c) == NULL;
}

bool mime_lex_atom(struct mime_lex *lx, struct buf *out)
{
	const char *start = lx->p;
	while (lx->p < lx->end && mime_is_atext((unsigned char)*lx->p))
		lx->p++;
	buf_append(out, start, (size_t)(lx->p - start));
	return lx->p > start;
}

/*
 * RFC 5322 3.2.4:
 *   qtext          = %d33 / %d35-91 / %d93-126 / obs-qtext
 *   qcontent       = qtext / quoted-pair
 *   quoted-string  = [CFWS] DQUOTE *([FWS] qcontent) [FWS] DQUOTE [CFWS]
 * Folding inside is removed (the CRLF goes, the WSP stays).
 */
bool mime_lex_quoted_string(struct mime_lex *lx, struct buf *out)
{
	if (lx->p >= lx->end || *lx->p != '"')
		return false;
	lx->p++;
	while (lx->p < lx->end) {
		char c = *lx->p++;
		if (c == '"')
			return true;
		if (c == '\\' && lx->p < lx->end)
			c = *lx->p++;
		else if (c == '\r' || c == '\n')
			continue;
		buf_putc(out, c);
	}
	return true;
}

/*
 * RFC 2045 5.1:
 *   token    := 1*<any (US-ASCII) CHAR except SPACE, CTLs, or tspecials>
 *   tspecials := "(" / ")" / "<" / ">" / "@" / "," / ";" / ":" / "\" /
 *                <"> / "/" / "[" / "]" / "?" / "="
 */
static bool is_token_char(unsigned char c)
{
	if (c >= 0x80)
		return true;
	if (c <= 0x20 || c == 0x7f)
		return false;
	return strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

bool mime_lex_token(struct mime_lex *lx, struct buf *out)
{
	const char *start = lx->p;
	while (lx->p < lx->end && is_token_char((unsigned char)*lx->p))
		lx->p++;
	buf_append(out, start, (size_t)(lx->p - start));
	return lx->p > start;
}

bool mime_lex_word(struct mime_lex *lx, struct buf *out)
{
	if (lx->p < lx->end && *lx->p == '"')
		return mime_lex_quoted_string(lx, out);
	return mime_lex_atom(lx, out);
}

void mime_unfold(const char *s, size_t len, struct buf *out)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '\r' && s[i] != '\n') {
			buf_putc(out, s[i]);
			continue;
		}
		if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
			i++;
		if (i + 1 < len && s[i + 1] != ' ' && s[i + 1] != '\t' && s[i + 1] != '\r' &&
		    s[i + 1] != '\n')
			buf_putc(out, ' ');
	}
}

/*
 * RFC 2047 2:
 *   encoded-word = "=?" charset "?" encoding "?" encoded-text "?="
 *   charset      = token    ; RFC 2231 5 adds  charset ["*" language]
 *   encoding     = token    ; "B" or "Q"
 *   encoded-text = 1*<Any printable ASCII character other than "?" or SPACE>
 * Tolerated here, as mail in the wild needs: an encoded word glued to other
 * text, SPACE and folding inside the encoded text, an empty encoded text.
 */
struct eword {
	const char *charset;
	size_t charset_len;
	char encoding;            /* 'B' or 'Q' */
	const char *text;
	size_t text_len;
	const char *end;          /* just past "?=" */
};

static bool parse_eword(const char *p, const char *end, struct eword *w)
{
	if (end - p < 8 || p[0] != '=' || p[1] != '?')
		return false;
	const char *cs = p + 2, *q = cs;
	while (q < end && *q != '?' && !mime_is_wsp((unsigned char)*q) && q - cs < 64)
		q++;
	if (q == cs || q + 3 > end || *q != '?')
		return false;
	char enc = q[1];
	if (enc == 'b')
		enc = 'B';
	if (enc == 'q')
		enc = 'Q';
	if ((enc != 'B' && enc != 'Q') || q[2] != '?')
		return false;
	const char *text = q + 3;
	/* RFC 2047 2 allows 75 characters; broken mailers write more, but a
	 * bound keeps a header full of "=?" linear. */
	const char *limit = end - text > 4096 ? text + 4096 : end;
	for (const char *t = text; t + 1 < limit; t++) {
		if (t[0] == '?' && t[1] == '=') {
			w->charset = cs;
			w->charset_len = (size_t)(q - cs);
			w->encoding = enc;
			w->text = text;
			w->text_len = (size_t)(t - text);
			w->end = t + 2;
			return true;
		}
		/* In "Q" a "=?" starts the next word: this one is not
		 * terminated. (In "B", "=" is padding and may precede "?=".) */
		if (enc == 'Q' && t[0] == '=' && t[1] == '?')
			return false;
	}
	return false;
}

/* The encoded text without folding (line breaks and the WSP after them). */
static void eword_text(const struct eword *w, struct buf *out)
{
	const char *p = w->text, *end = w->text + w->text_len;
	while (p < end) {
		if (*p == '\r' || *p == '\n') {
			while (p < end && mime_is_wsp((unsigned char)*p))
				p++;
			continue;
		}
		buf_putc(out, *p++);
	}
}

/* Pending decoded bytes of adjacent encoded words in one charset, converted
 * together so that a character split across two words survives. */
struct ew_pending {
	struct buf bytes;
	char charset[65];
};

static void ew_flush(struct ew_pending *pend, struct buf *out)
{
	if (pend->bytes.len > 0)
		mime_charset_to_utf8(pend->charset, pend->bytes.data, pend->bytes.len, out);
	buf_clear(&pend->bytes);
	pend->charset[0] = '\0';
}

static void ew_add(struct ew_pending *pend, const struct eword *w, struct buf *out)
{
	char cs[65];
	size_t n = w->charset_len < sizeof cs ? w->charset_len : sizeof cs - 1;
	memcpy(cs, w->charset, n);
	cs[n] = '\0';
	char *star = strchr(cs, '*');    /* RFC 2231 5: charset*language */
	if (star != NULL)
		*star = '\0';
	if (strcasecmp(cs, pend->charset) != 0) {
		ew_flush(pend, out);
		memcpy(pend->charset, cs, strlen(cs) + 1);
	}
	struct buf text = BUF_INIT;
	eword_text(w, &text);
	if (w->encoding == 'B')
		mime_base64_decode(text.data, text.len, &pend->bytes);
	else
		mime_qp_decode(text.data, text.len, true, &pend->bytes);
	buf_free(&text);
}

/* Plain text between encoded words: unfolded, a whitespace run that held a
 * line break becomes one space. */
static void append_plain(struct buf *out, const char *s, size_t len)
{
	struct buf tmp = BUF_INIT;
	for (size_t i = 0; i < len;) {
		if (!mime_is_wsp((unsigned char)s[i])) {
			buf_putc(&tmp, s[i++]);
			continue;
		}
		size_t j = i;
		bool fold = false;
		while (j < len && mime_is_wsp((unsigned char)s[j])) {
			if (s[j] == '\r' || s[j] == '\n')
				fold = true;
			j++;
		}
		if (fold)
			buf_putc(&tmp, ' ');
		else
			buf_append(&tmp, s + i, j - i);
		i = j;
	}
	mime_append_text_guess(out, tmp.data, tmp.len);
	buf_free(&tmp);
}

void mime_decode_header(const char *raw, size_t len, struct buf *out)
{
	struct buf res = BUF_INIT;
	struct ew_pending pend = { BUF_INIT, "" };
	const char *p = raw, *end = raw + len, *plain = raw;
	bool after_eword = false;

	while (p < end) {
		struct eword w;
		const char *q = p;
		while (q + 1 < end && !(q[0] == '=' && q[1] == '?'))
			q++;
		if (q + 1 >= end || !parse_eword(q, end, &w)) {
			p = q + 1 < end ? q + 2 : end;
			continue;
		}
		/* RFC 2047 6.2: whitespace between adjacent encoded words is
		 * not displayed. */
		bool only_wsp = true;
		for (const char *t = plain; t < q; t++)
			if (!mime_is_wsp((unsigned char)*t))
				only_wsp = false;
		if (!(after_eword && only_wsp)) {
			ew_flush(&pend, &res);
			append_plain(&res, plain, (size_t)(q - plain));
		}
		ew_add(&pend, &w, &res);
		after_eword = true;
		p = plain = w.end;
	}
	ew_flush(&pend, &res);
	append_plain(&res, plain, (size_t)(end - plain));
	buf_free(&pend.bytes);

	/* Leading and trailing whitespace is not part of the text. */
	size_t a = 0, b = res.len;
	while (a < b && mime_is_wsp((unsigned char)res.data[a]))
		a++;
	while (b > a && mime_is_wsp((unsigned char)res.data[b - 1]))
		b--;
	buf_append(out, res.data + a, b - a);
	buf_free(&res);
}
