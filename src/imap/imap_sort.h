/* IMAP SORT and THREAD (RFC 5256, with RFC 5957 DISPLAYFROM / DISPLAYTO)
 * as a pure module: sort criteria are parsed from the argument tree, the
 * engine describes each message that its search matched with a struct
 * imap_sort_msg, and gets them back sorted, or threaded as the
 * parenthesised list that follows "* THREAD ".
 *
 *   UID SORT (REVERSE DATE) UTF-8 ALL
 *     imap_sort_parse(&args[0], &sp, &error); imap_search_parse_criteria(args + 1, ...)
 *     msgs[i]: imap_sort_msg_init(&msgs[i], seq, store_message, header, header_len)
 *              (store_fetch with imap_sort_fetch_mask(&sp))
 *     imap_sort(msgs, n, &sp); write "* SORT" and msgs[i].uid / .seq
 *   UID THREAD REFERENCES UTF-8 ALL
 *     imap_thread_parse(&args[0], &alg, &error); imap_search_parse_criteria(args + 1, ...)
 *     imap_thread(msgs, n, alg, true, out)          "(1 2)(3 (4)(5))"
 *
 * Strings are compared after imap_casemap (imap_search.h), RFC 5256
 * section 7 asking for i;unicode-casemap. */
#ifndef SUREL_IMAP_IMAP_SORT_H
#define SUREL_IMAP_IMAP_SORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "imap/imap_parser.h"
#include "store/store.h"

struct buf;

/* ---- the base subject (RFC 5256 2.1) ---- */

/* Append the base subject of a decoded (UTF-8) Subject value to out, as
 * written (not casemapped). *reply_or_fwd_r (may be NULL) says whether a
 * subj-refwd ("Re:", "Fwd:", "Fw:") or a "(fwd)" trailer was removed: the
 * "reply or forward" of RFC 5256 THREAD step 5B, which does not count a
 * "[fwd: ...]" wrapper. */
void imap_base_subject(const char *subject, struct buf *out, bool *reply_or_fwd_r);

/* ---- SORT ---- */

enum imap_sort_key {
	IMAP_SORT_ARRIVAL,
	IMAP_SORT_CC,
	IMAP_SORT_DATE,
	IMAP_SORT_FROM,
	IMAP_SORT_SIZE,
	IMAP_SORT_SUBJECT,
	IMAP_SORT_TO,
	IMAP_SORT_DISPLAYFROM,    /* RFC 5957 */
	IMAP_SORT_DISPLAYTO,
};

#define IMAP_SORT_MAX_CRITERIA 16

struct imap_sort_program {
	struct {
		enum imap_sort_key key;
		bool reverse;
	} crit[IMAP_SORT_MAX_CRITERIA];
	size_t count;
};

/* sort-criteria: the list argument. Returns 0, or -1 with *error_r (static). */
int imap_sort_parse(const struct imap_arg *arg, struct imap_sort_program *prog_r,
		    const char **error_r);
/* STORE_FETCH_* that imap_sort_msg_init needs for these criteria
 * (STORE_FETCH_SEARCH for SUBJECT and DATE, STORE_FETCH_HEADER for the
 * address keys). */
unsigned imap_sort_fetch_mask(const struct imap_sort_program *prog);

/* One message for SORT or THREAD. The string fields are sort keys:
 * casemapped UTF-8, "" when absent. imap_sort_msg_init fills everything
 * (one allocation, released by imap_sort_msg_clear); a record may also be
 * built by hand (tests), strings then belong to the caller. */
struct imap_sort_msg {
	uint32_t seq, uid;
	time_t internaldate;
	time_t sent_date;                 /* Date:, 0 when absent: INTERNALDATE is used */
	uint64_t size;
	const char *base_subject;         /* RFC 5256 2.1 */
	bool reply_or_fwd;
	const char *from, *to, *cc;       /* addr-mailbox of the first address (RFC 5256) */
	const char *display_from, *display_to;   /* RFC 5957: display name, else mailbox@host */
	/* THREAD=REFERENCES: raw values of Message-ID, In-Reply-To,
	 * References (as written; NULL when absent). */
	const char *message_id, *in_reply_to, *references;
	char *storage_;                   /* imap_sort_msg_init's allocation */
};

/* From the store's data (uid, dates, size, decoded subject: STORE_FETCH_SEARCH)
 * and the raw header block (addresses and message ids; NULL when not needed). */
void imap_sort_msg_init(struct imap_sort_msg *rec, uint32_t seq, const struct store_message *m,
			const char *header, size_t header_len);
void imap_sort_msg_clear(struct imap_sort_msg *rec);

/* Sort in place by the criteria; equal messages stay in sequence order
 * (RFC 5256 3: "the order in which they appear in the mailbox"). */
void imap_sort(struct imap_sort_msg *msgs, size_t n, const struct imap_sort_program *prog);

/* ---- THREAD ---- */

enum imap_thread_alg {
	IMAP_THREAD_ORDEREDSUBJECT,
	IMAP_THREAD_REFERENCES,
};

/* thread-alg atom. Returns 0, or -1 with *error_r (static). */
int imap_thread_parse(const struct imap_arg *arg, enum imap_thread_alg *alg_r,
		      const char **error_r);

/* STORE_FETCH_* that imap_sort_msg_init needs for the algorithm: the
 * subject and Date (STORE_FETCH_SEARCH), for REFERENCES the header too
 * (when store_message.header is NULL the engine reads it from the blob). */
unsigned imap_thread_fetch_mask(enum imap_thread_alg alg);

/* The thread list of msgs (any order) appended to out: thread-list *
 * without "* THREAD " and CRLF; UIDs when uid, else sequence numbers.
 *   thread-list    = "(" (thread-members / thread-nested) ")"
 *   thread-members = nz-number *(SP nz-number) [SP thread-nested]
 *   thread-nested  = 2*thread-list                          (RFC 5256) */
void imap_thread(const struct imap_sort_msg *msgs, size_t n, enum imap_thread_alg alg, bool uid,
		 struct buf *out);

#endif
