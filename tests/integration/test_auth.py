"""Logins in the three front doors: SMTP AUTH, IMAP LOGIN / AUTHENTICATE,
POP3 USER/PASS / AUTH, all through the one auth service and its throttle,
over real sockets with Python's own clients and raw transcripts."""
import base64
import imaplib
import poplib
import re
import smtplib
import socket
import time

import pytest

from test_server import HOST, Client, tls_context, wait_for

ALICE, ALICE_PW = "alice@example.org", "alice-secret"
BOB, BOB_PW = "bob@example.org", "bob-secret"

# Failures answered at once, lockout after 3 (conftest's config has workers = 2).
FAST_LOCKOUT = ("[auth]\nfail_delay = 0s\nmax_delay = 0s\n"
                "lockout_failures = 3\nlockout_time = 1m\n")
NO_DELAY = "[auth]\nfail_delay = 0s\nmax_delay = 0s\nlockout_failures = 100\n"

IMAP_CAPS_PRE = "IMAP4rev1 IMAP4rev2 LITERAL+ ID ENABLE"
IMAP_CAPS_TLS = IMAP_CAPS_PRE + " AUTH=PLAIN AUTH=LOGIN SASL-IR"
IMAP_CAPS_AUTHENTICATED = (
    "IMAP4rev1 IMAP4rev2 LITERAL+ ID ENABLE IDLE NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN "
    "SPECIAL-USE CREATE-SPECIAL-USE LIST-EXTENDED LIST-STATUS ESEARCH SEARCHRES WITHIN "
    "CONDSTORE QRESYNC BINARY STATUS=SIZE QUOTA QUOTA=RES-STORAGE UTF8=ACCEPT SORT "
    "THREAD=ORDEREDSUBJECT THREAD=REFERENCES OBJECTID COMPRESS=DEFLATE APPENDLIMIT=52428800")


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def plain(user, password):
    return b64(f"\0{user}\0{password}")


class Conn(Client):
    """A raw client that may pick its source address on the loopback (each
    127.0.0.0/8 address is its own IP for the throttle)."""

    def __init__(self, port, tls=False, source=None, timeout=10):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        if source is not None:
            sock.bind((source, 0))
        sock.connect((HOST, port))
        if tls:
            sock = tls_context().wrap_socket(sock)
        self.sock = sock
        self.buf = b""


@pytest.fixture
def auth_server(instance):
    """auth_server(extra_conf): the `server` fixture's users, with extra
    configuration; stopped and checked after the test."""
    def start(extra=""):
        instance.write_conf(extra)
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


def no_password_in_log(inst, *passwords):
    text = inst.log_text()
    for pw in passwords:
        assert pw not in text
        assert b64(pw) not in text


# ---------------------------------------------------------------- SMTP

def test_smtp_auth_plain_and_login_over_smtps(server):
    with smtplib.SMTP_SSL(HOST, server.port("smtps"), timeout=10, context=tls_context()) as s:
        s.ehlo("client.example")
        assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
        assert s.login(ALICE, ALICE_PW) == (235, b"2.7.0 Authentication successful")
        assert s.docmd("AUTH PLAIN " + plain(ALICE, ALICE_PW)) == \
            (503, b"5.5.1 Already authenticated")
        assert s.noop()[0] == 250
    with smtplib.SMTP_SSL(HOST, server.port("smtps"), timeout=10, context=tls_context()) as s:
        s.ehlo("client.example")
        s.user, s.password = BOB, BOB_PW
        # LOGIN without an initial response: Username:, then Password:
        assert s.auth("LOGIN", s.auth_login, initial_response_ok=False) == \
            (235, b"2.7.0 Authentication successful")
    with smtplib.SMTP_SSL(HOST, server.port("smtps"), timeout=10, context=tls_context()) as s:
        s.ehlo("client.example")
        s.user, s.password = BOB, BOB_PW
        # LOGIN with the user name as initial response
        assert s.auth("LOGIN", s.auth_login)[0] == 235
    c = Conn(server.port("smtps"), tls=True)
    c.line()
    c.send(b"EHLO x\r\n")
    c.lines_until("250 ")
    assert c.cmd("AUTH PLAIN") == "334 "
    assert c.cmd(plain(ALICE, ALICE_PW)) == "235 2.7.0 Authentication successful"
    log = server.log_text()
    assert re.search(r"smtp session=\w+ event=login user=alice@example\.org method=sasl:PLAIN", log)
    assert re.search(r"smtp session=\w+ event=login user=bob@example\.org method=sasl:LOGIN", log)
    assert len(re.findall(r"auth session=\w+ event=ok protocol=smtp", log)) == 4
    no_password_in_log(server, ALICE_PW, BOB_PW)


