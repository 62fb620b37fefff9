/* Dates: the Date: header field (for SEARCH SENTBEFORE and friends) and the
 * asctime stamp of an mbox "From " line. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "store/store_int.h"

static const char *const months[] = {
	"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
};

static int month_index(const char *s, size_t len)
{
	if (len < 3)
		return -1;
	for (int i = 0; i < 12; i++)
		if (strncasecmp(s, months[i], 3) == 0)
			return i;
	return -1;
}

/* Skip folding white space and (nested) comments. */
static const char *skip_cfws(const char *p)
{
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (*p != '(')
			return p;
		int depth = 0;
		for (; *p != '\0'; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '(')
				depth++;
			else if (*p == ')' && --depth == 0) {
				p++;
				break;
			}
		}
	}
}

static const char *number(const char *p, int min_digits, int max_digits, int *v)
{
	int n = 0, digits = 0;
	while (isdigit((unsigned char)*p) && digits < max_digits) {
		n = n * 10 + (*p++ - '0');
		digits++;
	}
	if (digits < min_digits || isdigit((unsigned char)*p))
		return NULL;
	*v = n;
	return p;
}

/* zone = ("+" / "-") 4DIGIT, or an obsolete name; the offset in seconds. */
static bool parse_zone(const char *p, long *offset)
{
	static const struct { const char *name; int hours; } names[] = {
		{ "UT", 0 }, { "UTC", 0 }, { "GMT", 0 }, { "Z", 0 },
		{ "EST", -5 }, { "EDT", -4 }, { "CST", -6 }, { "CDT", -5 },
		{ "MST", -7 }, { "MDT", -6 }, { "PST", -8 }, { "PDT", -7 },
	};
	*offset = 0;
	if (*p == '+' || *p == '-') {
		int v;
		if (number(p + 1, 4, 4, &v) == NULL || v % 100 > 59)
			return false;
		*offset = (long)(v / 100 * 3600 + v % 100 * 60) * (*p == '-' ? -1 : 1);
		return true;
	}
	size_t len = 0;
	while (isalpha((unsigned char)p[len]))
		len++;
	if (len == 0)
		return true;   /* a missing zone is read as UTC */
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strlen(names[i].name) == len && strncasecmp(p, names[i].name, len) == 0) {
			*offset = names[i].hours * 3600L;
			return true;
		}
	return true;   /* RFC 5322 4.3: other military zones are "-0000" */
}

/* date-time = [ day-of-week "," ] day month year hour ":" minute [ ":" second ] zone */
time_t store_parse_rfc5322_date(const char *s)
{
	const char *p = skip_cfws(s);
	const char *comma = strchr(p, ',');
	if (comma != NULL && comma - p <= 12 && isalpha((unsigned char)*p))
		p = skip_cfws(comma + 1);
	struct tm tm = { 0 };
	int day, year, hour, min, sec = 0;
	if ((p = number(p, 1, 2, &day)) == NULL)
		return -1;
	p = skip_cfws(p);
	const char *m = p;
	while (isalpha((unsigned char)*p))
		p++;
	tm.tm_mon = month_index(m, (size_t)(p - m));
	if (tm.tm_mon < 0)
		return -1;
	p = skip_cfws(p);
	const char *y = p;
	if ((p = number(p, 2, 4, &year)) == NULL)
		return -1;
	if (p - y == 2)
		year += year < 50 ? 2000 : 1900;
	else if (p - y == 3)
		year += 1900;
	p = skip_cfws(p);
	if ((p = number(p, 1, 2, &hour)) == NULL || *p != ':' ||
	    (p = number(p + 1, 2, 2, &min)) == NULL)
		return -1;
	if (*p == ':' && (p = number(p + 1, 2, 2, &sec)) == NULL)
		return -1;
	if (day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60 || year < 1970)
		return -1;
	long offset;
	if (!parse_zone(skip_cfws(p), &offset))
		return -1;
	tm.tm_mday = day;
	tm.tm_year = year - 1900;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	time_t t = timegm(&tm);
	return t == (time_t)-1 ? -1 : t - offset;
}

/* "Sat Jan  3 01:05:34 1996", possibly followed by a zone or more. */
time_t store_parse_asctime(const char *s, size_t len)
{
	char text[64];
	if (len >= sizeof text)
		len = sizeof text - 1;
	memcpy(text, s, len);
	text[len] = '\0';
	char wday[8], mon[8];
	int day, hour, min, sec, year;
	if (sscanf(text, "%7s %7s %d %d:%d:%d %d", wday, mon, &day, &hour, &min, &sec, &year) != 7)
		return -1;
	struct tm tm = { 0 };
	tm.tm_mon = month_index(mon, strlen(mon));
	if (tm.tm_mon < 0 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60 ||
	    year < 1970)
		return -1;
	tm.tm_mday = day;
	tm.tm_year = year - 1900;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	return timegm(&tm);
}

void store_format_asctime(time_t t, struct buf *out)
{
	struct tm tm;
	char text[64];
	gmtime_r(&t, &tm);
	strftime(text, sizeof text, "%a %b %e %H:%M:%S %Y", &tm);
	buf_append_str(out, text);
}
