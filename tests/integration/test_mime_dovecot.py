"""ENVELOPE, BODYSTRUCTURE and BODY from Surel's MIME parser compared with
Dovecot's for the same messages.

A private Dovecot (Debian's dovecot-imapd) runs on a free loopback port from a
configuration in a temporary directory, with one static test user and a
Maildir. Every message is APPENDed to it and FETCHed back; `surel mime parse`
prints our answer for the same bytes. The two are compared value by value
(an IMAP string sent quoted by one side and as a literal by the other is the
same string, RFC 9051 4.3). The differences we keep on purpose are listed in
KEPT below and in docs/mime.md, each with the RFC text that allows it.

Run alone: /usr/bin/python3 -m pytest -q tests/integration/test_mime_dovecot.py
(the message set comes from ../shared/testdata; SUREL_TESTDATA overrides).
"""
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import ROOT, free_ports, sanitizer_env, surel_path

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)
TESTDATA = Path(os.environ.get("SUREL_TESTDATA", ROOT.parent / "shared" / "testdata"))

# Messages of our own, for what the corpora do not show.
OWN = {
    "own/plain": b"Subject: hi\r\nFrom: a@b\r\n\r\nbody\r\n",
    "own/no-header": b"\r\nbody\r\n",
    "own/header-only": b"Subject: a\r\n",
    "own/no-newline": b"Subject: a",
    "own/ctype-case": b"Content-Type: Text/HTML; CharSet=UTF-8; Name=\"A\"\r\n\r\nx",
    "own/text-plain-upper": b"Content-Type: TEXT/PLAIN\r\n\r\nx",
    "own/params": b"Content-Type: text/plain; a=b; c; d=e; f=\"g\" h; i=j\r\n\r\nx",
    "own/rfc2231": b"Content-Type: application/x-stuff; title*0*=us-ascii'en'This%20is;"
                   b" title*1=\" even more\"; title*2*=%2A; Z*0=1; b*1=x; b*2=y\r\n\r\n",
    "own/fields": b"Content-Type: text/plain; name==?utf-8?q?a_b?=.txt\r\nContent-ID:  <a@b> (c)\r\n"
                  b"Content-Description:  hello\r\n  world  \r\nContent-MD5: abc \r\n"
                  b"Content-Language: en, (x) de-DE\r\nContent-Location:  http://x/ y\r\n"
                  b"Content-Disposition: Attachment; FileName=\"a\\\"b\"; size=3\r\n"
                  b"Content-Transfer-Encoding: Base64 \r\n\r\nx",
    "own/duplicates": b"Content-Type: text/plain; charset=a\r\nContent-Type: text/html; charset=b\r\n"
                      b"Subject: one\r\nSubject: two\r\nFrom: a@b\r\nFrom: c@d\r\n"
                      b"Message-ID: <1@x>\r\nMessage-ID: <2@x>\r\nIn-Reply-To:  <a@b> <c@d>  \r\n"
                      b"Date:  Mon, 1 Jan 2001 \r\n\r\nx",
    "own/empty-fields": b"Subject:\r\nDate: \r\nMessage-ID:\r\nContent-Description:\r\nContent-ID: \r\n"
                        b"From:\r\nTo: \r\nIn-Reply-To:\r\n\r\nx",
    "own/8bit-header": b"Content-Type: text/plain; name=\"\xc3\xa9\"\r\nContent-Description: \xc3\xa9t\xe9\r\n"
                       b"Subject: =?utf-8?q?x?= \xe9\r\n\r\nx",
    "own/rfc822-header-only": b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"
                              b"Content-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\n--a--\r\n",
    "own/rfc822-header-no-blank": b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"
                                  b"Content-Type: message/rfc822\r\n\r\nSubject: x\r\n--a--\r\n",
    "own/rfc822-empty": b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"
                        b"Content-Type: message/rfc822\r\n\r\n--a--\r\n",
    "own/message-global": "message/global is an encapsulated message (RFC 9051 7.5.2 media-message, "
                           "RFC 6532 3.7); Dovecot 2.3 shows it as a basic part",
    "own/invalid-ctype": "an invalid Content-Type is text/plain; charset=us-ascii (RFC 2045 5.2); "
                         "Dovecot writes (\"\" \"\")",
    "own/nul-header": b"Subject: a\x00b\r\nContent-Description: c\x00d\r\n\r\nx\x00y\r\n",
    "own/whitespace-subject": b"Subject: \t a\tb  c \r\n \r\n\r\nx",
    "own/quotes": b"Subject: a\"b\\c\r\nContent-Type: text/plain; a=\"1\\\"2\\\"3\\\"4\\\"5\"; "
                  b"b=\"1\\\"2\\\"3\\\"4\\\"5\\\"6\"; c=\"x\ty\"\r\n\r\nx",
    "own/boundary-in-header": b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"
                              b"Content-Type: text/html\r\n--a\r\n\r\nb\r\n--a--\r\nepi\r\n--a\r\n\r\nc\r\n",
    "own/preamble": b"Content-Type: multipart/mixed; boundary=a\r\n\r\npre\r\n--a\r\n\r\nb\r\n--a--",
    "own/outer-boundary": b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"
                          b"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n\r\nx\r\n"
                          b"--a\r\n\r\ny\r\n--a--\r\n",
    "own/digest": b"Content-Type: multipart/digest; boundary=a\r\n\r\n--a\r\n\r\nSubject: s\r\n\r\nx\r\n"
                  b"--a\r\nContent-Type: text/plain\r\n\r\ny\r\n--a--\r\n",
    "own/rfc822-multipart": b"Content-Type: message/rfc822\r\n\r\nContent-Type: multipart/mixed; boundary=z\r\n"
                            b"\r\n--z\r\n\r\nx\r\n--z--\r\n",
    "own/rfc822-base64": b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                         b"U3ViamVjdDogeA0KDQpib2R5",
    "own/no-boundary": b"Content-Type: multipart/mixed\r\n\r\nx\r\n",
    "own/empty-boundary": b"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n\r\nx\r\n----\r\n",
    "own/boundary-prefix": b"Content-Type: multipart/mixed; boundary=a:b\r\n\r\n--a:b\r\n\r\nx\r\n--a:b--\r\n",
    "own/boundary-padding": b"Content-Type: multipart/mixed; boundary=\"a b\"\r\n\r\n--a b \r\n\r\nx\r\n--a b--  \r\n",
    "own/unterminated-quote": b"Content-Type: text/plain; charset=\"utf-8\r\n\r\nx",
    "own/folded-subject": b"Subject: a\r\n\tb\r\n c\r\nFrom: \"A\r\n B\" <a@b>\r\n\r\nx",
    "own/groups": b"To: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;\r\n"
                  b"Cc: Undisclosed recipients:;\r\nBcc: g:a@b\r\n\r\nx",
    "own/addresses": b"From: <@r1,@r2:u@d>, u@d (Name) (Other), <>, \"\" <a@b>\r\n"
                     b"To: Whomever\r\nCc: joe bloggs\r\nBcc: \"Joe\"\r\nReply-To: Joe <u@d\r\n"
                     b"Sender: <http://www.host.com/list/> (Web Archive)\r\n\r\nx",
    "own/message-global": b"Content-Type: message/global\r\n\r\nSubject: x\r\n\r\nbody",
    "own/invalid-ctype": b"Content-Type: text/\r\n\r\nx\r\n",
    "own/deep": b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
                         for i in range(10)) + b"\r\nleaf\r\n",
}

