"""Submission's rules on the message (submission and smtps): the From
header must belong to the authenticated account (submission.from_check:
owned, domain, off), Message-ID and Date are added when missing (and only
there), and the Received header carries the TLS details and can leave out
the client (submission.hide_client_ip). Read from the spool (local
delivery off)."""
import base64
import re

import pytest

from test_server import HOST
from test_smtp import ALICE, ALICE_PW, Smtp, envelopes, smtp_server  # noqa: F401


def login(inst, smtps=False):
    if smtps:
        c = Smtp(inst.port("smtps"), tls=True)
    else:
        c = Smtp(inst.port("submission"))
        c.ehlo("laptop.home")
        assert c.cmd("STARTTLS").startswith("220")
        c.starttls()
    c.ehlo("laptop.home")
    auth = base64.b64encode(f"\0{ALICE}\0{ALICE_PW}".encode()).decode()
    assert c.cmd("AUTH PLAIN " + auth).startswith("235")
    return c


def send(c, data, sender=ALICE, rcpt="someone@elsewhere.example", bdat=False):
    """One transaction; returns the reply to the end of the data."""
    assert c.cmd(f"MAIL FROM:<{sender}>") == "250 2.1.0 Ok"
    assert c.cmd(f"RCPT TO:<{rcpt}>") == "250 2.1.5 Ok"
    if bdat:
        half = len(data) // 3   # inside the header
        c.send(f"BDAT {half}\r\n".encode() + data[:half])
        assert c.line() == f"250 2.0.0 {half} octets received"
        c.send(f"BDAT {len(data) - half} LAST\r\n".encode() + data[half:])
        return c.line()
    assert c.cmd("DATA").startswith("354")
    c.send(data + b".\r\n")
    return c.line()


def header_block(msg):
    return msg.split(b"\r\n\r\n", 1)[0] + b"\r\n"


# ---------------------------------------------------------------- From

FROM_CASES = [
    # (From value, accepted)
    (b"alice@example.org", True),
    (b"Alice <Alice+news@Example.org>", True),           # plus-address, any case
    (b"info@example.org", True),                           # alias reaching alice
    (b"\"Alice A.\" <alice@example.org>,\r\n info@example.org", True),   # folded list
    (b"bob@example.org", False),
    (b"alice@example.org, bob@example.org", False),       # every address counts
    (b"ceo@bank.example", False),
    (b"undisclosed:;", False),                             # a group, no address
]


@pytest.mark.parametrize("value,ok", FROM_CASES)
def test_from_owned(smtp_server, value, ok):
    inst = smtp_server()
    c = login(inst)
    reply = send(c, b"From: " + value + b"\r\nSubject: x\r\n\r\nHi\r\n")
    if ok:
        assert reply.startswith("250 2.0.0 Ok: queued as"), reply
    elif value == b"undisclosed:;":
        assert reply == "550 5.7.1 Message refused: no From header address"
    else:
        assert reply.startswith("550 5.7.1 <") and \
            reply.endswith(": From header address not owned by user alice@example.org"), reply
    # the session goes on
    assert c.cmd("NOOP") == "250 2.0.0 OK"
    c.cmd("QUIT")
    assert len(envelopes(inst)) == (1 if ok else 0)


def test_no_from_header_and_smtps_bdat(smtp_server):
    inst = smtp_server()
    c = login(inst, smtps=True)
    assert send(c, b"Subject: no from\r\n\r\nHi\r\n") == \
        "550 5.7.1 Message refused: no From header address"
    # BDAT, the header cut across chunks
    assert send(c, b"Subject: chunks\r\nFrom: bob@example.org\r\n\r\nHi\r\n", bdat=True) \
        .startswith("550 5.7.1 <bob@example.org>: From header address not owned")
    assert send(c, b"Subject: chunks\r\nFrom: alice@example.org\r\n\r\nHi\r\n", bdat=True) \
        .startswith("250 2.0.0 Ok: queued as")
    c.cmd("QUIT")
    assert len(envelopes(inst)) == 1


def test_from_check_domain_and_off(smtp_server):
    inst = smtp_server("[submission]\nfrom_check = domain\n")
    c = login(inst)
    assert send(c, b"From: sales@example.org\r\n\r\nHi\r\n").startswith("250 2.0.0")
    assert send(c, b"From: x@elsewhere.example\r\n\r\nHi\r\n") == \
        "550 5.7.1 <x@elsewhere.example>: From header address not in domain example.org " \
        "of user alice@example.org"
    c.cmd("QUIT")
    inst.stop()
    inst.write_conf("[queue]\nlocal_delivery = no\n[smtp]\ngreeting_delay = 0\n"
                    "[submission]\nfrom_check = off\n")
    inst.start()
    c = login(inst)
    assert send(c, b"From: x@elsewhere.example\r\n\r\nHi\r\n").startswith("250 2.0.0")
    assert send(c, b"Subject: none\r\n\r\nHi\r\n").startswith("250 2.0.0")
    c.cmd("QUIT")


