/* SEARCH program parsing: the command's argument tree (imap_parser.h) into
 * a tree of search_node (imap_search_int.h). Evaluation is in
 * imap_search_eval.c.
 *
 *   search          = "SEARCH" [search-return-opts] SP search-program
 *   search-program  = ["CHARSET" SP charset SP] search-key *(SP search-key)
 *                     ; CHARSET argument to SEARCH MUST be registered
 *                     ; with IANA                           (RFC 9051)
 *   sort            = ["UID" SP] "SORT" SP sort-criteria SP search-criteria
 *   thread          = ["UID" SP] "THREAD" SP thread-alg SP search-criteria
 *   search-criteria = charset 1*(SP search-key)            (RFC 5256)
 */
#include <string.h>

#include "core/xmalloc.h"
#include "core/utf8.h"
#include "imap/imap_search_int.h"

struct parse_state {
	struct imap_search_program *p;
	struct imap_search_error *err;
	unsigned depth;
};

static int fail(struct parse_state *st, const char *reason)
{
	st->err->reason = reason;
	st->err->badcharset = false;
	st->err->limit = false;
	return -1;
}

static size_t fail_node(struct parse_state *st, const char *reason)
{
	fail(st, reason);
	return SEARCH_NONE;
}

static size_t add_node(struct parse_state *st, enum search_key type)
{
	struct imap_search_program *p = st->p;
	if (p->count >= IMAP_SEARCH_MAX_KEYS) {
		fail(st, "Too many search keys");
		st->err->limit = true;
		return SEARCH_NONE;
	}
	if (p->count == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		p->nodes = xrealloc(p->nodes, p->cap * sizeof *p->nodes);
	}
	struct search_node *n = &p->nodes[p->count];
	memset(n, 0, sizeof *n);
	n->type = type;
	n->want = true;
	n->first = n->next = SEARCH_NONE;
	return p->count++;
}

/* ---- argument values ---- */

/*   astring = 1*ASTRING-CHAR / string
 * (imap_arg_astring: an atom of ASTRING-CHARs, a quoted string or a
 * literal without NUL; NIL is the atom "NIL"). */
static bool arg_astring(const struct imap_arg *a, const char **s_r, size_t *len_r)
{
	const char *s = imap_arg_astring(a);
	if (s == NULL)
		return false;
	*s_r = s;
	*len_r = a->len;
	return true;
}

static const char *arg_atom(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_ATOM ? a->str : NULL;
}

/* number64 = 1*DIGIT ; 0 <= number64 <= 9,223,372,036,854,775,807 */
static bool parse_number64(const char *s, size_t len, uint64_t *n_r)
{
	uint64_t n = 0;
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		n = n * 10 + (uint64_t)(s[i] - '0');
		if (n > INT64_MAX)
			return false;
	}
	*n_r = n;
	return true;
}

/* nz-number = digit-nz *DIGIT ; 0 < nz-number < 4,294,967,296 */
static bool parse_nz_number(const char *s, size_t len, uint64_t *n_r)
{
	return len > 0 && s[0] != '0' && parse_number64(s, len, n_r) && *n_r <= UINT32_MAX;
}

/*   date       = date-text / DQUOTE date-text DQUOTE
 *   date-text  = date-day "-" date-month "-" date-year
 *   date-day   = 1*2DIGIT
 *   date-month = "Jan" / "Feb" / "Mar" / "Apr" / "May" / "Jun" /
 *                "Jul" / "Aug" / "Sep" / "Oct" / "Nov" / "Dec"
 *   date-year  = 4DIGIT
 * Month names in any case (ABNF strings are case-insensitive). */
static bool parse_date(const struct imap_arg *a, int64_t *day_r)
{
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	if ((a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_STRING) || a->literal)
		return false;
	const char *s = a->str;
	size_t len = a->len, d = 0;
	unsigned day = 0, month = 0, year = 0;
	while (d < len && d < 2 && s[d] >= '0' && s[d] <= '9')
		day = day * 10 + (unsigned)(s[d++] - '0');
	if (d == 0 || day == 0 || day > 31 || len != d + 9 || s[d] != '-' || s[d + 4] != '-')
		return false;
	for (unsigned m = 0; m < 12; m++)
		if (imap_word_eq(s + d + 1, 3, months[m]))
			month = m + 1;
	if (month == 0)
		return false;
	for (size_t i = d + 5; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		year = year * 10 + (unsigned)(s[i] - '0');
	}
	*day_r = imap_days_from_civil(year, month, day);
	return true;
}

