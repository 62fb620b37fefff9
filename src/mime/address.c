/* Address lists (RFC 5322 3.4) for IMAP ENVELOPE: name, route, mailbox and
 * host of each mailbox, groups as start and end markers. Names stay raw
 * (RFC 2047 words undecoded) as IMAP requires; obsolete forms (routes,
 * CFWS around dots) are read. What cannot be parsed is reported the way
 * Dovecot does, so that clients see the same ENVELOPE from both:
 * MISSING_MAILBOX / MISSING_DOMAIN for absent parts, SYNTAX_ERROR for a
 * broken angle address, and the list ends at the first garbage. */
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "mime/mime_int.h"

struct addr_ctx {
	struct mime_lex lx;
	struct mime_address *list;
	size_t n;
	struct buf comment;     /* the last comment seen in an addr-spec */
};

static void skip_cfws(struct addr_ctx *ctx)
{
	while (!mime_lex_eof(&ctx->lx)) {
		if (mime_is_wsp((unsigned char)*ctx->lx.p)) {
			ctx->lx.p++;
		} else if (*ctx->lx.p == '(') {
			buf_clear(&ctx->comment);
			struct mime_lex one = ctx->lx;
			/* one comment at a time: the last one wins */
			const char *start = one.p;
			int depth = 0;
			while (one.p < one.end) {
				char c = *one.p++;
				if (c == '\\' && one.p < one.end)
					one.p++;
				else if (c == '(')
					depth++;
				else if (c == ')' && --depth == 0)
					break;
			}
			struct mime_lex sub;
			mime_lex_init(&sub, start, (size_t)(one.p - start));
			mime_lex_skip_cfws(&sub, &ctx->comment);
			ctx->lx.p = one.p;
		} else {
			break;
		}
	}
}

static bool at(const struct addr_ctx *ctx, char c)
{
	return !mime_lex_eof(&ctx->lx) && *ctx->lx.p == c;
}

static void emit(struct addr_ctx *ctx, const char *name, const char *adl, const char *mailbox,
		 const char *domain)
{
	ctx->list = xrealloc(ctx->list, (ctx->n + 1) * sizeof *ctx->list);
	struct mime_address *a = &ctx->list[ctx->n++];
	a->name = name != NULL ? xstrdup(name) : NULL;
	a->adl = adl != NULL ? xstrdup(adl) : NULL;
	a->mailbox = mailbox != NULL ? xstrdup(mailbox) : NULL;
	a->domain = domain != NULL ? xstrdup(domain) : NULL;
}

/*
 *   phrase     = 1*word / obs-phrase
 *   obs-phrase = word *(word / "." / CFWS)
 * Words are joined with one space, comments dropped.
 */
static bool parse_phrase(struct addr_ctx *ctx, struct buf *out)
{
	bool any = false;
	for (;;) {
		skip_cfws(ctx);
		if (mime_lex_eof(&ctx->lx))
			break;
		if (at(ctx, '"')) {
			if (any)
				buf_putc(out, ' ');
			mime_lex_quoted_string(&ctx->lx, out);
		} else {
			/* atom, or obs-phrase's "." glued to it: "Joe Q. Public" */
			const char *s = ctx->lx.p;
			while (!mime_lex_eof(&ctx->lx) &&
			       (*ctx->lx.p == '.' || mime_is_atext((unsigned char)*ctx->lx.p)))
				ctx->lx.p++;
			if (ctx->lx.p == s)
				break;
			if (any)
				buf_putc(out, ' ');
			buf_append(out, s, (size_t)(ctx->lx.p - s));
		}
		any = true;
	}
	return any;
}

/*
 *   local-part     = dot-atom / quoted-string / obs-local-part
 *   obs-local-part = word *("." word)
 */
static bool parse_local_part(struct addr_ctx *ctx, struct buf *out, bool *quoted_r)
{
	*quoted_r = false;
	skip_cfws(ctx);
	if (at(ctx, '"')) {
		*quoted_r = true;
		mime_lex_quoted_string(&ctx->lx, out);
	} else if (!mime_lex_atom(&ctx->lx, out)) {
		return false;
	}
	for (;;) {
		skip_cfws(ctx);
		if (!at(ctx, '.'))
			return true;
		ctx->lx.p++;
		buf_putc(out, '.');
		skip_cfws(ctx);
		if (at(ctx, '"'))
			mime_lex_quoted_string(&ctx->lx, out);
		else
			mime_lex_atom(&ctx->lx, out);
	}
}

