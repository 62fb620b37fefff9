"""POP3 on the mail store (RFC 1939, 2449, 2595, 5034, 3206): every command
with poplib and raw transcripts, pipelining, STLS and pop3s, the snapshot,
the maildrop lock, UPDATE on QUIT only, stable UIDLs, the delete-after-RETR
and to-Trash options, streaming of a large message, and bad input.

Messages are put into INBOX with `surel mailbox import USER MBOX`."""
import poplib
import socket
import time

import pytest

from test_auth import Conn
from test_server import HOST, tls_context, wait_for
from test_store_cli import index_rows, listing

ALICE, ALICE_PW = "alice@example.org", "alice-secret"
BOB, BOB_PW = "bob@example.org", "bob-secret"
NO_DELAY = "[auth]\nfail_delay = 0s\nmax_delay = 0s\nlockout_failures = 100\n"


def message(n, body=None, subject=None):
    """A message as an mbox entry would hold it (LF lines); stored with CRLF."""
    body = body if body is not None else f"Body of message {n}.\n"
    subject = subject or f"Message {n}"
    return (f"From: Bob <bob@example.org>\nTo: alice@example.org\nSubject: {subject}\n"
            f"Message-ID: <m{n}@example.org>\n\n{body}")


def mbox_quote(body):
    # mboxrd: ">From " and ">>From " get one more ">" on the way in
    out = []
    for line in body.split("\n"):
        stripped = line.lstrip(">")
        out.append(">" + line if stripped.startswith("From ") else line)
    return "\n".join(out)


def deliver(inst, tmp_path, *messages, user=ALICE):
    """Import messages (str, LF lines) into user's INBOX."""
    path = tmp_path / f"in-{time.monotonic_ns()}.mbox"
    data = "".join(f"From bob@example.org Mon Nov  2 10:00:00 2026\n{mbox_quote(m)}\n"
                   for m in messages)
    path.write_bytes(data.encode())
    inst.cli("mailbox", "import", user, path)


def wire(m):
    """The message as RETR must send it, unstuffed: CRLF lines."""
    return m.replace("\n", "\r\n").encode()


def login(inst, user=ALICE, pw=ALICE_PW):
    p = poplib.POP3_SSL(HOST, inst.port("pop3s"), context=tls_context(), timeout=10)
    p.user(user)
    assert p.pass_(pw) == b"+OK Logged in"
    return p


def raw_login(inst, user=ALICE, pw=ALICE_PW):
    c = Conn(inst.port("pop3s"), tls=True)
    assert c.line() == "+OK Surel ready"
    assert c.cmd("USER " + user) == "+OK Send PASS"
    assert c.cmd("PASS " + pw) == "+OK Logged in"
    return c


def multiline(c):
    """The lines of a multi-line reply after its status line, unstuffed."""
    out = []
    while True:
        line = c.line()
        if line == ".":
            return out
        out.append(line[1:] if line.startswith(".") else line)


@pytest.fixture
def pop(instance):
    """pop(extra_conf): a started server with alice and bob."""
    def start(extra=""):
        instance.write_conf(NO_DELAY + extra)
        instance.cli("domain", "add", "example.org")
        instance.cli("user", "add", "--password-stdin", ALICE, input=ALICE_PW + "\n")
        instance.cli("user", "add", "--password-stdin", BOB, input=BOB_PW + "\n")
        instance.start()
        return instance
    yield start
    if instance.proc is not None:
        rc = instance.stop()
        assert not instance.sanitizer_errors(), instance.log_text()
        assert rc == 0, f"surel serve exited {rc}:\n" + instance.log_text()


MSGS = [
    message(1),
    message(2, body="A line\n.starts with a dot\n..and two\n.\nend\n"),
    message(3, body="no final newline"),
    message(4, body="line 1\nline 2\nline 3\nline 4\n"),
]
# After login; before it EXPIRE says USER: accounts may differ (RFC 2449 6.7)
EXPECTED_CAPA = {"TOP": [], "UIDL": [], "RESP-CODES": [], "AUTH-RESP-CODE": [],
                 "PIPELINING": [], "EXPIRE": ["NEVER"], "LOGIN-DELAY": ["0"],
                 "IMPLEMENTATION": ["Surel"]}
