#include "core/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "core/xmalloc.h"

int fileio_read_fd(int fd, const char *name, struct buf *out, char **error_r)
{
	char chunk[65536];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*error_r = xasprintf("%s: read: %s", name, strerror(errno));
			return -1;
		}
		if (n == 0)
			return 0;
		buf_append(out, chunk, (size_t)n);
	}
}

int fileio_read_file(const char *path, struct buf *out, char **error_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	int r = fileio_read_fd(fd, path, out, error_r);
	close(fd);
	return r;
}
