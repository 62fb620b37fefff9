#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"

static enum log_target log_target = LOGT_STDERR;
static enum log_level log_min = LOGL_INFO;
static char log_process[32] = "surel";

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_setup(enum log_target target, enum log_level min_level)
{
	if (target == LOGT_SYSLOG && log_target != LOGT_SYSLOG)
		openlog("surel", LOG_PID | LOG_NDELAY, LOG_MAIL);
	log_target = target;
	log_min = min_level;
}

void log_set_process(const char *name)
{
	snprintf(log_process, sizeof log_process, "%s", name);
}

bool log_enabled(enum log_level level)
{
	return level >= log_min;
}

int log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

static void sanitize(char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x20 || c == 0x7f)
			p[i] = '?';
	}
}

void log_msg(enum log_level level, const char *component, const char *session,
	     const char *fmt, ...)
{
	if (level < log_min)
		return;
	struct buf line = BUF_INIT;
	if (log_target == LOGT_STDERR) {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		char stamp[32];
		strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
		buf_appendf(&line, "%s.%03ldZ ", stamp, ts.tv_nsec / 1000000);
	}
	buf_appendf(&line, "%s %s %s", level_names[level], log_process, component);
	if (session != NULL)
		buf_appendf(&line, " session=%s", session);
	buf_putc(&line, ' ');
	size_t start = line.len;
	va_list ap;
	va_start(ap, fmt);
	buf_vappendf(&line, fmt, ap);
	va_end(ap);
	sanitize(line.data + start, line.len - start);

	if (log_target == LOGT_SYSLOG) {
		static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };
		syslog(prio[level], "%s", buf_cstr(&line));
	} else {
		buf_putc(&line, '\n');
		/* One write per line keeps lines whole when processes share stderr. */
		(void)!write(STDERR_FILENO, line.data, line.len);
	}
	buf_free(&line);
}

void log_new_session_id(char out[SESSION_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[SESSION_ID_LEN / 2];
	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		memset(rnd, 0, sizeof rnd);
	for (size_t i = 0; i < sizeof rnd; i++) {
		out[2 * i] = hex[rnd[i] >> 4];
		out[2 * i + 1] = hex[rnd[i] & 15];
	}
	out[SESSION_ID_LEN] = '\0';
}
