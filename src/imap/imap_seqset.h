/* IMAP sequence sets (RFC 9051 section 9) and their translation between
 * message sequence numbers and UIDs.
 *
 *   sequence-set    = (seq-number / seq-range) ["," sequence-set]
 *                     ; set of seq-number values, regardless of order.
 *                     ; Servers MAY coalesce overlaps and/or execute
 *                     ; the sequence in any order.
 *   sequence-set    =/ seq-last-command        ; RFC 5182 SEARCHRES
 *   seq-last-command = "$"
 *   seq-number      = nz-number / "*"
 *   seq-range       = seq-number ":" seq-number
 *   nz-number       = digit-nz *DIGIT   ; 1 .. 4294967295
 *
 * "*" is the largest number in use (the last message's sequence number or
 * UID); with no message at all "*" matches nothing. "$" is the result saved
 * by the last SEARCH ... SAVE (a UID set kept by the session). */
#ifndef SUREL_IMAP_IMAP_SEQSET_H
#define SUREL_IMAP_IMAP_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"   /* struct store_uid_range, store_uid_list */

/* Most ranges one set may hold (a longer one is refused: BAD [LIMIT]). */
#define IMAP_SEQSET_MAX_RANGES 100000

/* A parsed set: ranges as written, lo <= hi after ordering each range's two
 * ends, "*" as UINT32_MAX. */
struct imap_seqset {
	struct store_uid_range *ranges;
	size_t count;
	bool dollar;        /* the set is "$" (alone: RFC 5182 allows no mix) */
};

/* Parse the whole of s[0..len). Returns false with *error_r (a static
 * string) for a syntax error or too many ranges. */
bool imap_seqset_parse(const char *s, size_t len, struct imap_seqset *set_r,
		       const char **error_r);
void imap_seqset_free(struct imap_seqset *set);

/* Sequence numbers to UIDs: uids[0..n) are the mailbox's UIDs in sequence
 * order (uids[i] has sequence number i + 1). Numbers beyond n are ignored
 * ("*" is n). The result is sorted and coalesced. */
void imap_seqset_to_uids(const struct imap_seqset *set, const uint32_t *uids, size_t n,
			 struct store_uid_list *out);
/* A UID set against the mailbox: "*" is the largest UID (uids[n-1]); a range
 * n:* with n above it is *:n, i.e. the last UID (RFC 9051 6.4.8). Only UIDs
 * present in uids are kept; sorted and coalesced. */
void imap_seqset_uids(const struct imap_seqset *set, const uint32_t *uids, size_t n,
		      struct store_uid_list *out);
/* Sequence number (1-based) of uid in uids, 0 when absent (binary search). */
uint32_t imap_uid_to_seq(const uint32_t *uids, size_t n, uint32_t uid);
/* Whether uid is in the ascending list l. */
static inline bool imap_uid_in(const struct store_uid_list *l, uint32_t uid)
{
	return imap_uid_to_seq(l->uids, l->count, uid) != 0;
}

/* Write a UID list as a compact sequence set ("1:3,7,9:12") into out, for
 * COPYUID, APPENDUID, ESEARCH ALL, VANISHED. */
struct buf;
void imap_seqset_write(const uint32_t *uids, size_t n, struct buf *out);
/* The list as store ranges (for store calls taking a store_uidset), malloc'd. */
struct store_uid_range *imap_uid_list_ranges(const uint32_t *uids, size_t n, size_t *count_r);

#endif
