"""IMAP on the mail store (RFC 9051, RFC 3501 and the extensions of
docs/imap.md): every command family with imaplib and raw transcripts,
literals of every kind, pipelining, two sessions on one mailbox, IDLE, and
bad input."""
import imaplib
import re
import time

import pytest

from test_auth import Conn
from test_server import HOST, tls_context, wait_for

ALICE, ALICE_PW = "alice@example.org", "alice-secret"
BOB, BOB_PW = "bob@example.org", "bob-secret"


def msg(n, subject=None, body=None, frm="Bob <bob@example.org>"):
    subject = subject or f"Message {n}"
    body = body if body is not None else f"Body of message {n}.\r\n"
    return (f"From: {frm}\r\nTo: alice@example.org\r\nSubject: {subject}\r\n"
            f"Message-ID: <m{n}@example.org>\r\nDate: Mon, 2 Nov 2026 10:00:0{n % 10} +0000\r\n"
            f"\r\n{body}").encode()


MULTIPART = (b"From: Carol <carol@example.net>\r\nTo: alice@example.org\r\n"
             b"Subject: =?UTF-8?B?SGVsbG8gd8O2cmxk?=\r\nMIME-Version: 1.0\r\n"
             b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n"
             b"preamble\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
             b"Hello text part\r\n--XX\r\nContent-Type: application/octet-stream\r\n"
             b"Content-Transfer-Encoding: base64\r\n\r\nAAECAwQF\r\n--XX--\r\n")


def login(inst, user=ALICE, pw=ALICE_PW):
    m = imaplib.IMAP4_SSL(HOST, inst.port("imaps"), ssl_context=tls_context(), timeout=10)
    m.login(user, pw)
    return m


class Imap(Conn):
    """Raw transcripts: cmd() sends one tagged command and returns every line
    up to and including its tagged reply."""

    def __init__(self, inst, login_as=ALICE, pw=ALICE_PW):
        super().__init__(inst.port("imaps"), tls=True)
        assert self.line().startswith("* OK [CAPABILITY ")
        self.n = 0
        if login_as:
            r = self.cmd(f'LOGIN "{login_as}" "{pw}"')
            assert r[-1].startswith(f"a{self.n} OK "), r

    def tag(self):
        self.n += 1
        return f"a{self.n}"

    def cmd(self, text, literal=None):
        t = self.tag()
        self.send(f"{t} {text}\r\n".encode())
        return self.until(t)

    def until(self, t):
        out = []
        while True:
            out.append(self.line())
            if out[-1].startswith(t + " "):
                return out

    def ok(self, text):
        r = self.cmd(text)
        assert re.match(rf"a{self.n} OK", r[-1]), r
        return r[:-1]

    def literal(self, head, data, tail=""):
        """A command with a synchronising literal: wait for '+'."""
        t = self.tag()
        self.send(f"{t} {head}{{{len(data)}}}\r\n".encode())
        cont = self.line()
        if not cont.startswith("+"):
            return [cont]
        self.send(data + tail.encode() + b"\r\n")
        return self.until(t)


@pytest.fixture
def imap(server):
    return server


def append(inst, *messages, mailbox="INBOX", user=ALICE, pw=ALICE_PW, flags=None, claim=True):
    """Append messages; with claim, the appending session then selects the
    mailbox, so that they are no longer \\Recent for the test's sessions."""
    m = login(inst, user, pw)
    for data in messages:
        typ, _ = m.append(mailbox, flags, None, data)
        assert typ == "OK"
    if claim:
        m.select(mailbox)
    m.logout()


# ------------------------------------------------------------- the basics

