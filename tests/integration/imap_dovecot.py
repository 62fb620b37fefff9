"""A private Dovecot IMAP server (Debian's dovecot-imapd) on free loopback
ports: implicit TLS ("imaps") and STARTTLS ("imap", logins refused before
STARTTLS, like Surel), one password per user from a passwd-file, a Maildir
per user. Configured to look like a fresh Surel account: "/" as the hierarchy
separator and the same special-use mailboxes (Archive Drafts Junk Sent Trash),
created and subscribed on first login. For comparing behaviour
(test_imap_dovecot.py, test_imap_clients.py) and later speed (bench/imap/):

    with DovecotImap(tmp, cert, key, {"alice@example.org": "alice-secret"}) as d:
        imaplib.IMAP4_SSL("127.0.0.1", d.port, ...)     # d.ports["imap"]: STARTTLS

tmp must be reachable by the dovecot user when we are root: make it with
tempfile.mkdtemp() and chmod 0755 (or use private_dir()), not pytest's tmp_path.
What it shares with pop3_dovecot.py is in dovecot_common.py."""
import shutil
import tempfile
from pathlib import Path

import dovecot_common
from dovecot_common import DOVECOT, self_signed_cert  # noqa: F401  (re-exported)

__all__ = ["DOVECOT", "self_signed_cert", "available", "private_dir", "DovecotImap", "USERS", "SPECIAL_USE"]

IMAP_BINARY = "/usr/lib/dovecot/imap"

# The users of conftest's `server` fixture, so one script logs in to both.
USERS = {"alice@example.org": "alice-secret", "bob@example.org": "bob-secret"}

# What `surel user add` creates (see `surel mailbox list`): name -> special use.
SPECIAL_USE = {"Archive": r"\Archive", "Drafts": r"\Drafts", "Junk": r"\Junk",
               "Sent": r"\Sent", "Trash": r"\Trash"}


def available():
    """None when usable, else the reason it is not."""
    return dovecot_common.available(IMAP_BINARY, "dovecot-imapd")


def private_dir(prefix="surel-imap-dovecot-"):
    """A new directory the dovecot user can reach (pytest's tmp_path is 0700)."""
    d = Path(tempfile.mkdtemp(prefix=prefix))
    d.chmod(0o755)
    return d


class DovecotImap(dovecot_common.DovecotBase):
    PROTOCOL = "imap"
    SSL = "required"     # Surel refuses logins before STARTTLS (LOGINDISABLED)

    def __init__(self, tmp: Path, cert: Path = None, key: Path = None, users=None, extra=""):
        """Without cert and key a self-signed pair is made in tmp."""
        self.users = dict(users or USERS)
        tmp.mkdir(parents=True, exist_ok=True)
        if cert is None:
            cert, key = self_signed_cert(tmp)
        passwd = tmp / "passwd"
        passwd.write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in self.users.items()))
        passwd.chmod(0o644)
        passdb = ("passdb {\n  driver = passwd-file\n"
                  f"  args = scheme=PLAIN username_format=%u {passwd}\n}}")
        mailboxes = "".join(f"  mailbox {name} {{\n    auto = subscribe\n    special_use = {use}\n  }}\n"
                            for name, use in SPECIAL_USE.items())
        # INBOX subscribed too, as `surel user add` does
        base = f"""namespace inbox {{
  inbox = yes
  separator = /
  mailbox INBOX {{
    auto = subscribe
  }}
{mailboxes}}}
protocol imap {{
  mail_max_userip_connections = 50
}}
"""
        super().__init__(tmp, cert, key, passdb, extra=base + extra, ports=("imap", "imaps"))
        self.port = self.ports["imaps"]
        for user in self.users:
            self.make_mailboxes(user)

    def make_mailboxes(self, user):
        """INBOX and the special-use mailboxes on disk, as Surel has them from
        `surel user add`. Dovecot's `auto` mailboxes exist only virtually until
        used: CREATE Trash or RENAME x Drafts would succeed on a new account."""
        md = self.maildir(user)
        for folder in [md] + [md / f".{name}" for name in SPECIAL_USE]:
            for d in ("cur", "new", "tmp"):
                (folder / d).mkdir(parents=True, exist_ok=True)
            if folder != md:
                (folder / "maildirfolder").touch()
        self.chown_home(user)

    def service_conf(self):
        return f"""service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.ports["imap"]}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.ports["imaps"]}
    ssl = yes
  }}
  chroot =
}}"""

    def remove(self):
        """stop() and delete the directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