/*
 *   domain         = dot-atom / domain-literal / obs-domain
 *   domain-literal = [CFWS] "[" *([FWS] dtext) [FWS] "]" [CFWS]
 *   obs-domain     = atom *("." atom)
 * Called after the "@". Fails on an empty domain or one ending in ".".
 */
static bool parse_domain(struct addr_ctx *ctx, struct buf *out)
{
	skip_cfws(ctx);
	if (at(ctx, '[')) {
		const char *s = ctx->lx.p;
		while (!mime_lex_eof(&ctx->lx) && *ctx->lx.p != ']') {
			if (*ctx->lx.p == '\\' && ctx->lx.p + 1 < ctx->lx.end)
				ctx->lx.p++;
			ctx->lx.p++;
		}
		if (mime_lex_eof(&ctx->lx))
			return false;
		ctx->lx.p++;
		for (const char *t = s; t < ctx->lx.p; t++)
			if (!mime_is_wsp((unsigned char)*t))
				buf_putc(out, *t);
		skip_cfws(ctx);
		return true;
	}
	if (!mime_lex_atom(&ctx->lx, out))
		return false;
	for (;;) {
		skip_cfws(ctx);
		if (!at(ctx, '.'))
			return true;
		ctx->lx.p++;
		buf_putc(out, '.');
		skip_cfws(ctx);
		if (!mime_lex_atom(&ctx->lx, out))
			return false;
	}
}

/*
 *   angle-addr     = [CFWS] "<" addr-spec ">" [CFWS] / obs-angle-addr
 *   obs-angle-addr = [CFWS] "<" obs-route addr-spec ">" [CFWS]
 *   obs-route      = obs-domain-list ":"
 *   obs-domain-list = *(CFWS / ",") "@" domain *("," [CFWS] ["@" domain])
 * Called at "<". Returns false on a syntax error (the list then ends).
 */
static bool parse_angle_addr(struct addr_ctx *ctx, const char *name)
{
	struct buf route = BUF_INIT, mailbox = BUF_INIT, domain = BUF_INIT;
	bool ok = false, have_mailbox = false, have_domain = false, quoted;
	ctx->lx.p++;
	skip_cfws(ctx);
	if (at(ctx, '@')) {
		while (at(ctx, '@')) {
			if (route.len > 0)
				buf_putc(&route, ',');
			buf_putc(&route, '@');
			ctx->lx.p++;
			if (!parse_domain(ctx, &route))
				goto out;
			while (at(ctx, ',') || (!mime_lex_eof(&ctx->lx) && mime_is_wsp((unsigned char)*ctx->lx.p))) {
				ctx->lx.p++;
				skip_cfws(ctx);
			}
		}
		if (!at(ctx, ':'))
			goto out;
		ctx->lx.p++;
		skip_cfws(ctx);
	}
	if (at(ctx, '>')) {
		ctx->lx.p++;
		ok = true;
		goto out;
	}
	if (!parse_local_part(ctx, &mailbox, &quoted))
		goto out;
	have_mailbox = true;
	if (at(ctx, '@')) {
		ctx->lx.p++;
		if (!parse_domain(ctx, &domain))
			goto out;
		have_domain = true;
	}
	if (!at(ctx, '>'))
		goto out;
	ctx->lx.p++;
	ok = true;
out:
	emit(ctx, name, route.len > 0 ? buf_cstr(&route) : NULL,
	     have_mailbox && mailbox.len > 0 ? buf_cstr(&mailbox) : "MISSING_MAILBOX",
	     !ok ? "SYNTAX_ERROR" : have_domain && domain.len > 0 ? buf_cstr(&domain) : "MISSING_DOMAIN");
	buf_free(&route);
	buf_free(&mailbox);
	buf_free(&domain);
	skip_cfws(ctx);
	return ok;
}

/*
 *   mailbox   = name-addr / addr-spec
 *   name-addr = [display-name] angle-addr
 *   addr-spec = local-part "@" domain
 * For an addr-spec the last comment is taken as the name ("u@d (Name)").
 */
