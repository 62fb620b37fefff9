"""IMAP COMPRESS=DEFLATE (RFC 4978) with a raw client that speaks raw
deflate itself (Python's zlib, wbits=-15, a sync flush after every command):
a megabyte through the compressed stream both ways, over imaps and after
STARTTLS, the section 3 rules (uncompressed OK, then compressed both ways;
what the client sent after the command line is compressed; a second
COMPRESS is refused), IDLE pushes, the goodbyes of LOGOUT, idle timeout and
shutdown, and clients that send garbage or a zip bomb."""
import base64
import random
import re
import zlib

import pytest

from test_auth import Conn, auth_server  # noqa: F401  (auth_server: a fixture)
from test_imap import ALICE, ALICE_PW, Imap, login, msg
from test_server import wait_for


class ZImap(Imap):
    """Imap's raw transcripts, compressed once compress() succeeded."""

    def __init__(self, inst, starttls=False, login_as=ALICE, pw=ALICE_PW):
        Conn.__init__(self, inst.port("imap" if starttls else "imaps"), tls=not starttls,
                      timeout=20)
        self.n = 0
        self.zin = self.zout = None
        self.wire_in = 0
        assert self.line().startswith("* OK [CAPABILITY ")
        if starttls:
            assert self.cmd("STARTTLS")[-1] == f"a{self.n} OK Begin TLS negotiation now"
            self.starttls()
        if login_as:
            r = self.cmd(f'LOGIN "{login_as}" "{pw}"')
            assert r[-1].startswith(f"a{self.n} OK [CAPABILITY ") and "COMPRESS=DEFLATE" in r[-1]

    def start_compressing(self):
        """The tagged OK was the last uncompressed byte; what follows it is
        compressed, and so is everything we send from now on."""
        self.zin = zlib.decompressobj(wbits=-15)
        self.zout = zlib.compressobj(6, zlib.DEFLATED, -15)
        raw, self.buf = self.buf, b""
        self.buf = self.zin.decompress(raw)

    def compress(self):
        assert self.cmd("COMPRESS DEFLATE") == [f"a{self.n} OK DEFLATE active"]
        self.start_compressing()

    def deflate(self, data):
        return self.zout.compress(data) + self.zout.flush(zlib.Z_SYNC_FLUSH)

    def send(self, data):
        self.sock.sendall(self.deflate(data) if self.zout else data)

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError(f"connection closed; unread: {self.buf!r}")
        self.wire_in += len(data)
        self.buf += self.zin.decompress(data) if self.zin else data

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def read_exact(self, n):
        while len(self.buf) < n:
            self.fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def fetch_literal(self, what):
        """FETCH one literal item: (its bytes, the rest of the lines)."""
        t = self.tag()
        self.send(f"{t} FETCH {what}\r\n".encode())
        head = self.line()
        m = re.search(r"\{(\d+)\}$", head)
        assert m, head
        return self.read_exact(int(m.group(1))), self.until(t)

    def at_eof(self):
        try:
            while True:
                self.fill()
        except EOFError:
            return True
        except TimeoutError:
            raise
        except OSError:             # a reset, or TLS torn down
            return True


def big_text(size):
    lines, n = [], 0
    while n < size:
        line = f"Line {len(lines)}: the quick brown fox jumps over the lazy dog.\r\n"
        lines.append(line)
        n += len(line)
    body = "".join(lines).encode()
    return b"From: Bob <bob@example.org>\r\nSubject: big\r\n\r\n" + body


