"""A private Dovecot POP3 server (Debian's dovecot-pop3d) on a free loopback
port, with implicit TLS, one static password, and a Maildir INBOX per user
that the caller fills: for comparing behaviour (test_pop3_dovecot.py) and
speed (bench/pop3/)."""
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)
POP3_BINARY = "/usr/lib/dovecot/pop3"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def available():
    """None when usable, else the reason it is not."""
    if DOVECOT is None:
        return "dovecot is not installed (Debian package dovecot-core)"
    if not os.path.exists(POP3_BINARY):
        return "dovecot's POP3 server is not installed (Debian package dovecot-pop3d)"
    return None


class DovecotPop3:
    def __init__(self, tmp: Path, cert: Path, key: Path, password="secret", extra=""):
        """tmp must be reachable by the dovecot user when we are root."""
        self.dir = tmp
        self.port = free_port()
        self.password = password
        root = os.geteuid() == 0
        me = pwd.getpwuid(os.geteuid()).pw_name
        internal, login = ("dovecot", "dovenull") if root else (me, me)
        self.mail_user = "dovecot" if root else me
        self.home = tmp / "home"
        for d in ("run", "state", "home"):
            (tmp / d).mkdir(exist_ok=True)
        shutil.copy(cert, tmp / "cert.pem")
        shutil.copy(key, tmp / "key.pem")
        if root:
            shutil.chown(self.home, self.mail_user, self.mail_user)
        self.conf = tmp / "dovecot.conf"
        self.conf.write_text(f"""
base_dir = {tmp}/run
state_dir = {tmp}/state
log_path = {tmp}/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <{tmp}/cert.pem
ssl_key = <{tmp}/key.pem
auth_mechanisms = plain login
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_fsync = always
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={self.mail_user} gid={self.mail_user} home={self.home}/%u
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {self.port}
    ssl = yes
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
{extra}
""")
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("dovecot did not start:\n" + self.log())
                time.sleep(0.1)

    def log(self):
        p = self.dir / "dovecot.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def deliver(self, user, messages):
        """Put messages (bytes, CRLF or LF lines) into user's Maildir INBOX."""
        md = self.home / user / "Maildir"
        for d in ("cur", "new", "tmp"):
            (md / d).mkdir(parents=True, exist_ok=True)
        base = int(time.time())
        for i, m in enumerate(messages):
            (md / "new" / f"{base}.M{i}P{os.getpid()}.surel").write_bytes(m)
        if os.geteuid() == 0:
            for p in [self.home / user, md, *md.rglob("*")]:
                shutil.chown(p, self.mail_user, self.mail_user)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
