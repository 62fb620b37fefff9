"""LMTP (RFC 2033) on a loopback port and a unix socket: LHLO, one reply
per accepted recipient after DATA and BDAT LAST (in RCPT order), a
recipient over quota refused alone, PIPELINING, smtplib.LMTP, the
loopback-only rule at config check, and Postfix handing mail over with
LMTP and SMTP (when postfix is installed). Mail is read back with
`surel mailbox export`."""
import os
import shutil
import smtplib
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import free_ports
from test_server import HOST, Client, wait_for

ALICE, BOB, CAROL = "alice@example.org", "bob@example.org", "carol@example.org"


@pytest.fixture
def lmtp(instance):
    """A server with lmtp.listen on a loopback port and a unix socket;
    alice, bob, carol (quota 4K), alias team@ -> alice + bob; local
    delivery off (LMTP delivers itself: the spool must stay empty)."""
    port, = free_ports(1)
    sock = instance.dir / "lmtp.sock"
    instance.lmtp_port, instance.lmtp_sock = port, str(sock)
    instance.write_conf("[queue]\nlocal_delivery = no\n[smtp]\ngreeting_delay = 0\n"
                        f"[lmtp]\nlisten = 127.0.0.1:{port}, {sock}\n")
    cli = instance.cli
    cli("domain", "add", "example.org")
    for u in (ALICE, BOB, CAROL):
        cli("user", "add", "--password-stdin", u, input="pw-" + u + "\n")
    cli("user", "quota", CAROL, "4K")
    cli("alias", "add", "team@example.org", ALICE, BOB)
    instance.start()
    wait_for(lambda: sock.exists(), what="lmtp socket")
    yield instance
    rc = instance.stop()
    assert not instance.sanitizer_errors(), instance.log_text()
    assert rc == 0, f"surel serve exited {rc}:\n" + instance.log_text()


class Lmtp(Client):
    def __init__(self, inst, unix=False):
        if unix:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(10)
            self.sock.connect(inst.lmtp_sock)
            self.buf = b""
        else:
            super().__init__(inst.lmtp_port, timeout=10)
        assert self.line().endswith(" LMTP Surel")

    def multi(self, text):
        self.send(text.encode() + b"\r\n")
        out = [self.line()]
        while out[-1][3:4] == "-":
            out.append(self.line())
        return out


def inbox(inst, user, tmp_name):
    """The messages of user's INBOX (bytes, CRLF lines: a Maildir has LF
    ones), via `surel mailbox export`."""
    dest = inst.dir / tmp_name
    if dest.exists():
        shutil.rmtree(dest)
    inst.cli("mailbox", "export", "--format", "maildir", user, dest)
    out = []
    for sub in ("new", "cur"):
        d = dest / sub
        if d.exists():
            out += [(d / f).read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
                    for f in sorted(os.listdir(d))]
    return out


def count_subject(msgs, subject):
    return sum(1 for m in msgs if f"Subject: {subject}\n".encode() in m.replace(b"\r\n", b"\n"))


