"""Real IMAP clients from Debian against an IMAP server, parametrized over
["dovecot", "surel"]: the same test judges Surel and checks itself against
Dovecot (imap_dovecot.py). Both listen on free loopback ports with a
self-signed certificate, users alice@example.org/alice-secret and
bob@example.org/bob-secret; mail is put on the server and checked there with
imaplib.

- mbsync (isync): a local Maildir <-> the server both ways: pull, push new
  local mail and a new folder, flags each way, deletions each way.
- offlineimap3: the same, one sync each way.
- neomutt in tmux (its own socket): read, flag, save to another folder,
  delete, sync ($); checked with imaplib.

Run only the Dovecot side (until Surel's IMAP engine lands):
    /usr/bin/python3 -m pytest -q tests/integration/test_imap_clients.py -k dovecot
Each client skips with its reason when not installed (scripts/install-deps)."""
import email
import hashlib
import imaplib
import os
import re
import shutil
import ssl
import subprocess
import time
import uuid
from pathlib import Path

import pytest

import imap_dovecot

ALICE, ALICE_PW = "alice@example.org", "alice-secret"
HOST = "127.0.0.1"


def need(program):
    if shutil.which(program) is None:
        pytest.skip(f"{program} is not installed (scripts/install-deps)")


class Target:
    """An IMAP server under test: name, imaps port, STARTTLS port, cert."""

    def __init__(self, name, imaps, imap, cert):
        self.name, self.imaps, self.imap, self.cert = name, imaps, imap, Path(cert)

    def connect(self, user=ALICE, password=ALICE_PW):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        m = imaplib.IMAP4_SSL(HOST, self.imaps, ssl_context=ctx, timeout=10)
        m.login(user, password)
        return m

    def fingerprint(self):
        der = ssl.PEM_cert_to_DER_cert(self.cert.read_text())
        return hashlib.sha512(der).hexdigest()


@pytest.fixture(params=["dovecot", "surel"])
def imap_server(request, tmp_path):
    """Both servers get the same self-signed certificate for 127.0.0.1, so
    that clients which check it (mbsync, offlineimap) can be told to trust it."""
    cert_dir = tmp_path / "cert"
    cert_dir.mkdir()
    cert, key = imap_dovecot.self_signed_cert(cert_dir)
    if request.param == "dovecot":
        reason = imap_dovecot.available()
        if reason:
            pytest.skip(reason)
        d = imap_dovecot.DovecotImap(imap_dovecot.private_dir(), cert, key)
        try:
            yield Target("dovecot", d.port, d.ports["imap"], d.cert)
        finally:
            d.remove()
    else:
        # conftest's `server` with this certificate (docs/tls.md: tls.cert/key)
        inst = request.getfixturevalue("instance")
        inst.write_conf(f"[tls]\ncert = {cert}\nkey = {key}\n")
        inst.cli("domain", "add", "example.org")
        for user, pw in imap_dovecot.USERS.items():
            inst.cli("user", "add", "--password-stdin", user, input=pw + "\n")
        inst.start()
        yield Target("surel", inst.port("imaps"), inst.port("imap"), cert)
        rc = inst.stop()
        assert not inst.sanitizer_errors(), "sanitizer report in server log:\n" + inst.log_text()
        assert rc == 0, f"surel serve exited {rc}:\n" + inst.log_text()


def message(subject, body=None, date="Mon, 02 Nov 2026 10:00:00 +0000", sender="bob@example.org"):
    body = body or f"Body of {subject}.\r\n"
    return (f"From: {sender}\r\nTo: {ALICE}\r\nSubject: {subject}\r\nDate: {date}\r\n"
            f"Message-ID: <{uuid.uuid4().hex}@example.org>\r\n\r\n{body}").encode()


def put(target, mailbox, *msgs, flags=""):
    m = target.connect()
    try:
        for i, msg in enumerate(msgs):
            typ, data = m.append(mailbox, f"({flags})" if flags else None,
                                 imaplib.Time2Internaldate(1793000000 + i * 60), msg)
            assert typ == "OK", data
    finally:
        m.logout()