EXPECTED_CAPA_BEFORE_LOGIN = {**EXPECTED_CAPA, "EXPIRE": ["NEVER", "USER"]}


# ---------------------------------------------------------------- CAPA

def test_capa_in_each_state(pop):
    inst = pop()
    p = poplib.POP3(HOST, inst.port("pop3"), timeout=10)
    assert p.capa() == {"STLS": [], **EXPECTED_CAPA_BEFORE_LOGIN}
    p.stls(context=tls_context())
    assert p.capa() == {"USER": [], "SASL": ["PLAIN", "LOGIN"], **EXPECTED_CAPA_BEFORE_LOGIN}
    p.user(ALICE)
    p.pass_(ALICE_PW)
    assert p.capa() == EXPECTED_CAPA
    p.quit()


def test_capa_follows_config(pop):
    inst = pop("[pop3]\nexpire = 30\nlogin_delay = 5m\n")
    p = poplib.POP3_SSL(HOST, inst.port("pop3s"), context=tls_context(), timeout=10)
    caps = p.capa()
    assert caps["EXPIRE"] == ["30", "USER"] and caps["LOGIN-DELAY"] == ["300"]
    p.user(ALICE)
    p.pass_(ALICE_PW)
    assert p.capa()["EXPIRE"] == ["30"]
    p.quit()


# ---------------------------------------------------------------- every command

def test_every_command_raw_transcript(pop, tmp_path):
    inst = pop()
    deliver(inst, tmp_path, *MSGS)
    # the importer ends every message with a line end: the octets with CRLF
    sizes = [len(wire(m.rstrip("\n") + "\n")) for m in MSGS]
    c = raw_login(inst)
    assert c.cmd("STAT") == f"+OK 4 {sum(sizes)}"
    assert c.cmd("LIST") == "+OK Scan listing follows"
    assert multiline(c) == [f"{i + 1} {s}" for i, s in enumerate(sizes)]
    assert c.cmd("LIST 2") == f"+OK 2 {sizes[1]}"
    assert c.cmd("UIDL") == "+OK Unique-ID listing follows"
    uidls = multiline(c)
    assert [u.split()[0] for u in uidls] == ["1", "2", "3", "4"]
    ids = [u.split()[1] for u in uidls]
    assert len(set(ids)) == 4 and all(len(i) == 16 for i in ids)
    assert c.cmd("UIDL 3") == f"+OK 3 {ids[2]}"

    # RETR: the octet count is the message with CRLF lines, before stuffing
    assert c.cmd("RETR 2") == f"+OK {sizes[1]} octets"
    raw = b""
    while not raw.endswith(b"\r\n.\r\n"):
        data = c.buf or c.sock.recv(65536)
        c.buf = b""
        raw += data
    assert raw == wire(MSGS[1]).replace(b"\r\n.", b"\r\n..") + b".\r\n"
    assert c.cmd("RETR 3") == f"+OK {sizes[2]} octets"
    assert "\r\n".join(multiline(c)).encode() + b"\r\n" == wire(MSGS[2] + "\n")
    assert c.cmd("TOP 4 2") == "+OK Top of message follows"
    assert multiline(c) == MSGS[3].split("\n")[:5] + ["line 1", "line 2"]
    assert c.cmd("TOP 4 0") == "+OK Top of message follows"
    assert multiline(c) == MSGS[3].split("\n")[:5]
    assert c.cmd("TOP 4 100") == "+OK Top of message follows"
    assert multiline(c) == MSGS[3].rstrip("\n").split("\n")

    assert c.cmd("DELE 1") == "+OK Message 1 deleted"
    assert c.cmd("STAT") == f"+OK 3 {sum(sizes) - sizes[0]}"
    assert c.cmd("LIST") == "+OK Scan listing follows"
    assert multiline(c) == [f"{i + 1} {s}" for i, s in enumerate(sizes)][1:]
    assert c.cmd("UIDL") == "+OK Unique-ID listing follows"
    assert multiline(c) == uidls[1:]
    assert c.cmd("RSET") == "+OK 4 messages"
    assert c.cmd("STAT") == f"+OK 4 {sum(sizes)}"
    assert c.cmd("NOOP") == "+OK"
    assert c.cmd("DELE 4") == "+OK Message 4 deleted"
    assert c.cmd("QUIT") == "+OK Surel signing off"
    assert c.at_eof()

    p = login(inst)
    assert p.stat() == (3, sum(sizes[:3]))
    assert [u.split()[1] for u in p.uidl()[1]] == [i.encode() for i in ids[:3]]
    p.quit()