/* ---- keys with arguments ---- */

enum key_arg {
	KA_NONE, KA_FLAG, KA_TEXT, KA_FTS, KA_DATE, KA_NUMBER64, KA_NZNUMBER,
	KA_KEYWORD, KA_HEADER, KA_SEQSET, KA_NOT, KA_OR, KA_MODSEQ, KA_OBJECTID,
};

struct key_def {
	const char *name;
	enum search_key type;
	enum key_arg arg;
	unsigned flag;          /* KA_FLAG: STORE_FLAG_*; KA_FTS: store_search_field */
	bool want;
};

/*   search-key = "ALL" / "ANSWERED" / "BCC" SP astring / "BEFORE" SP date /
 *                "BODY" SP astring / "CC" SP astring / "DELETED" /
 *                "FLAGGED" / "FROM" SP astring / "KEYWORD" SP flag-keyword /
 *                "ON" SP date / "SEEN" / "SINCE" SP date /
 *                "SUBJECT" SP astring / "TEXT" SP astring / "TO" SP astring /
 *                "UNANSWERED" / "UNDELETED" / "UNFLAGGED" /
 *                "UNKEYWORD" SP flag-keyword / "UNSEEN" / "DRAFT" /
 *                "HEADER" SP header-fld-name SP astring /
 *                "LARGER" SP number64 / "NOT" SP search-key /
 *                "OR" SP search-key SP search-key / "SENTBEFORE" SP date /
 *                "SENTON" SP date / "SENTSINCE" SP date /
 *                "SMALLER" SP number64 / "UID" SP sequence-set / "UNDRAFT" /
 *                sequence-set / "(" search-key *(SP search-key) ")"
 *                                                            (RFC 9051)
 *   search-key =/ "NEW" / "OLD" / "RECENT"                   (RFC 3501)
 *   search-key =/ ( "OLDER" / "YOUNGER" ) SP nz-number       (RFC 5032)
 *   search-key =/ search-modsequence                         (RFC 7162)
 *   search-key =/ "EMAILID" SP objectid / "THREADID" SP objectid
 *                                                            (RFC 8474)
 */