def test_smtp_submission_needs_starttls(server):
    with smtplib.SMTP(HOST, server.port("submission"), timeout=10) as s:
        s.ehlo("client.example")
        assert "auth" not in s.esmtp_features
        assert s.docmd("AUTH PLAIN " + plain(ALICE, ALICE_PW)) == \
            (530, b"5.7.0 Must issue a STARTTLS command first")
        assert s.docmd("AUTH LOGIN") == (530, b"5.7.0 Must issue a STARTTLS command first")
        s.starttls(context=tls_context())
        s.ehlo("client.example")
        assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
        assert s.login(ALICE, ALICE_PW)[0] == 235
    with smtplib.SMTP(HOST, server.port("submission"), timeout=10) as s:
        s.starttls(context=tls_context())
        s.ehlo("client.example")
        s.user, s.password = BOB, BOB_PW
        assert s.auth("LOGIN", s.auth_login, initial_response_ok=False)[0] == 235
    assert "event=fail" not in server.log_text()


def test_smtp_auth_never_on_port_25(server):
    with smtplib.SMTP(HOST, server.port("smtp"), timeout=10) as s:
        s.ehlo("client.example")
        assert "auth" not in s.esmtp_features
        assert s.docmd("AUTH PLAIN " + plain(ALICE, ALICE_PW)) == \
            (503, b"5.5.1 AUTH not available on this port")
        s.starttls(context=tls_context())
        s.ehlo("client.example")
        assert "auth" not in s.esmtp_features
        assert s.docmd("AUTH PLAIN " + plain(ALICE, ALICE_PW)) == \
            (503, b"5.5.1 AUTH not available on this port")
        with pytest.raises(smtplib.SMTPNotSupportedError):
            s.login(ALICE, ALICE_PW)
    assert "event=ok protocol=smtp" not in server.log_text()


def test_smtp_auth_errors(auth_server):
    inst = auth_server(NO_DELAY)
    with smtplib.SMTP_SSL(HOST, inst.port("smtps"), timeout=10, context=tls_context()) as s:
        assert s.docmd("AUTH PLAIN " + plain(ALICE, ALICE_PW)) == (503, b"5.5.1 Send EHLO first")
        s.ehlo("client.example")
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login(ALICE, "wrong")
        assert (e.value.smtp_code, e.value.smtp_error) == \
            (535, b"5.7.8 Authentication credentials invalid")
        with pytest.raises(smtplib.SMTPAuthenticationError):
            s.login("nobody@example.org", "whatever")
        assert s.docmd("AUTH") == (501, b"5.5.4 Syntax: AUTH mechanism [initial-response]")
        assert s.docmd("AUTH PLAIN a b") == (501, b"5.5.4 Syntax: AUTH mechanism [initial-response]")
        assert s.docmd("AUTH CRAM-MD5") == (504, b"5.5.4 Unrecognized authentication type")
        # cancel, at the first and at a later step
        assert s.docmd("AUTH PLAIN") == (334, b"")
        assert s.docmd("*") == (501, b"5.0.0 Authentication cancelled")
        assert s.docmd("AUTH LOGIN") == (334, b64("Username:").encode())
        assert s.docmd(b64(ALICE)) == (334, b64("Password:").encode())
        assert s.docmd("*") == (501, b"5.0.0 Authentication cancelled")
        assert s.docmd("AUTH PLAIN *") == (501, b"5.0.0 Authentication cancelled")
        # malformed base64, as initial response and as a later response
        code, msg = s.docmd("AUTH PLAIN not-base64!")
        assert (code, msg) == (501, b"5.5.2 Invalid authentication response: invalid base64")
        assert s.docmd("AUTH PLAIN") == (334, b"")
        assert s.docmd("AGFsaWNl IHB3") == (501, b"5.5.2 Invalid authentication response: invalid base64")
        # "=" is an empty initial response: not a PLAIN message
        assert s.docmd("AUTH PLAIN =")[0] == 501
        # the session goes on, and a correct login still works
        assert s.noop()[0] == 250
        assert s.login(ALICE, ALICE_PW)[0] == 235
    # HELO (no ESMTP) then AUTH; NUL byte inside an exchange
    c = Conn(inst.port("smtps"), tls=True)
    c.line()
    assert c.cmd("HELO x").startswith("250 ")
    assert c.cmd("AUTH PLAIN") == "503 5.5.1 Send EHLO first"
    c.send(b"EHLO x\r\n")
    c.lines_until("250 ")
    assert c.cmd("AUTH PLAIN") == "334 "
    c.send(b"AGFsaWNl\0AHB3\r\n")
    assert c.line() == "501 5.5.2 Invalid authentication response: NUL byte"
    assert c.cmd("NOOP") == "250 2.0.0 OK"
    # a response line over the limit ends the exchange
    assert c.cmd("AUTH LOGIN") == "334 " + b64("Username:")
    c.send(b"A" * 70_000 + b"\r\n")
    assert c.line() == "500 5.5.6 Authentication Exchange line is too long"
    assert c.cmd("NOOP") == "250 2.0.0 OK"
    log = inst.log_text()
    assert "reason=bad-password" in log and "reason=no-such-user" in log
    assert "event=auth_malformed mech=PLAIN error=\"invalid base64\"" in log


