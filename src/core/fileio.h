/* Whole-file reads into a struct buf. */
#ifndef SUREL_CORE_FILEIO_H
#define SUREL_CORE_FILEIO_H

#include "core/buf.h"

/* Append everything readable from fd to out (retrying EINTR); `name` names
 * the file in *error_r. Does not close fd. */
int fileio_read_fd(int fd, const char *name, struct buf *out, char **error_r);
/* Append the whole file at path to out. */
int fileio_read_file(const char *path, struct buf *out, char **error_r);

#endif
