/* The server side of SASL (RFC 4422) shared by SMTP AUTH (RFC 4954), IMAP
 * AUTHENTICATE (RFC 9051, SASL-IR RFC 4959) and POP3 AUTH (RFC 5034), with the
 * mechanisms PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login). It knows
 * nothing of the protocols: a protocol feeds it the client's base64 lines
 * (without CRLF) and sends back the base64 challenges it returns, framed its
 * own way ("334 ...", "+ ..."). Checking the credentials is auth.h's job.
 *
 *   struct sasl *s = sasl_new(mech);                  NULL: unknown mechanism
 *   st = sasl_step(s, initial_response_or_NULL, &challenge, &error);
 *   while (st == SASL_CONTINUE) { send challenge; read line;
 *                                 st = sasl_step(s, line, &challenge, &error); }
 *   SASL_DONE: sasl_authcid(s), sasl_password(s) are the credentials.
 */
#ifndef SUREL_ACCOUNT_SASL_H
#define SUREL_ACCOUNT_SASL_H

#include "core/buf.h"

/* Longest decoded client response; a longer one is SASL_MALFORMED. */
#define SASL_MAX_RESPONSE 1024

struct sasl;

enum sasl_status {
	SASL_CONTINUE,   /* send the challenge, feed the client's next line */
	SASL_DONE,       /* credentials are available */
	SASL_CANCELLED,  /* the client sent "*" (RFC 4422 3.5) */
	SASL_MALFORMED,  /* bad base64, too long, bad fields: *error_r says why */
};

/* The mechanisms to advertise, space-separated: "PLAIN LOGIN". Both send the
 * password in clear, so protocols offer them only over TLS (or to loopback
 * when configured so). */
const char *sasl_mechanisms(void);

/* mech is matched case-insensitively; NULL for an unknown mechanism. */
struct sasl *sasl_new(const char *mech);
/* Zeroes the password and every decoded response, then frees; clears *sasl. */
void sasl_free(struct sasl **sasl);
/* The mechanism's canonical name ("PLAIN"). */
const char *sasl_mech_name(const struct sasl *sasl);

/* One step of the exchange.
 * client_b64: on the first call the initial response, NULL when the client
 *   sent none, "=" for an empty one (RFC 4954, RFC 4959); on later calls the
 *   client's line, where "" is an empty response. "*" cancels at any step.
 *   Strict RFC 4648 base64: no whitespace, canonical padding.
 * challenge_b64: replaced by the base64 challenge for SASL_CONTINUE (possibly
 *   empty); untouched otherwise.
 * error_r: set (caller frees) for SASL_MALFORMED only.
 * After any status but SASL_CONTINUE the exchange is over; a further call
 * returns SASL_MALFORMED. */
enum sasl_status sasl_step(struct sasl *sasl, const char *client_b64, struct buf *challenge_b64,
			   char **error_r);

/* The credentials, after SASL_DONE (NULL before). authzid is "" when the
 * client asked for none; when set it equals authcid (no proxy login). */
const char *sasl_authcid(const struct sasl *sasl);
const char *sasl_password(const struct sasl *sasl);
const char *sasl_authzid(const struct sasl *sasl);

#endif