def test_imaplib_session(imap):
    append(imap, msg(1), msg(2), msg(3))
    m = login(imap)
    typ, data = m.select("INBOX")
    assert (typ, data) == ("OK", [b"3"])
    typ, data = m.fetch("1:3", "(FLAGS RFC822.SIZE)")
    assert typ == "OK"
    sizes = [int(re.search(rb"RFC822.SIZE (\d+)", d).group(1)) for d in data]
    assert sizes == [len(msg(1)), len(msg(2)), len(msg(3))]
    typ, data = m.fetch("2", "(BODY.PEEK[])")
    assert data[0][1] == msg(2)
    typ, data = m.fetch("2", "(FLAGS)")
    assert b"\\Seen" not in data[0]
    typ, data = m.fetch("2", "(BODY[])")
    assert data[0][1] == msg(2)
    assert b"\\Seen" in data[1]             # FLAGS added with the implicit \Seen
    typ, data = m.store("1", "+FLAGS", "(\\Flagged $Work)")
    assert typ == "OK" and b"\\Flagged" in data[0] and b"$Work" in data[0]
    assert m.search(None, "FLAGGED") == ("OK", [b"1"])
    assert m.search(None, "UNSEEN") == ("OK", [b"1 3"])
    assert m.search(None, "SUBJECT", '"Message 3"') == ("OK", [b"3"])
    typ, data = m.copy("1:2", "Archive")
    assert typ == "OK" and re.match(rb"\[COPYUID \d+ 1:2 1:2\]", data[0])
    m.store("3", "+FLAGS", "\\Deleted")
    typ, data = m.expunge()
    assert (typ, data) == ("OK", [b"3"])
    m.select("Archive")
    typ, data = m.fetch("1:*", "(UID FLAGS)")
    assert len(data) == 2 and b"$Work" in data[0]
    m.logout()


def test_select_and_examine_responses(imap):
    append(imap, msg(1), claim=False)
    c = Imap(imap)
    r = c.ok("SELECT INBOX")
    assert "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)" in r
    assert "* 1 EXISTS" in r and "* 1 RECENT" in r   # this session is the first to see it
    assert "* OK [UNSEEN 1] First unseen" in r
    assert any(re.match(r"\* OK \[UIDVALIDITY \d+\]", x) for x in r)
    assert any(x.startswith("* OK [UIDNEXT 2]") for x in r)
    assert any(x.startswith("* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen "
                            "\\Draft \\*)]") for x in r)
    assert c.ok("FETCH 1 FLAGS") == ["* 1 FETCH (FLAGS (\\Recent))"]
    assert c.ok("SEARCH RECENT") == ["* SEARCH 1"]
    r = c.cmd("EXAMINE INBOX")
    assert r[0] == "* OK [CLOSED] Previous mailbox closed"
    assert "* 0 RECENT" in r               # claimed by the SELECT before
    assert r[-1].startswith(f"a{c.n} OK [READ-ONLY]")
    assert c.cmd("STORE 1 +FLAGS \\Seen")[-1].startswith(f"a{c.n} NO [READ-ONLY]")
    r = c.cmd("FETCH 1 BODY[]")
    assert "\\Seen" not in "".join(r)        # read-only: no implicit \Seen
    assert c.cmd("SELECT Nowhere")[-1] == f"a{c.n} NO [NONEXISTENT] No such mailbox"
    # a failed SELECT leaves the authenticated state
    assert c.cmd("FETCH 1 FLAGS")[-1] == f"a{c.n} BAD No mailbox selected"
    assert c.ok("ENABLE IMAP4rev2") == ["* ENABLED IMAP4rev2"]
    r = c.ok("SELECT INBOX")
    assert "* 0 RECENT" not in r
    c.ok("UNSELECT")
    assert c.cmd("CLOSE")[-1] == f"a{c.n} BAD No mailbox selected"


