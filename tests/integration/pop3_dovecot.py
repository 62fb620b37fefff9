"""A private Dovecot POP3 server (Debian's dovecot-pop3d) on a free loopback
port, with implicit TLS, one static password, and a Maildir INBOX per user
that the caller fills: for comparing behaviour (test_pop3_dovecot.py) and
speed (bench/pop3/). What it shares with imap_dovecot.py is in
dovecot_common.py."""
from pathlib import Path

import dovecot_common
from dovecot_common import DOVECOT, free_port  # noqa: F401  (re-exported)

__all__ = ["DOVECOT", "free_port", "available", "DovecotPop3"]

POP3_BINARY = "/usr/lib/dovecot/pop3"


def available():
    """None when usable, else the reason it is not."""
    return dovecot_common.available(POP3_BINARY, "dovecot-pop3d")


class DovecotPop3(dovecot_common.DovecotBase):
    PROTOCOL = "pop3"

    def __init__(self, tmp: Path, cert: Path, key: Path, password="secret", extra=""):
        """tmp must be reachable by the dovecot user when we are root."""
        self.password = password
        passdb = f"passdb {{\n  driver = static\n  args = password={password}\n}}"
        super().__init__(tmp, cert, key, passdb,
                         extra="pop3_uidl_format = %08Xu%08Xv\n" + extra, ports=("pop3s",))
        self.port = self.ports["pop3s"]

    def service_conf(self):
        return f"""service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {self.ports["pop3s"]}
    ssl = yes
  }}
  chroot =
}}"""