def test_poplib_retrieves_exact_bytes(pop, tmp_path):
    inst = pop()
    deliver(inst, tmp_path, *MSGS)
    p = login(inst)
    for i, m in enumerate(MSGS, 1):
        resp, lines, octets = p.retr(i)
        assert b"\r\n".join(lines) + b"\r\n" == wire(m.rstrip("\n") + "\n")
        assert resp == f"+OK {len(wire(m.rstrip(chr(10)) + chr(10)))} octets".encode()
    assert p.top(2, 1)[1] == [l.encode() for l in MSGS[1].split("\n")[:6]]
    p.quit()


# ---------------------------------------------------------------- bad input

def test_bad_input(pop, tmp_path):
    inst = pop()
    deliver(inst, tmp_path, MSGS[0], MSGS[1])
    c = Conn(inst.port("pop3s"), tls=True)
    c.line()
    # wrong state before login
    for cmd in ("STAT", "LIST", "RETR 1", "DELE 1", "RSET", "NOOP", "TOP 1 1", "UIDL"):
        assert c.cmd(cmd) == "-ERR Command not valid before login", cmd
    assert c.cmd("APOP alice 0123456789abcdef") == "-ERR Command not implemented"
    assert c.cmd("PASS x") == "-ERR Send USER first"
    # authentication failure with the RFC 3206 code
    assert c.cmd("USER " + ALICE) == "+OK Send PASS"
    assert c.cmd("PASS wrong") == "-ERR [AUTH] Authentication failed"
    assert c.cmd("USER " + ALICE) == "+OK Send PASS"
    assert c.cmd("PASS " + ALICE_PW) == "+OK Logged in"
    # wrong state after login
    for cmd in ("USER x", "PASS x", "AUTH PLAIN", "STLS", "APOP a b"):
        assert c.cmd(cmd) == "-ERR Already logged in", cmd
    # unknown commands
    for cmd in ("XYZZ", "FROBNICATE", "RE", "", " ", "RETR1"):
        assert c.cmd(cmd) == "-ERR Unknown command", repr(cmd)
    # wrong arguments
    expected = {
        "STAT 1": "-ERR STAT takes no arguments",
        "RSET x": "-ERR RSET takes no arguments",
        "NOOP ": "-ERR NOOP takes no arguments",
        "CAPA x": "-ERR CAPA takes no arguments",
        "RETR": "-ERR Syntax: RETR msg",
        "RETR 1 2": "-ERR Syntax: RETR msg",
        "RETR  1": "-ERR Syntax: RETR msg",
        "DELE": "-ERR Syntax: DELE msg",
        "TOP 1": "-ERR Syntax: TOP msg n",
        "TOP 1 2 3": "-ERR Syntax: TOP msg n",
        "LIST 1 2": "-ERR Syntax: LIST [msg]",
        "UIDL 1 2": "-ERR Syntax: UIDL [msg]",
        "RETR x": "-ERR Invalid message number",
        "RETR -1": "-ERR Invalid message number",
        "RETR 0": "-ERR Invalid message number",
        "RETR +1": "-ERR Invalid message number",
        "DELE 99999999999": "-ERR Invalid message number",
        "TOP 1 x": "-ERR Invalid number of lines",
        "TOP 1 -1": "-ERR Invalid number of lines",
    }
    for cmd, reply in expected.items():
        assert c.cmd(cmd) == reply, cmd
    # out of range, deleted
    for cmd in ("RETR 3", "LIST 3", "UIDL 3", "DELE 3", "TOP 3 0", "RETR 4294967295"):
        assert c.cmd(cmd) == "-ERR No such message", cmd
    assert c.cmd("DELE 1") == "+OK Message 1 deleted"
    for cmd in ("RETR 1", "LIST 1", "UIDL 1", "DELE 1", "TOP 1 0"):
        assert c.cmd(cmd) == "-ERR Message 1 already deleted", cmd
    # NUL, over-long lines (RFC 2449: 255 octets a command; the line limit)
    c.send(b"ST\0AT\r\n")
    assert c.line() == "-ERR NUL byte in command"
    assert c.cmd("LIST " + "1" * 300) == "-ERR Line too long"
    c.send(b"NOOP " + b"x" * 100000 + b"\r\n")
    assert c.line() == "-ERR Line too long"
    assert c.cmd("NOOP") == "+OK"
    # nothing of that changed the session: message 1 is still marked
    assert c.cmd("STAT") == f"+OK 1 {len(wire(MSGS[1]))}"
    c.close()   # drop: DELE 1 not applied
    p = login(inst)
    assert p.stat()[0] == 2
    p.quit()


