"""Local delivery: mail accepted by SMTP lands in the recipients' INBOX
(the queue runner), read back over POP3: Return-Path and Delivered-To per
recipient over one shared blob, aliases, catch-all, plus-addressing,
submission, a large message, concurrency, a queue runner killed mid-burst,
quota at RCPT and at delivery, and Delivered-To loops."""
import os
import poplib
import signal
import smtplib
import threading
import time
from email.parser import BytesParser

import pytest

from test_server import HOST, tls_context, wait_for

ALICE, ALICE_PW = "alice@example.org", "alice-secret"
BOB, BOB_PW = "bob@example.org", "bob-secret"
CONF = ("[queue]\nlocal_delivery = yes\n[smtp]\ngreeting_delay = 0\n"
        "[auth]\nfail_delay = 0s\nmax_delay = 0s\nlockout_failures = 1000\n")


@pytest.fixture
def mx(instance):
    """A started server: alice and bob in example.org; aliases info@ ->
    alice, team@ -> alice + bob + carol@elsewhere.example; catch-all
    @catch.example -> bob."""
    instance.write_conf(CONF)
    cli = instance.cli
    cli("domain", "add", "example.org")
    cli("domain", "add", "catch.example")
    cli("user", "add", "--password-stdin", ALICE, input=ALICE_PW + "\n")
    cli("user", "add", "--password-stdin", BOB, input=BOB_PW + "\n")
    cli("alias", "add", "info@example.org", ALICE)
    cli("alias", "add", "team@example.org", ALICE, BOB, "carol@elsewhere.example")
    cli("alias", "add", "@catch.example", BOB)
    instance.start()
    yield instance
    rc = instance.stop()
    assert not instance.sanitizer_errors(), instance.log_text()
    assert rc == 0, f"surel serve exited {rc}:\n" + instance.log_text()


def message(subject, body="Hello.\r\n", sender="sender@remote.example", extra=""):
    return (f"From: {sender}\r\nTo: someone@example.org\r\nSubject: {subject}\r\n{extra}"
            f"\r\n{body}").encode()


def send(inst, rcpts, msg, sender="sender@remote.example"):
    with smtplib.SMTP(HOST, inst.port("smtp"), timeout=30) as c:
        c.sendmail(sender, rcpts, msg)


def pop_messages(inst, user, pw):
    """Every message of user's INBOX as bytes (CRLF lines), via POP3."""
    p = poplib.POP3_SSL(HOST, inst.port("pop3s"), context=tls_context(), timeout=30)
    try:
        p.user(user)
        p.pass_(pw)
        count, size = p.stat()
        out = []
        for i in range(1, count + 1):
            _, lines, octets = p.retr(i)
            data = b"\r\n".join(lines) + b"\r\n"
            assert len(data) == octets or len(data) == octets + 2  # poplib drops the last CRLF
            out.append(data)
        total = sum(int(l.split()[1]) for l in p.list()[1])
        assert total == size
        return out
    finally:
        p.quit()


def wait_count(inst, user, pw, n, timeout=15):
    return wait_for(lambda: (lambda m: m if len(m) >= n else None)(pop_messages(inst, user, pw)),
                    timeout=timeout, step=0.2, what=f"{n} messages for {user}")


def blob_files(inst):
    root = inst.data / "blobs"
    out = []
    for dirpath, dirs, files in os.walk(root):
        if os.path.basename(dirpath) == "tmp":
            continue
        out += [f for f in files if len(f) == 64]
    return out


def queue_list(inst):
    """`surel queue list` without its "queue is empty" line: "" when empty."""
    out = inst.cli("queue", "list").stdout.strip()
    return "" if out == "queue is empty" else out


def subject(data):
    return BytesParser().parsebytes(data)["Subject"]


def headers(data):
    return BytesParser().parsebytes(data, headersonly=True)


# ---------------------------------------------------------------- basics

