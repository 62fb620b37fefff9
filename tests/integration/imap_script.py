"""IMAP transcripts: run one script of client lines against a server, collect
every command's responses up to its tagged reply, and normalise them so that
two implementations (Surel, Dovecot) can be compared line by line.

A script is a list of client lines, each "TAG COMMAND ...". A line that ends
in a literal announcement "{N}" (synchronising) or "{N+}" (LITERAL+) is
followed in the list by one item whose first N octets are the literal and
whose rest continues the same command line (and may end in "{M}" again):

    ["a1 APPEND INBOX (\\Seen) {5}", b"hello", "a2 NOOP"]
    ["a1 LOGIN {5}", b"alice {6}", b"secret"]

For "{N}" the runner waits for the server's "+" continuation before sending
the literal; a tagged reply instead ends the command (the rest is not sent).
append() builds such items. Run with run_script(ImapClient(...), script).

The transcript is a list of (command, [response, ...]) where a response is
one server response as bytes, its literals inline ("... {3}\\r\\nabc ...")
and without the final CRLF; a "+" continuation counts as a response.
normalise() turns a transcript into comparable text lines.
"""
import datetime
import re
import socket
import ssl

HOST = "127.0.0.1"
LITERAL_AT_END = re.compile(rb"\{(\d+)(\+?)\}$")


def tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class ImapClient:
    """A raw IMAP connection: implicit TLS (tls=True), plain (tls=False,
    then starttls() if wanted). source picks the local address: from
    127.0.0.2 to 127.0.0.1 a server cannot take the connection for a local,
    "secured" one (Dovecot does when the two addresses are equal)."""

    def __init__(self, port, tls=True, timeout=10, source=None, host=HOST):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        if source is not None:
            sock.bind((source, 0))
        sock.connect((host, port))
        self.sock = tls_context().wrap_socket(sock) if tls else sock
        self.buf = b""
        self.greeting = self.read_response()

    def starttls(self, tag="s0"):
        self.send(f"{tag} STARTTLS\r\n".encode())
        lines = self.read_until_tagged(tag)
        assert lines[-1].startswith(f"{tag} OK".encode()), lines
        self.sock = tls_context().wrap_socket(self.sock)
        return lines

    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("server closed the connection; had: %r" % self.buf[:200])
        self.buf += data

    def read_line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n")
        line, self.buf = self.buf[:i], self.buf[i + 2:]
        return line

    def read_response(self) -> bytes:
        """One server response, the literals in it included; no final CRLF."""
        out = self.read_line()
        while True:
            m = LITERAL_AT_END.search(out)
            if not m:
                return out
            n = int(m.group(1))
            while len(self.buf) < n:
                self._fill()
            out += b"\r\n" + self.buf[:n]
            self.buf = self.buf[n:]
            out += self.read_line()

    def read_until_tagged(self, tag: str):
        lines, t = [], tag.encode() + b" "
        while True:
            line = self.read_response()
            lines.append(line)
            if line.startswith(t):
                return lines

    def login(self, user, password, tag="l0"):
        self.send(f'{tag} LOGIN "{user}" "{password}"\r\n'.encode())
        lines = self.read_until_tagged(tag)
        assert lines[-1].startswith(f"{tag} OK".encode()), lines
        return lines

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def append(tag, mailbox, message: bytes, flags=None, date=None, plus=False):
    """Script items for "TAG APPEND mailbox [(flags)] ["date"] {N}" + message."""
    parts = [f"{tag} APPEND {mailbox}"]
    if flags is not None:
        parts.append(f"({flags})")
    if date is not None:
        parts.append(f'"{date}"')
    parts.append("{%d%s}" % (len(message), "+" if plus else ""))
    return [" ".join(parts), message]


def _b(x):
    return x if isinstance(x, bytes) else x.encode()


CLOSED = b"<connection closed>"


def _shown(line, items, i):
    """The command as the transcript shows it: literals as <N octets>
    (whether or not the server let us send them)."""
    shown = line
    while True:
        m = LITERAL_AT_END.search(line)
        if not m or i >= len(items):
            return shown
        n = int(m.group(1))
        line = items[i][n:]
        i += 1
        shown += b" <%d octets>" % n + line