static bool parse_mailbox(struct addr_ctx *ctx)
{
	struct buf name = BUF_INIT, mailbox = BUF_INIT, domain = BUF_INIT;
	const char *start = ctx->lx.p;
	bool ok = false, quoted;

	parse_phrase(ctx, &name);
	skip_cfws(ctx);
	if (at(ctx, '<')) {
		ok = parse_angle_addr(ctx, name.len > 0 ? buf_cstr(&name) : NULL);
		goto out;
	}
	ctx->lx.p = start;
	buf_clear(&name);
	buf_clear(&ctx->comment);
	if (!parse_local_part(ctx, &mailbox, &quoted) && !at(ctx, '@')) {
		emit(ctx, NULL, NULL, "MISSING_MAILBOX", "MISSING_DOMAIN");
		goto out;
	}
	if (at(ctx, '@')) {
		ctx->lx.p++;
		ok = parse_domain(ctx, &domain);
		emit(ctx, ctx->comment.len > 0 ? buf_cstr(&ctx->comment) : NULL, NULL,
		     mailbox.len > 0 ? buf_cstr(&mailbox) : "MISSING_MAILBOX",
		     ok && domain.len > 0 ? buf_cstr(&domain) : "MISSING_DOMAIN");
		goto out;
	}
	/* No "@": a lone word is a mailbox without a domain; more words, or a
	 * quoted string, are a display name without an address. */
	buf_append(&name, mailbox.data, mailbox.len);
	struct buf more = BUF_INIT;
	bool more_words = parse_phrase(ctx, &more);
	buf_free(&more);
	if (more_words || quoted) {
		ctx->lx.p = start;
		buf_clear(&name);
		parse_phrase(ctx, &name);
		emit(ctx, buf_cstr(&name), NULL, "MISSING_MAILBOX", "MISSING_DOMAIN");
	} else {
		emit(ctx, ctx->comment.len > 0 ? buf_cstr(&ctx->comment) : NULL, NULL,
		     buf_cstr(&mailbox), "MISSING_DOMAIN");
	}
out:
	buf_free(&name);
	buf_free(&mailbox);
	buf_free(&domain);
	return ok;
}

/*
 *   group        = display-name ":" [group-list] ";" [CFWS]
 *   group-list   = mailbox-list / CFWS / obs-group-list
 * IMAP (RFC 9051 7.5.2): a group is (NIL NIL "name" NIL), its members,
 * then (NIL NIL NIL NIL).
 */
static bool parse_group(struct addr_ctx *ctx)
{
	struct buf name = BUF_INIT;
	const char *start = ctx->lx.p;
	if (!parse_phrase(ctx, &name) || (skip_cfws(ctx), !at(ctx, ':'))) {
		ctx->lx.p = start;
		buf_free(&name);
		return false;
	}
	ctx->lx.p++;
	emit(ctx, NULL, NULL, buf_cstr(&name), NULL);
	buf_free(&name);
	for (;;) {
		skip_cfws(ctx);
		if (mime_lex_eof(&ctx->lx))
			break;
		if (at(ctx, ';')) {
			ctx->lx.p++;
			break;
		}
		parse_mailbox(ctx);
		skip_cfws(ctx);
		if (!at(ctx, ','))
			break;
		ctx->lx.p++;
	}
	emit(ctx, NULL, NULL, NULL, NULL);
	skip_cfws(ctx);
	return true;
}

/*
 *   address-list  = (address *("," address)) / obs-addr-list
 *   obs-addr-list = *([CFWS] ",") address *("," [address / CFWS])
 *   address       = mailbox / group
 */
static void parse_list(struct addr_ctx *ctx)
{
	for (;;) {
		skip_cfws(ctx);
		if (mime_lex_eof(&ctx->lx))
			break;
		if (!parse_group(ctx))
			parse_mailbox(ctx);
		skip_cfws(ctx);
		if (!at(ctx, ','))
			break;
		ctx->lx.p++;
	}
}

void mime_address_parse(const char *value, size_t len, struct mime_address **list_r, size_t *n_r)
{
	struct addr_ctx ctx = { .list = NULL, .n = 0, .comment = BUF_INIT };
	/* The parser joins repeated address fields with LF: each is a list
	 * of its own, and their addresses are concatenated. */
	const char *p = value, *end = value + len;
	while (p <= end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl != NULL ? nl : end;
		mime_lex_init(&ctx.lx, p, (size_t)(stop - p));
		parse_list(&ctx);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	buf_free(&ctx.comment);
	*list_r = ctx.list;
	*n_r = ctx.n;
}

void mime_address_list_free(struct mime_address **list, size_t *n)
{
	for (size_t i = 0; i < *n; i++) {
		free((*list)[i].name);
		free((*list)[i].adl);
		free((*list)[i].mailbox);
		free((*list)[i].domain);
	}
	xfree(list);
	*n = 0;
}
