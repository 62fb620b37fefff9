/* Shared by the mailbox command family: cmd_mailbox.c (CREATE, DELETE,
 * RENAME, SUBSCRIBE, UNSUBSCRIBE, NAMESPACE, STATUS and the family's table)
 * and cmd_list.c (LIST, LSUB). Not for other parts. */
#ifndef SUREL_IMAP_CMD_MAILBOX_H
#define SUREL_IMAP_CMD_MAILBOX_H

#include <stdbool.h>

#include "imap/imap_int.h"

/* The hierarchy separator: the store's. */
#define IMAP_MAILBOX_SEP '/'

/* NO with the store's response code (imap_no_store), and the store's reason
 * after what when it is about the request (not an internal error) and plain
 * ASCII. Frees error. */
void imap_mailbox_failed(struct imap_cmd *c, const char *what, char *error);

/* "(" status-att *(SP status-att) ")" as a bit set; false after BAD. */
bool imap_status_items_parse(struct imap_cmd *c, const struct imap_arg *a, unsigned *items_r);
/* "* STATUS name (...)" for items of info (mb: the mailbox when open, else
 * NULL). Returns -1 after NO (DELETED-STORAGE could not be counted). */
int imap_status_write(struct imap_cmd *c, struct store_mailbox *mb,
		      const struct store_mailbox_info *info, unsigned items);

void imap_cmd_list(struct imap_cmd *c);
void imap_cmd_lsub(struct imap_cmd *c);

#endif
