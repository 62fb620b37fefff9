/* surel serve: the master process.
 *
 * Reads the configuration, creates the data directory, binds every listener,
 * builds the TLS context, then forks the workers (server.workers, 0 = one per
 * CPU) and the queue runner and supervises them on its own event loop:
 *
 *   SIGCHLD          reap; restart a child that died (back-off from 1 s,
 *                    doubling up to 30 s while it keeps dying within a second)
 *   SIGTERM, SIGINT  stop: children get SIGTERM (sessions are told goodbye),
 *                    SIGKILL for those still there after server.shutdown_timeout;
 *                    exit 0. A second signal kills at once.
 *   SIGHUP           reload: re-read the file; if it is invalid, log why and
 *                    change nothing. Otherwise keep the sockets of unchanged
 *                    addresses, bind the new ones, close the removed ones,
 *                    rebuild the TLS context, start a new generation of
 *                    workers and retire the old one (SIGQUIT: stop accepting,
 *                    finish sessions within server.shutdown_timeout).
 *
 * The master never reads client input and stays root when started as root
 * (to bind ports below 1024 and read the TLS key on reload). */
#ifndef SUREL_SERVER_MASTER_H
#define SUREL_SERVER_MASTER_H

/* Run the server with the configuration file at path (NULL: the built-in
 * defaults). Returns the exit status: 0 after a clean stop, 2 when it cannot
 * start (the reason is printed on stderr, one line). */
int master_run(const char *config_path);

#endif