# Differences kept on purpose (docs/mime.md, "Differences from Dovecot"):
# message -> the reason. Each must still differ, or the entry is stale.
CLOSE_CRLF = ("line break after an inner close-delimiter: RFC 2046 5.1.1 gives it to the "
              "next delimiter, Dovecot counts it into the part (size +2, lines +1)")
MISSING_SEMICOLON = "a parameter whose ';' is missing is read; Dovecot drops it"
NO_MIME_VERSION = ("Content-Transfer-Encoding without MIME-Version or Content-Type: we honour it, "
                   "Dovecot ignores it (RFC 2045 4 leaves non-MIME mail undefined)")
KEPT = {
    "stalwart/rfc/001": MISSING_SEMICOLON,
    "stalwart/legacy/049": "message ends in a lone CR: Dovecot's Maildir drops it, we store bytes as received",
    "stalwart/malformed/016": "boundaries longer than 70 characters: Dovecot compares only a prefix",
    "stalwart/malformed/017": MISSING_SEMICOLON + " (Dovecot drops the whole Content-Type)",
    "stalwart/thirdparty/007": CLOSE_CRLF,
    "stalwart/thirdparty/010": MISSING_SEMICOLON,
    "crymap/rfc3501_p56": CLOSE_CRLF,
    "crymap/single-part-base64": NO_MIME_VERSION,
    "crymap/torture-test": CLOSE_CRLF + "; and 'Content-Type: BINARY' (no subtype) is text/plain "
                           "by RFC 2045 5.2, Dovecot writes (\"\" \"\")",
    "crymap/unknown-cte": NO_MIME_VERSION,
    "own/message-global": "message/global is an encapsulated message (RFC 9051 7.5.2 media-message, "
                           "RFC 6532 3.7); Dovecot 2.3 shows it as a basic part",
    "own/invalid-ctype": "an invalid Content-Type is text/plain; charset=us-ascii (RFC 2045 5.2); "
                         "Dovecot writes (\"\" \"\")",
    "own/nul-header": "NUL in Content-Description: U+FFFD as Dovecot does in Subject; Dovecot gives NIL",
}


