/* IMAP SEARCH (RFC 9051 6.4.4, RFC 3501 6.4.4) as a pure module: the search
 * program is parsed from the command's argument tree, evaluated message by
 * message against data the engine loads from the store, and the result is
 * written as "* SEARCH" or "* ESEARCH" (RFC 4731). No I/O happens here.
 *
 *   struct imap_search_program *p;
 *   struct imap_search_error err;
 *   if (imap_search_parse(args, count, &p, &err) < 0)
 *       BAD err.reason (or NO [BADCHARSET (UTF-8 US-ASCII)] for err.badcharset)
 *   for (i = 0; i < imap_search_text_count(p); i++)      BODY / TEXT keys
 *       imap_search_text_key(p, i, &field, &query);
 *       store_search_text(mb, field, query, &uids, &error);
 *       imap_search_set_text_result(p, i, &uids);
 *   imap_search_prepare(p, &mailbox);       sequence sets, "$", the clock
 *   store_fetch(mb, NULL, imap_search_fetch_mask(p), cb, ...):
 *       cb: if (imap_search_match(p, &msg) > 0) imap_search_result_add(&res, ...)
 *   imap_search_write(p, &res, tag, uid, rev2, out);
 *   imap_search_saved(p, &res, &saved)  when imap_search_return(p) has SAVE
 *   imap_search_free(&p);
 *
 * Extensions: ESEARCH and SEARCHRES (RFC 4731, RFC 5182: RETURN (MIN MAX ALL
 * COUNT SAVE), "$"), WITHIN (RFC 5032: OLDER, YOUNGER), CONDSTORE (RFC 7162:
 * MODSEQ), OBJECTID (RFC 8474: EMAILID, THREADID).
 *
 * Semantics chosen (see docs/imap.md):
 * - CHARSET: UTF-8 and US-ASCII (any case) only; search strings must be valid
 *   UTF-8 (7-bit for US-ASCII).
 * - BEFORE / ON / SINCE compare the calendar day of the INTERNALDATE, and
 *   SENTBEFORE / SENTON / SENTSINCE that of the Date: field, both in UTC
 *   (the server's time zone for SEARCH). A message without a usable Date:
 *   field uses its INTERNALDATE, as the sent date of RFC 5256 2.2 does;
 *   RFC 3501 and RFC 9051 leave the case open.
 * - FROM, TO, CC, BCC, SUBJECT: substring of the decoded field (all of its
 *   occurrences, as the store joins them); HEADER: substring of the decoded
 *   value of any field of that name, "" matching when the field exists.
 *   Comparison is case-insensitive with the simple case mapping of
 *   imap_casemap (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic).
 * - BODY / TEXT are answered by the full-text index (store_search_text:
 *   words, not substrings); an empty string matches every message.
 * - MODSEQ's entry name and type are checked and ignored: the store keeps
 *   one MODSEQ per message (RFC 7162 3.1.5 allows it).
 * - Limits: IMAP_SEARCH_MAX_DEPTH nested keys (NOT, OR, parentheses) and
 *   IMAP_SEARCH_MAX_KEYS keys in one program. */
#ifndef SUREL_IMAP_IMAP_SEARCH_H
#define SUREL_IMAP_IMAP_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "imap/imap_parser.h"
#include "store/store.h"

struct buf;
struct imap_search_program;

#define IMAP_SEARCH_MAX_DEPTH 32
#define IMAP_SEARCH_MAX_KEYS 1000

/* RETURN options (RFC 4731, RFC 5182). */
#define IMAP_SEARCH_RET_MIN   0x01u
#define IMAP_SEARCH_RET_MAX   0x02u
#define IMAP_SEARCH_RET_ALL   0x04u
#define IMAP_SEARCH_RET_COUNT 0x08u
#define IMAP_SEARCH_RET_SAVE  0x10u

/* Why a program was refused. */
struct imap_search_error {
	const char *reason;    /* static text, no CRLF */
	bool badcharset;       /* NO [BADCHARSET (UTF-8 US-ASCII)]; otherwise BAD */
	bool limit;            /* a limit, not a syntax error (the engine may add [LIMIT]) */
};

/* SEARCH: args are what follows the command name ("RETURN (MIN) CHARSET
 * UTF-8 FROM x 1:5"). Returns 0, or -1 with *err_r. */
int imap_search_parse(const struct imap_arg *args, size_t count,
		      struct imap_search_program **prog_r, struct imap_search_error *err_r);
/* SORT and THREAD (RFC 5256): args are "charset SP search-key ..." (the
 * charset is required and there is no RETURN). */
int imap_search_parse_criteria(const struct imap_arg *args, size_t count,
			       struct imap_search_program **prog_r,
			       struct imap_search_error *err_r);
void imap_search_free(struct imap_search_program **prog);

/* IMAP_SEARCH_RET_* given with RETURN; RETURN () is ALL. */
unsigned imap_search_return(const struct imap_search_program *prog);
/* Whether RETURN was given at all (the answer is then ESEARCH). */
bool imap_search_has_return(const struct imap_search_program *prog);
/* Whether a MODSEQ key was used (the answer carries the highest MODSEQ). */
bool imap_search_has_modseq(const struct imap_search_program *prog);
/* Whether an EMAILID key was used (the engine then supplies each message's). */
bool imap_search_uses_emailid(const struct imap_search_program *prog);
/* Whether "$" was used (SEARCHRES: the engine must wait for a pending SAVE). */
bool imap_search_uses_saved(const struct imap_search_program *prog);