static const struct key_def key_defs[] = {
	{ "ALL", SK_ALL, KA_NONE, 0, true },
	{ "ANSWERED", SK_FLAG, KA_FLAG, STORE_FLAG_ANSWERED, true },
	{ "BCC", SK_BCC, KA_TEXT, 0, true },
	{ "BEFORE", SK_BEFORE, KA_DATE, 0, true },
	{ "BODY", SK_TEXT, KA_FTS, STORE_SEARCH_BODY, true },
	{ "CC", SK_CC, KA_TEXT, 0, true },
	{ "DELETED", SK_FLAG, KA_FLAG, STORE_FLAG_DELETED, true },
	{ "DRAFT", SK_FLAG, KA_FLAG, STORE_FLAG_DRAFT, true },
	{ "EMAILID", SK_EMAILID, KA_OBJECTID, 0, true },
	{ "FLAGGED", SK_FLAG, KA_FLAG, STORE_FLAG_FLAGGED, true },
	{ "FROM", SK_FROM, KA_TEXT, 0, true },
	{ "HEADER", SK_HEADER, KA_HEADER, 0, true },
	{ "KEYWORD", SK_KEYWORD, KA_KEYWORD, 0, true },
	{ "LARGER", SK_LARGER, KA_NUMBER64, 0, true },
	{ "MODSEQ", SK_MODSEQ, KA_MODSEQ, 0, true },
	{ "NEW", SK_NEW, KA_NONE, 0, true },
	{ "NOT", SK_NOT, KA_NOT, 0, true },
	{ "OLD", SK_RECENT, KA_NONE, 0, false },
	{ "OLDER", SK_OLDER, KA_NZNUMBER, 0, true },
	{ "ON", SK_ON, KA_DATE, 0, true },
	{ "OR", SK_OR, KA_OR, 0, true },
	{ "RECENT", SK_RECENT, KA_NONE, 0, true },
	{ "SEEN", SK_FLAG, KA_FLAG, STORE_FLAG_SEEN, true },
	{ "SENTBEFORE", SK_SENTBEFORE, KA_DATE, 0, true },
	{ "SENTON", SK_SENTON, KA_DATE, 0, true },
	{ "SENTSINCE", SK_SENTSINCE, KA_DATE, 0, true },
	{ "SINCE", SK_SINCE, KA_DATE, 0, true },
	{ "SMALLER", SK_SMALLER, KA_NUMBER64, 0, true },
	{ "SUBJECT", SK_SUBJECT, KA_TEXT, 0, true },
	{ "TEXT", SK_TEXT, KA_FTS, STORE_SEARCH_TEXT, true },
	{ "THREADID", SK_THREADID, KA_OBJECTID, 0, true },
	{ "TO", SK_TO, KA_TEXT, 0, true },
	{ "UID", SK_UIDSET, KA_SEQSET, 0, true },
	{ "UNANSWERED", SK_FLAG, KA_FLAG, STORE_FLAG_ANSWERED, false },
	{ "UNDELETED", SK_FLAG, KA_FLAG, STORE_FLAG_DELETED, false },
	{ "UNDRAFT", SK_FLAG, KA_FLAG, STORE_FLAG_DRAFT, false },
	{ "UNFLAGGED", SK_FLAG, KA_FLAG, STORE_FLAG_FLAGGED, false },
	{ "UNKEYWORD", SK_KEYWORD, KA_KEYWORD, 0, false },
	{ "UNSEEN", SK_FLAG, KA_FLAG, STORE_FLAG_SEEN, false },
	{ "YOUNGER", SK_YOUNGER, KA_NZNUMBER, 0, true },
};

static const struct key_def *find_key(const char *s, size_t len)
{
	for (size_t i = 0; i < sizeof key_defs / sizeof key_defs[0]; i++)
		if (imap_word_eq(s, len, key_defs[i].name))
			return &key_defs[i];
	return NULL;
}

static size_t parse_key(struct parse_state *st, const struct imap_arg *args, size_t count,
			size_t *i);

/* The next argument of a key, or NULL (error set). */
static const struct imap_arg *next_arg(struct parse_state *st, const struct imap_arg *args,
				       size_t count, size_t *i)
{
	if (*i >= count) {
		fail(st, "Missing argument to search key");
		return NULL;
	}
	return &args[(*i)++];
}

/* A search string: UTF-8 (7-bit under CHARSET US-ASCII), casemapped into
 * a new string. */
static char *search_string(struct parse_state *st, const struct imap_arg *a)
{
	const char *s;
	size_t len;
	if (!arg_astring(a, &s, &len) || !utf8_valid(s, len)) {
		fail(st, "Invalid search string");
		return NULL;
	}
	for (size_t k = 0; st->p->ascii && k < len; k++) {
		if ((unsigned char)s[k] >= 0x80) {
			fail(st, "Search string is not US-ASCII");
			return NULL;
		}
	}
	struct buf b = BUF_INIT;
	imap_casemap(s, len, &b);
	return buf_steal(&b);
}

static size_t key_text(struct parse_state *st, const struct key_def *k, const struct imap_arg *a)
{
	char *s = search_string(st, a);
	if (s == NULL)
		return SEARCH_NONE;
	size_t n = add_node(st, k->type);
	if (n == SEARCH_NONE) {
		free(s);
		return SEARCH_NONE;
	}
	st->p->nodes[n].str = s;
	return n;
}

/* BODY and TEXT: the string as given goes to the full-text index. An empty
 * string is in every message. */
static size_t key_fts(struct parse_state *st, const struct key_def *k, const struct imap_arg *a)
{
	char *s = search_string(st, a);
	if (s == NULL)
		return SEARCH_NONE;
	bool empty = *s == '\0';
	free(s);
	size_t n = add_node(st, empty ? SK_ALL : SK_TEXT);
	if (n == SEARCH_NONE || empty)
		return n;
	struct imap_search_program *p = st->p;
	struct search_node *node = &p->nodes[n];
	node->query = xstrndup(a->str, a->len);
	node->num = k->flag;
	node->text = p->n_text;
	p->text_nodes = xrealloc(p->text_nodes, (p->n_text + 1) * sizeof *p->text_nodes);
	p->text_nodes[p->n_text++] = n;
	return n;
}