def corpus():
    """(name, bytes) of every message compared."""
    msgs = []
    stalwart = TESTDATA / "stalwart-mail-parser" / "resources" / "eml"
    for sub in ("rfc", "legacy", "malformed", "thirdparty"):
        for f in sorted((stalwart / sub).glob("*.eml")):
            msgs.append((f"stalwart/{sub}/{f.stem}", f.read_bytes()))
    for f in sorted((TESTDATA / "crymap-testdata" / "src" / "test_data").glob("*.eml")):
        msgs.append((f"crymap/{f.stem}", f.read_bytes()))
    msgs += sorted(OWN.items())
    return msgs


def crlf(data: bytes) -> bytes:
    """What an IMAP client sends: every bare LF as CRLF (imaplib does this)."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


# ---- a small IMAP response reader ----

def parse_value(s: bytes, i: int):
    """One IMAP value at s[i:]: NIL, a number, a string (quoted or literal)
    or a parenthesised list. Returns (value, next index)."""
    while s[i:i + 1] == b" ":
        i += 1
    c = s[i:i + 1]
    if c == b"(":
        items, i = [], i + 1
        while True:
            while s[i:i + 1] == b" ":
                i += 1
            if s[i:i + 1] == b")":
                return items, i + 1
            v, i = parse_value(s, i)
            items.append(v)
    if c == b'"':
        out, i = bytearray(), i + 1
        while s[i:i + 1] != b'"':
            if s[i:i + 1] == b"\\":
                i += 1
            out += s[i:i + 1]
            i += 1
        return ("S", bytes(out)), i + 1
    if c == b"{":
        m = re.match(rb"\{(\d+)\}\r\n", s[i:])
        n = int(m.group(1))
        start = i + m.end()
        return ("S", s[start:start + n]), start + n
    m = re.match(rb"[^ ()]+", s[i:])
    tok = m.group(0)
    return ("NIL" if tok == b"NIL" else tok), i + m.end()


def render(v) -> str:
    """A value as one canonical line (every string quoted), for messages."""
    if isinstance(v, list):
        return "(" + " ".join(render(x) for x in v) + ")"
    if isinstance(v, tuple):
        return '"' + v[1].decode("utf-8", "backslashreplace").replace("\r", "\\r").replace("\n", "\\n") + '"'
    return v if isinstance(v, str) else v.decode()


def first_difference(a: str, b: str) -> str:
    i = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
    lo = max(0, i - 120)
    return f"  ours:    ...{a[lo:i + 120]}\n  dovecot: ...{b[lo:i + 120]}"


def fetch_items(s: bytes):
    """The items of one FETCH response's parenthesised list as a dict."""
    i = s.index(b"FETCH (") + len(b"FETCH (")
    out = {}
    while s[i:i + 1] != b")":
        m = re.match(rb" ?([A-Z.]+) ", s[i:])
        name = m.group(1).decode()
        value, i = parse_value(s, i + m.end())
        out[name] = (value, s)
    return out


