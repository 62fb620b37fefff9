/* The authentication service every protocol uses (SMTP AUTH, IMAP LOGIN and
 * AUTHENTICATE, POP3 USER/PASS and AUTH, HTTP).
 *
 * auth_verify() returns at once; the password is checked on the thread pool
 * (directory look-up and hash), and the callback runs later on the loop's
 * thread. Failed logins are throttled per IP (IPv6: per /64) and per account
 * (throttle.h): the reply to a failure is delayed on a timer, never by
 * blocking, and after auth.lockout_failures failures the IP or account is
 * refused without a password check for auth.lockout_time. An unknown user
 * costs the same hash as a known one. Every attempt is logged as one line:
 *
 *   auth session=4f2a0c1e event=fail protocol=imap user=alice@example.org ip=192.0.2.7
 *        reason=bad-password failures=3 delay=4s
 */
#ifndef SUREL_ACCOUNT_AUTH_H
#define SUREL_ACCOUNT_AUTH_H

#include <stddef.h>

struct account_info;
struct config;
struct event_base;
struct pool;

struct auth_service;
struct auth_pending;

struct auth_request {
	const char *protocol;     /* "smtp", "imap", "pop3", "http": for the log */
	const char *username;     /* as the client sent it */
	const char *password;
	const char *remote_ip;    /* numeric; NULL or other text is throttled as one "IP" */
	const char *session_id;   /* for the log; may be NULL */
};

enum auth_result {
	AUTH_OK,         /* the account exists, is enabled and the password matches */
	AUTH_FAILED,     /* anything else the client did wrong; say no more to it */
	AUTH_LOCKED,     /* too many failures from this IP or for this account */
	AUTH_TEMPFAIL,   /* the directory could not be read: try again later */
};

/* account: NULL unless AUTH_OK; valid during the call only (copy what you
 * keep); its password_hash is NULL. */
typedef void auth_callback(enum auth_result result, const struct account_info *account,
			   void *arg);

/* The service for one process and its loop. It copies what it needs from
 * cfg (server.data_dir, auth.*). */
struct auth_service *auth_service_new(struct event_base *base, struct pool *pool,
				      const struct config *cfg);
/* Pending callbacks are dropped, not called. May be called before or after
 * pool_free() of the service's pool. */
void auth_service_free(struct auth_service **service);

/* Check req (every string is copied; the password is wiped after use).
 * cb(arg) runs exactly once on the loop's thread, never from inside
 * auth_verify(), unless auth_cancel() is called first. The returned handle is
 * valid until cb starts: clear your copy in cb. */
struct auth_pending *auth_verify(struct auth_service *service, const struct auth_request *req,
				 auth_callback *cb, void *arg);
/* The session is going away: cb will not be called. A failure already being
 * checked still counts for the throttle. Clears *pending; NULL is fine. */
void auth_cancel(struct auth_pending **pending);

/* "ok", "failed", "locked", "tempfail". */
const char *auth_result_name(enum auth_result result);

/* Called by the master before it forks the workers: the throttle table is put
 * in shared memory with `slots` records (0: the default, 8192, about 2.5 MB),
 * so that all workers count failures together. Without it (the CLI, tests)
 * each process has its own table. Returns 0, or -1 with errno set. */
int auth_throttle_init_shared(size_t slots);

#endif
