/* Every configuration key, declared once: type, section, key, default (as it
 * would be written in the file), minimum, maximum (for numbers), allowed values
 * (for enums, separated by '|'), and one line of documentation.
 *
 * config.h turns this list into `struct config`, config.c into the typed table
 * that parses, validates, prints and documents the settings. docs/configuration.md
 * is generated from it (`surel config docs`), and a test keeps the two equal. */

/*      type      section     key                     default                    min  max          enum            doc */
SETTING(STRING,   server,     data_dir,               "./var",                   0,   0,           NULL,           "Directory holding surel.db, the spool, blobs, user indexes and TLS keys.")
SETTING(STRING,   server,     hostname,               "",                        0,   0,           NULL,           "Name the server announces in greetings and Received headers; empty means the system host name.")
SETTING(STRING,   server,     user,                   "surel",                   0,   0,           NULL,           "Unprivileged user the workers run as when surel serve is started as root.")
SETTING(INT,      server,     workers,                "0",                       0,   256,         NULL,           "Number of worker processes serving client sessions; 0 means one per CPU core.")
SETTING(INT,      server,     pool_threads,           "4",                       1,   256,         NULL,           "Threads per process for blocking or CPU-heavy work (password hashing, fsync, signing).")
SETTING(DURATION, server,     shutdown_timeout,       "10s",                     1,   3600,        NULL,           "How long the master waits for children to finish after SIGTERM before killing them.")
SETTING(ENUM,     log,        target,                 "stderr",                  0,   0,           "stderr|syslog", "Where log lines go: stderr (one key=value line per event) or syslog (facility mail).")
SETTING(ENUM,     log,        level,                  "info",                    0,   0,           "debug|info|warn|error", "Lowest level that is logged.")
SETTING(STRING,   tls,        cert,                   "",                        0,   0,           NULL,           "PEM certificate chain; empty means a self-signed certificate made at first start in DATA_DIR/tls/.")
SETTING(STRING,   tls,        key,                    "",                        0,   0,           NULL,           "PEM private key for tls.cert; empty means the generated one in DATA_DIR/tls/.")
SETTING(ENUM,     tls,        min_version,            "1.2",                     0,   0,           "1.2|1.3",      "Oldest TLS version accepted (TLS 1.0 and 1.1 are never offered).")
SETTING(STRING,   tls,        ciphers,                "ECDHE+AESGCM:ECDHE+CHACHA20", 0, 0,          NULL,           "OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are OpenSSL's defaults).")
SETTING(LISTEN,   smtp,       listen,                 "127.0.0.1:2525",          0,   0,           NULL,           "SMTP for mail from the world (port 25 in production); comma-separated host:port list, empty disables.")
SETTING(LISTEN,   submission, listen,                 "127.0.0.1:2587",          0,   0,           NULL,           "Submission with STARTTLS (port 587 in production).")
SETTING(LISTEN,   smtps,      listen,                 "127.0.0.1:2465",          0,   0,           NULL,           "Submission over implicit TLS (port 465 in production).")
SETTING(LISTEN,   imap,       listen,                 "127.0.0.1:2143",          0,   0,           NULL,           "IMAP with STARTTLS (port 143 in production).")
SETTING(LISTEN,   imaps,      listen,                 "127.0.0.1:2993",          0,   0,           NULL,           "IMAP over implicit TLS (port 993 in production).")
SETTING(LISTEN,   pop3,       listen,                 "127.0.0.1:2110",          0,   0,           NULL,           "POP3 with STLS (port 110 in production).")
SETTING(LISTEN,   pop3s,      listen,                 "127.0.0.1:2995",          0,   0,           NULL,           "POP3 over implicit TLS (port 995 in production).")
SETTING(LISTEN,   http,       listen,                 "127.0.0.1:8080",          0,   0,           NULL,           "HTTP for the admin API, JMAP and webmail (behind TLS in production).")
SETTING(INT,      limits,     max_connections,        "1000",                    1,   1000000,     NULL,           "Client sessions served at once, over all listeners and workers.")
SETTING(INT,      limits,     max_connections_per_ip, "50",                      1,   1000000,     NULL,           "Client sessions at once from one IP address (IPv6: one /64).")
SETTING(SIZE,     limits,     line_max,               "64K",                     512, 16777216,    NULL,           "Longest command line any protocol reads; longer lines are refused with a protocol error.")
SETTING(DURATION, smtp,       timeout,                "5m",                      1,   86400,       NULL,           "SMTP idle time between commands before the session is closed (RFC 5321 4.5.3.2).")
SETTING(DURATION, imap,       timeout,                "30m",                     1,   86400,       NULL,           "IMAP idle time before the session is closed (RFC 9051 requires at least 30 minutes).")
SETTING(DURATION, pop3,       timeout,                "10m",                     1,   86400,       NULL,           "POP3 idle time before the session is closed (RFC 1939 requires at least 10 minutes).")
SETTING(BOOL,     pop3,       delete_after_retr,      "no",                      0,   0,           NULL,           "Delete a message once POP3 RETR has sent it (applied at QUIT, like DELE); no leaves mail on the server. Global for every account.")
SETTING(BOOL,     pop3,       deleted_to_trash,       "no",                      0,   0,           NULL,           "Move messages deleted over POP3 to the Trash mailbox instead of expunging them. Global for every account.")
SETTING(STRING,   pop3,       expire,                 "NEVER",                   0,   0,           NULL,           "What CAPA announces as EXPIRE (RFC 2449): NEVER or a number of days the server keeps mail; 0 when pop3.delete_after_retr is on.")
SETTING(DURATION, pop3,       login_delay,            "0s",                      0,   86400,       NULL,           "Least time between two POP3 logins of one account, announced as LOGIN-DELAY and enforced with -ERR [LOGIN-DELAY]; 0 means none.")
SETTING(DURATION, http,       timeout,                "60s",                     1,   86400,       NULL,           "HTTP idle time before the connection is closed.")
SETTING(DURATION, auth,       fail_delay,             "1s",                      0,   3600,        NULL,           "Delay before answering the first failed login from an IP or for an account; it doubles with each further failure.")
SETTING(DURATION, auth,       max_delay,              "16s",                     0,   3600,        NULL,           "Longest delay before answering a failed login.")
SETTING(INT,      auth,       lockout_failures,       "10",                      1,   1000000,     NULL,           "Failures from one IP or for one account after which logins are refused for auth.lockout_time.")
SETTING(DURATION, auth,       lockout_time,           "15m",                     1,   604800,      NULL,           "How long a locked-out IP or account is refused; failures older than this are forgotten.")
