/* LIST patterns: "*", "%" and literal characters, matched by simulating the
 * pattern's automaton on bit sets (one bit per pattern position).
 *
 *   list-mailbox    = 1*list-char / string
 *   list-char       = ATOM-CHAR / list-wildcards / resp-specials
 *   list-wildcards  = "%" / "*"
 *
 * Position i of the compiled pattern is a literal byte, "*" or "%"; bit n
 * (one past the last) means "matched the whole pattern". Reading one byte c
 * of the name, a state at
 *   - a literal equal to c moves to i + 1,
 *   - "*" stays (it consumed c),
 *   - "%" stays unless c is the separator,
 * and then every state at a wildcard also enters i + 1 (the wildcard matching
 * nothing more). Runs of wildcards are collapsed when compiling ("**" is "*",
 * "%*" and "*%" are "*", "%%" is "%"), so that last step never chains: no
 * wildcard follows a wildcard. */
#include "imap/imap_list.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"

#define WORDS_MAX ((IMAP_LIST_PATTERN_MAX + 1 + 63) / 64)

struct imap_list_pattern {
	char sep;
	size_t n;               /* positions */
	size_t words;           /* 64-bit words for n + 1 bits */
	bool ends_pct;
	/* Literal positions of each byte value: byte -> class, class -> mask.
	 * Class 0 has no position (the byte is not in the pattern). */
	unsigned char cls[256];
	uint64_t *lit;          /* n_classes x words */
	uint64_t star[WORDS_MAX];
	uint64_t pct[WORDS_MAX];
	uint64_t wild[WORDS_MAX];   /* star | pct */
};

static inline void set_bit(uint64_t *set, size_t i)
{
	set[i / 64] |= UINT64_C(1) << (i % 64);
}

struct imap_list_pattern *imap_list_pattern_new(const char *pattern, char sep)
{
	size_t len = strlen(pattern);
	if (len > IMAP_LIST_PATTERN_MAX)
		return NULL;
	struct imap_list_pattern *p = xcalloc(1, sizeof *p);
	p->sep = sep;

	/* Collapse wildcard runs; number the distinct literal bytes. */
	char *elem = xmalloc(len + 1);   /* '*', '%' or the literal */
	bool *is_wild = xcalloc(len + 1, sizeof *is_wild);
	size_t n = 0, classes = 1;
	for (size_t i = 0; i < len; i++) {
		char ch = pattern[i];
		bool w = ch == '*' || ch == '%';
		if (w && n > 0 && is_wild[n - 1]) {
			if (ch == '*')
				elem[n - 1] = '*';
			continue;
		}
		elem[n] = ch;
		is_wild[n++] = w;
		if (!w && p->cls[(unsigned char)ch] == 0)
			p->cls[(unsigned char)ch] = (unsigned char)classes++;
	}
	p->n = n;
	p->words = (n + 1 + 63) / 64;
	p->ends_pct = n > 0 && is_wild[n - 1] && elem[n - 1] == '%';
	p->lit = xcalloc(classes * p->words, sizeof *p->lit);
	for (size_t i = 0; i < n; i++) {
		if (!is_wild[i])
			set_bit(p->lit + p->cls[(unsigned char)elem[i]] * p->words, i);
		else
			set_bit(elem[i] == '*' ? p->star : p->pct, i);
	}
	for (size_t w = 0; w < p->words; w++)
		p->wild[w] = p->star[w] | p->pct[w];
	free(elem);
	free(is_wild);
	return p;
}

void imap_list_pattern_free(struct imap_list_pattern **p)
{
	if (*p == NULL)
		return;
	free((*p)->lit);
	xfree(p);
}

bool imap_list_pattern_ends_pct(const struct imap_list_pattern *p)
{
	return p->ends_pct;
}

/* out = in << 1 over words words (out and in may not overlap). */
static void shl1(uint64_t *out, const uint64_t *in, size_t words)
{
	uint64_t carry = 0;
	for (size_t w = 0; w < words; w++) {
		out[w] = (in[w] << 1) | carry;
		carry = in[w] >> 63;
	}
}

/* Enter the position after every active wildcard. */
static void closure(const struct imap_list_pattern *p, uint64_t *s)
{
	uint64_t t[WORDS_MAX], u[WORDS_MAX];
	for (size_t w = 0; w < p->words; w++)
		t[w] = s[w] & p->wild[w];
	shl1(u, t, p->words);
	for (size_t w = 0; w < p->words; w++)
		s[w] |= u[w];
}

static const uint64_t *lit_mask(const struct imap_list_pattern *p, unsigned char c)
{
	return p->lit + p->cls[c] * p->words;   /* class 0: all zero */
}

/* RFC 9051 5.1: INBOX is case-insensitive; here its first level only
 * ("INBOX", "INBOX/x"), as the store spells it. */
static bool inbox_level(const char *name, char sep)
{
	return strncasecmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == sep);
}

bool imap_list_pattern_match(const struct imap_list_pattern *p, const char *name)
{
	uint64_t s[WORDS_MAX] = { 0 }, prev[WORDS_MAX], t[WORDS_MAX], lit[WORDS_MAX];
	size_t words = p->words;
	bool inbox = inbox_level(name, p->sep);
	s[0] = 1;
	closure(p, s);
	for (size_t i = 0; name[i] != '\0'; i++) {
		unsigned char c = (unsigned char)name[i];
		const uint64_t *m = lit_mask(p, c);
		if (inbox && i < 5) {   /* either case of an INBOX letter */
			const uint64_t *lo = lit_mask(p, (unsigned char)(c | 0x20));
			const uint64_t *up = lit_mask(p, (unsigned char)(c & ~0x20));
			for (size_t w = 0; w < words; w++)
				lit[w] = lo[w] | up[w];
			m = lit;
		}
		for (size_t w = 0; w < words; w++) {
			prev[w] = s[w];
			t[w] = s[w] & m[w];
		}
		shl1(s, t, words);   /* literals equal to c move on */
		uint64_t any = 0;
		for (size_t w = 0; w < words; w++) {
			s[w] |= prev[w] & p->star[w];
			if ((char)c != p->sep)
				s[w] |= prev[w] & p->pct[w];
			any |= s[w];
		}
		if (any == 0)
			return false;
		closure(p, s);
	}
	return (s[p->n / 64] >> (p->n % 64)) & 1;
}

bool imap_list_match(const char *pattern, const char *name, char sep)
{
	struct imap_list_pattern *p = imap_list_pattern_new(pattern, sep);
	if (p == NULL)
		return false;
	bool r = imap_list_pattern_match(p, name);
	imap_list_pattern_free(&p);
	return r;
}