def test_smtp_commands_pipelined_behind_auth_wait_for_it(server):
    """The password check runs on the pool: a pipelined command must not be
    answered before AUTH is."""
    c = Conn(server.port("smtps"), tls=True)
    c.line()
    c.send(b"EHLO x\r\n")
    c.lines_until("250 ")
    c.send(f"AUTH PLAIN {plain(ALICE, ALICE_PW)}\r\nNOOP\r\nAUTH PLAIN {plain(ALICE, 'x')}\r\n"
           "QUIT\r\n".encode())
    assert c.line() == "235 2.7.0 Authentication successful"
    assert c.line() == "250 2.0.0 OK"
    assert c.line() == "503 5.5.1 Already authenticated"
    assert c.line().startswith("221 ")


# ---------------------------------------------------------------- IMAP

def test_imap_login_over_imaps(server):
    m = imaplib.IMAP4_SSL(HOST, server.port("imaps"), ssl_context=tls_context(), timeout=10)
    assert m.capabilities == tuple(IMAP_CAPS_TLS.upper().split())
    typ, data = m.login(ALICE, ALICE_PW)
    assert (typ, data) == ("OK", [f"[CAPABILITY {IMAP_CAPS_AUTHENTICATED}] LOGIN completed".encode()])
    # (imaplib keeps the response code of the OK among the untagged responses)
    assert m.capability()[1][-1] == IMAP_CAPS_AUTHENTICATED.encode()
    assert m.select("INBOX") == ("OK", [b"0"])
    assert m.noop()[0] == "OK"
    assert m.logout()[0] == "BYE"

    c = Conn(server.port("imaps"), tls=True)
    c.line()
    assert c.cmd("a SELECT INBOX") == "a BAD Command not valid before login"
    # quoted strings and atoms (RFC 9051 astring)
    assert c.cmd(f'b LOGIN "{BOB}" {BOB_PW}') == \
        f"b OK [CAPABILITY {IMAP_CAPS_AUTHENTICATED}] LOGIN completed"
    assert c.cmd(f"c LOGIN {BOB} {BOB_PW}") == "c BAD Already authenticated"
    assert c.cmd("d AUTHENTICATE PLAIN") == "d BAD Already authenticated"
    assert c.cmd("e STARTTLS") == "e BAD Command not valid after login"
    assert c.cmd("f NAMESPACE") == '* NAMESPACE (("" "/")) NIL NIL'
    log = server.log_text()
    assert re.search(r"imap session=\w+ event=login user=alice@example\.org method=LOGIN", log)
    assert re.search(r"imap session=\w+ event=login user=bob@example\.org method=LOGIN", log)
    no_password_in_log(server, ALICE_PW, BOB_PW)


def test_imap_quoted_password_with_specials(server):
    pw = 'p a"s\\s w\u00f6rd'
    server.cli("user", "add", "--password-stdin", "carol@example.org", input=pw + "\n")
    m = imaplib.IMAP4_SSL(HOST, server.port("imaps"), ssl_context=tls_context(), timeout=10)
    # imaplib sends the password as a quoted string with \" and \\ escapes;
    # the UTF-8 is sent raw (RFC 9051 allows it in quoted strings)
    m._encoding = "utf-8"
    assert m.login("carol@example.org", pw)[0] == "OK"
    m.logout()


