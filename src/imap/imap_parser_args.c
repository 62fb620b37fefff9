/* The helpers that read the parser's arguments (imap_parser.h): an atom,
 * string, astring or nstring, and numbers. Their grammar is RFC 9051's; the
 * parser's atoms are wider, so the astring check is here. */
#include "imap/imap_parser.h"

#include <string.h>

/* ASTRING-CHAR = ATOM-CHAR / resp-specials */
static bool is_astring_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\", c) == NULL;
}

static bool has_nul(const struct imap_arg *a)
{
	return memchr(a->str, '\0', a->len) != NULL;
}

/* astring = 1*ASTRING-CHAR / string */
const char *imap_arg_astring(const struct imap_arg *a)
{
	if (a->type == IMAP_ARG_STRING)
		return imap_arg_string(a);
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NIL)
		return NULL;
	for (size_t i = 0; i < a->len; i++)
		if (!is_astring_char((unsigned char)a->str[i]))
			return NULL;
	return a->str;
}

/* string = quoted / literal */
const char *imap_arg_string(const struct imap_arg *a)
{
	if (a->type != IMAP_ARG_STRING || has_nul(a))
		return NULL;
	return a->str;
}

const char *imap_arg_atom(const struct imap_arg *a)
{
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NIL)
		return NULL;
	return a->str;
}

/* nstring = string / nil */
const char *imap_arg_nstring(const struct imap_arg *a, bool *is_nil_r)
{
	bool nil = a->type == IMAP_ARG_NIL;
	if (is_nil_r != NULL)
		*is_nil_r = nil;
	return nil ? "" : imap_arg_string(a);
}

/* number = 1*DIGIT   ; unsigned 32-bit integer */
bool imap_arg_number(const struct imap_arg *a, uint32_t *n_r)
{
	uint64_t n;
	if (!imap_arg_number64(a, &n) || n > UINT32_MAX)
		return false;
	*n_r = (uint32_t)n;
	return true;
}

/* number64 = 1*DIGIT   ; unsigned 63-bit integer */
bool imap_arg_number64(const struct imap_arg *a, uint64_t *n_r)
{
	uint64_t v = 0;
	if (a->type != IMAP_ARG_ATOM || a->len == 0)
		return false;
	for (size_t i = 0; i < a->len; i++) {
		if (a->str[i] < '0' || a->str[i] > '9')
			return false;
		unsigned d = (unsigned)(a->str[i] - '0');
		if (v > ((uint64_t)INT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*n_r = v;
	return true;
}
