/* The part tree: filling a part from its header fields, part numbers, and
 * freeing. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"
#include "mime/mime_int.h"

static const char *const field_names[MF_COUNT] = {
	[MF_CONTENT_TYPE] = "content-type",
	[MF_CONTENT_TRANSFER_ENCODING] = "content-transfer-encoding",
	[MF_CONTENT_ID] = "content-id",
	[MF_CONTENT_DESCRIPTION] = "content-description",
	[MF_CONTENT_MD5] = "content-md5",
	[MF_CONTENT_DISPOSITION] = "content-disposition",
	[MF_CONTENT_LANGUAGE] = "content-language",
	[MF_CONTENT_LOCATION] = "content-location",
	[MF_DATE] = "date",
	[MF_SUBJECT] = "subject",
	[MF_FROM] = "from",
	[MF_SENDER] = "sender",
	[MF_REPLY_TO] = "reply-to",
	[MF_TO] = "to",
	[MF_CC] = "cc",
	[MF_BCC] = "bcc",
	[MF_IN_REPLY_TO] = "in-reply-to",
	[MF_MESSAGE_ID] = "message-id",
	[MF_REFERENCES] = "references",
};

int mime_field_lookup(const char *name, size_t len)
{
	for (int i = 0; i < MF_COUNT; i++)
		if (strlen(field_names[i]) == len && strncasecmp(field_names[i], name, len) == 0)
			return i;
	return -1;
}

bool mime_field_is_address(int idx)
{
	return idx >= MF_FROM && idx <= MF_BCC;
}

bool mime_field_last_wins(int idx)
{
	return idx >= MF_DATE;
}

static void lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* NULL for an absent or empty (all whitespace) value. */
static char *value_or_null(const char *v)
{
	if (v == NULL)
		return NULL;
	for (const char *p = v; *p != '\0'; p++)
		if (!mime_is_wsp((unsigned char)*p))
			return xstrdup(v);
	return NULL;
}

static void set_type(struct mime_part *part, const char *type, const char *subtype)
{
	part->type = xstrdup(type);
	part->subtype = xstrdup(subtype);
	part->bs_type = xstrdup(type);
	part->bs_subtype = xstrdup(subtype);
}

void mime_part_from_fields(struct mime_part *part, struct mime_message *msg,
			   char *fields[MF_COUNT], const size_t lens[MF_COUNT], bool digest)
{
	char *type = NULL, *subtype = NULL;
	if (fields[MF_CONTENT_TYPE] != NULL)
		mime_parse_content_type(fields[MF_CONTENT_TYPE], lens[MF_CONTENT_TYPE], &type,
					&subtype, &part->params, &part->n_params);
	if (type != NULL) {
		part->bs_type = type;
		part->bs_subtype = subtype;
		part->type = xstrdup(type);
		part->subtype = xstrdup(subtype);
		lower(part->type);
		lower(part->subtype);
	} else if (digest) {
		/* RFC 2046 5.1.5: in a digest the default is message/rfc822. */
		set_type(part, "message", "rfc822");
	} else {
		/* RFC 2045 5.2: no Content-Type, or an invalid one, is
		 * text/plain; charset=us-ascii. */
		set_type(part, "text", "plain");
	}

	if (fields[MF_CONTENT_TRANSFER_ENCODING] != NULL) {
		struct mime_lex lx;
		struct buf tok = BUF_INIT;
		mime_lex_init(&lx, fields[MF_CONTENT_TRANSFER_ENCODING],
			      lens[MF_CONTENT_TRANSFER_ENCODING]);
		/* RFC 2045 6.1: encoding := "Content-Transfer-Encoding" ":"
		 * mechanism; anything after the one token makes it invalid,
		 * and the default (7bit) applies. */
		mime_lex_skip_cfws(&lx, NULL);
		if (mime_lex_token(&lx, &tok)) {
			mime_lex_skip_cfws(&lx, NULL);
			if (mime_lex_eof(&lx))
				part->encoding = buf_steal(&tok);
		}
		buf_free(&tok);
	}
	part->id = value_or_null(fields[MF_CONTENT_ID]);
	part->description = value_or_null(fields[MF_CONTENT_DESCRIPTION]);
	part->md5 = value_or_null(fields[MF_CONTENT_MD5]);
	part->language = value_or_null(fields[MF_CONTENT_LANGUAGE]);
	part->location = value_or_null(fields[MF_CONTENT_LOCATION]);
	if (fields[MF_CONTENT_DISPOSITION] != NULL)
		mime_parse_disposition(fields[MF_CONTENT_DISPOSITION], lens[MF_CONTENT_DISPOSITION],
				       &part->disposition, &part->disp_params,
				       &part->n_disp_params);
	if (msg == NULL)
		return;
	char **env[] = {
		[MF_DATE] = &msg->date,
		[MF_SUBJECT] = &msg->subject,
		[MF_FROM] = &msg->from,
		[MF_SENDER] = &msg->sender,
		[MF_REPLY_TO] = &msg->reply_to,
		[MF_TO] = &msg->to,
		[MF_CC] = &msg->cc,
		[MF_BCC] = &msg->bcc,
		[MF_IN_REPLY_TO] = &msg->in_reply_to,
		[MF_MESSAGE_ID] = &msg->message_id,
		[MF_REFERENCES] = &msg->references,
	};
	for (int i = MF_DATE; i < MF_COUNT; i++)
		if (fields[i] != NULL)
			*env[i] = xstrdup(fields[i]);
}

