"""The SMTP server engine: mail transactions on smtp, submission and smtps,
recipient policy, limits, PIPELINING, CHUNKING, the DATA rules, and the
durable spool, over real sockets with smtplib, raw transcripts and swaks."""
import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from test_server import HOST, Client, tls_context

ALICE, ALICE_PW = "alice@example.org", "alice-secret"
BOB = "bob@example.org"
# These tests look at what SMTP leaves in the spool: local delivery (the
# queue runner, test_delivery.py) is switched off so that it does not take
# the messages away first.
FAST = "[queue]\nlocal_delivery = no\n[smtp]\ngreeting_delay = 0\n"


@pytest.fixture
def smtp_server(instance):
    """smtp_server(extra_conf): users alice and bob in example.org, aliases
    info@ -> alice, team@ -> alice + bob + carol@elsewhere.example,
    loop1@ <-> loop2@, catch-all @catch.example -> bob."""
    def start(extra=""):
        instance.write_conf(FAST + extra)
        cli = instance.cli
        cli("domain", "add", "example.org")
        cli("domain", "add", "catch.example")
        cli("user", "add", "--password-stdin", ALICE, input=ALICE_PW + "\n")
        cli("user", "add", "--password-stdin", BOB, input="bob-secret\n")
        cli("user", "add", "--password-stdin", "--disabled", "dis@example.org", input="x\n",
            check=False)
        cli("alias", "add", "info@example.org", ALICE)
        cli("alias", "add", "team@example.org", ALICE, BOB, "carol@elsewhere.example")
        cli("alias", "add", "@catch.example", BOB)
        instance.start()
        return instance
    yield start
    if instance.proc is not None:
        rc = instance.stop()
        assert not instance.sanitizer_errors(), instance.log_text()
        assert rc == 0, f"surel serve exited {rc}:\n" + instance.log_text()


def spool(inst):
    d = inst.data / "spool"
    return sorted(os.listdir(d)) if d.exists() else []


def envelopes(inst):
    out = []
    for name in spool(inst):
        if name.endswith(".env"):
            text = (inst.data / "spool" / name).read_text()
            msg = (inst.data / "spool" / (name[:-4] + ".msg")).read_bytes()
            out.append((name[:-4], text, msg))
    return out


def env_rcpts(text):
    return [l.split(" ", 1)[1] for l in text.splitlines() if l.startswith("rcpt ")]


def strip_received(msg):
    """The message without our Received header (its continuation lines
    start with a tab)."""
    assert msg.startswith(b"Received: ")
    pos = 0
    while True:
        pos = msg.index(b"\r\n", pos) + 2
        if not msg[pos:].startswith(b"\t"):
            return msg[pos:]


class Smtp(Client):
    def __init__(self, port, tls=False, greeting=True):
        super().__init__(port, tls=tls, timeout=10)
        if greeting:
            assert self.line().startswith("220 ")

    def ehlo(self, name="client.example"):
        return self.cmd_multi(f"EHLO {name}")

    def cmd_multi(self, text):
        self.send(text.encode() + b"\r\n")
        lines = []
        while True:
            lines.append(self.line())
            if lines[-1][3:4] != "-":
                return lines


MSG = b"From: a@remote.example\r\nSubject: test\r\n\r\nHello\r\n"


# ---------------------------------------------------------------- basics

