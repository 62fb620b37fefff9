/* Inside SEARCH, SORT and THREAD: the compiled program shared by the parser
 * (imap_search.c) and the evaluator (imap_search_eval.c), and text helpers
 * (imap_search_text.c) used by both and by imap_sort.c / imap_thread.c.
 * Not for other parts. */
#ifndef SUREL_IMAP_IMAP_SEARCH_INT_H
#define SUREL_IMAP_IMAP_SEARCH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"
#include "imap/imap_search.h"
#include "imap/imap_seqset.h"

#define SEARCH_NONE ((size_t)-1)

enum search_key {
	SK_ALL,
	SK_AND,          /* children: first .. next */
	SK_OR,           /* two children */
	SK_NOT,          /* one child */
	SK_FLAG,         /* flag set (want) or clear (!want) */
	SK_RECENT,       /* \Recent is want */
	SK_NEW,          /* \Recent and not \Seen */
	SK_KEYWORD,      /* str set (want) or not set (!want) */
	SK_BEFORE, SK_ON, SK_SINCE,                 /* day: INTERNALDATE */
	SK_SENTBEFORE, SK_SENTON, SK_SENTSINCE,     /* day: Date: */
	SK_FROM, SK_TO, SK_CC, SK_BCC, SK_SUBJECT,  /* str: casemapped */
	SK_HEADER,       /* str: field name, value: casemapped */
	SK_TEXT,         /* BODY or TEXT: text (index), num: the field */
	SK_LARGER, SK_SMALLER,   /* num */
	SK_SEQSET,       /* set, then uids after prepare */
	SK_UIDSET,
	SK_OLDER, SK_YOUNGER,    /* num seconds */
	SK_MODSEQ,       /* num */
	SK_EMAILID, SK_THREADID, /* str */
};

struct search_node {
	enum search_key type;
	bool want;
	size_t first;                 /* AND, OR, NOT: first child */
	size_t next;                  /* next sibling */
	char *str;
	char *value;
	char *query;                  /* SK_TEXT: the string as given */
	uint64_t num;
	int64_t day;                  /* date keys: days since 1970-01-01 */
	size_t text;                  /* SK_TEXT: index into text_nodes */
	struct imap_seqset set;
	struct store_uid_list uids;   /* SK_SEQSET, SK_UIDSET after prepare */
};

struct imap_search_program {
	struct search_node *nodes;
	size_t count, cap;
	size_t root;
	unsigned ret;
	bool has_return, has_modseq, uses_saved;
	bool ascii;                   /* CHARSET US-ASCII */
	size_t *text_nodes;           /* node index of each BODY / TEXT key */
	size_t n_text;
	struct store_uid_list *text_results;
	bool *text_set;
	time_t now;
	struct buf scratch, decoded;
};

/* ---- imap_search_text.c ---- */

/* The next field called name (any case) in a header block, from *pos on:
 * its raw value (after the colon, folding kept) and true; false at the end
 * of the header. */
bool imap_header_find(const char *hdr, size_t len, size_t *pos, const char *name,
		      const char **value_r, size_t *vlen_r);
/* Days since 1970-01-01 of a proleptic Gregorian date, and of a time's
 * UTC calendar day. */
int64_t imap_days_from_civil(int64_t y, unsigned m, unsigned d);
int64_t imap_time_day(time_t t);
/* Case-insensitive ASCII comparison of s[0..len) with the C string word. */
bool imap_word_eq(const char *s, size_t len, const char *word);

#endif