def big_noise(size):
    raw = random.Random(4978).randbytes(size * 3 // 4)
    b64 = base64.encodebytes(raw).replace(b"\n", b"\r\n")
    return (b"From: Bob <bob@example.org>\r\nSubject: noise\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
            b"\r\n" + b64)


def append_select_fetch(c, message):
    c.ok("SELECT INBOX")
    r = c.literal("APPEND INBOX ", message)
    assert re.match(rf"a{c.n} OK \[APPENDUID \d+ 1\]", r[-1]), r
    data, rest = c.fetch_literal("1 BODY.PEEK[]")
    assert data == message
    assert rest[-1] == f"a{c.n} OK FETCH completed"
    assert c.ok("FETCH 1 RFC822.SIZE") == [f"* 1 FETCH (RFC822.SIZE {len(message)})"]


def logout(c):
    assert c.cmd("LOGOUT") == ["* BYE Surel logging out", f"a{c.n} OK LOGOUT completed"]
    assert c.at_eof()


# ---------------------------------------------------------------- the stream

def test_megabyte_through_the_compressed_stream(server):
    c = ZImap(server)
    assert "COMPRESS=DEFLATE" in c.ok("CAPABILITY")[0]
    c.compress()
    message = big_text(1 << 20)
    before = c.wire_in
    append_select_fetch(c, message)
    assert c.wire_in - before < len(message) // 4       # text compresses, both ways
    c.ok("NOOP")
    logout(c)
    pattern = (r"event=disconnect bytes_in=(\d+) bytes_out=(\d+) compressed_in=(\d+) "
               r"compressed_out=(\d+)")
    # the session logs its end once the server has closed it: wait for it
    m = wait_for(lambda: re.search(pattern, server.log_text()), what="the disconnect line")
    assert "event=compress algorithm=deflate early_bytes=0" in server.log_text()
    bytes_in, bytes_out, z_in, z_out = map(int, m.groups())
    assert bytes_in > len(message) and bytes_out > len(message)
    assert z_in < len(message) // 4 and z_out < len(message) // 4


def test_incompressible_megabytes_with_backpressure(server):
    """Noise does not shrink: the layer below the compressor fills up and
    the FETCH is streamed as the client reads."""
    c = ZImap(server)
    c.compress()
    message = big_noise(3 << 20)
    append_select_fetch(c, message)
    c.ok("NOOP")
    logout(c)


def test_over_starttls(server):
    c = ZImap(server, starttls=True)
    c.compress()
    append_select_fetch(c, msg(1) + big_text(200_000))
    # this session appended it and selected first: \\Recent (IMAP4rev1)
    assert c.ok("FETCH 1 (FLAGS)") == ["* 1 FETCH (FLAGS (\\Recent))"]
    logout(c)


def test_section_3_results(server):
    c = ZImap(server, login_as=None)
    # command-auth: not before login
    assert c.cmd("COMPRESS DEFLATE") == [f"a{c.n} BAD Command not valid before login"]
    assert c.cmd(f'LOGIN "{ALICE}" "{ALICE_PW}"')[-1].startswith(f"a{c.n} OK")
    assert c.cmd("COMPRESS") == [f"a{c.n} BAD Syntax: COMPRESS DEFLATE"]
    assert c.cmd("COMPRESS DEFLATE X") == [f"a{c.n} BAD Syntax: COMPRESS DEFLATE"]
    assert c.cmd("COMPRESS LZW") == \
        [f"a{c.n} BAD Unknown compression mechanism; only DEFLATE is supported"]
    assert c.cmd("COMPRESS deflate") == [f"a{c.n} OK DEFLATE active"]   # case-insensitive
    c.start_compressing()
    # "BAD - ... or COMPRESS already active"; compression stays as it is
    assert c.cmd("COMPRESS DEFLATE") == \
        [f"a{c.n} BAD [COMPRESSIONACTIVE] DEFLATE is already active via COMPRESS"]
    c.ok("SELECT INBOX")
    assert c.cmd("COMPRESS DEFLATE")[-1].startswith(f"a{c.n} BAD [COMPRESSIONACTIVE]")
    assert c.cmd("STARTTLS") == [f"a{c.n} BAD Command not valid after login"]
    logout(c)


def test_command_sent_with_the_compress_command_is_compressed(server):
    """A client that does not wait for the OK: what follows the command line
    is the start of its compressed stream (RFC 4978 section 3)."""
    c = ZImap(server)
    zout = zlib.compressobj(6, zlib.DEFLATED, -15)
    early = zout.compress(b"a3 NOOP\r\na4 ID NIL\r\n") + zout.flush(zlib.Z_SYNC_FLUSH)
    c.sock.sendall(b"a2 COMPRESS DEFLATE\r\n" + early)     # in one TLS record
    assert c.line() == "a2 OK DEFLATE active"
    c.start_compressing()
    c.zout, c.n = zout, 4
    assert c.line() == "a3 OK NOOP completed"
    assert c.until("a4")[-1] == "a4 OK ID completed"
    c.ok("NOOP")
    logout(c)
    assert re.search(r"event=compress algorithm=deflate early_bytes=[1-9]", server.log_text())


# ---------------------------------------------------------------- pushes and goodbyes

def test_idle_pushes_arrive_compressed(server):
    c = ZImap(server)
    c.compress()
    c.ok("SELECT INBOX")
    t = c.tag()
    c.send(f"{t} IDLE\r\n".encode())
    assert c.line() == "+ idling"
    m = login(server)
    m.append("INBOX", None, None, msg(1))
    m.logout()
    assert c.line() == "* 1 EXISTS"           # flushed without a command from us
    c.send(b"DONE\r\n")
    assert c.until(t)[-1] == f"{t} OK IDLE terminated"
    logout(c)


def test_idle_timeout_says_goodbye_compressed(auth_server):  # noqa: F811
    inst = auth_server("[imap]\ntimeout = 2s\n")
    c = ZImap(inst)
    c.compress()
    c.ok("NOOP")
    assert c.line() == "* BYE Autologout; idle for too long"
    assert c.at_eof()
    log = inst.log_text()
    assert "event=timeout idle=2s" in log
    assert "reason=not_reading" not in log


def test_client_that_stops_reading_is_closed(auth_server):  # noqa: F811
    """A big FETCH the client never reads: the output stalls below the
    compressor, and the session still ends (write timeout or the flush
    timeout after the idle goodbye) with nothing leaked."""
    inst = auth_server("[imap]\ntimeout = 2s\n")
    c = ZImap(inst)
    c.compress()
    c.ok("SELECT INBOX")
    assert c.literal("APPEND INBOX ", big_noise(4 << 20))[-1].startswith(f"a{c.n} OK")
    c.send(b"a9 FETCH 1 BODY.PEEK[]\r\n")
    wait_for(lambda: re.search(r"reason=not_reading|event=flush_timeout", inst.log_text()),
             timeout=20, what="the stalled session to be closed")
    wait_for(lambda: inst.log_text().count("compressed_in=") >= 1, what="its disconnect")
    c.sock.close()


def test_shutdown_says_goodbye_compressed(auth_server):  # noqa: F811
    inst = auth_server()
    c = ZImap(inst)
    c.compress()
    c.ok("SELECT INBOX")
    assert inst.stop() == 0
    assert not inst.sanitizer_errors(), inst.log_text()
    assert c.line() == "* BYE [UNAVAILABLE] Server shutting down"
    assert c.at_eof()


# ---------------------------------------------------------------- bad clients

@pytest.mark.parametrize("garbage", [
    b"\x07\x00\x00garbage" * 10,          # an invalid block type
    b"a3 NOOP\r\n",                        # forgot to compress
], ids=["invalid-deflate", "cleartext"])
def test_garbage_gets_disconnected(server, garbage):
    c = ZImap(server)
    c.compress()
    c.ok("NOOP")
    c.sock.sendall(garbage)
    assert c.at_eof()
    wait_for(lambda: "event=compress_error" in server.log_text(), what="compress_error")
    # the worker is fine
    m = login(server)
    assert m.noop()[0] == "OK"
    m.logout()


def test_pipelined_cleartext_after_compress_gets_disconnected(server):
    c = ZImap(server)
    c.send(b"a2 COMPRESS DEFLATE\r\na3 NOOP\r\n")
    assert c.line() == "a2 OK DEFLATE active"
    assert c.at_eof()
    wait_for(lambda: "event=compress_error" in server.log_text(), what="compress_error")


def test_zip_bomb_line_is_refused_and_the_session_goes_on(server):
    """32 MB of one line from 32 KB on the wire: the line reader's limit
    applies to what the filter produces, paced by what the session takes."""
    c = ZImap(server)
    c.compress()
    c.sock.settimeout(60)
    bomb = c.deflate(b"a3 NOOP " + b"a" * (32 << 20))
    assert len(bomb) < 64 << 10
    c.sock.sendall(bomb)
    c.send(b"\r\n")
    c.n = 3
    assert c.line() == "* BAD [TOOBIG] Line too long"
    c.ok("NOOP")
    # an APPEND literal that inflates 1000 times: stored as sent
    message = b"Subject: zeros\r\n\r\n" + b"0" * (8 << 20) + b"\r\n"
    append_select_fetch(c, message)
    logout(c)
