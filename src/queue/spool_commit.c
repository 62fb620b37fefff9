/* Group commit of spooled messages on a worker's thread pool; see spool.h.
 *
 * At most one batch is on the pool at a time. Messages finished while it
 * runs wait in a list, and the next batch takes them all: their files are
 * synced one after the other and renamed, and the directory is synced once
 * for the whole batch. Under load the directory fsync (and the journal
 * commit it forces) is shared by every message of the batch; with one
 * client at a time a batch holds one message and nothing is lost by
 * waiting. */
#include "queue/spool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/pool.h"
#include "core/xmalloc.h"

struct spool_commit {
	struct spool_msg *msg;
	char id[SPOOL_ID_LEN + 1];
	struct buf envelope;
	void (*done)(int err, void *arg);   /* NULL once cancelled */
	void *arg;
	int err;
	struct spool_commit *next;
};

struct spool_committer {
	struct pool *pool;
	char *dir;
	bool batch;
	bool busy;                      /* a batch is on the pool */
	struct spool_commit *head, *tail;   /* waiting for the next batch */
	uint64_t messages, batches;
};

struct batch {
	struct spool_committer *c;      /* not touched on the pool thread but dir */
	char *dir;
	bool sync_each;                 /* no batching: every message syncs the directory */
	struct spool_commit *items;
};

struct spool_committer *spool_committer_new(struct pool *pool, const char *dir, bool batch)
{
	struct spool_committer *c = xcalloc(1, sizeof *c);
	c->pool = pool;
	c->dir = xstrdup(dir);
	c->batch = batch;
	return c;
}

static void item_free(struct spool_commit *item)
{
	spool_msg_abort(&item->msg);   /* NULL after a commit */
	buf_free(&item->envelope);
	free(item);
}

static void items_free(struct spool_commit *item)
{
	while (item != NULL) {
		struct spool_commit *next = item->next;
		item_free(item);
		item = next;
	}
}

void spool_committer_free(struct spool_committer **cp)
{
	struct spool_committer *c = *cp;
	if (c == NULL)
		return;
	items_free(c->head);
	free(c->dir);
	free(c);
	*cp = NULL;
}

/* On a pool thread. */
static void batch_work(void *arg)
{
	struct batch *b = arg;
	bool any = false;
	for (struct spool_commit *it = b->items; it != NULL; it = it->next)
		spool_msg_start_writeback(it->msg);
	for (struct spool_commit *it = b->items; it != NULL; it = it->next) {
		it->err = spool_msg_commit(&it->msg, &it->envelope, b->sync_each);
		any = any || it->err == 0;
	}
	if (b->sync_each || !any)
		return;
	int err = spool_sync_dir(b->dir);
	if (err == 0)
		return;
	/* The directory could not be made durable: none of these is. */
	for (struct spool_commit *it = b->items; it != NULL; it = it->next) {
		if (it->err != 0)
			continue;
		it->err = err;
		char *env = xasprintf("%s/%s.env", b->dir, it->id);
		char *msg = xasprintf("%s/%s.msg", b->dir, it->id);
		unlink(env);
		unlink(msg);
		free(env);
		free(msg);
	}
}

static void batch_free(struct batch *b)
{
	items_free(b->items);
	free(b->dir);
	free(b);
}

static void batch_discard(void *arg)
{
	batch_free(arg);
}

static void submit_waiting(struct spool_committer *c);

static void batch_done(void *arg)
{
	struct batch *b = arg;
	struct spool_committer *c = b->c;
	if (!b->sync_each)
		c->busy = false;
	c->batches++;
	for (struct spool_commit *it = b->items; it != NULL; it = it->next) {
		c->messages++;
		if (it->done != NULL) {
			void (*done)(int, void *) = it->done;
			it->done = NULL;
			done(it->err, it->arg);
		}
	}
	batch_free(b);
	submit_waiting(c);
}

static void submit_batch(struct spool_committer *c, struct spool_commit *items, bool sync_each)
{
	struct batch *b = xcalloc(1, sizeof *b);
	b->c = c;
	b->dir = xstrdup(c->dir);
	b->sync_each = sync_each;
	b->items = items;
	pool_submit_ex(c->pool, batch_work, batch_done, batch_discard, b);
}

static void submit_waiting(struct spool_committer *c)
{
	if (c->busy || c->head == NULL)
		return;
	c->busy = true;
	struct spool_commit *items = c->head;
	c->head = c->tail = NULL;
	submit_batch(c, items, false);
}

struct spool_commit *spool_commit_submit(struct spool_committer *c, struct spool_msg **msg,
					 const struct buf *envelope, void (*done)(int err, void *arg),
					 void *arg)
{
	struct spool_commit *it = xcalloc(1, sizeof *it);
	it->msg = *msg;
	*msg = NULL;
	memcpy(it->id, spool_msg_id(it->msg), SPOOL_ID_LEN + 1);
	buf_append(&it->envelope, envelope->data, envelope->len);
	it->done = done;
	it->arg = arg;
	if (c->pool == NULL) {
		int err = spool_msg_commit(&it->msg, &it->envelope, true);
		c->messages++;
		c->batches++;
		item_free(it);
		done(err, arg);
		return NULL;
	}
	if (!c->batch) {
		submit_batch(c, it, true);
		return it;
	}
	if (c->tail != NULL)
		c->tail->next = it;
	else
		c->head = it;
	c->tail = it;
	submit_waiting(c);
	return it;
}

void spool_commit_cancel(struct spool_commit **commit)
{
	if (*commit == NULL)
		return;
	(*commit)->done = NULL;
	*commit = NULL;
}

void spool_committer_stats(const struct spool_committer *c, uint64_t *messages_r,
			   uint64_t *batches_r)
{
	*messages_r = c->messages;
	*batches_r = c->batches;
}