def test_imap_authenticate(server):
    m = imaplib.IMAP4_SSL(HOST, server.port("imaps"), ssl_context=tls_context(), timeout=10)
    typ, data = m.authenticate("PLAIN", lambda challenge: f"\0{ALICE}\0{ALICE_PW}".encode())
    assert (typ, data) == \
        ("OK", [f"[CAPABILITY {IMAP_CAPS_AUTHENTICATED}] AUTHENTICATE completed".encode()])
    m.logout()

    answers = {b"Username:": BOB.encode(), b"Password:": BOB_PW.encode()}
    m = imaplib.IMAP4_SSL(HOST, server.port("imaps"), ssl_context=tls_context(), timeout=10)
    assert m.authenticate("LOGIN", lambda challenge: answers[challenge])[0] == "OK"
    m.logout()

    # SASL-IR (RFC 4959): the response on the command line
    c = Conn(server.port("imaps"), tls=True)
    c.line()
    assert c.cmd(f"a AUTHENTICATE PLAIN {plain(ALICE, ALICE_PW)}") == \
        f"a OK [CAPABILITY {IMAP_CAPS_AUTHENTICATED}] AUTHENTICATE completed"
    c = Conn(server.port("imaps"), tls=True)
    c.line()
    assert c.cmd(f"a AUTHENTICATE login {b64(BOB)}") == "+ " + b64("Password:")
    assert c.cmd(b64(BOB_PW)) == \
        f"a OK [CAPABILITY {IMAP_CAPS_AUTHENTICATED}] AUTHENTICATE completed"
    log = server.log_text()
    assert re.search(r"event=login user=alice@example\.org method=sasl:PLAIN", log)
    assert re.search(r"event=login user=bob@example\.org method=sasl:LOGIN", log)


def test_imap_starttls_and_logindisabled(server):
    m = imaplib.IMAP4(HOST, server.port("imap"), timeout=10)
    assert m.capabilities == tuple((IMAP_CAPS_PRE + " STARTTLS LOGINDISABLED").upper().split())
    with pytest.raises(imaplib.IMAP4.error, match=r"\[PRIVACYREQUIRED\]"):
        m.login(ALICE, ALICE_PW)
    with pytest.raises(imaplib.IMAP4.error, match=r"\[PRIVACYREQUIRED\]"):
        m.authenticate("PLAIN", lambda c: f"\0{ALICE}\0{ALICE_PW}".encode())
    m.starttls(ssl_context=tls_context())
    assert m.capabilities == tuple(IMAP_CAPS_TLS.upper().split())
    assert m.login(ALICE, ALICE_PW)[0] == "OK"
    m.logout()

    c = Conn(server.port("imap"))
    assert c.line() == f"* OK [CAPABILITY {IMAP_CAPS_PRE} STARTTLS LOGINDISABLED] Surel ready"
    assert c.cmd(f"a LOGIN {ALICE} {ALICE_PW}") == \
        "a NO [PRIVACYREQUIRED] LOGIN is disabled before STARTTLS"
    assert c.cmd(f"b AUTHENTICATE PLAIN {plain(ALICE, ALICE_PW)}") == \
        "b NO [PRIVACYREQUIRED] AUTHENTICATE is disabled before STARTTLS"
    assert c.cmd("c STARTTLS") == "c OK Begin TLS negotiation now"
    c.starttls()
    assert c.cmd("d CAPABILITY") == f"* CAPABILITY {IMAP_CAPS_TLS}"
    assert c.line() == "d OK CAPABILITY completed"
    assert c.cmd(f"e AUTHENTICATE PLAIN {plain(ALICE, ALICE_PW)}").startswith("e OK ")
    assert "event=ok protocol=imap" in server.log_text()