def test_fetch_items(imap):
    append(imap, MULTIPART, msg(2))
    c = Imap(imap)
    c.ok("SELECT INBOX")
    r = c.ok("FETCH 1 (UID RFC822.SIZE ENVELOPE)")
    assert r[0].startswith(f'* 1 FETCH (UID 1 RFC822.SIZE {len(MULTIPART)} ENVELOPE (NIL '
                           '"=?UTF-8?B?SGVsbG8gd8O2cmxk?=" (("Carol" NIL "carol" "example.net"))')
    r = c.ok("FETCH 1 BODYSTRUCTURE")
    assert r[0].startswith('* 1 FETCH (BODYSTRUCTURE (("text" "plain" ("charset" "utf-8")')
    assert '"mixed" ("boundary" "XX")' in r[0]
    c.send(b"x FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject To)] BODY.PEEK[1] BINARY.PEEK[2] "
           b"BINARY.SIZE[2] BODY.PEEK[]<0.6>)\r\n")
    data = b""
    while not re.search(rb"\r\nx OK [^\r]*\r\n$", data):
        data += c.sock.recv(65536)
    fields = b"To: alice@example.org\r\nSubject: =?UTF-8?B?SGVsbG8gd8O2cmxk?=\r\n\r\n"
    assert b"BODY[HEADER.FIELDS (SUBJECT TO)] {%d}\r\n%s" % (len(fields), fields) in data
    assert b"BODY[1] {15}\r\nHello text part " in data   # the CRLF belongs to the boundary
    assert b"BINARY[2] ~{6}\r\n\x00\x01\x02\x03\x04\x05" in data
    assert b"BINARY.SIZE[2] 6" in data
    assert b"BODY[]<0> {6}\r\nFrom: " in data
    assert b"FLAGS" not in data                # all PEEK: \Seen untouched
    r = c.ok("FETCH 2 (RFC822.HEADER)")
    assert r[0].startswith("* 2 FETCH (RFC822.HEADER {")
    r = c.ok("FETCH 1:2 FAST")
    assert re.match(r'\* 1 FETCH \(FLAGS \(\) INTERNALDATE "\d\d-\w{3}-\d{4} \d\d:\d\d:\d\d '
                    r'\+0000" RFC822.SIZE \d+\)', r[0])
    for bad, why in [("FETCH 1 (FLAGS", "Missing"), ("FETCH 1 BODY[HEADER.FIELDS]", "Invalid"),
                     ("FETCH 1 NOPE", "Unknown FETCH item"), ("FETCH 0 FLAGS", "sequence"),
                     ("FETCH 3 FLAGS", "Invalid sequence number"), ("FETCH 1", "Syntax"),
                     ("FETCH 1 BODY[]<5>", "Invalid")]:
        r = c.cmd(bad)
        assert r[-1].startswith(f"a{c.n} BAD") and why.lower() in r[-1].lower(), (bad, r)


def test_uid_commands_and_sequence_sets(imap):
    append(imap, *[msg(i) for i in range(1, 7)])
    c = Imap(imap)
    c.ok("SELECT INBOX")
    c.ok("STORE 2,4 +FLAGS.SILENT (\\Deleted)")
    assert c.ok("EXPUNGE") == ["* 4 EXPUNGE", "* 2 EXPUNGE"]
    # now UIDs 1 3 5 6 at sequence numbers 1..4
    r = c.ok("UID FETCH 3:* FLAGS")
    assert r == ["* 2 FETCH (UID 3 FLAGS ())", "* 3 FETCH (UID 5 FLAGS ())",
                 "* 4 FETCH (UID 6 FLAGS ())"]
    assert c.ok("UID FETCH 100:* UID") == ["* 4 FETCH (UID 6)"]   # n:* is *:n
    assert c.ok("UID FETCH 2,4 UID") == []                          # gone: nothing
    assert c.ok("UID SEARCH UID 1:5") == ["* SEARCH 1 3 5"]
    assert c.ok("UID SEARCH 2:3") == ["* SEARCH 3 5"]      # sequence numbers
    assert c.ok("SEARCH 2:3") == ["* SEARCH 2 3"]
    r = c.ok("UID STORE 5 FLAGS (\\Answered)")
    assert r == ["* 3 FETCH (UID 5 FLAGS (\\Answered))"]
    c.ok("UID STORE 1,6 +FLAGS.SILENT (\\Deleted)")
    assert c.ok("UID EXPUNGE 6") == ["* 4 EXPUNGE"]
    assert c.ok("UID SEARCH DELETED") == ["* SEARCH 1"]
    assert c.cmd("UID FROB 1")[-1] == f"a{c.n} BAD Unknown command after UID"
    assert c.cmd("UID FETCH x FLAGS")[-1].startswith(f"a{c.n} BAD Invalid sequence set")