const char *mime_part_charset(const struct mime_part *part)
{
	const char *cs = mime_param_get(part->params, part->n_params, "charset");
	return cs != NULL && *cs != '\0' ? cs : "us-ascii";
}

void mime_part_clear(struct mime_part *part)
{
	free(part->type);
	free(part->subtype);
	free(part->bs_type);
	free(part->bs_subtype);
	mime_params_free(&part->params, &part->n_params);
	free(part->id);
	free(part->description);
	free(part->encoding);
	free(part->md5);
	free(part->disposition);
	free(part->language);
	free(part->location);
	mime_params_free(&part->disp_params, &part->n_disp_params);
	for (size_t i = 0; i < part->n_children; i++)
		mime_part_clear(&part->children[i]);
	free(part->children);
	mime_message_free(&part->message);
	memset(part, 0, sizeof *part);
}

void mime_message_free(struct mime_message **mp)
{
	struct mime_message *m = *mp;
	if (m == NULL)
		return;
	mime_part_clear(&m->root);
	free(m->date);
	free(m->subject);
	free(m->from);
	free(m->sender);
	free(m->reply_to);
	free(m->to);
	free(m->cc);
	free(m->bcc);
	free(m->in_reply_to);
	free(m->message_id);
	free(m->references);
	xfree(mp);
}

bool mime_part_is_multipart(const struct mime_part *part)
{
	return strcmp(part->type, "multipart") == 0;
}

/*
 * RFC 9051 6.4.5: "Every message has at least one part number. Non-[MIME-IMB]
 * messages, and non-multipart [MIME-IMB] messages with no encapsulated
 * message, only have a part 1. Multipart messages are assigned consecutive
 * part numbers, as they occur in the message. If a particular part is of
 * type message or multipart, its parts MUST be indicated by a period
 * followed by the part number within that nested multipart part."
 */
static const struct mime_part *child_of(const struct mime_part *part, unsigned long n)
{
	if (part->message != NULL) {
		const struct mime_part *root = &part->message->root;
		if (mime_part_is_multipart(root))
			return n >= 1 && n <= root->n_children ? &root->children[n - 1] : NULL;
		return n == 1 ? root : NULL;
	}
	if (mime_part_is_multipart(part))
		return n >= 1 && n <= part->n_children ? &part->children[n - 1] : NULL;
	return NULL;
}

const struct mime_part *mime_find_part(const struct mime_message *m, const char *section)
{
	if (*section == '\0')
		return &m->root;
	const struct mime_part *part = NULL;
	const char *p = section;
	while (*p != '\0') {
		if (*p < '1' || *p > '9')
			return NULL;
		char *end;
		unsigned long n = strtoul(p, &end, 10);
		if (part == NULL) {
			/* The top level: the message's own body. */
			const struct mime_part *root = &m->root;
			if (mime_part_is_multipart(root))
				part = n <= root->n_children ? &root->children[n - 1] : NULL;
			else
				part = n == 1 ? root : NULL;
		} else {
			part = child_of(part, n);
		}
		if (part == NULL)
			return NULL;
		if (*end == '\0')
			break;
		if (*end != '.' || end[1] == '\0')
			return NULL;
		p = end + 1;
	}
	return part;
}