# ---------------------------------------------------------------- pipelining, TLS

def test_pipelined_commands_in_one_packet(pop, tmp_path):
    inst = pop()
    deliver(inst, tmp_path, *MSGS)
    c = Conn(inst.port("pop3s"), tls=True)
    c.line()
    c.send(f"CAPA\r\nUSER {ALICE}\r\nPASS {ALICE_PW}\r\nSTAT\r\nRETR 1\r\nTOP 4 1\r\n"
           "DELE 1\r\nDELE 2\r\nLIST\r\nUIDL 4\r\nRETR 2\r\nNOOP\r\nQUIT\r\n".encode())
    assert c.line() == "+OK Capability list follows"
    assert c.lines_until(".")[-2] == "IMPLEMENTATION Surel"
    assert c.line() == "+OK Send PASS"
    assert c.line() == "+OK Logged in"
    assert c.line().startswith("+OK 4 ")
    assert c.line().startswith("+OK ")
    assert "\r\n".join(multiline(c)).encode() + b"\r\n" == wire(MSGS[0])
    assert c.line() == "+OK Top of message follows"
    assert multiline(c) == MSGS[3].split("\n")[:6]
    assert c.line() == "+OK Message 1 deleted"
    assert c.line() == "+OK Message 2 deleted"
    assert c.line() == "+OK Scan listing follows"
    assert [l.split()[0] for l in multiline(c)] == ["3", "4"]
    assert c.line().startswith("+OK 4 ")
    assert c.line() == "-ERR Message 2 already deleted"
    assert c.line() == "+OK"
    assert c.line() == "+OK Surel signing off"
    assert c.at_eof()


def test_stls_then_retrieve(pop, tmp_path):
    inst = pop()
    deliver(inst, tmp_path, MSGS[0])
    p = poplib.POP3(HOST, inst.port("pop3"), timeout=10)
    with pytest.raises(poplib.error_proto, match=r"\[SYS/PERM\]"):
        p.user(ALICE)
    p.stls(context=tls_context())
    p.user(ALICE)
    p.pass_(ALICE_PW)
    assert p.retr(1)[1][2] == b"Subject: Message 1"
    p.quit()
    # cleartext pipelined after STLS is discarded, not executed under TLS
    c = Conn(inst.port("pop3"))
    c.line()
    c.send(b"STLS\r\nUSER " + ALICE.encode() + b"\r\n")
    assert c.line() == "+OK Begin TLS negotiation"
    c.starttls()
    assert c.cmd("PASS " + ALICE_PW) == "-ERR Send USER first"