def test_search_keys(imap):
    append(imap, msg(1, subject="Lunch plans", body="Let us meet at noon.\r\n"),
           msg(2, subject="Re: Lunch plans", frm="Dave <dave@example.com>"),
           msg(3, subject="Invoice", body="Amount due: 120 EUR\r\n" * 200), MULTIPART)
    c = Imap(imap)
    c.ok("SELECT INBOX")
    c.ok("STORE 1 +FLAGS (\\Seen)")
    cases = {
        "SEARCH ALL": "1 2 3 4",
        "SEARCH SUBJECT lunch": "1 2",
        "SEARCH FROM dave": "2",
        "SEARCH NOT FROM dave": "1 3 4",
        "SEARCH OR SUBJECT invoice FROM carol": "3 4",
        "SEARCH SEEN": "1",
        "SEARCH UNSEEN": "2 3 4",
        "SEARCH LARGER 1000": "3",
        "SEARCH SMALLER 1000": "1 2 4",
        "SEARCH BODY noon": "1",
        "SEARCH TEXT invoice": "3",
        'SEARCH HEADER Message-ID "<m2@"': "2",
        "SEARCH SENTON 2-Nov-2026": "1 2 3",
        "SEARCH SINCE 1-Jan-2000": "1 2 3 4",
        "SEARCH BEFORE 1-Jan-2000": "",
        "SEARCH 2:* SUBJECT lunch": "2",
        "SEARCH (SEEN) (SUBJECT lunch)": "1",
        'SEARCH CHARSET UTF-8 SUBJECT "wörld"': "4",
        'SEARCH SUBJECT "WÖRLD"': "4",
        "SEARCH SUBJECT world": "",
    }
    for cmd, want in cases.items():
        assert c.ok(cmd) == [("* SEARCH " + want).rstrip()], cmd
    assert c.ok("SEARCH RETURN (MIN MAX COUNT) UNSEEN") == [
        f'* ESEARCH (TAG "a{c.n}") MIN 2 MAX 4 COUNT 3']
    assert c.ok("UID SEARCH RETURN (ALL) ALL") == [f'* ESEARCH (TAG "a{c.n}") UID ALL 1:4']
    assert c.ok("SEARCH RETURN (SAVE) SUBJECT lunch") == []
    assert c.ok("FETCH $ UID") == ["* 1 FETCH (UID 1)", "* 2 FETCH (UID 2)"]
    r = c.cmd("SEARCH CHARSET KOI8-R SUBJECT x")
    assert r[-1] == f"a{c.n} NO [BADCHARSET (UTF-8 US-ASCII)] " + r[-1].split("] ", 1)[1]
    assert c.cmd("SEARCH FROBNICATE")[-1].startswith(f"a{c.n} BAD")
    assert c.cmd("SEARCH SINCE 31-Foo-2020")[-1].startswith(f"a{c.n} BAD")
    assert c.ok("SORT (SUBJECT) UTF-8 ALL") == ["* SORT 4 3 1 2"]
    assert c.ok("SORT (REVERSE SIZE) UTF-8 ALL")[0].startswith("* SORT 3 ")
    # threads in the order of their first message's date (4 has no Date: now)
    assert c.ok("THREAD ORDEREDSUBJECT UTF-8 ALL") == ["* THREAD (1 2)(3)(4)"]
    assert c.ok("UID THREAD REFERENCES UTF-8 SUBJECT nothing-like-this") == ["* THREAD"]


# ------------------------------------------------------------- literals