def test_two_recipients_one_blob(mx):
    send(mx, [ALICE, BOB], message("both"))
    a, = wait_count(mx, ALICE, ALICE_PW, 1)
    b, = wait_count(mx, BOB, BOB_PW, 1)
    assert a.startswith(b"Return-Path: <sender@remote.example>\r\n"
                        b"Delivered-To: alice@example.org\r\nReceived: from ")
    assert b.startswith(b"Return-Path: <sender@remote.example>\r\n"
                        b"Delivered-To: bob@example.org\r\nReceived: from ")
    # the same bytes after the prefix: one blob for both
    pa = a.index(b"Received: ")
    pb = b.index(b"Received: ")
    assert a[pa:] == b[pb:]
    assert a.endswith(b"\r\n\r\nHello.\r\n")
    assert len(blob_files(mx)) == 1
    wait_for(lambda: queue_list(mx) == "", what="empty queue")
    assert "event=delivered" in mx.log_text()


def test_alias_catchall_plus(mx):
    send(mx, ["info@example.org"], message("via alias"))
    send(mx, ["Alice+News@Example.org"], message("via plus"))
    send(mx, ["anyone@catch.example"], message("via catch-all"))
    send(mx, ["team@example.org", ALICE], message("via team"))
    msgs = wait_count(mx, ALICE, ALICE_PW, 3)
    assert sorted(subject(m) for m in msgs) == ["via alias", "via plus", "via team"]
    for m in msgs:
        assert headers(m).get_all("Delivered-To") == [ALICE]
    bmsgs = wait_count(mx, BOB, BOB_PW, 2)
    assert sorted(subject(m) for m in bmsgs) == ["via catch-all", "via team"]
    # team's remote target stays in the spool, alone, for outbound mail
    def remote_left():
        out = queue_list(mx)
        return out if out.count("\n") == 0 and out else None
    out = wait_for(remote_left, what="the remote recipient in the queue")
    assert "carol@elsewhere.example" in out and ALICE not in out
    qid = out.split()[0]
    env = (mx.data / "spool" / f"{qid}.env").read_text()
    assert "rcpt carol@elsewhere.example\n" in env and "rcpt-local yes" not in env
    assert not (mx.data / "spool" / f"{qid}.dlv").exists()
    time.sleep(1)
    assert len(wait_count(mx, ALICE, ALICE_PW, 3)) == 3   # not again


def test_submission_alice_to_bob(mx):
    with smtplib.SMTP(HOST, mx.port("submission"), timeout=30) as c:
        c.starttls(context=tls_context())
        c.login(ALICE, ALICE_PW)
        c.sendmail(ALICE, [BOB], message("from alice", sender=ALICE))
    m, = wait_count(mx, BOB, BOB_PW, 1)
    assert m.startswith(b"Return-Path: <alice@example.org>\r\nDelivered-To: bob@example.org\r\n")
    assert subject(m) == "from alice"


