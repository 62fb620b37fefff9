"""What the private Dovecot servers of the tests share (pop3_dovecot.py,
imap_dovecot.py): a configuration in a temporary directory that runs Debian's
dovecot as root or as an ordinary user, on free loopback ports only, with a
Maildir per user under tmp/home; start, wait until listening, log, deliver
into a Maildir, stop. Also a self-signed certificate for when no Surel data
directory is at hand."""
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def available(binary, package):
    """None when dovecot and its protocol binary are installed, else why not."""
    if DOVECOT is None:
        return "dovecot is not installed (Debian package dovecot-core)"
    if not os.path.exists(binary):
        return f"dovecot's {Path(binary).name} server is not installed (Debian package {package})"
    return None


def self_signed_cert(directory: Path):
    """(cert, key) paths of a new self-signed ECDSA certificate in directory,
    valid for what clients on this host connect to: 127.0.0.1 as an IP
    address and as a name (some clients, mbsync, only compare names), and
    localhost."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class DovecotBase:
    """Subclasses give PROTOCOL and service_conf(); ports in self.ports."""
    PROTOCOL = None
    SSL = "yes"          # "required": no login before STARTTLS, not even on loopback

    def __init__(self, tmp: Path, cert: Path, key: Path, passdb: str, extra="", ports=()):
        """tmp must be reachable by the dovecot user when we are root (not
        pytest's 0700 tmp_path: use tempfile.mkdtemp() and chmod 0755)."""
        self.dir = tmp
        self.ports = {name: free_port() for name in ports}
        root = os.geteuid() == 0
        me = pwd.getpwuid(os.geteuid()).pw_name
        internal, login = ("dovecot", "dovenull") if root else (me, me)
        self.mail_user = "dovecot" if root else me
        self.home = tmp / "home"
        for d in ("run", "state", "home"):
            (tmp / d).mkdir(exist_ok=True)
        for src, name in ((cert, "cert.pem"), (key, "key.pem")):
            if Path(src).resolve() != (tmp / name).resolve():
                shutil.copy(src, tmp / name)
        self.cert = tmp / "cert.pem"
        if root:
            shutil.chown(self.home, self.mail_user, self.mail_user)
        self.conf = tmp / "dovecot.conf"
        self.conf.write_text(f"""
base_dir = {tmp}/run
state_dir = {tmp}/state
log_path = {tmp}/dovecot.log
protocols = {self.PROTOCOL}
listen = 127.0.0.1
ssl = {self.SSL}
ssl_cert = <{tmp}/cert.pem
ssl_key = <{tmp}/key.pem
auth_mechanisms = plain login
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_fsync = always
{passdb}
userdb {{
  driver = static
  args = uid={self.mail_user} gid={self.mail_user} home={self.home}/%u
}}
{self.service_conf()}
service anvil {{
  chroot =
}}
{extra}
""")
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 15
        for port in self.ports.values():
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), 1).close()
                    break
                except OSError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        raise AssertionError("dovecot did not start:\n" + self.log())
                    time.sleep(0.05)

    def service_conf(self):
        raise NotImplementedError

    def log(self):
        p = self.dir / "dovecot.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def maildir(self, user):
        return self.home / user / "Maildir"

    def chown_home(self, user):
        """Give user's home back to the mail user (after we wrote into it as root)."""
        if os.geteuid() == 0:
            top = self.home / user
            for p in [top, *top.rglob("*")]:
                shutil.chown(p, self.mail_user, self.mail_user)

    def deliver(self, user, messages):
        """Put messages (bytes, CRLF or LF lines) into user's Maildir INBOX."""
        md = self.maildir(user)
        for d in ("cur", "new", "tmp"):
            (md / d).mkdir(parents=True, exist_ok=True)
        base = int(time.time())
        for i, m in enumerate(messages):
            (md / "new" / f"{base}.M{i}P{os.getpid()}.surel").write_bytes(m)
        self.chown_home(user)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