def test_literals_and_append(imap):
    c = Imap(imap, login_as=None)
    # LOGIN with synchronising literals
    t = c.tag()
    c.send(f"{t} LOGIN {{{len(ALICE)}}}\r\n".encode())
    assert c.line() == "+ Ready for literal data"
    c.send(ALICE.encode() + f" {{{len(ALICE_PW)}+}}\r\n{ALICE_PW}\r\n".encode())
    assert c.until(t)[-1].startswith(f"{t} OK [CAPABILITY ")
    # APPEND: synchronising, then LITERAL+ with MULTIAPPEND
    r = c.literal('APPEND INBOX (\\Seen) "02-Nov-2026 10:00:00 +0100" ', msg(1))
    assert re.match(rf"a{c.n} OK \[APPENDUID \d+ 1\] APPEND completed", r[-1]), r
    t = c.tag()
    c.send(f"{t} APPEND INBOX {{{len(msg(2))}+}}\r\n".encode() + msg(2) +
           f" (\\Flagged) {{{len(msg(3))}+}}\r\n".encode() + msg(3) + b"\r\n")
    r = c.until(t)
    assert re.match(rf"{t} OK \[APPENDUID \d+ 2:3\]", r[-1]), r
    r = c.ok("SELECT INBOX")
    assert "* 3 EXISTS" in r
    r = c.ok("FETCH 1:3 (FLAGS INTERNALDATE)")
    # this session appended them and is the first to select: \\Recent
    assert r[0] == '* 1 FETCH (FLAGS (\\Seen \\Recent) INTERNALDATE "02-Nov-2026 09:00:00 +0000")'
    assert "\\Flagged" in r[2]
    # a mailbox name as a literal
    r = c.literal("STATUS ", b"INBOX", " (MESSAGES)")
    assert r[0] == "* STATUS INBOX (MESSAGES 3)"
    # APPEND to a mailbox that does not exist
    r = c.literal("APPEND Nowhere ", msg(4))
    assert r[-1] == f"a{c.n} NO [TRYCREATE] No such mailbox"
    # larger than APPENDLIMIT: refused before the bytes are sent
    t = c.tag()
    c.send(f"{t} APPEND INBOX {{999999999999}}\r\n".encode())
    assert c.line().startswith(f"{t} NO [TOOBIG]")
    # ... and as LITERAL+: the bytes are read and dropped
    t = c.tag()
    c.send(f"{t} APPEND INBOX {{60000000+}}\r\n".encode() + b"x" * 60000000 + b"\r\n")
    assert c.line().startswith(f"{t} NO [TOOBIG]")
    assert c.ok("NOOP") == []
    # a literal beyond the limit for other commands
    t = c.tag()
    c.send(f"{t} SELECT {{100000}}\r\n".encode())
    assert c.line().startswith(f"{t} BAD [TOOBIG]")
    # NUL in a message literal; a literal8 may hold one
    r = c.literal("APPEND INBOX ", b"Subject: x\r\n\r\na\x00b\r\n")
    assert r[-1].startswith(f"a{c.n} NO ") and "NUL" in r[-1]
    t = c.tag()
    c.send(f"{t} APPEND INBOX ~{{20+}}\r\n".encode() + b"Subject: x\r\n\r\na\x00b\r\n\r\n")
    assert c.until(t)[-1].startswith(f"{t} OK [APPENDUID")
    assert c.ok("STATUS INBOX (MESSAGES)") == ["* STATUS INBOX (MESSAGES 4)"]


def test_disconnect_mid_append_leaves_nothing(imap):
    c = Imap(imap)
    t = c.tag()
    c.send(f"{t} APPEND INBOX {{2000000}}\r\n".encode())
    assert c.line().startswith("+")
    c.send(b"x" * 1000000)
    c.close()
    c = Imap(imap)
    assert c.ok("STATUS INBOX (MESSAGES)") == ["* STATUS INBOX (MESSAGES 0)"]
    tmp = imap.dir / "data" / "blobs" / "tmp"
    wait_for(lambda: not tmp.exists() or not any(tmp.iterdir()), what="blob temp file removed")


def test_pipelined_commands_answer_in_order(imap):
    append(imap, msg(1), msg(2))
    c = Imap(imap)
    c.send(b"p1 SELECT INBOX\r\np2 FETCH 1 UID\r\np3 STORE 2 +FLAGS (\\Seen)\r\n"
           b"p4 SEARCH SEEN\r\np5 NOOP\r\n")
    out = c.until("p5")
    tags = [x.split()[0] for x in out if not x.startswith("*")]
    assert tags == ["p1", "p2", "p3", "p4", "p5"]
    assert "* SEARCH 2" in out


# ------------------------------------------------------------- two sessions