def test_imap_auth_errors(auth_server):
    inst = auth_server(NO_DELAY)
    c = Conn(inst.port("imaps"), tls=True)
    c.line()
    assert c.cmd(f"a LOGIN {ALICE} wrong") == "a NO [AUTHENTICATIONFAILED] Authentication failed"
    assert c.cmd("b LOGIN nobody@example.org x") == \
        "b NO [AUTHENTICATIONFAILED] Authentication failed"
    assert c.cmd(f"c AUTHENTICATE PLAIN {plain(ALICE, 'wrong')}") == \
        "c NO [AUTHENTICATIONFAILED] Authentication failed"
    # cancel (RFC 9051: tagged BAD), at the first and at a later step
    assert c.cmd("d AUTHENTICATE PLAIN") == "+ "
    assert c.cmd("*") == "d BAD Authentication cancelled"
    assert c.cmd("e AUTHENTICATE LOGIN") == "+ " + b64("Username:")
    assert c.cmd("*") == "e BAD Authentication cancelled"
    # malformed responses (RFC 9051: tagged BAD)
    assert c.cmd("f AUTHENTICATE PLAIN %%%%") == \
        "f BAD Invalid authentication response: invalid base64"
    assert c.cmd("g AUTHENTICATE PLAIN") == "+ "
    assert c.cmd("YWxp Y2U=") == "g BAD Invalid authentication response: invalid base64"
    assert c.cmd("h AUTHENTICATE PLAIN") == "+ "
    c.send(b"AGFsaWNl\0AHB3\r\n")
    assert c.line() == "h BAD Invalid authentication response: NUL byte"
    assert c.cmd("i AUTHENTICATE PLAIN =") == \
        "i BAD Invalid authentication response: PLAIN message needs authzid NUL authcid NUL password"
    assert c.cmd("j AUTHENTICATE CRAM-MD5") == "j NO Unsupported authentication mechanism"
    assert c.cmd("k AUTHENTICATE") == "k BAD Syntax: AUTHENTICATE mechanism [initial-response]"
    # LOGIN with literals (synchronising, then LITERAL+)
    assert c.cmd(f"l LOGIN {{{len(ALICE)}}}") == "+ Ready for literal data"
    assert c.cmd(f"{ALICE} {{5+}}\r\nwrong") == "l NO [AUTHENTICATIONFAILED] Authentication failed"
    assert c.cmd(f"n LOGIN {ALICE}") == "n BAD Syntax: LOGIN userid password"
    assert c.cmd(f"n2 LOGIN {ALICE} ") == "n2 BAD Unexpected space at the end of the line"
    assert c.cmd("o LOGIN") == "o BAD Syntax: LOGIN userid password"
    assert c.cmd(f'p LOGIN "{ALICE} x') == "p BAD Unterminated quoted string"
    assert c.cmd(f"q LOGIN {ALICE} {ALICE_PW} extra") == "q BAD Syntax: LOGIN userid password"
    assert c.cmd(f'r LOGIN "{ALICE}"x y') == "r BAD Missing space after argument"
    # a response over the line limit ends the exchange with a tagged BAD
    assert c.cmd("s AUTHENTICATE PLAIN") == "+ "
    c.send(b"A" * 70_000 + b"\r\n")
    assert c.line() == "s BAD [TOOBIG] Authentication response too long"
    # still usable
    assert c.cmd(f'z LOGIN "{ALICE}" "{ALICE_PW}"').startswith("z OK [CAPABILITY")


def test_imap_commands_pipelined_behind_login_wait_for_it(server):
    c = Conn(server.port("imaps"), tls=True)
    c.line()
    c.send(f"a LOGIN {ALICE} {ALICE_PW}\r\nb CAPABILITY\r\nc LOGOUT\r\n".encode())
    assert c.line().startswith(f"a OK [CAPABILITY {IMAP_CAPS_AUTHENTICATED}] ")
    assert c.line() == f"* CAPABILITY {IMAP_CAPS_AUTHENTICATED}"   # already logged in
    assert c.line() == "b OK CAPABILITY completed"
    assert c.line() == "* BYE Surel logging out"


# ---------------------------------------------------------------- POP3

def pop3_auth(p, mech, *responses):
    """AUTH over poplib's command helper; returns the last reply."""
    resp = p._shortcmd(f"AUTH {mech}")
    for r in responses:
        resp = p._shortcmd(r)
    return resp


def test_pop3_user_pass_and_auth_over_pop3s(server):
    p = poplib.POP3_SSL(HOST, server.port("pop3s"), context=tls_context(), timeout=10)
    caps = p.capa()
    assert caps["USER"] == [] and caps["SASL"] == ["PLAIN", "LOGIN"]
    assert p.user(ALICE) == b"+OK Send PASS"
    assert p.pass_(ALICE_PW) == b"+OK Logged in"
    assert "USER" not in p.capa() and "SASL" not in p.capa()
    assert p.noop() == b"+OK"
    assert p.stat() == (0, 0)   # the maildrop commands: tests/integration/test_pop3.py
    with pytest.raises(poplib.error_proto, match="Already logged in"):
        p.user(ALICE)
    assert p.quit() == b"+OK Surel signing off"

    p = poplib.POP3_SSL(HOST, server.port("pop3s"), context=tls_context(), timeout=10)
    # RFC 5034 with an initial response
    assert pop3_auth(p, "PLAIN " + plain(BOB, BOB_PW)) == b"+OK Logged in"
    p.quit()
    p = poplib.POP3_SSL(HOST, server.port("pop3s"), context=tls_context(), timeout=10)
    assert p._shortcmd("AUTH PLAIN") == b"+ "
    assert p._shortcmd(plain(ALICE, ALICE_PW)) == b"+OK Logged in"
    p.quit()
    p = poplib.POP3_SSL(HOST, server.port("pop3s"), context=tls_context(), timeout=10)
    assert p._shortcmd("AUTH LOGIN") == b"+ " + b64("Username:").encode()
    assert p._shortcmd(b64(BOB)) == b"+ " + b64("Password:").encode()
    assert p._shortcmd(b64(BOB_PW)) == b"+OK Logged in"
    p.quit()

    c = Conn(server.port("pop3s"), tls=True)
    c.line()
    assert c.cmd("AUTH") == "+OK Supported mechanisms follow"
    assert c.lines_until(".") == ["PLAIN", "LOGIN", "."]
    # PASS may hold spaces: the rest of the line
    server.cli("user", "passwd", "--password-stdin", BOB, input="with some spaces\n")
    assert c.cmd("USER " + BOB) == "+OK Send PASS"
    assert c.cmd("PASS with some spaces") == "+OK Logged in"
    log = server.log_text()
    for method in ("USER", "sasl:PLAIN", "sasl:LOGIN"):
        assert re.search(rf"pop3 session=\w+ event=login user=\w+@example\.org method={method}", log)
    no_password_in_log(server, ALICE_PW, BOB_PW)


