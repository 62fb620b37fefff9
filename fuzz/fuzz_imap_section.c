/* libFuzzer target: IMAP FETCH body sections. The input up to the first LF
 * is the fetch-att atom; the rest, when there is any, is the message (else a
 * fixed multipart message with nested and encoded parts). A valid atom's
 * name is written and, without a partial, parses again to the same name;
 * then the section is extracted, and its bytes must respect the partial and,
 * for BODY, never exceed the message. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/imap_section.h"
#include "mime/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed_msg[] =
	"From: a@example.org\r\n"
	"Subject: multi\r\n"
	"Content-Type: multipart/mixed; boundary=\"B\"\r\n"
	"\r\n"
	"--B\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"part one\r\n"
	"--B\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"AAEC/w==\r\n"
	"--B\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"caf=C3=A9 soft=\r\n"
	"break\r\n"
	"--B\r\n"
	"Content-Type: message/rfc822\r\n"
	"\r\n"
	"From: inner@example.org\r\n"
	"Subject: inner\r\n"
	"\tfolded\r\n"
	"Content-Type: multipart/alternative; boundary=\"C\"\r\n"
	"\r\n"
	"--C\r\n"
	"\r\n"
	"inner text\r\n"
	"--C--\r\n"
	"--B\r\n"
	"Content-Transfer-Encoding: x-unknown\r\n"
	"\r\n"
	"?\r\n"
	"--B--\r\n";

static void check_name(const struct imap_section *sec)
{
	struct buf name = BUF_INIT, again = BUF_INIT;
	imap_section_write_name(sec, &name);
	if (!sec->partial) {
		struct imap_section sec2;
		const char *error;
		if (!imap_section_parse(name.data, name.len, &sec2, &error))
			abort();
		imap_section_write_name(&sec2, &again);
		if (!buf_eq_str(&again, buf_cstr(&name)))
			abort();
		imap_section_clear(&sec2);
	}
	buf_free(&name);
	buf_free(&again);
}

static void check_fetch(const struct imap_section *sec, const char *msg, size_t len)
{
	struct mime_message *m = mime_parse(msg, len);
	struct buf out = BUF_INIT;
	uint64_t size = 0;
	bool unknown_cte = false;
	char *error = NULL;
	int ret = imap_section_fetch(sec, m, msg, len, &out, &size, &unknown_cte, &error);
	if (ret < 0) {
		if (error == NULL || out.len != 0 || sec->kind == IMAP_FETCH_BODY)
			abort();
		free(error);
	} else if (sec->kind != IMAP_FETCH_BINARY_SIZE) {
		if (size != out.len || unknown_cte || (sec->partial && out.len > sec->length))
			abort();
		if (sec->kind == IMAP_FETCH_BODY && out.len > len)
			abort();
	}
	buf_free(&out);
	mime_message_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t atom_len = nl != NULL ? (size_t)(nl - data) : size;
	/* Copies without a terminator past the end: ASan sees any over-read. */
	char *atom = malloc(atom_len > 0 ? atom_len : 1);
	if (atom == NULL)
		abort();
	memcpy(atom, data, atom_len);
	struct imap_section sec;
	const char *error = NULL;
	if (!imap_section_parse(atom, atom_len, &sec, &error)) {
		if (error == NULL || sec.part != NULL || sec.fields != NULL)
			abort();
		free(atom);
		return 0;
	}
	check_name(&sec);
	size_t msg_len = nl != NULL ? size - atom_len - 1 : 0;
	if (msg_len > 0) {
		char *msg = malloc(msg_len);
		if (msg == NULL)
			abort();
		memcpy(msg, nl + 1, msg_len);
		check_fetch(&sec, msg, msg_len);
		free(msg);
	} else {
		check_fetch(&sec, fixed_msg, sizeof fixed_msg - 1);
	}
	imap_section_clear(&sec);
	free(atom);
	return 0;
}