def test_two_sessions_see_each_others_changes(imap):
    append(imap, msg(1), msg(2), msg(3))
    a, b = Imap(imap), Imap(imap)
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    b.ok("STORE 1 +FLAGS (\\Flagged)")
    assert a.ok("NOOP") == ["* 1 FETCH (FLAGS (\\Flagged))"]
    append(imap, msg(4))
    assert a.ok("NOOP") == ["* 4 EXISTS"]
    b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    # FETCH may not send EXPUNGE; the expunged message stays numbered
    r = a.ok("FETCH 1:4 UID")
    assert not any("EXPUNGE" in x for x in r)
    assert "* 2 FETCH (UID 2)" not in r
    assert "* 2 EXPUNGE" in a.ok("NOOP")
    assert a.ok("FETCH 3 UID") == ["* 3 FETCH (UID 4)"]


def test_idle_pushes_changes(imap):
    append(imap, msg(1))
    a = Imap(imap)
    a.ok("SELECT INBOX")
    t = a.tag()
    a.send(f"{t} IDLE\r\n".encode())
    assert a.line() == "+ idling"
    start = time.monotonic()
    append(imap, msg(2), claim=False)
    assert a.line() == "* 2 EXISTS"
    assert a.line() == "* 1 RECENT"      # the idling session is the first to see it
    assert time.monotonic() - start < 3
    b = Imap(imap)
    b.ok("SELECT INBOX")
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    # the \Deleted flag may come first, as its own change
    line = a.line()
    if line.startswith("* 1 FETCH"):
        assert line == "* 1 FETCH (FLAGS (\\Deleted))"
        line = a.line()
    assert line == "* 1 EXPUNGE"
    a.send(b"DONE\r\n")
    assert a.line() == f"{t} OK IDLE terminated"
    t = a.tag()
    a.send(f"{t} IDLE\r\nnonsense\r\n".encode())
    assert a.line() == "+ idling"
    assert a.line() == f"{t} BAD Expected DONE to end IDLE"


def test_condstore_and_qresync(imap):
    append(imap, msg(1), msg(2), msg(3))
    c = Imap(imap)
    assert c.ok("ENABLE QRESYNC") == ["* ENABLED QRESYNC"]
    r = c.ok("SELECT INBOX")
    hms = int(next(re.search(r"HIGHESTMODSEQ (\d+)", x).group(1) for x in r
                   if "HIGHESTMODSEQ" in x))
    uv = int(next(re.search(r"UIDVALIDITY (\d+)", x).group(1) for x in r if "UIDVALIDITY" in x))
    r = c.ok("STORE 1 +FLAGS (\\Seen)")
    assert re.match(r"\* 1 FETCH \(FLAGS \(\\Seen\) MODSEQ \((\d+)\)\)", r[0]), r
    m1 = int(re.search(r"MODSEQ \((\d+)\)", r[0]).group(1))
    assert m1 > hms
    r = c.cmd(f"STORE 1 (UNCHANGEDSINCE {hms}) +FLAGS (\\Answered)")
    assert r[-1].startswith(f"a{c.n} OK [MODIFIED 1]")
    assert c.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {hms})") == [
        f"* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ ({m1}))"]
    c.ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
    assert c.ok("EXPUNGE") == ["* VANISHED 3"]
    c.ok("UNSELECT")
    r = c.ok(f"SELECT INBOX (QRESYNC ({uv} {hms}))")
    assert "* VANISHED (EARLIER) 3" in r
    assert f"* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ ({m1}))" in r
    r = c.ok(f"UID FETCH 1:* FLAGS (CHANGEDSINCE {hms} VANISHED)")
    assert r[0] == "* VANISHED (EARLIER) 3"


def test_copy_move_and_errors(imap):
    append(imap, msg(1), msg(2), msg(3))
    c = Imap(imap)
    c.ok("SELECT INBOX")
    r = c.ok("MOVE 1:2 Archive")
    assert re.match(r"\* OK \[COPYUID \d+ 1:2 1:2\]", r[0])
    assert r[1:] == ["* 2 EXPUNGE", "* 1 EXPUNGE"]
    assert c.cmd("COPY 1 Nowhere")[-1] == f"a{c.n} NO [TRYCREATE] No such mailbox"
    assert c.cmd("MOVE 1 INBOX")[-1].startswith(f"a{c.n} NO [CANNOT]")
    assert c.ok("STATUS Archive (MESSAGES UIDNEXT)") == [
        "* STATUS Archive (MESSAGES 2 UIDNEXT 3)"]