def test_pop3_stls_required(server):
    p = poplib.POP3(HOST, server.port("pop3"), timeout=10)
    assert "STLS" in p.capa() and "USER" not in p.capa()
    refusal = "-ERR [SYS/PERM] Authentication requires TLS: use STLS first"
    for cmd in (lambda: p.user(ALICE), lambda: p.pass_(ALICE_PW),
                lambda: p._shortcmd("AUTH PLAIN " + plain(ALICE, ALICE_PW)),
                lambda: p._shortcmd("AUTH")):
        with pytest.raises(poplib.error_proto) as e:
            cmd()
        assert e.value.args[0].decode() == refusal
    p.stls(context=tls_context())
    assert "USER" in p.capa() and p.capa()["SASL"] == ["PLAIN", "LOGIN"]
    assert p.user(ALICE) == b"+OK Send PASS"
    assert p.pass_(ALICE_PW) == b"+OK Logged in"
    with pytest.raises(poplib.error_proto, match="Already logged in"):
        p._shortcmd("STLS")
    p.quit()


def test_pop3_auth_errors(auth_server):
    inst = auth_server(NO_DELAY)
    c = Conn(inst.port("pop3s"), tls=True)
    c.line()
    assert c.cmd("PASS " + ALICE_PW) == "-ERR Send USER first"
    assert c.cmd("USER " + ALICE) == "+OK Send PASS"
    assert c.cmd("PASS wrong") == "-ERR [AUTH] Authentication failed"
    # USER is forgotten after a failed PASS (RFC 1939)
    assert c.cmd("PASS " + ALICE_PW) == "-ERR Send USER first"
    assert c.cmd("USER nobody@example.org") == "+OK Send PASS"
    assert c.cmd("PASS x") == "-ERR [AUTH] Authentication failed"
    assert c.cmd("AUTH PLAIN " + plain(ALICE, "wrong")) == "-ERR [AUTH] Authentication failed"
    assert c.cmd("AUTH PLAIN") == "+ "
    assert c.cmd("*") == "-ERR Authentication cancelled"
    assert c.cmd("AUTH LOGIN " + b64(ALICE)) == "+ " + b64("Password:")
    assert c.cmd("*") == "-ERR Authentication cancelled"
    assert c.cmd("AUTH PLAIN ####") == "-ERR Invalid authentication response: invalid base64"
    assert c.cmd("AUTH PLAIN") == "+ "
    c.send(b"AGFsaWNl\0AHB3\r\n")
    assert c.line() == "-ERR Invalid authentication response: NUL byte"
    assert c.cmd("AUTH CRAM-MD5") == "-ERR Unsupported authentication mechanism"
    assert c.cmd("AUTH PLAIN a b") == "-ERR Syntax: AUTH mechanism [initial-response]"
    assert c.cmd("USER") == "-ERR Syntax: USER name"
    assert c.cmd("STAT") == "-ERR Command not valid before login"
    assert c.cmd("AUTH PLAIN") == "+ "
    c.send(b"A" * 70_000 + b"\r\n")
    assert c.line() == "-ERR Authentication response too long"
    assert c.cmd("AUTH PLAIN " + plain(ALICE, ALICE_PW)) == "+OK Logged in"


# ---------------------------------------------------------------- throttle