# ---------------------------------------------------------------- maildrop semantics

def test_snapshot_numbering_fixed_during_session(pop, tmp_path):
    inst = pop()
    deliver(inst, tmp_path, MSGS[0], MSGS[1])
    p = login(inst)
    before = p.uidl()[1]
    deliver(inst, tmp_path, message(9, subject="Late"))
    assert p.stat()[0] == 2
    assert p.uidl()[1] == before
    with pytest.raises(poplib.error_proto, match="No such message"):
        p.retr(3)
    assert p.retr(2)[1][2] == b"Subject: Message 2"
    p.quit()
    p = login(inst)
    assert p.stat()[0] == 3
    assert p.uidl()[1][:2] == before
    assert p.retr(3)[1][2] == b"Subject: Late"
    p.quit()


def test_lock_in_use_released_on_any_disconnect(pop, tmp_path):
    inst = pop()
    deliver(inst, tmp_path, MSGS[0])
    first = raw_login(inst)
    # a second session, whichever worker takes it
    for _ in range(4):
        c = Conn(inst.port("pop3s"), tls=True)
        c.line()
        c.cmd("USER " + ALICE)
        assert c.cmd("PASS " + ALICE_PW) == \
            "-ERR [IN-USE] Mailbox is locked by another POP3 session"
        assert c.cmd("STAT") == "-ERR Command not valid before login"   # still AUTHORIZATION
        c.close()
    # bob is not locked by alice
    login(inst, BOB, BOB_PW).quit()
    first.close()                      # dropped without QUIT
    wait_for(lambda: "event=disconnect" in inst.log_text(), what="disconnect")

    def can_login():
        c = Conn(inst.port("pop3s"), tls=True)
        c.line()
        c.cmd("USER " + ALICE)
        ok = c.cmd("PASS " + ALICE_PW) == "+OK Logged in"
        c.close()
        return ok
    wait_for(can_login, what="lock released")
    assert "event=in_use user=alice@example.org" in inst.log_text()


def test_drop_without_quit_keeps_mail_quit_expunges(pop, tmp_path):
    inst = pop()
    deliver(inst, tmp_path, *MSGS)
    c = raw_login(inst)
    for n in (1, 2, 3):
        assert c.cmd(f"DELE {n}") == f"+OK Message {n} deleted"
    c.close()
    p = wait_for(lambda: try_login(inst), what="relogin")
    assert p.stat()[0] == 4
    p.dele(1)
    p.dele(3)
    p.quit()
    rows = index_rows(inst, ALICE, "INBOX")
    assert [r[0] for r in rows] == [2, 4]
    assert listing(inst.cli, ALICE)["INBOX"][0] == 2
    assert "event=update user=alice@example.org deleted=2 to=expunge" in inst.log_text()


def try_login(inst):
    try:
        return login(inst)
    except poplib.error_proto as e:
        assert b"IN-USE" in e.args[0]
        return None


def test_session_killed_during_retr_changes_nothing(pop, tmp_path):
    inst = pop("[pop3]\ndelete_after_retr = yes\n")
    big = message(1, body=("x" * 998 + "\n") * 20000)     # 20 MB
    deliver(inst, tmp_path, big, MSGS[1])
    c = raw_login(inst)
    assert c.cmd("DELE 2") == "+OK Message 2 deleted"
    c.send(b"RETR 1\r\n")
    assert c.line() == f"+OK {len(wire(big))} octets"
    c.sock.recv(65536)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
    c.close()                                   # reset in the middle of the message
    p = wait_for(lambda: try_login(inst), what="relogin")
    assert p.stat() == (2, len(wire(big)) + len(wire(MSGS[1])))
    p.quit()
    assert [r[1] & 1 for r in index_rows(inst, ALICE, "INBOX")] == [0, 0]   # not \Seen