def test_bad_input(imap):
    c = Imap(imap, login_as=None)
    assert c.cmd("SELECT INBOX")[-1] == f"a{c.n} BAD Command not valid before login"
    c.ok(f'LOGIN "{ALICE}" "{ALICE_PW}"')
    assert c.cmd("LOGIN a b")[-1] == f"a{c.n} BAD Already authenticated"
    assert c.cmd("FROBNICATE")[-1] == f"a{c.n} BAD Unknown command"
    assert c.cmd('SELECT "INBOX')[-1].startswith(f"a{c.n} BAD")
    assert c.cmd("SELECT (INBOX")[-1].startswith(f"a{c.n} BAD")
    c.send(b"\r\n")
    assert c.line() == "* BAD Empty command"
    c.send(b"a\x00b NOOP\r\n")
    assert c.line().startswith("* BAD")
    c.send(b"x NOOP \x00\r\n")
    assert c.line().startswith("x BAD")
    c.send(b"y NOOP " + b"a" * 70000 + b"\r\n")
    assert c.line() == "* BAD [TOOBIG] Line too long"
    assert c.ok("NOOP") == []
    # a refused command's LITERAL+ bytes are not read as commands
    c.send(b"z FROB {11+}\r\nz2 LOGOUT\r\n\r\n")
    assert c.line() == "z BAD Unknown command"
    assert c.ok("NOOP") == []
    assert c.cmd("STORE 1 +FLAGS \\Seen")[-1] == f"a{c.n} BAD No mailbox selected"
    c.ok("SELECT INBOX")
    assert c.cmd("STORE 1 +FLAGS \\Seen")[-1].startswith(f"a{c.n} BAD Invalid sequence number")
    assert c.cmd("EXPUNGE now")[-1].startswith(f"a{c.n} BAD")
    r = c.cmd("LOGOUT")
    assert r == ["* BYE Surel logging out", f"a{c.n} OK LOGOUT completed"]
    assert c.at_eof()


def test_large_fetch_is_streamed(imap):
    big = b"Subject: big\r\n\r\n" + (b"y" * 998 + b"\r\n") * 3000    # 3 MB
    append(imap, big, *[msg(i) for i in range(2, 400)])
    m = login(imap)
    m.select("INBOX", readonly=True)
    typ, data = m.fetch("1", "(BODY[])")
    assert data[0][1] == big
    typ, data = m.fetch("1:*", "(UID RFC822.SIZE BODY.PEEK[HEADER])")
    assert len([d for d in data if isinstance(d, tuple)]) == 399
    m.logout()


def test_idle_session_sleeps_and_wakes(imap):
    """An IDLE session gives its store handles back; updates, DONE and the
    next commands take them again; a mailbox deleted meanwhile ends it."""
    append(imap, msg(1))
    a, b = Imap(imap), Imap(imap)
    b.ok("CREATE Work")
    append(imap, msg(2), mailbox="Work")
    a.ok("SELECT Work")
    t = a.tag()
    a.send(f"{t} IDLE\r\n".encode())
    assert a.line() == "+ idling"
    time.sleep(0.3)
    a.send(b"DONE\r\n")
    assert a.line() == f"{t} OK IDLE terminated"
    assert a.ok("FETCH 1 (UID FLAGS)") == ["* 1 FETCH (UID 1 FLAGS ())"]
    assert a.ok("UID STORE 1 +FLAGS (\\Seen)") == ["* 1 FETCH (UID 1 FLAGS (\\Seen))"]
    t = a.tag()
    a.send(f"{t} IDLE\r\n".encode())
    assert a.line() == "+ idling"
    append(imap, msg(3), mailbox="Work", claim=False)
    assert a.line() == "* 2 EXISTS"
    assert a.line() == "* 1 RECENT"
    b.ok("DELETE Work")
    assert a.line() == "* BYE [UNAVAILABLE] The selected mailbox is gone"
    assert a.at_eof()