def locked_workers(inst, ip):
    """Worker names that logged a refusal for being locked, from ip."""
    return set(re.findall(rf" (worker\.\d) auth session=\w+ event=fail protocol=\w+ "
                          rf"user=\S+ ip={re.escape(ip)} reason=locked", inst.log_text()))


def imap_login(port, user, password, source):
    c = Conn(port, tls=True, source=source)
    c.line()
    reply = c.cmd(f'a LOGIN "{user}" "{password}"')
    c.close()
    return reply


def test_lockout_holds_in_every_worker_and_protocol(auth_server):
    inst = auth_server(FAST_LOCKOUT)
    attacker, other = "127.0.0.2", "127.0.0.3"
    imaps = inst.port("imaps")
    for _ in range(3):
        assert imap_login(imaps, ALICE, "guess", attacker) == \
            "a NO [AUTHENTICATIONFAILED] Authentication failed"
    locked_imap = "a NO [UNAVAILABLE] Too many failed attempts, try later"
    # The account is locked from anywhere, whichever worker takes the session:
    # connect until both workers have refused it (each session is one accept).
    for n in range(60):
        assert imap_login(imaps, ALICE, ALICE_PW, other) == locked_imap
        if n >= 5 and len(locked_workers(inst, other)) == 2:
            break
    assert locked_workers(inst, other) == {"worker.1", "worker.2"}
    # ... and in the other protocols
    c = Conn(inst.port("pop3s"), tls=True, source=other)
    c.line()
    assert c.cmd("USER " + ALICE) == "+OK Send PASS"
    assert c.cmd("PASS " + ALICE_PW) == "-ERR [SYS/TEMP] Too many failed attempts, try later"
    assert c.cmd("AUTH PLAIN " + plain(ALICE, ALICE_PW)) == \
        "-ERR [SYS/TEMP] Too many failed attempts, try later"
    c = Conn(inst.port("smtps"), tls=True, source=other)
    c.line()
    c.send(b"EHLO x\r\n")
    c.lines_until("250 ")
    assert c.cmd("AUTH PLAIN " + plain(ALICE, ALICE_PW)) == \
        "454 4.7.0 Too many failed attempts, try later"
    # another account from that other address is not locked
    assert imap_login(imaps, BOB, BOB_PW, other).startswith("a OK ")
    # the attacker's address is locked too, for every account
    assert imap_login(imaps, BOB, BOB_PW, attacker) == locked_imap
    log = inst.log_text()
    assert "reason=locked" in log
    assert not re.search(rf"event=ok protocol=\w+ user={re.escape(ALICE)}", log)


def test_lock_via_imap_refused_via_pop3(auth_server):
    inst = auth_server(FAST_LOCKOUT)
    c = Conn(inst.port("imaps"), tls=True)
    c.line()
    for tag in "abc":
        assert c.cmd(f"{tag} LOGIN {BOB} nope") == \
            f"{tag} NO [AUTHENTICATIONFAILED] Authentication failed"
    p = poplib.POP3_SSL(HOST, inst.port("pop3s"), context=tls_context(), timeout=10)
    p.user(BOB)
    with pytest.raises(poplib.error_proto) as e:
        p.pass_(BOB_PW)
    assert e.value.args[0] == b"-ERR [SYS/TEMP] Too many failed attempts, try later"
    # the IMAP session that failed is refused too, with the right password
    assert c.cmd(f"d LOGIN {BOB} {BOB_PW}") == \
        "d NO [UNAVAILABLE] Too many failed attempts, try later"


def test_failure_delay_grows_and_the_worker_goes_on(auth_server):
    inst = auth_server("[auth]\nfail_delay = 1s\nmax_delay = 2s\nlockout_failures = 10\n")
    c = Conn(inst.port("imaps"), tls=True)
    c.line()
    start = time.monotonic()
    assert c.cmd(f"a LOGIN {ALICE} wrong1").startswith("a NO [AUTHENTICATIONFAILED]")
    first = time.monotonic() - start
    start = time.monotonic()
    c.send(f"b LOGIN {ALICE} wrong2\r\n".encode())
    # meanwhile every worker serves other sessions at once
    for _ in range(4):
        other = Conn(inst.port("imap"))
        other.line()
        t = time.monotonic()
        assert other.cmd("x NOOP") == "x OK NOOP completed"
        assert time.monotonic() - t < 0.5
        other.close()
    assert c.line().startswith("b NO [AUTHENTICATIONFAILED]")
    second = time.monotonic() - start
    assert 1.0 <= first < 2.0
    assert second >= 2.0
    log = inst.log_text()
    assert "failures=1 delay=1s" in log and "failures=2 delay=2s" in log