def server_state(target, mailbox="INBOX"):
    """{subject: set of flags} of mailbox, \\Deleted ones included."""
    m = target.connect()
    try:
        typ, _ = m.select(f'"{mailbox}"', readonly=True)
        assert typ == "OK", mailbox
        typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        out = {}
        if typ != "OK" or data == [None]:
            return out
        for item in data:
            if not isinstance(item, tuple):
                continue
            flags = set(re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode().split())
            subject = email.message_from_bytes(item[1])["Subject"]
            out[subject] = flags - {"\\Recent"}
        return out
    finally:
        m.logout()


def server_mailboxes(target):
    m = target.connect()
    try:
        typ, data = m.list()
        return {re.search(rb'"[^"]*" "?([^"]*)"?$', d).group(1).decode() for d in data}
    finally:
        m.logout()


def set_server_flags(target, mailbox, subject, op, flags):
    m = target.connect()
    try:
        m.select(f'"{mailbox}"')
        typ, data = m.search(None, "SUBJECT", f'"{subject}"')
        nums = data[0].split()
        assert len(nums) == 1, (subject, data)
        assert m.store(nums[0].decode(), op, flags)[0] == "OK"
        if "\\Deleted" in flags and op.startswith("+"):
            m.expunge()
    finally:
        m.logout()


# ---- local Maildirs ----

def write_local(folder: Path, subject, flags=""):
    for d in ("cur", "new", "tmp"):
        (folder / d).mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns()}.{uuid.uuid4().hex[:8]}.local"
    if flags:
        (folder / "cur" / f"{name}:2,{flags}").write_bytes(message(subject))
    else:
        (folder / "new" / name).write_bytes(message(subject))


def local_state(folder: Path):
    """{subject: maildir flag letters} of a local Maildir folder."""
    out = {}
    for sub in ("new", "cur"):
        d = folder / sub
        if not d.is_dir():
            continue
        for p in d.iterdir():
            subject = email.message_from_bytes(p.read_bytes())["Subject"]
            info = p.name.split(":2,", 1)[1] if ":2," in p.name else ""
            out[subject] = "".join(sorted(c for c in info if c.isupper()))
    return out


def local_file(folder: Path, subject):
    for sub in ("new", "cur"):
        for p in (folder / sub).iterdir():
            if email.message_from_bytes(p.read_bytes())["Subject"] == subject:
                return p
    raise AssertionError(f"{subject!r} not in {folder}")


def set_local_flags(folder: Path, subject, flags):
    p = local_file(folder, subject)
    base = p.name.split(":2,", 1)[0]
    p.rename(folder / "cur" / f"{base}:2,{flags}")


def run(cmd, env=None, timeout=45):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    return r


# ---- mbsync ----

def mbsync(target, tmp: Path):
    rc = tmp / "mbsyncrc"
    rc.write_text(f"""IMAPAccount test
Host {HOST}
Port {target.imaps}
User {ALICE}
Pass {ALICE_PW}
SSLType IMAPS
CertificateFile {target.cert}
Timeout 20

IMAPStore remote
Account test

MaildirStore local
Path {tmp}/mail/
Inbox {tmp}/mail/INBOX
SubFolders Verbatim

Channel test
Far :remote:
Near :local:
Patterns *
Create Both
Remove None
Expunge Both
Sync All
SyncState *
""")
    r = run(["mbsync", "-c", str(rc), "-a"], env=dict(os.environ, HOME=str(tmp)))
    assert r.returncode == 0, f"mbsync exited {r.returncode}:\n{r.stdout}{r.stderr}"
    return r


