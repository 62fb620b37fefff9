/* struct buf: the one byte-string type. Pointer, length, capacity; the bytes
 * are always followed by a NUL so that buf_cstr() is safe to hand to C APIs
 * (the content itself may hold NULs). */
#ifndef SUREL_CORE_BUF_H
#define SUREL_CORE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *data;     /* NULL until the first append */
	size_t len;
	size_t cap;     /* bytes allocated, including the NUL */
};

#define BUF_INIT { NULL, 0, 0 }

void buf_init(struct buf *b);
void buf_free(struct buf *b);
/* Make room for `extra` more bytes (plus the NUL). */
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_append_str(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vappendf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void buf_set(struct buf *b, const void *p, size_t n);
void buf_truncate(struct buf *b, size_t len);
/* Drop the first n bytes. */
void buf_consume(struct buf *b, size_t n);
static inline void buf_clear(struct buf *b) { buf_truncate(b, 0); }
/* Always a valid C string, "" for an empty buffer. */
const char *buf_cstr(const struct buf *b);
/* Hand the bytes to the caller (malloc'd, NUL-terminated); b becomes empty. */
char *buf_steal(struct buf *b);
bool buf_eq_str(const struct buf *b, const char *s);

#endif