def test_client_leaving_during_a_check(auth_server):
    """A session that goes away while its password is checked (or its failure
    delayed) cancels the check; the failure still counts."""
    inst = auth_server("[auth]\nfail_delay = 2s\nmax_delay = 2s\nlockout_failures = 2\n"
                       "lockout_time = 1m\n")
    c = Conn(inst.port("smtps"), tls=True)
    c.line()
    c.send(b"EHLO x\r\n")
    c.lines_until("250 ")
    c.send(f"AUTH PLAIN {plain(ALICE, 'wrong')}\r\n".encode())
    c.close()
    c = Conn(inst.port("pop3s"), tls=True)
    c.line()
    c.send(f"AUTH PLAIN {plain(ALICE, 'wrong')}\r\n".encode())
    time.sleep(0.3)
    c.close()
    wait_for(lambda: inst.log_text().count("reason=bad-password") == 2, what="two failures")
    # the two failures counted although nobody got the answer
    assert imap_login(inst.port("imaps"), ALICE, ALICE_PW, None) == \
        "a NO [UNAVAILABLE] Too many failed attempts, try later"


def test_sigterm_while_a_check_is_pending(auth_server):
    inst = auth_server("[auth]\nfail_delay = 5s\n")
    c = Conn(inst.port("imaps"), tls=True)
    c.line()
    c.send(f"a LOGIN {ALICE} wrong\r\n".encode())
    wait_for(lambda: "reason=bad-password" in inst.log_text(), what="the failure")
    start = time.monotonic()
    assert inst.stop() == 0          # the answer would have come after 5 s
    assert time.monotonic() - start < 4
    assert not inst.sanitizer_errors(), inst.log_text()
    assert c.line() == "* BYE [UNAVAILABLE] Server shutting down"


# ---------------------------------------------------------------- accounts

def test_disabled_account_cannot_log_in(server):
    server.cli("user", "disable", ALICE)
    m = imaplib.IMAP4_SSL(HOST, server.port("imaps"), ssl_context=tls_context(), timeout=10)
    with pytest.raises(imaplib.IMAP4.error, match=r"\[AUTHENTICATIONFAILED\]"):
        m.login(ALICE, ALICE_PW)
    m.logout()
    with smtplib.SMTP_SSL(HOST, server.port("smtps"), timeout=10, context=tls_context()) as s:
        s.ehlo("x")
        assert s.docmd("AUTH PLAIN " + plain(ALICE, ALICE_PW)) == \
            (535, b"5.7.8 Authentication credentials invalid")
    assert "user=alice@example.org ip=127.0.0.1 reason=disabled" in server.log_text()
    server.cli("user", "enable", ALICE)
    p = poplib.POP3_SSL(HOST, server.port("pop3s"), context=tls_context(), timeout=10)
    p.user(ALICE)
    assert p.pass_(ALICE_PW) == b"+OK Logged in"
    p.quit()


def test_changed_password_works_at_once(server):
    server.cli("user", "passwd", "--password-stdin", ALICE, input="brand-new-secret\n")
    p = poplib.POP3_SSL(HOST, server.port("pop3s"), context=tls_context(), timeout=10)
    p.user(ALICE)
    assert p.pass_("brand-new-secret") == b"+OK Logged in"
    p.quit()
    m = imaplib.IMAP4_SSL(HOST, server.port("imaps"), ssl_context=tls_context(), timeout=10)
    with pytest.raises(imaplib.IMAP4.error, match=r"\[AUTHENTICATIONFAILED\]"):
        m.login(ALICE, ALICE_PW)
    assert m.login(ALICE, "brand-new-secret")[0] == "OK"
    m.logout()


def test_plaintext_logins_from_loopback_when_configured(auth_server):
    """auth.plaintext_loopback: IMAP and POP3 logins without TLS from a
    loopback client (a webmail on the same machine); LOGINDISABLED goes."""
    inst = auth_server("[auth]\nplaintext_loopback = yes\n")
    c = Conn(inst.port("imap"))
    greeting = c.line()
    assert "LOGINDISABLED" not in greeting and "AUTH=PLAIN" in greeting
    assert c.cmd(f"a LOGIN {ALICE} {ALICE_PW}").startswith("a OK [CAPABILITY ")
    c.close()
    p = Conn(inst.port("pop3"))
    p.line()
    assert p.cmd(f"USER {ALICE}") == "+OK Send PASS"
    assert p.cmd(f"PASS {ALICE_PW}") == "+OK Logged in"
    p.close()