def test_idle_updates_then_done_and_fetch(imap):
    """Updates while idling, then DONE and a command at once: the updates
    neither run alongside the command nor hold DONE back (a regression: an
    update used to trigger the next one forever)."""
    for _ in range(5):
        append(imap, msg(1), msg(2))
        a, b = Imap(imap), Imap(imap)
        a.ok("SELECT INBOX")
        t = a.tag()
        a.send(f"{t} IDLE\r\n".encode())
        assert a.line() == "+ idling"
        b.ok("SELECT INBOX")
        b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
        b.ok("EXPUNGE")
        while not a.line().endswith("EXPUNGE"):
            pass
        a.send(b"DONE\r\n")
        while not a.line().startswith(t):
            pass
        assert a.ok("FETCH 1:* UID")[0].startswith("* 1 FETCH (UID ")
        a.close()
        b.close()


def test_recent_is_seen_by_one_session(imap):
    """\\Recent (RFC 3501 2.3.2): the first session to learn of a message
    has it recent; the others, and IMAP4rev2 sessions, do not."""
    a, b, v2 = Imap(imap), Imap(imap), Imap(imap)
    assert "* 0 RECENT" in a.ok("SELECT INBOX")
    v2.ok("ENABLE IMAP4rev2")
    r = v2.ok("SELECT INBOX")
    assert not any("RECENT" in x for x in r)
    append(imap, msg(1), claim=False)
    assert a.ok("NOOP") == ["* 1 EXISTS", "* 1 RECENT"]
    assert "* 0 RECENT" in b.ok("SELECT INBOX")
    assert b.ok("FETCH 1 FLAGS") == ["* 1 FETCH (FLAGS ())"]
    assert a.ok("FETCH 1 FLAGS") == ["* 1 FETCH (FLAGS (\\Recent))"]
    assert a.ok("SEARCH NEW") == ["* SEARCH 1"]
    assert b.ok("SEARCH OLD") == ["* SEARCH 1"]
    assert v2.ok("NOOP") == ["* 1 EXISTS"]
    assert v2.ok("FETCH 1 FLAGS") == ["* 1 FETCH (FLAGS ())"]


def test_objectid(imap):
    """RFC 8474: MAILBOXID follows renames, EMAILID is the same for every
    copy of a message, THREADID is NIL (no thread ids kept)."""
    c = Imap(imap)
    r = c.cmd("CREATE Projects")
    m = re.match(rf"a{c.n} OK \[MAILBOXID \((F\d+)\)\] ", r[-1])
    assert m, r
    box = m.group(1)
    c.ok("RENAME Projects Work")
    assert c.ok("STATUS Work (MAILBOXID MESSAGES)") == [f"* STATUS Work (MESSAGES 0 MAILBOXID ({box}))"]
    append(imap, msg(1), msg(2), mailbox="Work")
    r = c.ok("SELECT Work")
    assert f"* OK [MAILBOXID ({box})] Ok" in r
    r = c.ok("FETCH 1:2 (EMAILID THREADID)")
    ids = [re.search(r"EMAILID \((M[0-9a-f]{24})\)", x).group(1) for x in r]
    assert len(set(ids)) == 2 and all("THREADID NIL" in x for x in r)
    c.ok("COPY 1 INBOX")
    c.ok("SELECT INBOX")
    assert c.ok("FETCH 1 EMAILID") == [f"* 1 FETCH (EMAILID ({ids[0]}))"]
    assert c.ok(f"SEARCH EMAILID {ids[0]}") == ["* SEARCH 1"]
    assert c.ok(f"SEARCH EMAILID {ids[1]}") == ["* SEARCH"]
    inbox = re.search(r"\(F\d+\)", c.ok("STATUS INBOX (MAILBOXID)")[0]).group(0)
    assert inbox != f"({box})"


def test_status_recent(imap):
    c = Imap(imap)
    append(imap, msg(1), msg(2), claim=False)
    assert c.ok("STATUS INBOX (RECENT MESSAGES)") == ["* STATUS INBOX (MESSAGES 2 RECENT 2)"]
    c.ok("SELECT INBOX")                      # claims them
    assert c.ok("STATUS INBOX (RECENT)") == ["* STATUS INBOX (RECENT 0)"]
