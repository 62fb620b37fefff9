/* One directory handle per thread, for work on the thread pool (SQLite
 * handles are per thread): opened on first use, closed when the thread exits. */
#include "account/directory.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"

struct thread_dir {
	char *data_dir;
	struct directory *dir;
};

static pthread_key_t thread_dir_key;
static pthread_once_t thread_dir_once = PTHREAD_ONCE_INIT;

static void thread_dir_free(void *p)
{
	struct thread_dir *td = p;
	directory_close(&td->dir);
	free(td->data_dir);
	free(td);
}

static void thread_dir_key_init(void)
{
	if (pthread_key_create(&thread_dir_key, thread_dir_free) != 0)
		abort();
}

static struct thread_dir *thread_dir_get(void)
{
	pthread_once(&thread_dir_once, thread_dir_key_init);
	struct thread_dir *td = pthread_getspecific(thread_dir_key);
	if (td == NULL) {
		td = xcalloc(1, sizeof *td);
		pthread_setspecific(thread_dir_key, td);
	}
	return td;
}

struct directory *directory_for_thread(const char *data_dir, char **error_r)
{
	struct thread_dir *td = thread_dir_get();
	if (td->dir != NULL && strcmp(td->data_dir, data_dir) == 0)
		return td->dir;
	directory_close(&td->dir);
	xfree(&td->data_dir);
	if (directory_open(data_dir, &td->dir, error_r) < 0)
		return NULL;
	td->data_dir = xstrdup(data_dir);
	return td->dir;
}

void directory_thread_reset(void)
{
	struct thread_dir *td = thread_dir_get();
	directory_close(&td->dir);
	xfree(&td->data_dir);
}