/*   header-fld-name = astring
 * and a field name is 1*ftext, ftext = %d33-57 / %d59-126 (RFC 5322 3.6.8). */
static size_t key_header(struct parse_state *st, const struct imap_arg *args, size_t count,
			 size_t *i)
{
	const struct imap_arg *name = next_arg(st, args, count, i);
	const char *s;
	size_t len;
	if (name == NULL)
		return SEARCH_NONE;
	if (!arg_astring(name, &s, &len) || len == 0 || len > 200)
		return fail_node(st, "Invalid header field name");
	for (size_t k = 0; k < len; k++)
		if (s[k] < 33 || s[k] > 126 || s[k] == ':')
			return fail_node(st, "Invalid header field name");
	const struct imap_arg *value = next_arg(st, args, count, i);
	char *v = value != NULL ? search_string(st, value) : NULL;
	if (v == NULL)
		return SEARCH_NONE;
	size_t n = add_node(st, SK_HEADER);
	if (n == SEARCH_NONE) {
		free(v);
		return SEARCH_NONE;
	}
	st->p->nodes[n].str = xstrndup(s, len);
	st->p->nodes[n].value = v;
	return n;
}

/*   flag-keyword = "$MDNSent" / "$Forwarded" / "$Junk" / "$NotJunk" /
 *                  "$Phishing" / atom */
static size_t key_keyword(struct parse_state *st, const struct key_def *k,
			  const struct imap_arg *a)
{
	const char *s = arg_atom(a);
	if (s == NULL || !store_keyword_valid(s))
		return fail_node(st, "Invalid keyword");
	size_t n = add_node(st, SK_KEYWORD);
	if (n != SEARCH_NONE) {
		st->p->nodes[n].str = xstrdup(s);
		st->p->nodes[n].want = k->want;
	}
	return n;
}

/* sequence-set (imap_seqset.h), "$" included (RFC 5182). */
static size_t key_seqset(struct parse_state *st, enum search_key type, const struct imap_arg *a)
{
	const char *s = arg_atom(a), *error = "Invalid sequence set";
	struct imap_seqset set;
	if (s == NULL || !imap_seqset_parse(s, a->len, &set, &error))
		return fail_node(st, error);
	size_t n = add_node(st, type);
	if (n == SEARCH_NONE) {
		imap_seqset_free(&set);
		return SEARCH_NONE;
	}
	st->p->nodes[n].set = set;
	if (set.dollar)
		st->p->uses_saved = true;
	return n;
}

/*   search-modsequence = "MODSEQ" [search-modseq-ext] SP mod-sequence-valzer
 *   search-modseq-ext  = SP entry-name SP entry-type-req
 *   entry-name         = entry-flag-name
 *   entry-flag-name    = DQUOTE "/flags/" attr-flag DQUOTE
 *   attr-flag          = "\\Answered" / "\\Flagged" / "\\Deleted" /
 *                        "\\Seen" / "\\Draft" / attr-flag-keyword /
 *                        attr-flag-extension
 *   entry-type-req     = entry-type-resp / "all"
 *   entry-type-resp    = "priv" / "shared"
 *   mod-sequence-valzer = "0" / mod-sequence-value           (RFC 7162)
 * (attr-flag-keyword and attr-flag-extension are atoms; in the quoted
 * string a "\" is written "\\", which the parser has undone.) */
static bool modseq_entry(const struct imap_arg *name, const struct imap_arg *type)
{
	if (name->type != IMAP_ARG_STRING || name->literal || name->len <= 7 ||
	    strncmp(name->str, "/flags/", 7) != 0)
		return false;
	const char *flag = name->str + 7;
	if (!store_keyword_valid(flag[0] == '\\' ? flag + 1 : flag))
		return false;
	const char *t = arg_atom(type);
	return t != NULL && (imap_word_eq(t, type->len, "priv") ||
			     imap_word_eq(t, type->len, "shared") ||
			     imap_word_eq(t, type->len, "all"));
}