class Dovecot:
    def __init__(self, tmp: Path):
        self.dir = tmp
        self.port = free_ports(1)[0]
        root = os.geteuid() == 0
        me = pwd.getpwuid(os.geteuid()).pw_name
        internal, login = ("dovecot", "dovenull") if root else (me, me)
        mail_user = "dovecot" if root else me
        home = tmp / "home"
        for d in ("run", "state", "home"):
            (tmp / d).mkdir()
        if root:
            shutil.chown(home, mail_user, mail_user)
        self.conf = tmp / "dovecot.conf"
        self.conf.write_text(f"""
base_dir = {tmp}/run
state_dir = {tmp}/state
log_path = {tmp}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = 1
mail_location = maildir:~/Maildir
passdb {{
  driver = static
  args = password=test
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_user} home={home}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
""")
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 15
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", self.port), 1)
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log = (tmp / "dovecot.log").read_text(errors="replace") if (tmp / "dovecot.log").exists() else ""
                    raise AssertionError("dovecot did not start:\n" + log)
                time.sleep(0.1)
        self.sock.settimeout(60)
        self.buf = b""
        self.tag = 0
        self.readline()
        self.cmd(b"LOGIN test test")

    def readline(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("dovecot closed the connection")
            self.buf += data
        i = self.buf.index(b"\r\n") + 2
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def read_response(self):
        """One response line with the literals inside it."""
        out = b""
        while True:
            line = self.readline()
            out += line
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            if not m:
                return out
            n = int(m.group(1))
            while len(self.buf) < n:
                self.buf += self.sock.recv(65536)
            out += self.buf[:n]
            self.buf = self.buf[n:]

    def cmd(self, command: bytes, literal: bytes = None):
        self.tag += 1
        tag = b"a%d" % self.tag
        if literal is None:
            self.sock.sendall(tag + b" " + command + b"\r\n")
        else:
            self.sock.sendall(tag + b" " + command + b" {%d}\r\n" % len(literal))
            assert self.readline().startswith(b"+")
            self.sock.sendall(literal + b"\r\n")
        lines = []
        while True:
            line = self.read_response()
            if line.startswith(tag + b" "):
                assert line.startswith(tag + b" OK"), line
                return lines
            lines.append(line)

    def fetch_all(self, messages):
        self.cmd(b"CREATE cmp")
        for data in messages:
            self.cmd(b"APPEND cmp", data)
        self.cmd(b"SELECT cmp")
        return [fetch_items(r) for r in self.cmd(b"FETCH 1:* (ENVELOPE BODYSTRUCTURE BODY)")
                if b" FETCH " in r]

    def stop(self):
        try:
            self.sock.close()
        finally:
            os.killpg(self.proc.pid, 15)
            self.proc.wait(20)


def ours(tmp: Path, name: str, data: bytes):
    path = tmp / "msg.eml"
    path.write_bytes(data)
    r = subprocess.run([surel_path(), "mime", "parse", str(path)], capture_output=True,
                       env=sanitizer_env(), timeout=120)
    assert r.returncode == 0, (name, r.stderr)
    assert b"runtime error" not in r.stderr and b"Sanitizer" not in r.stderr, (name, r.stderr)
    out, items, i = r.stdout, {}, 0
    for key in ("ENVELOPE", "BODYSTRUCTURE", "BODY"):
        assert out.startswith(key.encode() + b" ", i), (name, out[i:i + 80])
        value, i = parse_value(out, i + len(key) + 1)
        assert out[i:i + 1] == b"\n"
        items[key] = (value, out)
        i += 1
    return items


@pytest.fixture(scope="module")
def dovecot():
    if DOVECOT is None:
        pytest.skip("dovecot is not installed (Debian package dovecot-imapd)")
    if not (TESTDATA / "stalwart-mail-parser").is_dir():
        pytest.skip(f"shared test data not found at {TESTDATA}")
    # Not under pytest's 0700 temporary directory: when we are root, the
    # mail processes run as the dovecot user and must reach the Maildir.
    tmp = Path(tempfile.mkdtemp(prefix="surel-dovecot-"))
    tmp.chmod(0o755)
    d = Dovecot(tmp)
    yield d
    d.stop()
    shutil.rmtree(tmp, ignore_errors=True)


def test_mime_matches_dovecot(dovecot, tmp_path):
    msgs = corpus()
    sent = [crlf(data) for _, data in msgs]
    theirs = dovecot.fetch_all(sent)
    assert len(theirs) == len(msgs)
    same, kept, failures = 0, [], []
    for (name, _), data, dv in zip(msgs, sent, theirs):
        us = ours(tmp_path, name, data)
        diff = [k for k in ("ENVELOPE", "BODYSTRUCTURE", "BODY") if us[k][0] != dv[k][0]]
        if not diff:
            same += 1
        elif name in KEPT:
            kept.append(name)
        else:
            failures.append(f"{name}: {', '.join(diff)}\n" +
                            first_difference(render(us[diff[0]][0]), render(dv[diff[0]][0])))
    print(f"\n{same} of {len(msgs)} messages identical to Dovecot, {len(kept)} kept differences")
    assert not failures, "\n".join(failures)
    # A kept difference that no longer shows is stale.
    stale = set(KEPT) - set(kept)
    assert not stale, f"no longer different, remove from KEPT: {sorted(stale)}"