/* The STORE_FETCH_* data imap_search_match needs besides flags, dates, size
 * and MODSEQ: STORE_FETCH_SEARCH for FROM/TO/CC/BCC/SUBJECT/SENT*,
 * STORE_FETCH_HEADER for HEADER; 0 for a program of flags, sets, sizes and
 * dates only ("UNSEEN", "1:*"). */
unsigned imap_search_fetch_mask(const struct imap_search_program *prog);

/* ---- BODY / TEXT: answered beforehand by the full-text index ---- */
size_t imap_search_text_count(const struct imap_search_program *prog);
/* The i-th BODY (STORE_SEARCH_BODY) or TEXT (STORE_SEARCH_TEXT) key. */
void imap_search_text_key(const struct imap_search_program *prog, size_t i,
			  enum store_search_field *field_r, const char **query_r);
/* Its result from store_search_text(); the program takes the list over
 * (*uids is emptied). Every text key must have one before matching. */
void imap_search_set_text_result(struct imap_search_program *prog, size_t i,
				 struct store_uid_list *uids);

/* A list of UIDs that every match is in: the smallest result of a BODY or
 * TEXT key that the whole program requires (alone, or in the top-level
 * AND), once the results are set; NULL when there is none. The engine then
 * reads only those messages instead of the whole mailbox. */
const struct store_uid_list *imap_search_candidates(const struct imap_search_program *prog);

/* ---- evaluation ---- */

/* The selected mailbox, once per command. */
struct imap_search_mailbox {
	const uint32_t *uids;                 /* uids[seq - 1]: sequence numbers to UIDs */
	size_t count;
	const struct store_uid_list *saved;   /* "$" (RFC 5182); NULL: nothing saved */
	time_t now;                           /* WITHIN (RFC 5032) */
};
/* Resolve sequence sets, UID sets and "$" against the mailbox. Call once
 * before imap_search_match (again after the mailbox changed). */
void imap_search_prepare(struct imap_search_program *prog, const struct imap_search_mailbox *mb);

/* One message. */
struct imap_search_message {
	uint32_t seq;
	const struct store_message *msg;      /* with imap_search_fetch_mask()'s data */
	bool recent;                          /* \Recent (session state) */
	const char *emailid, *threadid;       /* RFC 8474; NULL: none (matches nothing) */
	/* HEADER when msg->header is NULL (too large for the cache): give the
	 * raw header block, valid until imap_search_match returns; 0 or -1. */
	int (*get_header)(void *ctx, const char **header_r, size_t *len_r);
	void *get_header_ctx;
};
/* 1: the message matches, 0: it does not, -1: get_header failed. */
int imap_search_match(struct imap_search_program *prog, const struct imap_search_message *m);

/* ---- the result ---- */

/* The matches, added in ascending order (sequence numbers and UIDs rise
 * together). */
struct imap_search_result {
	struct store_uid_list seqs, uids;
	uint64_t highest_modseq;              /* of every match */
	uint64_t first_modseq, last_modseq;   /* of the lowest and highest match */
};
void imap_search_result_add(struct imap_search_result *r, uint32_t seq, uint32_t uid,
			    uint64_t modseq);
void imap_search_result_free(struct imap_search_result *r);

/* The untagged answer, CRLF-terminated, appended to out:
 *   "* SEARCH 2 3 5 (MODSEQ 917)"                  no RETURN, not rev2
 *   "* ESEARCH (TAG "a1") UID MIN 2 MAX 9 COUNT 5 ALL 2:4,9 MODSEQ 917"
 * uid: UID SEARCH (UIDs, and "UID" in ESEARCH). rev2: IMAP4rev2 answers
 * ESEARCH even without RETURN (as RETURN (ALL)). Nothing is written for
 * RETURN (SAVE) alone (RFC 5182 2.1). */
void imap_search_write(const struct imap_search_program *prog, const struct imap_search_result *r,
		       const char *tag, bool uid, bool rev2, struct buf *out);
/* What RETURN (SAVE ...) keeps as "$" (RFC 5182 2.4): UIDs of every match,
 * or only the MIN and/or MAX ones when neither ALL nor COUNT was asked.
 * out is replaced. */
void imap_search_saved(const struct imap_search_program *prog, const struct imap_search_result *r,
		       struct store_uid_list *out);

/* ---- helpers shared with SORT/THREAD ---- */

/* Append s[0..len) with the simple case mapping used for comparisons: the
 * titlecase (upper case) of ASCII, Latin-1, Latin Extended-A, Greek and
 * Cyrillic letters, U+0131 and U+017F folded to I and S; everything else,
 * invalid UTF-8 included, is copied. An approximation of
 * i;unicode-casemap (RFC 5051) without decomposition. */
void imap_casemap(const char *s, size_t len, struct buf *out);

#endif