def test_mbsync(imap_server, tmp_path):
    need("mbsync")
    t = imap_server
    put(t, "INBOX", message("Server one"), message("Server two"), message("Server three"))
    put(t, "INBOX", message("Server seen"), flags="\\Seen")
    inbox = tmp_path / "mail" / "INBOX"
    write_local(inbox, "Local new")
    write_local(tmp_path / "mail" / "Projects", "Local in Projects", flags="S")

    # 1: pull and push
    mbsync(t, tmp_path)
    local = local_state(inbox)
    assert set(local) == {"Server one", "Server two", "Server three", "Server seen", "Local new"}
    assert local["Server seen"] == "S" and local["Server one"] == ""
    assert set(server_state(t)) == set(local)
    assert "Projects" in server_mailboxes(t)
    assert server_state(t, "Projects") == {"Local in Projects": {"\\Seen"}}
    for special in ("Archive", "Drafts", "Junk", "Sent", "Trash"):   # made locally
        assert (tmp_path / "mail" / special / "cur").is_dir(), special

    # 2: flags both ways, deletions both ways
    set_server_flags(t, "INBOX", "Server one", "+FLAGS", "(\\Flagged)")
    set_server_flags(t, "INBOX", "Server two", "+FLAGS", "(\\Deleted)")    # expunged
    set_local_flags(inbox, "Server three", "RS")                           # answered, seen
    local_file(inbox, "Local new").unlink()
    mbsync(t, tmp_path)
    server = server_state(t)
    assert set(server) == {"Server one", "Server three", "Server seen"}, server
    assert server["Server three"] == {"\\Answered", "\\Seen"}
    local = local_state(inbox)
    assert set(local) == {"Server one", "Server three", "Server seen"}, local
    assert local["Server one"] == "F"

    # 3: nothing left to do
    mbsync(t, tmp_path)
    assert set(server_state(t)) == set(local_state(inbox))


# ---- offlineimap3 ----

def offlineimap(target, tmp: Path):
    rc = tmp / "offlineimaprc"
    rc.write_text(f"""[general]
accounts = test
metadata = {tmp}/oi-meta
ui = basic
socktimeout = 20

[Account test]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {tmp}/oi-mail
sep = /

[Repository remote]
type = IMAP
remotehost = {HOST}
remoteport = {target.imaps}
remoteuser = {ALICE}
remotepass = {ALICE_PW}
ssl = yes
cert_fingerprint = {target.fingerprint()}
maxconnections = 1
holdconnectionopen = no
""")
    r = run(["offlineimap", "-c", str(rc), "-o", "-u", "basic"],
            env=dict(os.environ, HOME=str(tmp)))
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "ERROR" not in out, f"offlineimap exited {r.returncode}:\n{out}"
    return r


def test_offlineimap(imap_server, tmp_path):
    need("offlineimap")
    t = imap_server
    put(t, "INBOX", message("Server one"), message("Server two"), message("Server three"))
    put(t, "INBOX", message("Server seen"), flags="\\Seen")
    inbox = tmp_path / "oi-mail" / "INBOX"

    # 1: pull
    offlineimap(t, tmp_path)
    local = local_state(inbox)
    assert set(local) == {"Server one", "Server two", "Server three", "Server seen"}, local
    assert local["Server seen"] == "S" and local["Server one"] == ""

    # 2: push: a new local message and folder, a local flag, a local deletion
    write_local(inbox, "Local new")
    write_local(tmp_path / "oi-mail" / "Projects", "Local in Projects", flags="S")
    set_local_flags(inbox, "Server three", "FS")
    local_file(inbox, "Server two").unlink()
    offlineimap(t, tmp_path)
    server = server_state(t)
    assert set(server) == {"Server one", "Server three", "Server seen", "Local new"}, server
    assert server["Server three"] == {"\\Flagged", "\\Seen"}
    assert "Projects" in server_mailboxes(t)
    assert server_state(t, "Projects") == {"Local in Projects": {"\\Seen"}}

    # 3: pull changes made on the server: a flag and a deletion
    set_server_flags(t, "INBOX", "Server one", "+FLAGS", "(\\Answered)")
    set_server_flags(t, "INBOX", "Local new", "+FLAGS", "(\\Deleted)")
    offlineimap(t, tmp_path)
    local = local_state(inbox)
    assert set(local) == {"Server one", "Server three", "Server seen"}, local
    assert local["Server one"] == "R"


# ---- neomutt in tmux ----

