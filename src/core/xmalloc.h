/* Allocation that never returns NULL: running out of memory is fatal. */
#ifndef SUREL_CORE_XMALLOC_H
#define SUREL_CORE_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Free *pp and clear it: xfree(&ptr). */
static inline void xfree(void *pp)
{
	void **p = pp;
	free(*p);
	*p = NULL;
}

/* Overwrite secrets before their memory is released. */
void secure_zero(void *p, size_t n);

#endif