def run_script(client: ImapClient, script):
    """[(command as text, [responses])] for each command of script. When the
    server closes the connection, the last command's responses end in
    CLOSED and the rest of the script is not sent."""
    out = []
    items = [_b(x) for x in script]
    i = 0
    while i < len(items):
        line = items[i]
        i += 1
        tag = line.split(b" ", 1)[0]
        shown = _shown(line, items, i)
        responses = []
        done = False
        try:
            while True:
                m = LITERAL_AT_END.search(line)
                client.send(line + b"\r\n")
                if not m:
                    break
                n, plus = int(m.group(1)), m.group(2) == b"+"
                if not plus:      # wait for "+" (or the end of the command)
                    while True:
                        r = client.read_response()
                        responses.append(r)
                        if r.startswith(b"+"):
                            break
                        if r.startswith(tag + b" "):
                            done = True
                            break
                if done:
                    # the literal and the rest of this command stay unsent
                    while i < len(items) and LITERAL_AT_END.search(line):
                        line = items[i]
                        i += 1
                    break
                data = items[i]
                i += 1
                client.send(data[:n])
                line = data[n:]
                if line == b"":     # the command ends right after the literal
                    client.send(b"\r\n")
                    break
            if not done:
                responses += client.read_until_tagged(tag.decode())
        except (EOFError, ConnectionError, ssl.SSLError):
            responses.append(CLOSED)
            out.append((shown.decode("utf-8", "backslashreplace"), responses))
            return out
        out.append((shown.decode("utf-8", "backslashreplace"), responses))
    return out


# ---- IMAP values: parsed so that equal values print the same ----

class Str(bytes):
    """An IMAP string: sent quoted or as a literal, the same value (RFC 3501
    4.3, RFC 9051 4.3); printed quoted."""


def parse_value(s: bytes, i: int):
    """One value at s[i:]: NIL, an atom (bytes), a Str, or a list."""
    while s[i:i + 1] == b" ":
        i += 1
    c = s[i:i + 1]
    if c == b"(":
        items, i = [], i + 1
        while True:
            while s[i:i + 1] == b" ":
                i += 1
            if s[i:i + 1] in (b")", b""):
                return items, i + 1
            v, i = parse_value(s, i)
            items.append(v)
    if c == b'"':
        out, i = bytearray(), i + 1
        while i < len(s) and s[i:i + 1] != b'"':
            if s[i:i + 1] == b"\\":
                i += 1
            out += s[i:i + 1]
            i += 1
        return Str(out), i + 1
    m = re.match(rb"~?\{(\d+)\+?\}\r\n", s[i:])
    if m:
        n = int(m.group(1))
        start = i + m.end()
        return Str(s[start:start + n]), start + n
    # an atom; a fetch-att name such as BODY[HEADER.FIELDS (A B)]<0> is one
    m = re.match(rb"[^ ()\[]*(\[[^\]]*\](<[0-9.]+>)?)?[^ ()]*", s[i:])
    return m.group(0), i + m.end()


def parse_all(s: bytes, i: int = 0):
    vals = []
    while i < len(s):
        if s[i:i + 1] == b" ":
            i += 1
            continue
        v, i = parse_value(s, i)
        vals.append(v)
    return vals


CONTROL = re.compile(r"[\x00-\x1f\x7f]")
ESCAPES = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}


def render(v) -> str:
    if isinstance(v, list):
        return "(" + " ".join(render(x) for x in v) + ")"
    if isinstance(v, Str):
        text = bytes(v).decode("utf-8", "backslashreplace").replace("\\", "\\\\").replace('"', '\\"')
        return '"' + CONTROL.sub(lambda m: ESCAPES.get(m.group(0), "\\x%02x" % ord(m.group(0))),
                                 text) + '"'
    return v.decode("utf-8", "backslashreplace")


def astring(v):
    """A mailbox name, sent as an atom or a string: the same name."""
    return Str(v) if isinstance(v, bytes) and not isinstance(v, Str) and v != b"NIL" else v


# ---- normalisation ----
#
# Each rule below removes a difference that the RFCs leave to the server, and
# nothing else. What the two servers legitimately do differently beyond that
# (a feature one of them has, an optional response) is not normalised here
# but listed, with its RFC section, in the test's KNOWN_DIFFERENCES.

DATE_RE = re.compile(r"^(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-]\d{4})$")
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
STATUS_WORDS = (b"OK", b"NO", b"BAD", b"PREAUTH", b"BYE")
# Commands whose untagged responses may come in any order (see normalise()).
ANY_ORDER = {"SELECT", "EXAMINE", "LIST", "LSUB", "FETCH", "STORE", "STATUS", "NAMESPACE"}


