"""The same POP3 script against Surel and Debian's dovecot-pop3d, both over
implicit TLS with the same messages: every reply's status (+OK / -ERR),
STAT and LIST octet counts, the bytes of RETR and TOP, the UID part of the
UIDLs, and what is left after QUIT must agree. Skips when Dovecot's POP3
server is not installed."""
import shutil
import tempfile
from pathlib import Path

import pytest

import pop3_dovecot
from test_auth import Conn
from test_pop3 import ALICE, ALICE_PW, MSGS, deliver, pop  # noqa: F401  (fixture)

SCRIPT = ["CAPA", "STAT", "LIST", "LIST 2", "LIST 9", "UIDL", "UIDL 3", "RETR 2", "RETR 3",
          "TOP 4 2", "TOP 1 0", "RETR 0", "RETR x", "DELE 1", "DELE 1", "RETR 1", "LIST 1",
          "STAT", "RSET", "STAT", "DELE 2", "NOOP", "XYZZ", "QUIT"]
MULTI = {"CAPA", "LIST", "UIDL", "RETR", "TOP"}


def run(port, user, password):
    c = Conn(port, tls=True)
    c.line()
    assert c.cmd("USER " + user).startswith("+OK")
    assert c.cmd("PASS " + password).startswith("+OK")
    out = []
    for cmd in SCRIPT:
        status = c.cmd(cmd)
        body = None
        word = cmd.split()[0]
        if status.startswith("+OK") and word in MULTI and (word in ("RETR", "TOP", "CAPA")
                                                           or len(cmd.split()) == 1):
            body = c.lines_until(".")
            while body[-1] != ".":
                body += c.lines_until(".")
        out.append((cmd, status, body))
    c.close()
    return out


def test_same_script_same_behaviour(pop, tmp_path):  # noqa: F811
    reason = pop3_dovecot.available()
    if reason:
        pytest.skip(reason)
    inst = pop()
    deliver(inst, tmp_path, *MSGS)
    d_tmp = Path(tempfile.mkdtemp(prefix="surel-pop3-dovecot-"))
    d_tmp.chmod(0o755)
    dov = pop3_dovecot.DovecotPop3(d_tmp, inst.data / "tls" / "cert.pem",
                                   inst.data / "tls" / "key.pem", password=ALICE_PW)
    try:
        dov.deliver(ALICE, [(m.rstrip("\n") + "\n").replace("\n", "\r\n").encode() for m in MSGS])
        ours = run(inst.port("pop3s"), ALICE, ALICE_PW)
        theirs = run(dov.port, ALICE, ALICE_PW)
        for (cmd, s1, b1), (_, s2, b2) in zip(ours, theirs):
            assert s1[:3] == s2[:3], f"{cmd}: surel {s1!r}, dovecot {s2!r}"
            if cmd == "CAPA":
                for cap in ("TOP", "UIDL", "RESP-CODES", "PIPELINING", "USER"):
                    assert any(l.split()[0] == cap for l in b2[:-1]) == \
                        any(l.split()[0] == cap for l in b1[:-1]) or cap == "USER", cap
                continue
            if cmd.startswith(("STAT", "LIST")):
                if b1 is None and s1.startswith("+OK"):   # single line: the numbers
                    assert s1.split()[1:] == s2.split()[1:], cmd
                assert b1 == b2, cmd
            if cmd.startswith(("RETR", "TOP")) and b1 is not None:
                assert b1 == b2, cmd
            if cmd.startswith("UIDL"):
                if b1 is not None:
                    assert [l.split()[1][:8] if " " in l else l for l in b1] == \
                           [l.split()[1][:8] if " " in l else l for l in b2]
                else:
                    assert s1.split()[2][:8] == s2.split()[2][:8]
        left = run(inst.port("pop3s"), ALICE, ALICE_PW)[1][1]
        left_d = run(dov.port, ALICE, ALICE_PW)[1][1]
        assert left.split()[1:] == left_d.split()[1:]      # STAT after QUIT
    finally:
        dov.stop()
        shutil.rmtree(d_tmp, ignore_errors=True)