class Tmux:
    """A tmux server of our own (-L NAME, its socket under tmp), one window
    running a program; kill() ends that server only."""

    def __init__(self, tmp: Path, command, env):
        self.sock = f"surel-test-{uuid.uuid4().hex[:12]}"
        self.env = dict(env, TMUX_TMPDIR=str(tmp))
        self.env.pop("TMUX", None)
        conf = tmp / "tmux.conf"
        conf.write_text("set -g default-terminal screen\nset -g remain-on-exit on\n"
                        "set -g history-limit 2000\n")
        self.base = ["tmux", "-L", self.sock, "-f", str(conf)]
        subprocess.run(self.base + ["new-session", "-d", "-s", "t", "-x", "160", "-y", "45",
                                    command], check=True, env=self.env, timeout=10)

    def keys(self, *keys, literal=False):
        subprocess.run(self.base + ["send-keys", "-t", "t"] + (["-l"] if literal else []) + list(keys),
                       check=True, timeout=10, env=self.env)

    def screen(self):
        return subprocess.run(self.base + ["capture-pane", "-p", "-t", "t"], capture_output=True,
                              text=True, timeout=10, env=self.env).stdout

    def wait_for(self, pattern, timeout=10):
        """Until the screen matches pattern (a regex); returns the screen."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if re.search(pattern, text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"not on screen after {timeout}s: {pattern!r}\n{text}")
            time.sleep(0.1)

    def kill(self):
        subprocess.run(self.base + ["kill-server"], capture_output=True, timeout=10, env=self.env)


def poll(check, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_neomutt(imap_server, tmp_path):
    need("neomutt")
    need("tmux")
    t = imap_server
    put(t, "INBOX", message("Alpha", date="Mon, 02 Nov 2026 10:00:00 +0000"),
        message("Bravo", date="Mon, 02 Nov 2026 11:00:00 +0000"),
        message("Charlie", date="Mon, 02 Nov 2026 12:00:00 +0000"),
        message("Delta", date="Mon, 02 Nov 2026 13:00:00 +0000"))
    certs = tmp_path / "certificates"
    shutil.copy(t.cert, certs)         # the server's own certificate: trusted
    rc = tmp_path / "muttrc"
    rc.write_text(f"""set folder = "imaps://{ALICE.replace('@', '%40')}@{HOST}:{t.imaps}/"
set spoolfile = "+INBOX"
set imap_pass = "{ALICE_PW}"
set certificate_file = "{certs}"
set ssl_verify_host = no
set ssl_verify_dates = no
set header_cache = ""
set message_cachedir = ""
set imap_check_subscribed = no
set mail_check = 3600
set imap_keepalive = 900
set timeout = 3600
set sort = date
set delete = yes
set quit = yes
set confirmappend = no
set confirmcreate = no
set move = no
set record = ""
set mark_old = no
set wait_key = no
set pager_stop = yes
set help = no
set sleep_time = 0
set use_threads = no
set index_format = "%4C %Z %s"
""")
    env = dict(os.environ, HOME=str(tmp_path), TERM="screen", LANG="C.UTF-8")
    tm = Tmux(tmp_path, f"neomutt -n -F {rc}", env)
    try:
        tm.wait_for(r"Delta")                           # the index is up
        # read Alpha
        tm.keys("1", "Enter")
        tm.keys("Enter")
        tm.wait_for(r"Body of Alpha\.")
        tm.keys("q")
        tm.wait_for(r"Delta")
        # flag Alpha
        tm.keys("1", "Enter")
        tm.keys("F")
        tm.wait_for(r"(?m)^\s*1 .*!.*Alpha")
        # save Bravo to Archive (saving marks the original deleted)
        tm.keys("2", "Enter")
        tm.keys("s")
        tm.wait_for(r"Save to mailbox")
        tm.keys("C-u")
        tm.keys("=Archive", literal=True)
        tm.keys("Enter")
        tm.wait_for(r"(?m)^\s*2 .*D.*Bravo")
        # delete Charlie
        tm.keys("3", "Enter")
        tm.keys("d")
        tm.wait_for(r"(?m)^\s*3 .*D.*Charlie")
        # sync
        tm.keys("$")

        def synced():
            inbox = server_state(t)
            assert set(inbox) == {"Alpha", "Delta"}, inbox
            return inbox
        inbox = poll(synced)
        assert {"\\Flagged", "\\Seen"} <= inbox["Alpha"], inbox
        assert "\\Seen" not in inbox["Delta"]
        assert set(server_state(t, "Archive")) == {"Bravo"}
        screen = tm.wait_for(r"Alpha")
        if os.environ.get("IMAP_CLIENTS_DEBUG"):
            print(screen)
        tm.keys("q")
    finally:
        tm.kill()
