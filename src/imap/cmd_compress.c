/* COMPRESS (RFC 4978), a loop command of the logged-in states:
 *
 *   command-auth   =/ compress
 *   compress       = "COMPRESS" SP algorithm
 *   capability     =/ "COMPRESS=" algorithm
 *   algorithm      = "DEFLATE"
 *   resp-text-code =/ "COMPRESSIONACTIVE"
 *
 * Section 3's results, as this server gives them:
 *   OK   "tag OK DEFLATE active"; everything after its CRLF is compressed
 *        (session_compress() stacks the layer once the OK is queued), and
 *        the client's next byte is the start of its compressed stream.
 *   NO   compression "already active via another layer": TLS compression,
 *        with [COMPRESSIONACTIVE] and the layer named, as section 3 asks.
 *   BAD  "invalid or unknown argument, or COMPRESS already active". A second
 *        COMPRESS DEFLATE gets BAD, with [COMPRESSIONACTIVE] too (what Cyrus
 *        sends; Dovecot answers NO [COMPRESSIONACTIVE]: either way the
 *        client must not turn on compression again).
 * Over TLS the layer sits inside it (compress, then encrypt: section 3);
 * LOGIN needs TLS here, so every COMPRESS is over TLS. */
#include <strings.h>

#include "imap/imap_int.h"

static void cmd_compress(struct session *s, struct imap_state *st, const struct imap_command *pc,
			 bool uid)
{
	const char *algorithm = pc->count == 1 ? imap_arg_atom(&pc->args[0]) : NULL;
	if (algorithm == NULL) {
		session_printf(s, "%s BAD Syntax: COMPRESS DEFLATE\r\n", pc->tag);
		return;
	}
	if (strcasecmp(algorithm, "DEFLATE") != 0) {
		session_printf(s, "%s BAD Unknown compression mechanism; only DEFLATE is supported\r\n",
			       pc->tag);
		return;
	}
	if (session_compressed(s)) {
		session_printf(s, "%s BAD [COMPRESSIONACTIVE] DEFLATE is already active via COMPRESS\r\n",
			       pc->tag);
		return;
	}
	if (!session_can_compress(s)) {
		session_printf(s, "%s NO [COMPRESSIONACTIVE] TLS already compresses this connection\r\n",
			       pc->tag);
		return;
	}
	session_printf(s, "%s OK DEFLATE active\r\n", pc->tag);
	session_compress(s);
}

const struct imap_command_def imap_cmds_compress[] = {
	{ "COMPRESS", IMAP_IN_LOGGED, 0, cmd_compress, NULL },
	{ NULL, 0, 0, NULL, NULL },
};