static size_t key_modseq(struct parse_state *st, const struct imap_arg *args, size_t count,
			 size_t *i)
{
	const struct imap_arg *a = next_arg(st, args, count, i);
	if (a == NULL)
		return SEARCH_NONE;
	if (a->type == IMAP_ARG_STRING) {
		const struct imap_arg *type = next_arg(st, args, count, i);
		if (type == NULL)
			return SEARCH_NONE;
		if (!modseq_entry(a, type))
			return fail_node(st, "Invalid MODSEQ entry");
		a = next_arg(st, args, count, i);
		if (a == NULL)
			return SEARCH_NONE;
	}
	uint64_t v;
	if (arg_atom(a) == NULL || !parse_number64(a->str, a->len, &v))
		return fail_node(st, "Invalid MODSEQ value");
	size_t n = add_node(st, SK_MODSEQ);
	if (n != SEARCH_NONE) {
		st->p->nodes[n].num = v;
		st->p->has_modseq = true;
	}
	return n;
}

/*   objectid = 1*255(ALPHA / DIGIT / "_" / "-")              (RFC 8474) */
static size_t key_objectid(struct parse_state *st, const struct key_def *k,
			   const struct imap_arg *a)
{
	const char *s = arg_atom(a);
	if (s == NULL || a->len == 0 || a->len > 255)
		return fail_node(st, "Invalid object id");
	for (size_t j = 0; j < a->len; j++) {
		char c = s[j];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '-';
		if (!ok)
			return fail_node(st, "Invalid object id");
	}
	size_t n = add_node(st, k->type);
	if (n != SEARCH_NONE)
		st->p->nodes[n].str = xstrndup(s, a->len);
	return n;
}

static size_t key_number(struct parse_state *st, const struct key_def *k,
			 const struct imap_arg *a)
{
	uint64_t v;
	bool ok = arg_atom(a) != NULL &&
		  (k->arg == KA_NZNUMBER ? parse_nz_number(a->str, a->len, &v)
					 : parse_number64(a->str, a->len, &v));
	if (!ok)
		return fail_node(st, "Invalid number");
	size_t n = add_node(st, k->type);
	if (n != SEARCH_NONE)
		st->p->nodes[n].num = v;
	return n;
}

static size_t key_date(struct parse_state *st, const struct key_def *k, const struct imap_arg *a)
{
	int64_t day;
	if (!parse_date(a, &day))
		return fail_node(st, "Invalid date");
	size_t n = add_node(st, k->type);
	if (n != SEARCH_NONE)
		st->p->nodes[n].day = day;
	return n;
}

/* NOT key, OR key key: the children come first (node indices are stable
 * only as numbers, the array moves). */
static size_t key_not_or(struct parse_state *st, const struct key_def *k,
			 const struct imap_arg *args, size_t count, size_t *i)
{
	size_t a = parse_key(st, args, count, i);
	if (a == SEARCH_NONE)
		return SEARCH_NONE;
	size_t b = SEARCH_NONE;
	if (k->type == SK_OR && (b = parse_key(st, args, count, i)) == SEARCH_NONE)
		return SEARCH_NONE;
	size_t n = add_node(st, k->type);
	if (n == SEARCH_NONE)
		return SEARCH_NONE;
	st->p->nodes[n].first = a;
	st->p->nodes[a].next = b;
	return n;
}

static size_t key_simple(struct parse_state *st, const struct key_def *k)
{
	size_t n = add_node(st, k->type);
	if (n != SEARCH_NONE) {
		st->p->nodes[n].want = k->want;
		st->p->nodes[n].num = k->flag;
	}
	return n;
}