def test_large_message_streams(pop, tmp_path):
    inst = pop()
    body = "".join(f".{i:07d} " + "y" * 70 + "\n" for i in range(60000))  # 5 MB, all dots
    big = message(1, body=body)
    deliver(inst, tmp_path, big)
    p = login(inst)
    resp, lines, octets = p.retr(1)
    assert resp == f"+OK {len(wire(big))} octets".encode()
    assert b"\r\n".join(lines) + b"\r\n" == wire(big)
    p.quit()


# ---------------------------------------------------------------- UIDL stability

def test_uidl_stable_across_sessions_and_changes(pop, tmp_path):
    inst = pop()
    deliver(inst, tmp_path, *MSGS)
    p = login(inst)
    first = dict(l.decode().split() for l in p.uidl()[1])
    p.quit()
    p = login(inst)
    assert dict(l.decode().split() for l in p.uidl()[1]) == first
    p.dele(2)       # a change from another session, then new mail
    p.quit()
    deliver(inst, tmp_path, message(5))
    p = login(inst)
    ids = [l.decode().split()[1] for l in p.uidl()[1]]
    assert ids[:3] == [first["1"], first["3"], first["4"]]
    assert ids[3] not in first.values()
    p.quit()
    # the UIDL is the UID and the UIDVALIDITY, 8 hex digits each
    rows = index_rows(inst, ALICE, "INBOX")
    assert [int(i[:8], 16) for i in ids] == [r[0] for r in rows]


# ---------------------------------------------------------------- options

def test_delete_after_retr(pop, tmp_path):
    inst = pop("[pop3]\ndelete_after_retr = yes\n")
    deliver(inst, tmp_path, *MSGS)
    p = poplib.POP3_SSL(HOST, inst.port("pop3s"), context=tls_context(), timeout=10)
    assert p.capa()["EXPIRE"] == ["0", "USER"]
    p.user(ALICE)
    p.pass_(ALICE_PW)
    assert p.capa()["EXPIRE"] == ["0"]
    p.retr(1)
    p.top(2, 0)          # TOP does not count as retrieval
    p.retr(3)
    assert p.stat()[0] == 2
    with pytest.raises(poplib.error_proto, match="already deleted"):
        p.retr(1)
    p.quit()
    assert [r[0] for r in index_rows(inst, ALICE, "INBOX")] == [2, 4]


def test_retr_marks_seen_and_leaves_mail_by_default(pop, tmp_path):
    inst = pop()
    deliver(inst, tmp_path, *MSGS)
    p = login(inst)
    p.retr(2)
    p.top(3, 1)
    p.quit()
    rows = index_rows(inst, ALICE, "INBOX")
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    assert [r[1] & 1 for r in rows] == [0, 1, 0, 0]


def test_deleted_to_trash(pop, tmp_path):
    inst = pop("[pop3]\ndeleted_to_trash = yes\n")
    deliver(inst, tmp_path, *MSGS)
    p = login(inst)
    p.dele(1)
    p.dele(4)
    p.quit()
    assert [r[0] for r in index_rows(inst, ALICE, "INBOX")] == [2, 3]
    trash = index_rows(inst, ALICE, "Trash")
    assert len(trash) == 2
    assert "to=trash" in inst.log_text()


def test_login_delay(pop, tmp_path):
    inst = pop("[pop3]\nlogin_delay = 1h\n")
    login(inst).quit()
    p = poplib.POP3_SSL(HOST, inst.port("pop3s"), context=tls_context(), timeout=10)
    p.user(ALICE)
    with pytest.raises(poplib.error_proto, match=r"^b'-ERR \[LOGIN-DELAY\]"):
        p.pass_(ALICE_PW)
    p.quit()
    login(inst, BOB, BOB_PW).quit()