def internaldate(s: str, now: datetime.datetime):
    """INTERNALDATE as the UTC instant. The zone it is shown in is the
    server's choice (RFC 3501 2.3.3: the date and time, "the internal date";
    Dovecot keeps only the instant, in the file's mtime); the instant itself
    is compared. A date within a day of now was set by the server (APPEND
    without a date, COPY) and cannot match between two runs: it becomes
    <now>."""
    m = DATE_RE.match(s.strip())
    if not m:
        return s
    d, mon, y, hh, mm, ss, z = m.groups()
    tz = datetime.timezone(datetime.timedelta(hours=int(z[1:3]), minutes=int(z[3:5]))
                           * (-1 if z[0] == "-" else 1))
    t = datetime.datetime(int(y), MONTHS.index(mon.title()) + 1, int(d), int(hh), int(mm),
                          int(ss), tzinfo=tz)
    if abs((t - now).total_seconds()) < 86400:
        return "<now>"
    return t.astimezone(datetime.timezone.utc).strftime("%d-%b-%Y %H:%M:%S +0000")


def sort_flags(v):
    """A flag list is a set (RFC 3501 2.3.2, 7.2.6): any order."""
    return sorted(v, key=lambda f: render(f).lower()) if isinstance(v, list) else v


def norm_code(code: bytes) -> str:
    """A response code "[...]": values that differ by nature become <...>."""
    name, _, rest = code.partition(b" ")
    name = name.upper()
    if name == b"CAPABILITY":
        # capability lists belong to the implementation (RFC 3501 7.2.1)
        return "[CAPABILITY <capabilities>]"
    if name == b"UIDVALIDITY":
        # chosen by the server, unique per mailbox incarnation (RFC 3501 2.3.1.1)
        return "[UIDVALIDITY <uidvalidity>]"
    if name in (b"HIGHESTMODSEQ",):
        # mod-sequences are only ordered, their values are the server's (RFC 7162 3.1.1)
        return "[HIGHESTMODSEQ <modseq>]"
    if name in (b"APPENDUID", b"COPYUID"):
        # RFC 4315 3: the first number is the destination's UIDVALIDITY; UIDs stay
        parts = rest.split(b" ")
        return "[" + " ".join([name.decode(), "<uidvalidity>"] + [p.decode() for p in parts[1:]]) + "]"
    if name == b"PERMANENTFLAGS":
        return "[PERMANENTFLAGS " + render(sort_flags(parse_value(rest, 0)[0])) + "]"
    return "[" + code.decode("utf-8", "backslashreplace") + "]"


def norm_status(prefix: str, rest: bytes) -> str:
    """OK/NO/BAD/BYE/PREAUTH: the response code stays, the human-readable
    text after it goes (RFC 3501 7.1: resp-text is for humans; only the
    code is meant for programs)."""
    rest = rest.lstrip(b" ")
    if rest.startswith(b"["):
        end = rest.find(b"]")
        if end > 0:
            return prefix + " " + norm_code(rest[1:end])
    return prefix


def norm_fetch(num: bytes, rest: bytes, now) -> str:
    """FETCH: items in any order (RFC 3501 7.4.2 lists them without order),
    names case-insensitive (RFC 3501 9 is case-insensitive except strings),
    header field names of a section are case-insensitive (RFC 5322 1.2.2)."""
    lst = parse_value(rest, 0)[0]
    pairs = []
    for k in range(0, len(lst) - 1, 2):
        name, value = render(lst[k]).upper(), lst[k + 1]
        if name == "FLAGS":
            value = sort_flags(value)
        elif name == "INTERNALDATE" and isinstance(value, Str):
            value = Str(internaldate(value.decode(), now).encode())
        elif name == "MODSEQ":
            value = [b"<modseq>"]
        pairs.append((name, render(value)))
    pairs.sort()
    return f"* {num.decode()} FETCH (" + " ".join(f"{n} {v}" for n, v in pairs) + ")"


def norm_untagged(rest: bytes, now) -> str:
    words = rest.split(b" ", 2)
    w0 = words[0].upper()
    if w0 in STATUS_WORDS:
        return norm_status("* " + w0.decode(), rest[len(w0):])
    if w0 == b"CAPABILITY":
        return "* CAPABILITY <capabilities>"
    if len(words) >= 2 and words[0].isdigit():
        what = words[1].upper()
        if what == b"FETCH":
            return norm_fetch(words[0], words[2] if len(words) > 2 else b"()", now)
        return f"* {words[0].decode()} {what.decode()}"   # EXISTS RECENT EXPUNGE
    args = parse_all(rest[len(words[0]):])
    if w0 == b"FLAGS":
        args = [sort_flags(a) for a in args]
    elif w0 in (b"LIST", b"LSUB"):
        # attributes are a set; the name is an astring, the delimiter a quoted char
        args = [sort_flags(args[0])] + args[1:2] + [astring(a) for a in args[2:3]] + args[3:]
    elif w0 == b"STATUS":
        # STATUS items in any order (RFC 3501 7.2.4); UIDVALIDITY as above
        items = args[1] if len(args) > 1 and isinstance(args[1], list) else []
        pairs = []
        for k in range(0, len(items) - 1, 2):
            val = items[k + 1]
            if items[k].upper() == b"UIDVALIDITY":
                val = b"<uidvalidity>"
            elif items[k].upper() == b"HIGHESTMODSEQ":
                val = b"<modseq>"
            pairs.append(items[k].upper() + b" " + val)
        args = [astring(args[0]), sorted(pairs)]
    elif w0 == b"SEARCH":
        # the numbers of SEARCH are a set (RFC 3501 7.2.5)
        args = sorted(args, key=lambda a: int(a) if a.isdigit() else -1)
    return "* " + " ".join([w0.decode()] + [render(a) for a in args])