def test_full_transaction_to_local_user(smtp_server):
    inst = smtp_server()
    with smtplib.SMTP(HOST, inst.port("smtp"), timeout=10) as c:
        code, caps = c.ehlo("mx.remote.example")
        assert code == 250
        for kw in (b"PIPELINING", b"SIZE 52428800", b"8BITMIME", b"SMTPUTF8",
                   b"ENHANCEDSTATUSCODES", b"DSN", b"CHUNKING", b"STARTTLS"):
            assert kw in caps
        c.mail("sender@remote.example", ["BODY=8BITMIME", "RET=HDRS", "ENVID=QQ314159"])
        c.rcpt(ALICE, ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;alice@example.org"])
        code, resp = c.data(MSG)
        assert code == 250 and resp.startswith(b"2.0.0 Ok: queued as ")
        qid = resp.split()[-1].decode()
    (eid, text, msg), = envelopes(inst)
    assert eid == qid
    assert spool(inst) == [qid + ".env", qid + ".msg"]
    assert "sender sender@remote.example\n" in text
    assert "client-ip 127.0.0.1\n" in text and "client-helo mx.remote.example\n" in text
    assert "protocol ESMTP\n" in text and "body 8BITMIME\n" in text
    assert "ret HDRS\n" in text and "envid QQ314159\n" in text
    assert "rcpt alice@example.org\nrcpt-notify SUCCESS,FAILURE\n" \
           "rcpt-orcpt rfc822;alice@example.org\nrcpt-local yes\n" in text
    assert msg.startswith(b"Received: from mx.remote.example ([127.0.0.1])\r\n\tby ")
    assert f"with ESMTP id {qid}\r\n\tfor <alice@example.org>; ".encode() in msg
    assert msg.endswith(b"\r\n" + MSG)
    assert f"size {len(msg)}\n" in text
    r = inst.cli("queue", "list")
    assert qid in r.stdout and "sender@remote.example" in r.stdout
    r = inst.cli("queue", "show", qid)
    assert "Subject: test" in r.stdout and "rcpt alice@example.org" in r.stdout
    inst.cli("queue", "delete", qid)
    assert spool(inst) == []
    assert inst.cli("queue", "delete", qid, check=False).returncode == 1


def test_recipients_alias_catchall_plus_case(smtp_server):
    inst = smtp_server()
    with smtplib.SMTP(HOST, inst.port("smtp"), timeout=10) as c:
        refused = c.sendmail("s@remote.example",
                             ["ALICE@Example.ORG", "info@example.org", "alice+news@example.org",
                              "anything@catch.example", "team@example.org",
                              "nobody@example.org"], MSG)
    assert refused == {"nobody@example.org": (550, b"5.1.1 <nobody@example.org>: Recipient "
                                                    b"address rejected: User unknown")}
    (_, text, _), = envelopes(inst)
    assert env_rcpts(text) == [ALICE, ALICE, ALICE, BOB, ALICE, BOB, "carol@elsewhere.example"]
    assert "rcpt-original alice+news@example.org\n" in text
    assert "rcpt carol@elsewhere.example\nrcpt-original team@example.org\nrcpt-local no\n" in text


def test_disabled_relay_and_postmaster(smtp_server):
    inst = smtp_server()
    inst.cli("alias", "add", "postmaster@example.org", ALICE)
    c = Smtp(inst.port("smtp"))
    c.ehlo()
    assert c.cmd("MAIL FROM:<s@remote.example>") == "250 2.1.0 Ok"
    dis = c.cmd("RCPT TO:<dis@example.org>")
    assert dis.startswith("550 5.2.1") or dis.startswith("550 5.1.1")
    assert c.cmd("RCPT TO:<bob@elsewhere.example>") == \
        "554 5.7.1 <bob@elsewhere.example>: Relay access denied"
    assert c.cmd("RCPT TO:<x@[192.0.2.1]>").startswith("554 5.7.1")
    c.cmd("QUIT")


def test_submission_requires_auth_and_owned_sender(smtp_server):
    inst = smtp_server()
    c = Smtp(inst.port("submission"))
    c.ehlo()
    assert c.cmd("MAIL FROM:<alice@example.org>") == \
        "530 5.7.0 Must issue a STARTTLS command first"
    assert c.cmd("STARTTLS").startswith("220")
    c.starttls()
    c.ehlo()
    assert c.cmd("MAIL FROM:<alice@example.org>") == "530 5.7.0 Authentication required"
    import base64
    assert c.cmd("AUTH PLAIN " + base64.b64encode(f"\0{ALICE}\0{ALICE_PW}".encode()).decode()) \
        .startswith("235")
    assert c.cmd("MAIL FROM:<bob@example.org>") == \
        "553 5.7.1 <bob@example.org>: Sender address not owned by user alice@example.org"
    assert c.cmd("MAIL FROM:<>").startswith("553 5.7.1")
    assert c.cmd("MAIL FROM:<info@example.org>") == "250 2.1.0 Ok"   # alias of alice
    assert c.cmd("RSET") == "250 2.0.0 OK"
    assert c.cmd("MAIL FROM:<Alice+x@example.org>") == "250 2.1.0 Ok"
    # authenticated users may send anywhere
    assert c.cmd("RCPT TO:<someone@elsewhere.example>") == "250 2.1.5 Ok"
    assert c.cmd("DATA").startswith("354")
    # the From header must be alice's too (test_submission.py)
    c.send(MSG.replace(b"a@remote.example", b"info@example.org") + b".\r\n")
    assert c.line().startswith("250 2.0.0 Ok: queued as")
    c.cmd("QUIT")
    (_, text, msg), = envelopes(inst)
    assert "auth alice@example.org\n" in text and "protocol ESMTPSA\n" in text
    assert "rcpt someone@elsewhere.example\nrcpt-local no\n" in text
    assert b"\t(using TLSv1." in msg and b"with ESMTPSA id" in msg


def test_size_at_mail_and_in_data(smtp_server):
    inst = smtp_server("max_message_size = 2K\n")
    c = Smtp(inst.port("smtp"))
    assert "250-SIZE 2048" in c.ehlo()
    assert c.cmd("MAIL FROM:<s@remote.example> SIZE=4096") == \
        "552 5.3.4 Message size exceeds fixed maximum message size"
    assert c.cmd("MAIL FROM:<s@remote.example> SIZE=100") == "250 2.1.0 Ok"
    assert c.cmd(f"RCPT TO:<{ALICE}>") == "250 2.1.5 Ok"
    assert c.cmd("DATA").startswith("354")
    c.send(b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 40 + b".\r\n")
    assert c.line() == "552 5.3.4 Message size exceeds fixed maximum message size"
    assert c.cmd("NOOP") == "250 2.0.0 OK"   # the session goes on
    c.cmd("QUIT")
    assert spool(inst) == []


def test_too_many_recipients(smtp_server):
    inst = smtp_server()
    c = Smtp(inst.port("smtp"))
    c.ehlo()
    c.cmd("MAIL FROM:<s@remote.example>")
    c.send(b"".join(f"RCPT TO:<alice+{i}@example.org>\r\n".encode() for i in range(101)))
    replies = [c.line() for _ in range(101)]
    assert replies[:100] == ["250 2.1.5 Ok"] * 100
    assert replies[100] == "452 4.5.3 Too many recipients"


def test_bad_sequence(smtp_server):
    inst = smtp_server()
    c = Smtp(inst.port("smtp"))
    assert c.cmd("MAIL FROM:<s@remote.example>") == "503 5.5.1 Send HELO/EHLO first"
    c.ehlo()
    assert c.cmd("RCPT TO:<alice@example.org>") == "503 5.5.1 Need MAIL command"
    assert c.cmd("DATA") == "503 5.5.1 Need MAIL command"
    assert c.cmd("MAIL FROM:<s@remote.example>") == "250 2.1.0 Ok"
    assert c.cmd("MAIL FROM:<s@remote.example>") == "503 5.5.1 Nested MAIL command"
    assert c.cmd("DATA") == "554 5.5.1 No valid recipients"
    assert c.cmd("RSET") == "250 2.0.0 OK"
    assert c.cmd("RCPT TO:<alice@example.org>") == "503 5.5.1 Need MAIL command"
    assert c.cmd("VRFY alice").startswith("252 2.5.0")
    assert c.cmd("EXPN list") == "502 5.5.1 Command not implemented"
    assert c.cmd("FOO") == "500 5.5.2 Command unrecognized"
    assert c.cmd("HELP").startswith("214 2.0.0")


def test_malformed_addresses_and_params(smtp_server):
    inst = smtp_server()
    c = Smtp(inst.port("smtp"))
    c.ehlo()
    assert c.cmd("MAIL FROM:alice@example.org") == "501 5.5.4 Syntax: MAIL FROM:<address>"
    assert c.cmd("MAIL FROM:<a..b@example.org>") == "501 5.1.7 Bad sender address syntax"
    assert c.cmd("MAIL FROM:<s@remote.example> FOO=1") == "555 5.5.4 Unsupported parameter"
    assert c.cmd("MAIL FROM:<s@remote.example> BODY=BINARYMIME") == \
        "501 5.5.4 Unsupported BODY type"
    assert c.cmd("MAIL FROM:<j\u00f6rg@remote.example>") == \
        "553 5.6.7 Non-ASCII address requires SMTPUTF8"
    assert c.cmd("MAIL FROM:<s@remote.example> SMTPUTF8") == "250 2.1.0 Ok"
    assert c.cmd("RCPT TO:<alice@example.org") == "501 5.1.3 Bad recipient address syntax"
    assert c.cmd("RCPT TO:<alice@example.org> NOTIFY=SOMETIMES") == "501 5.5.4 Bad NOTIFY value"
    assert c.cmd("RCPT TO:<alice@example.org> ORCPT=rfc822;a+zz") == "501 5.5.4 Bad ORCPT value"
    c2 = Smtp(inst.port("smtp"))
    assert c2.cmd("HELO client.example").startswith("250 ")
    assert c2.cmd("MAIL FROM:<s@remote.example> SIZE=10") == "555 5.5.4 Parameters need EHLO"


def test_pipelined_session(smtp_server):
    inst = smtp_server()
    c = Smtp(inst.port("smtp"))
    c.send(b"EHLO client.example\r\nMAIL FROM:<s@remote.example>\r\n"
           b"RCPT TO:<alice@example.org>\r\nRCPT TO:<nobody@example.org>\r\n"
           b"RCPT TO:<bob@example.org>\r\nDATA\r\n" + MSG + b".\r\n"
           b"MAIL FROM:<t@remote.example>\r\nRCPT TO:<bob@example.org>\r\n"
           b"BDAT 5 LAST\r\nhelloQUIT\r\n")
    lines = c.lines_until("250 ")
    assert lines[0].startswith("250-")
    assert c.line() == "250 2.1.0 Ok"
    assert c.line() == "250 2.1.5 Ok"
    assert c.line().startswith("550 5.1.1")
    assert c.line() == "250 2.1.5 Ok"
    assert c.line().startswith("354")
    assert c.line().startswith("250 2.0.0 Ok: queued as")
    assert c.line() == "250 2.1.0 Ok"
    assert c.line() == "250 2.1.5 Ok"
    assert c.line().startswith("250 2.0.0 Ok: queued as")
    assert c.line().startswith("221")
    envs = envelopes(inst)
    assert len(envs) == 2
    assert sorted(env_rcpts(e[1]) for e in envs) == [[ALICE, BOB], [BOB]]


def test_pipelining_before_greeting(smtp_server):
    inst = smtp_server("greeting_delay = 1500\n")
    c = Smtp(inst.port("smtp"), greeting=False)
    c.send(b"EHLO spammer.example\r\nMAIL FROM:<s@remote.example>\r\n")
    line = c.line()
    assert line.startswith("554 5.5.0 ") and "pipelining before greeting" in line
    assert c.at_eof()
    # a patient client gets the greeting after the delay
    t = time.monotonic()
    ok = Smtp(inst.port("smtp"))
    assert time.monotonic() - t >= 1.0
    ok.ehlo()
    # the delay is for port 25 only
    t = time.monotonic()
    Smtp(inst.port("smtps"), tls=True)
    assert time.monotonic() - t < 1.0


def test_bdat_chunks(smtp_server):
    inst = smtp_server()
    c = Smtp(inst.port("smtp"))
    c.ehlo()
    c.cmd("MAIL FROM:<s@remote.example>")
    c.cmd(f"RCPT TO:<{ALICE}>")
    c.send(b"BDAT 10\r\nSubject: x")
    assert c.line() == "250 2.0.0 10 octets received"
    c.send(b"BDAT 10\r\n\r\n\r\nbody\n.")
    assert c.line() == "250 2.0.0 10 octets received"
    assert c.cmd("DATA") == "503 5.5.1 DATA not allowed after BDAT"
    c.send(b"BDAT 0 LAST\r\n")
    assert c.line().startswith("250 2.0.0 Ok: queued as")
    c.cmd("MAIL FROM:<s@remote.example>")
    c.cmd(f"RCPT TO:<{ALICE}>")
    c.send(b"BDAT 3 LAST\r\nabc")
    assert c.line().startswith("250 2.0.0 Ok: queued as")
    c.send(b"BDAT 4\r\nabcd")   # outside a transaction: the chunk is read, then 503
    assert c.line() == "503 5.5.1 Need MAIL command"
    assert c.cmd("NOOP") == "250 2.0.0 OK"
    assert sorted(strip_received(e[2]) for e in envelopes(inst)) == \
        [b"Subject: x\r\n\r\nbody\n.", b"abc"]


def test_bare_lf_and_dot_unstuffing(smtp_server):
    inst = smtp_server()
    c = Smtp(inst.port("smtp"))
    c.ehlo()
    for _ in range(2):
        c.cmd("MAIL FROM:<s@remote.example>")
        c.cmd(f"RCPT TO:<{ALICE}>")
        assert c.cmd("DATA").startswith("354")
        # a smuggling attempt: <LF>.<CR><LF> is not the end of data
        c.send(b"Subject: x\r\n\r\nhi\n.\r\nMAIL FROM:<evil@x>\r\n.\r\n")
        assert c.line().startswith("550 5.6.0 Message refused: bare LF or bare CR")
    c.cmd("MAIL FROM:<s@remote.example>")
    c.cmd(f"RCPT TO:<{ALICE}>")
    c.cmd("DATA")
    c.send(b"Subject: x\r\n\r\n..leading dot\r\n...two\r\n.\r\n")
    assert c.line().startswith("250 2.0.0")
    c.cmd("MAIL FROM:<s@remote.example>")
    c.cmd(f"RCPT TO:<{ALICE}>")
    c.cmd("DATA")
    c.send(b"Subject: x\r\n\r\nbare\rcr\r\n.\r\n")
    assert c.line().startswith("550 5.6.0")
    (_, _, msg), = envelopes(inst)
    assert msg.endswith(b"\r\n\r\n.leading dot\r\n..two\r\n")


def test_client_drops_mid_data(smtp_server):
    inst = smtp_server()
    c = Smtp(inst.port("smtp"))
    c.ehlo()
    c.cmd("MAIL FROM:<s@remote.example>")
    c.cmd(f"RCPT TO:<{ALICE}>")
    c.cmd("DATA")
    c.send(b"Subject: x\r\n\r\n" + b"y" * 100000)
    time.sleep(0.3)
    assert any(n.endswith(".tmp") for n in spool(inst))
    c.sock.close()
    deadline = time.monotonic() + 5
    while spool(inst) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert spool(inst) == []


def test_long_lines_nul_and_max_errors(smtp_server):
    inst = smtp_server("max_errors = 4\n")
    c = Smtp(inst.port("smtp"))
    c.ehlo()
    assert c.cmd("NOOP " + "x" * 1000) == "500 5.5.6 Line too long"
    assert c.cmd("NOOP " + "x" * 993) == "250 2.0.0 OK"   # 998 octets
    assert c.cmd("NO\0OP") == "500 5.5.2 Syntax error: NUL character in command"
    assert c.cmd("BOGUS") == "500 5.5.2 Command unrecognized"
    assert c.cmd("BOGUS") == "500 5.5.2 Command unrecognized"
    line = c.line()
    assert line.startswith("421 4.7.0 ") and line.endswith("Too many errors, closing connection")
    assert c.at_eof()


def test_long_data_lines_are_kept(smtp_server):
    inst = smtp_server()
    with smtplib.SMTP(HOST, inst.port("smtp"), timeout=10) as c:
        body = b"Subject: long\r\n\r\n" + b"z" * 5000 + b"\r\n"
        c.sendmail("s@remote.example", [ALICE], body)
    (_, _, msg), = envelopes(inst)
    assert msg.endswith(body)
    assert "long_lines=1" in inst.log_text()


def test_full_disk(smtp_server):
    """The spool on a tiny tmpfs: 452 4.3.1, and nothing left behind."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    inst = smtp_server()
    spool_dir = inst.data / "spool"
    spool_dir.mkdir(exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs",
                       str(spool_dir)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs")
    try:
        shutil.chown(spool_dir, "surel", "surel")
        c = Smtp(inst.port("smtp"))
        c.ehlo()
        c.cmd("MAIL FROM:<s@remote.example>")
        c.cmd(f"RCPT TO:<{ALICE}>")
        assert c.cmd("DATA").startswith("354")
        c.send(b"Subject: x\r\n\r\n" + (b"a" * 998 + b"\r\n") * 2000 + b".\r\n")
        assert c.line() == "452 4.3.1 Insufficient system storage"
        assert os.listdir(spool_dir) == []
        # a message that fits still goes through
        c.cmd("MAIL FROM:<s@remote.example>")
        c.cmd(f"RCPT TO:<{ALICE}>")
        c.cmd("DATA")
        c.send(MSG + b".\r\n")
        assert c.line().startswith("250 2.0.0 Ok: queued as")
        c.cmd("QUIT")
    finally:
        subprocess.run(["umount", "-l", str(spool_dir)])


def test_swaks_all_listeners(smtp_server):
    swaks = shutil.which("swaks")
    if swaks is None:
        pytest.skip("swaks not installed")
    inst = smtp_server()
    runs = [
        ["--server", f"{HOST}:{inst.port('smtp')}", "--from", "s@remote.example"],
        ["--server", f"{HOST}:{inst.port('submission')}", "--tls", "--auth", "PLAIN",
         "--auth-user", ALICE, "--auth-password", ALICE_PW, "--from", ALICE],
        ["--server", f"{HOST}:{inst.port('smtps')}", "--tlsc", "--auth", "LOGIN",
         "--auth-user", ALICE, "--auth-password", ALICE_PW, "--from", ALICE],
        ["--server", f"{HOST}:{inst.port('smtp')}", "--from", "s@remote.example",
         "--pipeline"],
    ]
    for args in runs:
        r = subprocess.run([swaks, "--to", BOB, "--timeout", "10", *args],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Ok: queued as" in r.stdout
    envs = envelopes(inst)
    assert len(envs) == 4
    protos = sorted(l for e in envs for l in e[1].splitlines() if l.startswith("protocol "))
    assert protos == ["protocol ESMTP", "protocol ESMTP", "protocol ESMTPSA", "protocol ESMTPSA"]
