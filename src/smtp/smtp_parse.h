/* The arguments of the SMTP mail transaction commands, MAIL and RCPT
 * (RFC 5321 4.1.1.2, 4.1.1.3, 4.1.2), with the parameters of the extensions
 * Surel announces: SIZE (RFC 1870), BODY (RFC 6152, RFC 3030), SMTPUTF8
 * (RFC 6531), RET, ENVID, NOTIFY, ORCPT (DSN, RFC 3461).
 *
 * Pure functions on one command line's argument (what follows "MAIL " or
 * "RCPT "): no I/O, no directory. A command line is complete when it is
 * parsed (the session cuts lines), so "incremental" here is the line reader's
 * job; the parser never reads past `len` and accepts NULs in the input (it
 * refuses them).
 *
 * On error the functions return -1 and *reply_r points to the complete
 * static reply line (without CRLF), e.g. "501 5.1.3 Bad recipient address
 * syntax": the codes follow RFC 5321 4.2 / 4.5.3.1, RFC 1869 and RFC 3463. */
#ifndef SUREL_SMTP_SMTP_PARSE_H
#define SUREL_SMTP_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* RFC 5321 4.5.3.1: local part 64, domain 255, path (with "<>") 256. */
#define SMTP_LOCAL_MAX   64
#define SMTP_DOMAIN_MAX  255
#define SMTP_PATH_MAX    256
/* RFC 3461 4.4: ENVID at most 100 characters; ORCPT 500 (4.2). */
#define SMTP_ENVID_MAX   100
#define SMTP_ORCPT_MAX   500

/* Parser flags. */
enum {
	/* The client said EHLO: parameters are allowed (RFC 1869 6). */
	SMTP_PARSE_ESMTP = 1 << 0,
	/* Named workaround "space_after_colon": "MAIL FROM: <a@b>". RFC 5321
	 * has no space there, but many old clients send one; Postfix and
	 * Exim accept it. */
	SMTP_PARSE_SPACE_AFTER_COLON = 1 << 1,
	/* RCPT in a transaction whose MAIL had SMTPUTF8: UTF-8 addresses. */
	SMTP_PARSE_UTF8 = 1 << 2,
};

enum smtp_body { SMTP_BODY_NONE, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME, SMTP_BODY_BINARYMIME };
enum smtp_ret { SMTP_RET_NONE, SMTP_RET_FULL, SMTP_RET_HDRS };

/* NOTIFY (RFC 3461 4.1): 0 when the parameter was not given. */
enum {
	SMTP_NOTIFY_NEVER = 1 << 0,
	SMTP_NOTIFY_SUCCESS = 1 << 1,
	SMTP_NOTIFY_FAILURE = 1 << 2,
	SMTP_NOTIFY_DELAY = 1 << 3,
};

/* A path's mailbox. `address` is "local@domain" as it will be written in
 * the envelope: a Quoted-string local part whose content is a valid
 * Dot-string is unquoted ("\"bob\""@x -> bob@x), any other is kept quoted
 * exactly as sent. Source routes are dropped (RFC 5321 4.1.1.3 / C).
 * Empty for the null path "<>"; "postmaster" (no domain) for RCPT
 * TO:<Postmaster> (RFC 5321 4.1.1.3, any case). */
struct smtp_path {
	struct buf address;
	size_t at;            /* offset of the '@' in address; 0 if none */
	bool null;            /* "<>" */
	bool postmaster;      /* RCPT TO:<Postmaster> */
	bool quoted;          /* the local part is still a Quoted-string */
	bool utf8;            /* non-ASCII characters (needs SMTPUTF8) */
	bool literal;         /* the domain is an address literal */
};

struct smtp_mail_args {
	struct smtp_path path;
	long long size;       /* SIZE=, -1 when absent */
	enum smtp_body body;
	bool smtputf8;
	enum smtp_ret ret;
	struct buf envid;     /* ENVID= as xtext, empty when absent */
};

struct smtp_rcpt_args {
	struct smtp_path path;
	unsigned notify;      /* SMTP_NOTIFY_*, 0 when absent */
	struct buf orcpt;     /* ORCPT= as sent ("rfc822;xtext"), empty when absent */
};

/* "FROM:" Reverse-path [SP Mail-parameters] */
int smtp_parse_mail(const char *arg, size_t len, unsigned flags, struct smtp_mail_args *out,
		    const char **reply_r);
/* "TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path ) [SP Rcpt-parameters] */
int smtp_parse_rcpt(const char *arg, size_t len, unsigned flags, struct smtp_rcpt_args *out,
		    const char **reply_r);

void smtp_mail_args_clear(struct smtp_mail_args *a);
void smtp_rcpt_args_clear(struct smtp_rcpt_args *a);

/* RFC 3461 4: xtext = *( xchar / hexchar ); true when s is valid xtext. */
bool smtp_xtext_valid(const char *s, size_t len);
/* Decode xtext (for display); invalid input is copied as it is. */
void smtp_xtext_decode(const char *s, size_t len, struct buf *out);

const char *smtp_body_name(enum smtp_body body);   /* "7BIT", ..., NULL for none */
/* "NEVER" or "SUCCESS,FAILURE,DELAY" (some of them), "" for 0. */
void smtp_notify_format(unsigned notify, struct buf *out);

#endif
