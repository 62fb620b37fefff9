/* Logging: one line per event, key=value fields, a level, the process and
 * (for sessions) a session id, so one session can be followed with grep:
 *
 *   2026-11-23T11:40:00.123Z info worker.1 smtp session=4f2a0c1e event=connect from=198.51.100.7
 *
 * Control characters in the formatted text are replaced with '?', so client
 * input cannot forge log lines. */
#ifndef SUREL_CORE_LOG_H
#define SUREL_CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOGL_DEBUG, LOGL_INFO, LOGL_WARN, LOGL_ERROR };
enum log_target { LOGT_STDERR, LOGT_SYSLOG };

#define SESSION_ID_LEN 8    /* hex digits, without the NUL */

void log_setup(enum log_target target, enum log_level min_level);
/* Name of this process in every line: "master", "worker.1", "queue", "cli". */
void log_set_process(const char *name);
bool log_enabled(enum log_level level);
/* Parse "debug", "info", "warn", "error"; -1 when unknown. */
int log_level_parse(const char *s);

/* component: "smtp", "imap", "auth", "config", ... ; session: NULL or an id. */
void log_msg(enum log_level level, const char *component, const char *session,
	     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A fresh random session id (SESSION_ID_LEN hex digits and a NUL). */
void log_new_session_id(char out[SESSION_ID_LEN + 1]);

#define log_debug(comp, ...) log_msg(LOGL_DEBUG, comp, NULL, __VA_ARGS__)
#define log_info(comp, ...)  log_msg(LOGL_INFO, comp, NULL, __VA_ARGS__)
#define log_warn(comp, ...)  log_msg(LOGL_WARN, comp, NULL, __VA_ARGS__)
#define log_error(comp, ...) log_msg(LOGL_ERROR, comp, NULL, __VA_ARGS__)

#endif