def msg(subject, size=0):
    body = ("x" * 70 + "\r\n") * (size // 72) if size else "Hello.\r\n"
    return (f"From: sender@remote.example\r\nTo: team@example.org\r\nSubject: {subject}\r\n"
            f"\r\n{body}").encode()


def spool_entries(inst):
    d = inst.data / "spool"
    return [n for n in os.listdir(d) if n.endswith(".env") or n.endswith(".tmp")] \
        if d.exists() else []


# ---------------------------------------------------------------- transcripts

def test_lhlo_and_per_recipient_replies(lmtp):
    c = Lmtp(lmtp)
    assert c.cmd("EHLO mta.example").startswith("500 5.5.1")
    assert c.cmd("HELO mta.example").startswith("500 5.5.1")
    assert c.cmd("MAIL FROM:<s@remote.example>") == "503 5.5.1 Send HELO/EHLO first"
    caps = c.multi("LHLO mta.example")
    assert caps[-1].startswith("250 ")
    names = [l[4:] for l in caps[1:]]
    assert "PIPELINING" in names and "ENHANCEDSTATUSCODES" in names and "CHUNKING" in names
    assert not any(n.startswith(("AUTH", "STARTTLS")) for n in names)
    assert c.cmd("MAIL FROM:<sender@remote.example>") == "250 2.1.0 Ok"
    assert c.cmd(f"RCPT TO:<{ALICE}>") == "250 2.1.5 Ok"
    assert c.cmd("RCPT TO:<nobody@example.org>") == \
        "550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown"
    assert c.cmd("RCPT TO:<x@elsewhere.example>").startswith("554 5.7.1")
    assert c.cmd(f"RCPT TO:<{CAROL}>") == "250 2.1.5 Ok"        # under quota at RCPT
    assert c.cmd(f"RCPT TO:<{BOB}>") == "250 2.1.5 Ok"
    assert c.cmd("DATA").startswith("354")
    c.send(msg("per-rcpt", size=8192) + b".\r\n")
    r1, r2, r3 = c.line(), c.line(), c.line()
    assert r1.startswith(f"250 2.0.0 <{ALICE}> Ok: delivered as "), r1
    assert r2 == f"452 4.2.2 <{CAROL}>: Mailbox full"            # does not fit
    assert r3.startswith(f"250 2.0.0 <{BOB}> Ok: delivered as ")
    # the session goes on; many refusals do not close it (no max_errors)
    for i in range(12):
        assert c.cmd(f"RCPT TO:<nobody{i}@example.org>") == "503 5.5.1 Need MAIL command"
    assert c.cmd("RSET") == "250 2.0.0 OK"
    assert c.cmd("QUIT").startswith("221")
    assert count_subject(inbox(lmtp, ALICE, "a"), "per-rcpt") == 1
    assert count_subject(inbox(lmtp, BOB, "b"), "per-rcpt") == 1
    assert count_subject(inbox(lmtp, CAROL, "c"), "per-rcpt") == 0
    assert spool_entries(lmtp) == []
    m, = inbox(lmtp, ALICE, "a")
    assert m.startswith(b"Return-Path: <sender@remote.example>\r\nDelivered-To: alice@example.org\r\n"
                        b"Received: from mta.example ([127.0.0.1])\r\n\tby ")
    assert b" with LMTP id " in m


def test_alias_and_duplicate_rcpts_one_copy_each(lmtp):
    c = Lmtp(lmtp)
    c.multi("LHLO mta.example")
    c.cmd("MAIL FROM:<sender@remote.example>")
    assert c.cmd("RCPT TO:<team@example.org>") == "250 2.1.5 Ok"
    assert c.cmd(f"RCPT TO:<{ALICE}>") == "250 2.1.5 Ok"
    assert c.cmd("DATA").startswith("354")
    c.send(msg("alias") + b".\r\n")
    assert c.line().startswith("250 2.0.0 <team@example.org> Ok")
    assert c.line().startswith(f"250 2.0.0 <{ALICE}> Ok")
    c.cmd("QUIT")
    assert count_subject(inbox(lmtp, ALICE, "a"), "alias") == 1
    assert count_subject(inbox(lmtp, BOB, "b"), "alias") == 1


def test_bdat_and_pipelining(lmtp):
    c = Lmtp(lmtp, unix=True)
    body = msg("bdat")
    half = len(body) // 2
    c.send(b"LHLO mta.example\r\nMAIL FROM:<sender@remote.example>\r\n"
           + f"RCPT TO:<{ALICE}>\r\nRCPT TO:<ghost@example.org>\r\nRCPT TO:<{BOB}>\r\n".encode()
           + f"BDAT {half}\r\n".encode() + body[:half]
           + f"BDAT {len(body) - half} LAST\r\n".encode() + body[half:]
           + b"NOOP\r\n")
    lines = c.lines_until("250 ")            # LHLO
    assert lines[0].startswith("250-")
    assert c.line() == "250 2.1.0 Ok"
    assert c.line() == "250 2.1.5 Ok"
    assert c.line().startswith("550 5.1.1 <ghost@example.org>")
    assert c.line() == "250 2.1.5 Ok"
    assert c.line() == f"250 2.0.0 {half} octets received"
    assert c.line().startswith(f"250 2.0.0 <{ALICE}> Ok")   # one per accepted RCPT
    assert c.line().startswith(f"250 2.0.0 <{BOB}> Ok")
    assert c.line() == "250 2.0.0 OK"                       # NOOP
    c.cmd("QUIT")
    m, = inbox(lmtp, ALICE, "a")
    assert m.endswith(body)
    assert b"Received: from mta.example\r\n\tby " in m        # unix socket: no IP
    assert count_subject(inbox(lmtp, BOB, "b"), "bdat") == 1


def test_refused_data_gets_one_reply_per_recipient(lmtp):
    c = Lmtp(lmtp)
    c.multi("LHLO mta.example")
    c.cmd("MAIL FROM:<sender@remote.example>")
    c.cmd(f"RCPT TO:<{ALICE}>")
    c.cmd(f"RCPT TO:<{BOB}>")
    assert c.cmd("DATA").startswith("354")
    c.send(b"Subject: bare\nLF\r\n.\r\n")
    assert c.line().startswith("550 5.6.0")
    assert c.line().startswith("550 5.6.0")
    assert c.cmd("NOOP") == "250 2.0.0 OK"
    c.cmd("QUIT")
    assert inbox(lmtp, ALICE, "a") == []


def test_delivered_to_loop(lmtp):
    c = Lmtp(lmtp)
    c.multi("LHLO mta.example")
    c.cmd("MAIL FROM:<sender@remote.example>")
    c.cmd(f"RCPT TO:<{ALICE}>")
    c.cmd(f"RCPT TO:<{BOB}>")
    c.cmd("DATA")
    c.send(b"Delivered-To: alice@example.org\r\n" + msg("loop") + b".\r\n")
    assert c.line() == f"550 5.4.6 <{ALICE}>: Mail loop detected (Delivered-To)"
    assert c.line().startswith(f"250 2.0.0 <{BOB}> Ok")
    c.cmd("QUIT")


# ---------------------------------------------------------------- smtplib

@pytest.mark.parametrize("unix", [False, True])
def test_smtplib_lmtp(lmtp, unix):
    if unix:
        c = smtplib.LMTP(lmtp.lmtp_sock, timeout=10)
    else:
        c = smtplib.LMTP(HOST, lmtp.lmtp_port, timeout=10)
    with c:
        refused = c.sendmail("sender@remote.example", [ALICE, "nobody@example.org", BOB],
                             msg(f"smtplib-{unix}"))
        assert list(refused) == ["nobody@example.org"]
        # smtplib reads only the first reply after DATA (alice's): bob's
        # is the next line
        code, text = c.getreply()
        assert code == 250 and text.startswith(f"2.0.0 <{BOB}> Ok".encode())
        assert c.noop()[0] == 250
    for user, d in ((ALICE, "a"), (BOB, "b")):
        assert count_subject(inbox(lmtp, user, d), f"smtplib-{unix}") == 1
    assert spool_entries(lmtp) == []


def test_over_quota_with_smtplib(lmtp):
    with smtplib.LMTP(HOST, lmtp.lmtp_port, timeout=10) as c:
        with pytest.raises(smtplib.SMTPDataError) as e:
            # smtplib.LMTP raises on the first non-250 after DATA
            c.sendmail("sender@remote.example", [CAROL], msg("big", size=8192))
        assert e.value.smtp_code == 452
    assert inbox(lmtp, CAROL, "c") == []


# ---------------------------------------------------------------- config

def test_lmtp_must_be_local(instance):
    for bad in ("0.0.0.0:2424", "192.0.2.1:24", "[::]:24", "*:24"):
        instance.write_conf(f"[lmtp]\nlisten = {bad}\n")
        r = instance.cli("config", "check", instance.conf, check=False)
        assert r.returncode != 0
        assert "LMTP has no authentication and must listen on a loopback address" in r.stderr
    instance.write_conf("[lmtp]\nlisten = 127.0.0.2:2424, [::1]:2424, /run/surel-lmtp\n")
    assert instance.cli("config", "check", instance.conf).returncode == 0


# ---------------------------------------------------------------- Postfix

POSTFIX = shutil.which("postfix") or ("/usr/sbin/postfix" if os.path.exists("/usr/sbin/postfix")
                                      else None)


def postfix_instance(tmp, transport):
    """A Postfix of its own in tmp (config, queue, data, log): it relays
    every message for example.org to `transport`. tmp must be traversable
    by the postfix user. Returns (config dir, smtpd port)."""
    conf = tmp / "postfix"
    queue = tmp / "queue"
    data = tmp / "data"
    for d in (conf, queue, data):
        d.mkdir()
    shutil.chown(data, "postfix")
    port, = free_ports(1)
    (conf / "main.cf").write_text(f"""\
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.test.example
mydomain = test.example
myorigin = test.example
mydestination =
local_recipient_maps =
relay_domains = example.org
mynetworks = 127.0.0.0/8
inet_interfaces = loopback-only
inet_protocols = ipv4
smtpd_recipient_restrictions = permit_mynetworks, reject
transport_maps = inline:{{example.org={transport}}}
alias_maps =
alias_database =
maillog_file = {tmp}/postfix.log
maillog_file_prefixes = {tmp}
smtputf8_enable = no
lmtp_host_lookup = native
smtp_host_lookup = native
smtp_dns_support_level = disabled
disable_dns_lookups = yes
default_destination_concurrency_limit = 2
""")
    (conf / "master.cf").write_text(f"""\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
""")
    return conf, port


def run_postfix(conf, *args):
    return subprocess.run([POSTFIX, "-c", str(conf), *args], capture_output=True, text=True,
                          timeout=60)


@pytest.fixture
def pf_tmp():
    """A directory the postfix user can reach (pytest's tmp_path is 0700)."""
    d = tempfile.mkdtemp(prefix="surel-postfix-")
    os.chmod(d, 0o755)
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.skipif(POSTFIX is None or os.geteuid() != 0,
                    reason="postfix not installed (or not root)")
@pytest.mark.parametrize("proto", ["lmtp", "smtp"])
def test_postfix_hands_over(lmtp, proto, pf_tmp):
    if proto == "lmtp":
        transport = f"lmtp:inet:127.0.0.1:{lmtp.lmtp_port}"
    else:
        transport = f"smtp:[127.0.0.1]:{lmtp.port('smtp')}"
    tmp_path = pf_tmp
    conf, port = postfix_instance(tmp_path, transport)
    r = run_postfix(conf, "start")
    assert r.returncode == 0, r.stdout + r.stderr
    log = tmp_path / "postfix.log"
    subject = f"via-postfix-{proto}"
    try:
        wait_for(lambda: _connects(port), timeout=20, what="postfix smtpd")
        with smtplib.SMTP(HOST, port, timeout=30) as c:
            c.sendmail("sender@remote.example", [ALICE, BOB], msg(subject))
        # Postfix read one reply per recipient and is done with both
        wait_for(lambda: log.exists() and log.read_text().count("status=sent") == 2,
                 timeout=60, step=0.5, what="postfix: status=sent for both recipients")
    finally:
        run_postfix(conf, "stop")
        if log.exists():
            print(log.read_text())
    if proto == "lmtp":
        for user, d in ((ALICE, "a"), (BOB, "b")):
            m, = inbox(lmtp, user, d)
            assert count_subject([m], subject) == 1
            assert b"by relay.test.example (Postfix)" in m and b" with LMTP id " in m
    else:
        # local delivery is off in this fixture: the message waits in the spool
        d = lmtp.data / "spool"
        env, = [(d / n).read_text() for n in os.listdir(d) if n.endswith(".env")]
        assert "protocol ESMTP\n" in env and "client-helo relay.test.example\n" in env
        assert f"rcpt {ALICE}\n" in env and f"rcpt {BOB}\n" in env


def _connects(port):
    try:
        socket.create_connection((HOST, port), 0.5).close()
        return True
    except OSError:
        return False