static size_t key_with_arg(struct parse_state *st, const struct key_def *k,
			   const struct imap_arg *args, size_t count, size_t *i)
{
	switch (k->arg) {
	case KA_NONE:
	case KA_FLAG:
		return key_simple(st, k);
	case KA_NOT:
	case KA_OR:
		return key_not_or(st, k, args, count, i);
	case KA_HEADER:
		return key_header(st, args, count, i);
	case KA_MODSEQ:
		return key_modseq(st, args, count, i);
	default:
		break;
	}
	const struct imap_arg *a = next_arg(st, args, count, i);
	if (a == NULL)
		return SEARCH_NONE;
	switch (k->arg) {
	case KA_TEXT:
		return key_text(st, k, a);
	case KA_FTS:
		return key_fts(st, k, a);
	case KA_DATE:
		return key_date(st, k, a);
	case KA_NUMBER64:
	case KA_NZNUMBER:
		return key_number(st, k, a);
	case KA_KEYWORD:
		return key_keyword(st, k, a);
	case KA_SEQSET:
		return key_seqset(st, k->type, a);
	case KA_OBJECTID:
		return key_objectid(st, k, a);
	default:
		return fail_node(st, "Unknown search key");
	}
}

/* search-key *(SP search-key), every argument of the list, as one AND. */
static size_t parse_keys(struct parse_state *st, const struct imap_arg *args, size_t count)
{
	size_t i = 0, first = SEARCH_NONE, last = SEARCH_NONE;
	if (count == 0)
		return fail_node(st, "Missing search key");
	while (i < count) {
		size_t n = parse_key(st, args, count, &i);
		if (n == SEARCH_NONE)
			return SEARCH_NONE;
		if (last == SEARCH_NONE)
			first = n;
		else
			st->p->nodes[last].next = n;
		last = n;
	}
	size_t and = add_node(st, SK_AND);
	if (and != SEARCH_NONE)
		st->p->nodes[and].first = first;
	return and;
}

static size_t parse_key_at(struct parse_state *st, const struct imap_arg *args, size_t count,
			   size_t *i)
{
	const struct imap_arg *a = &args[(*i)++];
	if (a->type == IMAP_ARG_LIST)
		return parse_keys(st, a->list, a->count);
	if (a->type != IMAP_ARG_ATOM)
		return fail_node(st, "Invalid search key");
	char c = a->str[0];
	if ((c >= '0' && c <= '9') || c == '*' || c == '$')
		return key_seqset(st, SK_SEQSET, a);
	const struct key_def *k = find_key(a->str, a->len);
	if (k == NULL)
		return fail_node(st, "Unknown search key");
	return key_with_arg(st, k, args, count, i);
}

static size_t parse_key(struct parse_state *st, const struct imap_arg *args, size_t count,
			size_t *i)
{
	if (*i >= count)
		return fail_node(st, "Missing search key");
	if (st->depth >= IMAP_SEARCH_MAX_DEPTH) {
		fail(st, "Search keys nested too deeply");
		st->err->limit = true;
		return SEARCH_NONE;
	}
	st->depth++;
	size_t n = parse_key_at(st, args, count, i);
	st->depth--;
	return n;
}

/* ---- the program ---- */

/*   charset = atom / quoted
 * Only "UTF-8" and "US-ASCII" (RFC 9051 6.4.4: both MUST be supported). */
static int parse_charset(struct parse_state *st, const struct imap_arg *a)
{
	const char *s;
	size_t len;
	if (!arg_astring(a, &s, &len))
		return fail(st, "Invalid charset");
	if (imap_word_eq(s, len, "US-ASCII")) {
		st->p->ascii = true;
		return 0;
	}
	if (imap_word_eq(s, len, "UTF-8"))
		return 0;
	fail(st, "Unsupported charset");
	st->err->badcharset = true;
	return -1;
}

/*   search-return-opts = SP "RETURN" SP "(" [search-return-opt
 *                        *(SP search-return-opt)] ")"
 *   search-return-opt  = "MIN" / "MAX" / "ALL" / "COUNT" /
 *                        "SAVE" / search-ret-opt-ext    (RFC 9051, RFC 4731)
 * RETURN () means ALL. No extension option is known. */
