"""surel serve: master, workers, listeners, sessions, TLS, limits, signals,
and the first commands of each protocol, over real sockets."""
import imaplib
import os
import poplib
import pwd
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
import warnings

import pytest

from conftest import free_ports, sanitizer_env, surel_path

HOST = "127.0.0.1"


def tls_context(max_version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if max_version is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = max_version
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


class Client:
    """A line-oriented client for raw transcripts."""

    def __init__(self, port, tls=False, timeout=5):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        if tls:
            self.sock = tls_context().wrap_socket(self.sock)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError(f"connection closed; unread: {self.buf!r}")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def send(self, data):
        self.sock.sendall(data)

    def cmd(self, text):
        self.send(text.encode() + b"\r\n")
        return self.line()

    def lines_until(self, prefix):
        out = []
        while True:
            out.append(self.line())
            if out[-1].startswith(prefix):
                return out

    def starttls(self):
        assert self.buf == b"", f"bytes before the TLS handshake: {self.buf!r}"
        self.sock = tls_context().wrap_socket(self.sock)

    def at_eof(self):
        """True when the server closed the connection (after any unread lines)."""
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            return True
        self.buf += data
        return data == b""

    def close(self):
        self.sock.close()


def wait_for(pred, timeout=10, step=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def greets(port, expect_prefix, tls=False):
    try:
        c = Client(port, tls=tls, timeout=2)
        line = c.line()
        c.close()
        return line.startswith(expect_prefix)
    except (OSError, EOFError):
        return False


def refuses(port):
    try:
        socket.create_connection((HOST, port), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True


def children_of(pid):
    """{pid: comm} of the processes whose parent is pid."""
    out = {}
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
        if ppid == pid:
            out[int(entry)] = comm
    return out


def workers_of(inst):
    return {p: c for p, c in children_of(inst.proc.pid).items() if c.startswith("surel-worker")}


def open_greeted(port, prefix, timeout=10):
    """A session that got its greeting, not a busy reply: the harness's
    readiness probes may still hold a count for a moment after start."""
    def attempt():
        c = Client(port)
        if c.line().startswith(prefix):
            return c
        c.close()
        return None
    return wait_for(attempt, timeout=timeout, what=f"a greeting on port {port}")


def status_ids(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return [int(x) for x in line.split()[1:]]
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def conf_line(inst, section, key):
    """Line number of `key` in [section] of the instance's configuration."""
    current = None
    for n, line in enumerate(inst.conf.read_text().splitlines(), 1):
        s = line.strip()
        if s.startswith("["):
            current = s.strip("[]")
        elif current == section and s.split("=")[0].strip() == key:
            found = n
    return found


@pytest.fixture
def serve(instance):
    """serve(extra_conf) starts the server; it is stopped and checked after the test."""
    def start(extra=""):
        instance.write_conf(extra)
        instance.start()
        return instance
    yield start
    if instance.proc is not None:
        rc = instance.stop()
        assert not instance.sanitizer_errors(), instance.log_text()
        assert rc == 0, f"surel serve exited {rc}:\n" + instance.log_text()


def hostname():
    return socket.gethostname()


# ---------------------------------------------------------------- greetings

def test_every_listener_greets(serve):
    inst = serve()
    host = hostname()
    for name in ("smtp", "submission"):
        assert Client(inst.port(name)).line() == f"220 {host} ESMTP Surel"
    assert Client(inst.port("smtps"), tls=True).line() == f"220 {host} ESMTP Surel"
    assert Client(inst.port("imap")).line() == \
        "* OK [CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+ ID ENABLE STARTTLS LOGINDISABLED] Surel ready"
    assert Client(inst.port("imaps"), tls=True).line() == \
        "* OK [CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+ ID ENABLE AUTH=PLAIN AUTH=LOGIN SASL-IR] Surel ready"
    assert Client(inst.port("pop3")).line() == "+OK Surel ready"
    assert Client(inst.port("pop3s"), tls=True).line() == "+OK Surel ready"
    log = inst.log_text()
    for name in ("smtp", "submission", "smtps", "imap", "imaps", "pop3", "pop3s", "http"):
        assert f"event=listen proto={name} addr=127.0.0.1:{inst.port(name)} " in log
    assert re.search(r"event=connect from=127\.0\.0\.1:\d+ listener=imaps", log)
    assert re.search(r"event=disconnect bytes_in=\d+ bytes_out=\d+ duration=[0-9.]+s", log)


def test_health(serve):
    inst = serve()
    with urllib.request.urlopen(f"http://{HOST}:{inst.port('http')}/health", timeout=5) as r:
        assert r.status == 200
        assert r.read() == b"ok\n"
        assert r.headers["Content-Type"].startswith("text/plain")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"http://{HOST}:{inst.port('http')}/nope", timeout=5)
    assert e.value.code == 404


# ---------------------------------------------------------------- protocols

def test_smtp_commands(serve):
    inst = serve()
    with smtplib.SMTP(HOST, inst.port("smtp"), timeout=5) as s:
        code, msg = s.ehlo("client.example")
        assert code == 250 and msg.decode().splitlines()[0] == hostname()
        assert set(s.esmtp_features) == {"pipelining", "size", "8bitmime", "smtputf8",
                                         "enhancedstatuscodes", "dsn", "chunking", "starttls"}
        assert s.noop() == (250, b"2.0.0 OK")
        assert s.rset() == (250, b"2.0.0 OK")
        assert s.docmd("HELP")[0] == 214
        assert s.verify("alice") == (252, b"2.5.0 Cannot VRFY user")
        for cmd in ("ETRN example.org", "EXPN list"):
            assert s.docmd(cmd) == (502, b"5.5.1 Command not implemented"), cmd
        # the mail transaction is tested in test_smtp.py
        assert s.docmd("RCPT TO:<b@example.org>") == (503, b"5.5.1 Need MAIL command")
        assert s.docmd("AUTH PLAIN") == (503, b"5.5.1 AUTH not available on this port")
        assert s.docmd("FROBNICATE") == (500, b"5.5.2 Command unrecognized")
        assert s.docmd("HELO") == (501, b"5.5.4 Syntax: HELO hostname")
        assert s.docmd("HELO client.example") == (250, hostname().encode())
        assert s.quit()[0] == 221
    with smtplib.SMTP_SSL(HOST, inst.port("smtps"), timeout=5, context=tls_context()) as s:
        s.ehlo("client.example")
        assert "starttls" not in s.esmtp_features
        assert s.docmd("STARTTLS") == (503, b"5.5.1 TLS already active")


def test_imap_commands(serve):
    inst = serve()
    m = imaplib.IMAP4(HOST, inst.port("imap"), timeout=5)
    assert m.capabilities == ("IMAP4REV1", "IMAP4REV2", "LITERAL+", "ID", "ENABLE", "STARTTLS",
                              "LOGINDISABLED")
    assert m.noop()[0] == "OK"
    with pytest.raises(imaplib.IMAP4.error, match=r"\[PRIVACYREQUIRED\]"):
        m.login("alice", "secret")
    assert m.logout()[0] == "BYE"

    c = Client(inst.port("imap"))
    c.line()
    assert c.cmd("a1 FROBNICATE") == "a1 BAD Unknown command"
    assert c.cmd("a2 LOGIN alice secret") == \
        "a2 NO [PRIVACYREQUIRED] LOGIN is disabled before STARTTLS"
    assert c.cmd("a2b SELECT INBOX") == "a2b BAD Command not valid before login"
    assert c.cmd("a3 noop") == "a3 OK NOOP completed"
    assert c.cmd("a4 NOOP extra") == "a4 BAD NOOP takes no arguments"
    assert c.cmd("") == "* BAD Empty command"
    assert c.cmd("+x NOOP") == "* BAD Invalid tag"
    assert c.cmd("a{1 NOOP") == "* BAD Invalid tag"
    assert c.cmd("a5") == "a5 BAD Missing command"
    assert c.cmd("a]6 CAPABILITY") == "* CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+ ID ENABLE STARTTLS LOGINDISABLED"
    assert c.line() == "a]6 OK CAPABILITY completed"
    assert c.cmd("z LOGOUT") == "* BYE Surel logging out"
    assert c.line() == "z OK LOGOUT completed"
    assert c.at_eof()


def test_pop3_commands(serve):
    inst = serve()
    p = poplib.POP3(HOST, inst.port("pop3"), timeout=5)
    assert p.getwelcome() == b"+OK Surel ready"
    caps = p.capa()
    assert "STLS" in caps and caps["IMPLEMENTATION"] == ["Surel"]
    with pytest.raises(poplib.error_proto, match="not valid before login"):
        p.noop()
    with pytest.raises(poplib.error_proto, match=r"\[SYS/PERM\] Authentication requires TLS"):
        p.user("alice")
    assert p.quit() == b"+OK Surel signing off"

    c = Client(inst.port("pop3"))
    c.line()
    assert c.cmd("XYZZ") == "-ERR Unknown command"
    assert c.cmd("STAT") == "-ERR Command not valid before login"
    assert c.cmd("QUIT now") == "-ERR QUIT takes no arguments"
    assert c.cmd("quit") == "+OK Surel signing off"
    assert c.at_eof()


# ---------------------------------------------------------------- TLS

def test_implicit_tls_and_old_tls_refused(serve):
    inst = serve()
    for name, greeting in (("smtps", "220 "), ("imaps", "* OK"), ("pop3s", "+OK")):
        c = Client(inst.port(name), tls=True)
        assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
        assert c.line().startswith(greeting)
        c.close()
        raw = socket.create_connection((HOST, inst.port(name)), timeout=5)
        with pytest.raises(ssl.SSLError, match="PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL"):
            tls_context(max_version=ssl.TLSVersion.TLSv1_1).wrap_socket(raw)
        raw.close()
    wait_for(lambda: inst.log_text().count("unsupported protocol") >= 3,
             what="the server's log of the refused handshakes")


def test_old_tls_after_starttls_gets_the_alert(serve):
    # A refused handshake's alert is written below the TLS filter; it must
    # reach the client before the socket closes (not a bare close).
    inst = serve()
    for name, hello, starttls, go in (("smtp", "EHLO client.example", "STARTTLS", "220 "),
                                      ("pop3", None, "STLS", "+OK")):
        c = Client(inst.port(name))
        c.line()
        if hello is not None:
            c.send(hello.encode() + b"\r\n")
            c.lines_until("250 ")
        assert c.cmd(starttls).startswith(go)
        with pytest.raises(ssl.SSLError, match="PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL"):
            tls_context(max_version=ssl.TLSVersion.TLSv1_1).wrap_socket(c.sock)
        c.close()
    wait_for(lambda: inst.log_text().count("unsupported protocol") >= 2,
             what="the server's log of the refused handshakes")


def test_starttls_smtp_imap_pop3(serve):
    inst = serve()
    for name in ("smtp", "submission"):
        with smtplib.SMTP(HOST, inst.port(name), timeout=5) as s:
            s.ehlo("client.example")
            assert s.starttls(context=tls_context())[0] == 220
            assert s.sock.version() in ("TLSv1.2", "TLSv1.3")
            s.ehlo("client.example")
            assert "starttls" not in s.esmtp_features
            assert s.noop()[0] == 250
            assert s.docmd("STARTTLS") == (503, b"5.5.1 TLS already active")

    m = imaplib.IMAP4(HOST, inst.port("imap"), timeout=5)
    assert m.starttls(ssl_context=tls_context())[0] == "OK"
    assert m.capabilities == ("IMAP4REV1", "IMAP4REV2", "LITERAL+", "ID", "ENABLE", "AUTH=PLAIN",
                              "AUTH=LOGIN", "SASL-IR")
    assert m.noop()[0] == "OK"
    assert m.logout()[0] == "BYE"

    p = poplib.POP3(HOST, inst.port("pop3"), timeout=5)
    assert p.stls(context=tls_context()) == b"+OK Begin TLS negotiation"
    assert "STLS" not in p.capa()
    assert p.quit() == b"+OK Surel signing off"
    assert inst.log_text().count("event=starttls") >= 4


@pytest.mark.parametrize("name,hello,starttls,injected,after,first_reply", [
    ("smtp", "EHLO x", "STARTTLS", "HELP", "NOOP", "250 2.0.0 OK"),
    ("imap", None, "a STARTTLS", "b CAPABILITY", "c NOOP", "c OK NOOP completed"),
    ("pop3", None, "STLS", "CAPA", "QUIT", "+OK Surel signing off"),
])
def test_command_pipelined_behind_starttls_is_discarded(serve, name, hello, starttls, injected,
                                                         after, first_reply):
    inst = serve()
    c = Client(inst.port(name))
    c.line()
    if hello:
        c.send(hello.encode() + b"\r\n")
        c.lines_until("250 ")
    # the command and an injected one in the same packet (CVE-2011-0411)
    c.send(f"{starttls}\r\n{injected}\r\n".encode())
    assert re.match(r"(220 2\.0\.0|a OK|\+OK) ", c.line())
    c.starttls()
    # had the injected command been run after the upgrade, its reply would come first
    assert c.cmd(after) == first_reply
    assert "event=starttls_discard bytes=" in inst.log_text()


def test_cleartext_after_starttls_breaks_the_handshake(serve):
    inst = serve()
    c = Client(inst.port("smtp"))
    c.line()
    assert c.cmd("STARTTLS").startswith("220 2.0.0")
    c.send(b"NOOP\r\n")          # arrives where the ClientHello should
    data = b""
    try:
        while True:
            chunk = c.sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    assert b"250" not in data     # never answered as a command
    wait_for(lambda: "event=tls_error" in inst.log_text(), what="tls_error in the log")


# ---------------------------------------------------------------- input limits

def test_long_line_gets_an_error_and_the_session_goes_on(serve):
    inst = serve()
    long = b"X" * 100_000 + b"\r\n"
    cases = (("smtp", "500 5.5.6 Line too long", "NOOP", "250 2.0.0 OK"),
             ("imap", "* BAD [TOOBIG] Line too long", "a NOOP", "a OK NOOP completed"),
             ("pop3", "-ERR Line too long", "CAPA", "+OK Capability list follows"))
    for name, too_long, cmd, reply in cases:
        c = Client(inst.port(name))
        c.line()
        c.send(long)
        assert c.line() == too_long
        assert c.cmd(cmd) == reply
        c.close()


def test_nul_bytes_in_a_command_line(serve):
    inst = serve()
    cases = (("smtp", b"NO\0OP", "500 5.5.2 Syntax error: NUL character in command", "NOOP"),
             ("imap", b"a NO\0OP", "a BAD NUL byte in command", "b NOOP"),
             ("pop3", b"QU\0IT", "-ERR NUL byte in command", "CAPA"))
    for name, line, reply, then in cases:
        c = Client(inst.port(name))
        c.line()
        c.send(line + b"\r\n")
        assert c.line() == reply
        assert not c.cmd(then).startswith(("500", "-ERR", "b BAD"))
        c.close()


def test_backpressure_loses_nothing(serve):
    """A client that pipelines far more than it reads: the server stops
    reading while its replies pile up, and every reply arrives in order."""
    inst = serve("[log]\nlevel = info\n[smtp]\nmax_commands = 1000000\n")
    c = Client(inst.port("smtp"), timeout=20)
    c.line()
    n = 150_000
    sender = threading.Thread(target=c.send, args=(b"NOOP\r\n" * n + b"QUIT\r\n",))
    sender.start()
    time.sleep(0.5)              # let replies queue up unread
    for _ in range(n):
        assert c.line() == "250 2.0.0 OK"
    assert c.line().startswith("221 ")
    sender.join()


# ---------------------------------------------------------------- timeouts and limits

def test_idle_timeout(serve):
    inst = serve("[smtp]\ntimeout = 2s\n[imap]\ntimeout = 2s\n[pop3]\ntimeout = 2s\n")
    start = time.monotonic()
    smtp, imap, pop3 = Client(inst.port("smtp")), Client(inst.port("imap")), Client(inst.port("pop3"))
    active = Client(inst.port("smtp"))
    for c in (smtp, imap, pop3, active):
        c.line()
    time.sleep(1.2)
    assert active.cmd("NOOP") == "250 2.0.0 OK"   # a command restarts the timer
    assert smtp.line() == f"421 4.4.2 {hostname()} Timeout, closing connection"
    assert imap.line() == "* BYE Autologout; idle for too long"
    assert pop3.line() == "-ERR Idle for too long, closing connection"
    for c in (smtp, imap, pop3):
        assert c.at_eof()
    assert active.line().startswith("421 4.4.2")
    assert time.monotonic() - start >= 3.0         # 2 s after its NOOP, not after connecting
    assert "event=timeout idle=2s" in inst.log_text()


def test_connections_per_ip(serve):
    inst = serve("[limits]\nmax_connections_per_ip = 3\n")
    held = [open_greeted(inst.port("smtp"), "220 "), open_greeted(inst.port("imap"), "* OK"),
            open_greeted(inst.port("pop3"), "+OK")]
    busy = (("smtp", f"421 4.7.0 {hostname()} Too many connections, try later", False),
            ("imap", "* BYE [UNAVAILABLE] Too many connections", False),
            ("pop3s", "-ERR [SYS/TEMP] Too many connections", True))
    for name, reply, tls in busy:
        c = Client(inst.port(name), tls=tls)
        assert c.line() == reply
        assert c.at_eof()
    assert held[0].cmd("QUIT").startswith("221")
    assert held[0].at_eof()
    wait_for(lambda: greets(inst.port("smtp"), "220 "), what="a fourth session once one closed")
    assert "limit=max_connections_per_ip" in inst.log_text()


# ---------------------------------------------------------------- signals

def test_sigterm_says_goodbye_and_exits_0(serve):
    inst = serve("[server]\nshutdown_timeout = 5s\n")
    smtp, imap, imaps, pop3 = (Client(inst.port("smtp")), Client(inst.port("imap")),
                               Client(inst.port("imaps"), tls=True), Client(inst.port("pop3")))
    for c in (smtp, imap, imaps, pop3):
        c.line()
    start = time.monotonic()
    inst.signal(signal.SIGTERM)
    assert smtp.line() == f"421 4.3.2 {hostname()} Service shutting down"
    assert imap.line() == "* BYE [UNAVAILABLE] Server shutting down"
    assert imaps.line() == "* BYE [UNAVAILABLE] Server shutting down"
    assert pop3.line() == "-ERR [SYS/TEMP] Server shutting down"
    for c in (smtp, imap, imaps, pop3):
        assert c.at_eof()
    assert inst.proc.wait(timeout=5) == 0
    assert time.monotonic() - start < 5
    assert "event=stopped" in inst.log_text()


def test_killed_worker_is_restarted_and_its_counts_released(serve):
    inst = serve("[limits]\nmax_connections_per_ip = 2\n")
    first = wait_for(lambda: len(workers_of(inst)) == 2 and workers_of(inst), what="2 workers")
    held = [open_greeted(inst.port("smtp"), "220 "), open_greeted(inst.port("smtp"), "220 ")]
    over = Client(inst.port("smtp"))
    assert over.line().startswith("421 4.7.0")
    for pid in first:
        os.kill(pid, signal.SIGKILL)
    now = wait_for(lambda: (w := workers_of(inst)) and len(w) == 2 and not set(w) & set(first) and w,
                   what="2 new workers")
    assert set(now).isdisjoint(first)
    log = inst.log_text()
    for pid in first:
        assert re.search(rf"event=child_exit process=worker\.\d pid={pid} status=killed signal=9", log)
    for c in held:
        assert c.at_eof()
    # the dead workers' sessions no longer count: two new ones are welcome
    again = [Client(inst.port("smtp")), Client(inst.port("smtp"))]
    for c in again:
        assert c.line().startswith("220 ")


def test_reload_moves_a_listener(serve):
    extra = "[server]\nshutdown_timeout = 3s\n"
    inst = serve(extra)
    old_port = inst.port("imap")
    before = Client(old_port)
    before.line()
    # both workers up and named (a fork is "surel" for a moment)
    old_workers = set(wait_for(lambda: len(workers_of(inst)) == 2 and workers_of(inst),
                               what="2 workers"))
    new_port = free_ports(1)[0]
    inst.ports["imap"] = new_port
    inst.write_conf(extra)
    inst.signal(signal.SIGHUP)
    wait_for(lambda: greets(new_port, "* OK"), what="the new imap port")
    # a session of the old generation goes on for a while...
    assert before.cmd("a NOOP") == "a OK NOOP completed"
    wait_for(lambda: refuses(old_port), what="the old imap port to close")
    assert greets(inst.port("smtp"), "220 ")                  # unchanged listener
    assert "event=reload result=ok" in inst.log_text()
    # ...and is told goodbye after server.shutdown_timeout
    assert before.line() == "* BYE [UNAVAILABLE] Server shutting down"
    wait_for(lambda: not set(workers_of(inst)) & old_workers, what="old workers to exit")
    assert len(workers_of(inst)) == 2


def test_reload_with_a_broken_file_keeps_serving(serve):
    inst = serve()
    workers = set(wait_for(lambda: len(workers_of(inst)) == 2 and workers_of(inst),
                           what="2 workers"))
    inst.write_conf("[limits]\nmax_connections = zero\n")
    inst.signal(signal.SIGHUP)
    wait_for(lambda: "event=reload result=error" in inst.log_text(), what="the reload error")
    line = [l for l in inst.log_text().splitlines() if "event=reload result=error" in l][0]
    assert f"{inst.conf}:" in line and "limits.max_connections" in line
    for name, prefix in (("smtp", "220 "), ("imap", "* OK"), ("pop3", "+OK")):
        assert greets(inst.port(name), prefix)
    assert set(workers_of(inst)) == workers


# ---------------------------------------------------------------- start-up errors

def run_serve(inst):
    return subprocess.run([surel_path(), "serve", "-c", str(inst.conf)], capture_output=True,
                          text=True, timeout=30, env=sanitizer_env())


def test_port_in_use_is_a_startup_error(instance):
    port = instance.port("smtp")
    blocker = socket.socket()
    blocker.bind((HOST, port))
    blocker.listen()
    try:
        r = run_serve(instance)
    finally:
        blocker.close()
    assert r.returncode == 2, r.stdout + r.stderr
    line = conf_line(instance, "smtp", "listen")
    assert r.stderr.splitlines() == [
        f"surel: {instance.conf}:{line}: smtp.listen: 127.0.0.1:{port}: Address already in use"]
    assert r.stdout == ""


def test_unreadable_certificate_is_a_startup_error(instance, tmp_path):
    bad = tmp_path / "garbage.pem"
    bad.write_text("not a certificate\n")
    for cert in (tmp_path / "missing.pem", bad):
        instance.write_conf(f"[tls]\ncert = {cert}\nkey = {cert}\n")
        r = run_serve(instance)
        assert r.returncode == 2, r.stdout + r.stderr
        lines = r.stderr.splitlines()
        assert len(lines) == 1, r.stderr
        line = conf_line(instance, "tls", "cert")
        assert lines[0].startswith(f"surel: {instance.conf}:{line}: tls.cert: {cert}: ")
        assert refuses(instance.port("smtp"))


# ---------------------------------------------------------------- privileges

@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_children_run_as_the_server_user(serve):
    inst = serve()
    user = pwd.getpwnam("surel")
    assert status_ids(inst.proc.pid, "Uid") == [0, 0, 0, 0]
    kids = wait_for(lambda: len(children_of(inst.proc.pid)) == 3 and children_of(inst.proc.pid),
                    what="2 workers and the queue runner")
    assert sorted(kids.values()) == ["surel-queue", "surel-worker.1", "surel-worker.2"]
    for pid in kids:
        assert status_ids(pid, "Uid") == [user.pw_uid] * 4
        assert status_ids(pid, "Gid") == [user.pw_gid] * 4
        assert status_ids(pid, "Groups") == [user.pw_gid]