def test_port_25_has_no_from_check(smtp_server):
    inst = smtp_server()
    c = Smtp(inst.port("smtp"))
    c.ehlo()
    assert send(c, b"From: bob@example.org\r\n\r\nHi\r\n", sender="x@remote.example",
                rcpt=ALICE).startswith("250 2.0.0")
    c.cmd("QUIT")
    (_, _, msg), = envelopes(inst)
    assert b"Message-ID:" not in msg and b"\r\nDate:" not in msg   # only on submission


# ---------------------------------------------------------------- added fields

def test_message_id_and_date_added_when_missing(smtp_server):
    inst = smtp_server()
    c = login(inst)
    qid = send(c, b"From: alice@example.org\r\nSubject: bare\r\n\r\nHi\r\n").split()[-1]
    send(c, b"From: alice@example.org\r\nmessage-id: <own@x>\r\nDATE: Mon, 1 Jan 2024 "
            b"00:00:00 +0000\r\nSubject: full\r\n\r\nHi\r\n")
    send(c, b"From: alice@example.org\r\n\r\n")            # empty body
    c.cmd("QUIT")
    msgs = {e[0]: e[2] for e in envelopes(inst)}
    bare = msgs.pop(qid)
    hdr = header_block(bare)
    # after our Received, before the client's header
    assert re.search(rb"\tfor <someone@elsewhere.example>; [^\r]+\r\n"
                     rb"Message-ID: <" + qid.encode() + rb"@[^>]+>\r\n"
                     rb"Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul"
                     rb"|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d [+-]\d{4}\r\n"
                     rb"From: alice@example.org\r\nSubject: bare\r\n$", hdr), hdr
    assert bare.endswith(b"\r\n\r\nHi\r\n")
    full = [m for m in msgs.values() if b"Subject: full" in m][0]
    assert full.count(b"Message-ID") == 0 and full.count(b"message-id: <own@x>") == 1
    assert full.count(b"Date:") == 0
    empty = [m for m in msgs.values() if b"Subject" not in m][0]
    assert empty.endswith(b"\r\nFrom: alice@example.org\r\n\r\n")
    assert b"Message-ID: <" in empty and b"\r\nDate: " in empty


# ---------------------------------------------------------------- Received

def test_received_tls_and_hidden_client(smtp_server):
    inst = smtp_server()
    c = login(inst)
    send(c, b"From: alice@example.org\r\n\r\nHi\r\n")
    c.cmd("QUIT")
    (_, _, msg), = envelopes(inst)
    assert re.match(rb"Received: from laptop\.home \(\[127\.0\.0\.1\]\)\r\n"
                    rb"\t\(using TLSv1\.[23] with cipher [A-Z0-9_-]+\)\r\n"
                    rb"\tby \S+ \(Surel\) with ESMTPSA id [0-9A-F]{16}\r\n"
                    rb"\tfor <someone@elsewhere.example>; ", msg), msg[:300]
    inst.stop()
    for name in [e[0] for e in envelopes(inst)]:
        for suffix in (".env", ".msg"):
            (inst.data / "spool" / (name + suffix)).unlink()
    inst.write_conf("[queue]\nlocal_delivery = no\n[smtp]\ngreeting_delay = 0\n"
                    "[submission]\nhide_client_ip = yes\n")
    inst.start()
    c = login(inst, smtps=True)
    send(c, b"From: alice@example.org\r\n\r\nHi\r\n")
    c.cmd("QUIT")
    (_, env, msg), = envelopes(inst)
    received = msg.split(b"\r\nMessage-ID:", 1)[0]
    assert re.match(rb"Received: \(using TLSv1\.[23] with cipher [A-Z0-9_-]+\)\r\n"
                    rb"\tby \S+ \(Surel\) with ESMTPSA id [0-9A-F]{16}\r\n"
                    rb"\tfor <someone@elsewhere.example>; [^\r]+$", received), received
    assert b"127.0.0.1" not in msg and b"laptop.home" not in msg
    # port 25 still shows its client
    c = Smtp(inst.port("smtp"))
    c.ehlo("mx.remote.example")
    send(c, b"From: x@remote.example\r\n\r\nHi\r\n", sender="x@remote.example", rcpt=ALICE)
    c.cmd("QUIT")
    assert any(m.startswith(b"Received: from mx.remote.example ([127.0.0.1])")
               for _, _, m in envelopes(inst))