static int parse_return(struct parse_state *st, const struct imap_arg *a)
{
	static const struct { const char *name; unsigned bit; } opts[] = {
		{ "MIN", IMAP_SEARCH_RET_MIN }, { "MAX", IMAP_SEARCH_RET_MAX },
		{ "ALL", IMAP_SEARCH_RET_ALL }, { "COUNT", IMAP_SEARCH_RET_COUNT },
		{ "SAVE", IMAP_SEARCH_RET_SAVE },
	};
	if (a->type != IMAP_ARG_LIST)
		return fail(st, "RETURN needs a list of options");
	st->p->has_return = true;
	for (size_t i = 0; i < a->count; i++) {
		const struct imap_arg *o = &a->list[i];
		unsigned bit = 0;
		for (size_t k = 0; o->type == IMAP_ARG_ATOM && k < sizeof opts / sizeof opts[0]; k++)
			if (imap_word_eq(o->str, o->len, opts[k].name))
				bit = opts[k].bit;
		if (bit == 0)
			return fail(st, "Unknown RETURN option");
		st->p->ret |= bit;
	}
	if (a->count == 0)
		st->p->ret = IMAP_SEARCH_RET_ALL;
	return 0;
}

static bool is_atom(const struct imap_arg *a, const char *word)
{
	return a->type == IMAP_ARG_ATOM && imap_word_eq(a->str, a->len, word);
}

static struct imap_search_program *program_new(void)
{
	struct imap_search_program *p = xcalloc(1, sizeof *p);
	p->root = SEARCH_NONE;
	return p;
}

static int finish(struct parse_state *st, const struct imap_arg *args, size_t count,
		  struct imap_search_program **prog_r)
{
	st->p->root = parse_keys(st, args, count);
	if (st->p->root == SEARCH_NONE) {
		imap_search_free(&st->p);
		return -1;
	}
	st->p->text_results = xcalloc(st->p->n_text + 1, sizeof *st->p->text_results);
	st->p->text_set = xcalloc(st->p->n_text + 1, sizeof *st->p->text_set);
	*prog_r = st->p;
	return 0;
}

int imap_search_parse(const struct imap_arg *args, size_t count,
		      struct imap_search_program **prog_r, struct imap_search_error *err_r)
{
	struct parse_state st = { program_new(), err_r, 0 };
	size_t i = 0;
	*prog_r = NULL;
	if (count >= 2 && is_atom(&args[0], "RETURN")) {
		if (parse_return(&st, &args[1]) < 0) {
			imap_search_free(&st.p);
			return -1;
		}
		i = 2;
	}
	if (count >= i + 2 && is_atom(&args[i], "CHARSET")) {
		if (parse_charset(&st, &args[i + 1]) < 0) {
			imap_search_free(&st.p);
			return -1;
		}
		i += 2;
	}
	return finish(&st, args + i, count - i, prog_r);
}

int imap_search_parse_criteria(const struct imap_arg *args, size_t count,
			       struct imap_search_program **prog_r,
			       struct imap_search_error *err_r)
{
	struct parse_state st = { program_new(), err_r, 0 };
	*prog_r = NULL;
	if (count == 0 || parse_charset(&st, &args[0]) < 0) {
		if (count == 0)
			fail(&st, "Missing charset");
		imap_search_free(&st.p);
		return -1;
	}
	return finish(&st, args + 1, count - 1, prog_r);
}

void imap_search_free(struct imap_search_program **prog)
{
	struct imap_search_program *p = *prog;
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->count; i++) {
		struct search_node *n = &p->nodes[i];
		free(n->str);
		free(n->value);
		free(n->query);
		if (n->type == SK_SEQSET || n->type == SK_UIDSET)
			imap_seqset_free(&n->set);
		store_uid_list_free(&n->uids);
	}
	for (size_t i = 0; p->text_results != NULL && i < p->n_text; i++)
		store_uid_list_free(&p->text_results[i]);
	free(p->text_results);
	free(p->text_set);
	free(p->text_nodes);
	free(p->nodes);
	buf_free(&p->scratch);
	buf_free(&p->decoded);
	free(p);
	*prog = NULL;
}

unsigned imap_search_return(const struct imap_search_program *prog)
{
	return prog->ret;
}

bool imap_search_has_return(const struct imap_search_program *prog)
{
	return prog->has_return;
}

bool imap_search_has_modseq(const struct imap_search_program *prog)
{
	return prog->has_modseq;
}

bool imap_search_uses_saved(const struct imap_search_program *prog)
{
	return prog->uses_saved;
}