def test_large_message(mx):
    line = b"x" * 76 + b"\r\n"
    body = line * (5 * 1024 * 1024 // len(line))
    send(mx, [ALICE], message("big", body=body.decode()))
    m, = wait_count(mx, ALICE, ALICE_PW, 1, timeout=60)
    assert m.endswith(b"\r\n\r\n" + body)


def test_concurrent_clients_exactly_once(mx):
    def client(k):
        with smtplib.SMTP(HOST, mx.port("smtp"), timeout=30) as c:
            for i in range(10):
                c.sendmail("sender@remote.example", [ALICE], message(f"c{k}-{i}"))
    threads = [threading.Thread(target=client, args=(k,)) for k in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    msgs = wait_count(mx, ALICE, ALICE_PW, 50, timeout=60)
    time.sleep(1)
    msgs = pop_messages(mx, ALICE, ALICE_PW)
    assert sorted(subject(m) for m in msgs) == sorted(f"c{k}-{i}" for k in range(5)
                                                       for i in range(10))
    wait_for(lambda: queue_list(mx) == "", what="empty queue")


def queue_runner_pid(inst):
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if comm == "surel-queue" and ppid == inst.proc.pid:
            return int(entry)
    return None


def test_queue_runner_killed_mid_burst(mx):
    stop = threading.Event()
    kills = []

    def killer():
        while not stop.is_set() and len(kills) < 4:
            time.sleep(0.3)
            pid = queue_runner_pid(mx)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                kills.append(pid)

    def client(k):
        with smtplib.SMTP(HOST, mx.port("smtp"), timeout=30) as c:
            for i in range(15):
                c.sendmail("sender@remote.example", [ALICE, BOB], message(f"k{k}-{i}"))

    kt = threading.Thread(target=killer)
    kt.start()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    kt.join()
    assert kills, "the queue runner was never found"
    # restarted by the master; everything delivered exactly once
    wait_for(lambda: queue_runner_pid(mx) not in (None, *kills), timeout=40,
             what="a new queue runner")
    want = sorted(f"k{k}-{i}" for k in range(4) for i in range(15))
    for user, pw in ((ALICE, ALICE_PW), (BOB, BOB_PW)):
        wait_count(mx, user, pw, 60, timeout=60)
    time.sleep(4)   # a rescan later: still no duplicate
    for user, pw in ((ALICE, ALICE_PW), (BOB, BOB_PW)):
        got = sorted(subject(m) for m in pop_messages(mx, user, pw))
        assert got == want
    wait_for(lambda: queue_list(mx) == "", what="empty queue")
    assert "status=killed signal=9" in mx.log_text()


def test_quota(mx):
    send(mx, [ALICE], message("fills", body="y" * 2000 + "\r\n"))
    wait_count(mx, ALICE, ALICE_PW, 1)
    mx.cli("user", "quota", ALICE, "1K")
    with smtplib.SMTP(HOST, mx.port("smtp"), timeout=30) as c:
        c.ehlo()
        c.mail("sender@remote.example")
        code, resp = c.rcpt(ALICE)
        assert (code, resp) == (452, b"4.2.2 <alice@example.org>: Mailbox full")
        assert c.rcpt(BOB)[0] == 250
        c.rset()
    # under quota at RCPT, over it at delivery: kept in the spool
    mx.cli("user", "quota", ALICE, "3K")
    send(mx, [ALICE], message("too big now", body="z" * 2000 + "\r\n"))
    wait_for(lambda: "reason=over_quota" in mx.log_text(), what="over-quota deferral")
    assert "too big" not in str([subject(m) for m in pop_messages(mx, ALICE, ALICE_PW)])
    assert ALICE in queue_list(mx)


def test_delivered_to_loop_is_held(mx):
    send(mx, [ALICE, BOB], message("looping", extra="Delivered-To: alice@example.org\r\n"))
    m, = wait_count(mx, BOB, BOB_PW, 1)
    assert subject(m) == "looping"
    wait_for(lambda: queue_list(mx) == "", what="empty queue")
    assert pop_messages(mx, ALICE, ALICE_PW) == []
    held = [f for f in os.listdir(mx.data / "spool" / "hold") if f.endswith(".env")]
    assert len(held) == 1
    env = (mx.data / "spool" / "hold" / held[0]).read_text()
    assert "rcpt alice@example.org\n" in env and "rcpt bob@example.org" not in env
    assert (mx.data / "spool" / "hold" / (held[0][:-4] + ".msg")).exists()
    assert "reason=loop" in mx.log_text()
    # surel queue held: list, show, delete
    hid = held[0][:-4]
    listing = mx.cli("queue", "held", "list").stdout
    assert listing.startswith(hid) and "<alice@example.org>" not in listing.split("  ", 1)[0]
    assert "alice@example.org" in listing
    shown = mx.cli("queue", "held", "show", hid).stdout
    assert "Subject: looping" in shown and "rcpt alice@example.org" in shown
    mx.cli("queue", "held", "delete", hid)
    assert mx.cli("queue", "held", "list").stdout == "nothing is held\n"
    assert mx.cli("queue", "held", "show", hid, check=False).returncode != 0
