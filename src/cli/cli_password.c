/* Reading a new password for surel user add|passwd: from the terminal with
 * echo off, from stdin, generated, or an existing hash. */
#include "cli/cli_account.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "account/password.h"
#include "cli/cli.h"
#include "core/xmalloc.h"

/* Room for the longest password, "\r\n", and one byte to see it is longer. */
#define INPUT_MAX (PASSWORD_MAX_LEN + 3)

void cli_secret_clear(struct cli_secret *s)
{
	if (s->password != NULL)
		secure_zero(s->password, strlen(s->password));
	xfree(&s->password);
	xfree(&s->hash);
}

/* Remove one trailing newline ("\n" or "\r\n"). */
static size_t strip_newline(const char *p, size_t len)
{
	if (len > 0 && p[len - 1] == '\n')
		len--;
	if (len > 0 && p[len - 1] == '\r')
		len--;
	return len;
}

/* Whether p[0..len) is acceptable as a password; prints why not. */
static bool password_acceptable(const char *p, size_t len)
{
	if (len == 0) {
		cli_failf("empty password refused");
		return false;
	}
	if (len > PASSWORD_MAX_LEN) {
		cli_failf("password longer than %d bytes refused (the limit of libcrypt)",
			  PASSWORD_MAX_LEN);
		return false;
	}
	if (memchr(p, '\0', len) != NULL) {
		cli_failf("password with a NUL byte refused");
		return false;
	}
	if (memchr(p, '\n', len) != NULL || memchr(p, '\r', len) != NULL) {
		cli_failf("password with a line break refused (--password-stdin reads one line)");
		return false;
	}
	return true;
}

/* All of stdin, up to INPUT_MAX bytes. */
static char *read_stdin_password(void)
{
	char *buf = xmalloc(INPUT_MAX + 1);
	size_t len = 0;
	while (len < INPUT_MAX) {
		ssize_t n = read(STDIN_FILENO, buf + len, INPUT_MAX - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cli_failf("cannot read the password from stdin: %s", strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	len = strip_newline(buf, len);
	if (!password_acceptable(buf, len))
		goto fail;
	buf[len] = '\0';
	return buf;
fail:
	secure_zero(buf, INPUT_MAX + 1);
	free(buf);
	return NULL;
}

/* ---- the terminal ---- */

static volatile sig_atomic_t tty_signal;

static void on_tty_signal(int sig)
{
	tty_signal = sig;
}

static const int tty_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP };
#define TTY_NSIGNALS (sizeof tty_signals / sizeof tty_signals[0])

/* While echo is off a signal must not leave the terminal silent: catch
 * them (without SA_RESTART, so read() returns), restore, then re-raise. */
static void catch_signals(struct sigaction *old)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_tty_signal;
	sigemptyset(&sa.sa_mask);
	tty_signal = 0;
	for (size_t i = 0; i < TTY_NSIGNALS; i++)
		sigaction(tty_signals[i], &sa, &old[i]);
}

static void restore_signals(const struct sigaction *old)
{
	for (size_t i = 0; i < TTY_NSIGNALS; i++)
		sigaction(tty_signals[i], &old[i], NULL);
	if (tty_signal != 0)
		raise(tty_signal);
}

/* One line from the terminal into buf (INPUT_MAX + 1 bytes); its length
 * (possibly > PASSWORD_MAX_LEN: the rest is discarded), or -1. */
static ssize_t read_tty_line(int fd, char *buf)
{
	size_t len = 0;
	for (;;) {
		char c;
		ssize_t n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR && tty_signal == 0)
			continue;
		if (n <= 0)
			return n == 0 && len > 0 ? (ssize_t)len : -1;
		if (c == '\n' || c == '\r')
			break;
		if (len < INPUT_MAX)
			buf[len] = c;
		len++;
	}
	buf[len < INPUT_MAX ? len : INPUT_MAX] = '\0';
	return (ssize_t)len;
}

/* Prompt on the terminal with echo off; the line (malloc'd) or NULL. */
static char *prompt_tty(int fd, const char *prompt)
{
	struct termios saved, quiet;
	struct sigaction old[TTY_NSIGNALS];
	if (tcgetattr(fd, &saved) < 0) {
		cli_failf("cannot read the terminal's settings: %s", strerror(errno));
		return NULL;
	}
	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	catch_signals(old);
	char *buf = xmalloc(INPUT_MAX + 1);
	ssize_t len = -1;
	/* Echo off first, then the prompt: what is typed after the prompt is
	 * never shown, nor flushed away by TCSAFLUSH. */
	if (tcsetattr(fd, TCSAFLUSH, &quiet) == 0) {
		(void)!write(fd, prompt, strlen(prompt));
		len = read_tty_line(fd, buf);
		tcsetattr(fd, TCSAFLUSH, &saved);
	}
	(void)!write(fd, "\n", 1);
	restore_signals(old);
	if (len < 0 || !password_acceptable(buf, (size_t)len)) {
		if (len < 0)
			cli_failf("no password read from the terminal");
		secure_zero(buf, INPUT_MAX + 1);
		free(buf);
		return NULL;
	}
	return buf;
}

static void wipe_free(char **p)
{
	if (*p != NULL)
		secure_zero(*p, strlen(*p));
	xfree(p);
}

/* Asked twice; both must match. */
static char *read_tty_password(void)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		cli_failf("cannot open /dev/tty: %s", strerror(errno));
		return NULL;
	}
	char *first = prompt_tty(fd, "New password: ");
	char *again = first != NULL ? prompt_tty(fd, "Retype new password: ") : NULL;
	close(fd);
	bool match = again != NULL && strcmp(first, again) == 0;
	if (again != NULL && !match)
		cli_failf("the passwords do not match");
	wipe_free(&again);
	if (!match)
		wipe_free(&first);
	return first;
}

/* ---- all sources ---- */

static int secret_from_hash(const char *hash, struct cli_secret *out)
{
	if (!password_hash_supported(hash))
		return cli_failf("--hash: not a supported password hash (yescrypt $y$, bcrypt "
				 "$2b$/$2y$/$2a$, SHA-512-crypt $6$ or SHA-256-crypt $5$)");
	out->hash = xstrdup(hash);
	return 0;
}

int cli_secret_get(enum cli_password_source source, const char *hash, struct cli_secret *out)
{
	out->password = NULL;
	out->hash = NULL;
	switch (source) {
	case CLI_PW_HASH:
		return secret_from_hash(hash, out);
	case CLI_PW_GENERATE:
		out->password = password_generate();
		break;
	case CLI_PW_STDIN:
		out->password = read_stdin_password();
		break;
	case CLI_PW_PROMPT:
		if (!isatty(STDIN_FILENO)) {
			cli_failf("stdin is not a terminal: give the password with "
				  "--password-stdin (or use --generate)");
			return EXIT_USAGE;
		}
		out->password = read_tty_password();
		break;
	}
	if (out->password == NULL)
		return 1;
	out->hash = password_hash(out->password);
	if (out->hash == NULL) {
		cli_secret_clear(out);
		return cli_failf("cannot hash the password (see the log above)");
	}
	return 0;
}
