/* LIST and LSUB mailbox patterns (RFC 9051 6.3.9, RFC 3501 6.3.8/6.3.9):
 * "*" matches zero or more characters, "%" zero or more characters except
 * the hierarchy separator; every other character matches itself, except that
 * "INBOX" as a name's first level matches in any case ("inbox/%" lists the
 * children of INBOX). Pure: no session, no store.
 *
 * Matching simulates the pattern as an automaton, one bit per position, so
 * one name costs O(name length x pattern length / 64) whatever the pattern:
 * "*a*a*a*a*b" against "aaaa...a" does not backtrack. Compile a pattern once
 * to match it against many names:
 *
 *   struct imap_list_pattern *p = imap_list_pattern_new("Work/%", '/');
 *   if (p == NULL) -> the pattern is longer than IMAP_LIST_PATTERN_MAX
 *   imap_list_pattern_match(p, name);
 *   imap_list_pattern_free(&p);
 */
#ifndef SUREL_IMAP_IMAP_LIST_H
#define SUREL_IMAP_IMAP_LIST_H

#include <stdbool.h>

/* Longest pattern in bytes (after the reference is put in front). The
 * store's names are at most 1024 bytes, and a pattern with more characters
 * than that could only match through wildcards matching nothing. */
#define IMAP_LIST_PATTERN_MAX 1024

struct imap_list_pattern;

/* NULL when pattern is longer than IMAP_LIST_PATTERN_MAX. */
struct imap_list_pattern *imap_list_pattern_new(const char *pattern, char sep);
void imap_list_pattern_free(struct imap_list_pattern **p);
bool imap_list_pattern_match(const struct imap_list_pattern *p, const char *name);
/* Whether the pattern ends with "%" (RFC 9051 6.3.9 and RFC 3501 LSUB:
 * levels of hierarchy it matches are listed even when they are only
 * parents). */
bool imap_list_pattern_ends_pct(const struct imap_list_pattern *p);

/* One match without keeping the compiled pattern; false for a pattern that
 * is too long. */
bool imap_list_match(const char *pattern, const char *name, char sep);

#endif