def norm_response(r: bytes, tag: bytes, now) -> str:
    if r == CLOSED:
        return r.decode()
    if r.startswith(b"+"):
        return "+"    # continuation text is for humans (RFC 3501 7.5)
    if r.startswith(b"* "):
        return norm_untagged(r[2:], now)
    t, _, rest = r.partition(b" ")
    word, _, rest = rest.partition(b" ")
    if word.upper() in STATUS_WORDS:
        return norm_status(t.decode() + " " + word.upper().decode(), rest)
    return r.decode("utf-8", "backslashreplace")


EXPUNGE_RE = re.compile(r"^\* (\d+) EXPUNGE$")


def canonical_expunges(lines):
    """A run of EXPUNGE responses in the order of the messages' original
    numbers. Each EXPUNGE renumbers the messages after it (RFC 3501 7.4.1),
    so "* 4 EXPUNGE, * 2 EXPUNGE" and "* 2 EXPUNGE, * 3 EXPUNGE" remove the
    same two messages; the RFC leaves the order to the server."""
    out, run = [], []

    def flush():
        removed = []           # original numbers, in the order received
        for seq in run:
            orig = seq
            for r in sorted(removed):
                if r <= orig:
                    orig += 1
            removed.append(orig)
        out.extend(f"* {orig - k} EXPUNGE" for k, orig in enumerate(sorted(removed)))
        run.clear()

    for line in lines:
        m = EXPUNGE_RE.match(line)
        if m:
            run.append(int(m.group(1)))
            continue
        if run:
            flush()
        out.append(line)
    if run:
        flush()
    return out


def normalise(transcript, greeting: bytes = None, now=None):
    """Text lines: "C: command" then "S: response" for each response.

    - the greeting keeps its status (OK/PREAUTH/BYE) only: its text and
      capabilities are the server's (RFC 3501 7.1.1);
    - status responses keep their response code, not their text; response
      codes with server-chosen values (UIDVALIDITY, HIGHESTMODSEQ, the
      UIDVALIDITY of APPENDUID/COPYUID, CAPABILITY lists) get placeholders;
    - strings are printed quoted whether sent quoted or as literals; mailbox
      names whether sent as atoms or strings;
    - flag lists (FLAGS, PERMANENTFLAGS, LIST attributes) and SEARCH results
      are sorted: sets;
    - a run of EXPUNGE responses is put in the order of the original
      message numbers (canonical_expunges);
    - FETCH items are sorted by name; INTERNALDATE is shown as a UTC instant,
      or <now> when the server set it;
    - the untagged responses of a command in ANY_ORDER are sorted: SELECT and
      EXAMINE (RFC 3501 6.3.1 lists the required responses, not an order),
      LIST/LSUB (6.3.8, 6.3.9), FETCH/STORE (7.4.2; no EXPUNGE may come
      during them, 7.4.1, so sequence numbers cannot shift), STATUS and
      NAMESPACE (a single response each). Any other command keeps the order,
      because an EXPUNGE renumbers what follows it.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    out = []
    if greeting is not None:
        word = greeting.split(b" ", 2)[1].upper() if greeting.count(b" ") else greeting
        out.append("S: * " + word.decode())
    for cmd, responses in transcript:
        tag = cmd.split(" ", 1)[0].encode()
        words = cmd.split(" ")
        name = words[1].upper() if len(words) > 1 else ""
        if name == "UID" and len(words) > 2:
            name = words[2].upper()
        lines = canonical_expunges([norm_response(r, tag, now) for r in responses])
        if name in ANY_ORDER:
            # LIST/LSUB by mailbox name, not by their attributes (some of
            # which KNOWN_DIFFERENCES drops later)
            untagged = sorted((l for l in lines if l.startswith("* ")),
                              key=lambda l: re.sub(r"^\* (LIST|LSUB) \([^)]*\) ", r"* \1 ", l))
            lines = untagged + [l for l in lines if not l.startswith("* ")]
        out.append("C: " + cmd)
        out += ["S: " + l for l in lines]
    return out
