#!/usr/bin/python3
"""IMAP benchmark (not a test): Surel and Debian's Dovecot side by side on
loopback, in one run, with the same users, the same messages and the same
password hashes. The load generator is this Python script (threads in
several processes, blocking ssl sockets): on a 2-core machine it shares the
CPU with the server under test, and the figures are those of this client.

  bench/imap/run.py [--surel PATH] [--rounds 3] [--messages 100000] [--idle 5000]
                    [--quick] [--only login,append,select,search,fetch,idle] [--keep]

Steps (each the median of --rounds rounds; Surel and Dovecot alternate
which goes first in a round):
  login   LOGIN + LOGOUT over implicit TLS (imaps), 20 concurrent clients,
          a new TCP connection and full TLS handshake each: logins/s
  append  APPEND INBOX of a 10 KB message (LITERAL+, one message each),
          20 concurrent clients, each logged in to its own account: appends/s
  select  SELECT INBOX, then FETCH 1:* (FLAGS), on the mailbox of --messages
          messages, one client, from sending the command to its tagged OK
  search  SEARCH BODY <word> on that mailbox (2 % of the messages match)
  fetch   FETCH n BODY[] of random n, 50 concurrent clients on that mailbox
          (EXAMINEd: BODY[] does not set \\Seen): messages/s and MB/s
  idle    --idle connections logged in, INBOX selected, in IDLE: the
          server's memory (sum of RSS and of PSS over all its processes,
          from /proc) before and with them, per connection; its CPU while
          they idle; a LOGIN+SELECT meanwhile; and the memory after they
          closed.

The big mailbox is written once as a Maildir (cur/, flags in the names)
outside any timing: Dovecot gets the directory itself, Surel gets it with
`surel mailbox import`. Figures and how to read them: bench/imap/README.md.

Build Surel without sanitizers:
  meson setup /tmp/build-rel --buildtype=release -Dtests=false && ninja -C /tmp/build-rel
"""
import argparse
import base64
import json
import multiprocessing
import os
import pwd
import quopri
import random
import re
import resource
import shutil
import socket
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import dovecot_common  # noqa: E402
import imap_dovecot  # noqa: E402
from conftest import Instance  # noqa: E402

PASSWORD = "bench-secret"
DOMAIN = "example.org"
BIG = f"big@{DOMAIN}"
NEEDLE = "xylophonist"
NEEDLE_EVERY, NEEDLE_AT = 50, 7
BASE_TIME = 1735689600          # 2025-01-01
APPEND_SIZE = 10240
STEPS = ("login", "append", "select", "search", "fetch", "idle")


def client_users(n):
    return [f"b{i:02d}@{DOMAIN}" for i in range(n)]


# ---------------------------------------------------------------- messages

def vocabulary(seed=1):
    rng = random.Random(seed)
    syl = ("ka lo mi ne ru ta po si da fe gu hi jo be ve zo wa qui tra pla ster mon dal "
           "rin cor ven bel lis tor man").split()
    common = ("the and for with this that from have will your about meeting report project "
              "budget review draft please thanks regards schedule update question answer team "
              "client invoice order delivery monday friday office travel plan notes").split()
    words = set(common)
    while len(words) < 3000:
        words.add("".join(rng.choice(syl) for _ in range(rng.randint(2, 4))))
    return sorted(w for w in words if NEEDLE not in w)


class Generator:
    """Deterministic messages: bodies are slices of one long text of random
    words (LF lines of at most 72 characters); 80 % plain ASCII, 12 %
    quoted-printable UTF-8, 8 % multipart/mixed with a base64 attachment
    (median 20 KB). NEEDLE is in the body of every message i with
    i % NEEDLE_EVERY == NEEDLE_AT, and nowhere else."""

    def __init__(self, seed=1):
        rng = random.Random(seed)
        vocab = vocabulary(seed)
        lines, line = [], ""
        for _ in range(400000):
            w = rng.choice(vocab)
            if len(line) + len(w) + 1 > 72:
                lines.append(line)
                line = ""
            line = f"{line} {w}" if line else w
        self.lines = lines
        self.vocab = vocab
        self.seed = seed

    def text(self, rng, size, needle, utf8=False):
        start = rng.randrange(len(self.lines) - 2000)
        out, total, i = [], 0, start
        while total < size:
            ln = self.lines[i]
            if utf8 and rng.random() < 0.2:
                ln += " café Grüße naïve"
            out.append(ln)
            total += len(ln) + 1
            i += 1
        if needle:
            out.insert(len(out) // 2, f"about the {NEEDLE} again")
        return "\n".join(out) + "\n"

    def message(self, i):
        rng = random.Random(self.seed * 1000003 + i)
        t = BASE_TIME + 600 * i
        date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))
        subject = " ".join(rng.choice(self.vocab) for _ in range(rng.randint(3, 7))).capitalize()
        size = int(min(60000, max(300, rng.lognormvariate(8.0, 0.7))))    # median ~3 KB
        needle = i % NEEDLE_EVERY == NEEDLE_AT
        head = (f"From: Sender {i % 97} <sender{i % 97}@example.net>\n"
                f"To: Big <{BIG}>\nSubject: {subject}\nDate: {date}\n"
                f"Message-ID: <{i}.{rng.getrandbits(40):x}@example.net>\nMIME-Version: 1.0\n")
        kind = rng.random()
        if kind < 0.80:
            return (head + "Content-Type: text/plain; charset=us-ascii\n\n"
                    + self.text(rng, size, needle)).encode()
        if kind < 0.92:
            body = quopri.encodestring(self.text(rng, size, needle, utf8=True).encode())
            return (head + "Content-Type: text/plain; charset=utf-8\n"
                    "Content-Transfer-Encoding: quoted-printable\n\n").encode() + body
        b = f"=_b{i:x}"
        blob = base64.encodebytes(rng.randbytes(int(min(300000, rng.lognormvariate(9.9, 0.6)))))
        return (head + f'Content-Type: multipart/mixed; boundary="{b}"\n\n'
                f"--{b}\nContent-Type: text/plain; charset=us-ascii\n\n"
                f"{self.text(rng, size, needle)}--{b}\nContent-Type: application/pdf\n"
                f"Content-Transfer-Encoding: base64\n\n").encode() + blob + f"--{b}--\n".encode()


def flags_of(i):
    """(Maildir info letters, seen, answered, flagged): \\Seen 70 %,
    \\Answered 10 %, \\Flagged 5 %."""
    seen, answered, flagged = i % 10 < 7, i % 10 == 0, i % 20 == 3
    return ("F" if flagged else "") + ("R" if answered else "") + ("S" if seen else ""), \
        seen, answered, flagged


def expected(n):
    f = [flags_of(i) for i in range(n)]
    return {"exists": n, "seen": sum(x[1] for x in f), "answered": sum(x[2] for x in f),
            "flagged": sum(x[3] for x in f),
            "hits": len(range(NEEDLE_AT, n, NEEDLE_EVERY))}


def write_maildir(md: Path, n, owner=None):
    gen = Generator()
    for d in ("cur", "new", "tmp"):
        (md / d).mkdir(parents=True, exist_ok=True)
    total = 0
    for i in range(n):
        data = gen.message(i)
        info = flags_of(i)[0]
        t = BASE_TIME + 600 * i
        vsize = len(data) + data.count(b"\n")
        p = md / "cur" / f"{t}.M{i}P1.bench,S={len(data)},W={vsize}:2,{info}"
        with open(p, "wb") as f:
            f.write(data)
        os.utime(p, (t, t))
        if owner:
            os.chown(p, *owner)
        total += len(data)
    return total


def append_message(tag):
    head = (f"From: Appender <app@example.net>\r\nTo: someone@{DOMAIN}\r\n"
            f"Subject: append {tag}\r\nMessage-ID: <{tag}@bench.example>\r\n"
            f"Date: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\n").encode()
    line = b"The quick brown fox jumps over the lazy dog, again and again. 0123456789\r\n"
    body = (line * (APPEND_SIZE // len(line) + 1))[:APPEND_SIZE - len(head) - 2]
    return head + body + b"\r\n"


# ---------------------------------------------------------------- IMAP client

CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE
LIT_RE = re.compile(rb"\{(\d+)\+?\}\r\n$")


class ImapError(Exception):
    pass


class Imap:
    """Just enough IMAP over implicit TLS to time commands."""

    def __init__(self, port, timeout=600, src=None):
        raw = socket.create_connection(("127.0.0.1", port), timeout,
                                       source_address=(src, 0) if src else None)
        try:
            self.s = CTX.wrap_socket(raw)
        except Exception:
            raw.close()
            raise
        self.buf = bytearray()
        self.pos = 0
        self.n = 0
        greeting = self.line()
        if not greeting.startswith(b"* OK"):
            raise ImapError(f"greeting {greeting[:100]!r}")

    def recv(self):
        data = self.s.recv(1 << 18)
        if not data:
            raise ImapError("connection closed by the server")
        self.buf += data

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out = bytes(self.buf[:i + 2])
                del self.buf[:i + 2]
                return out
            self.recv()

    def exact(self, n):
        while len(self.buf) < n:
            self.recv()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def tag(self):
        self.n += 1
        return b"T%d" % self.n

    def cmd(self, text, literal=None):
        """Send a command (with one LITERAL+ literal at its end); read the
        answer line by line (literals whole). (untagged lines, literal
        bytes, tagged line); raises unless OK."""
        t = self.tag()
        if literal is None:
            self.s.sendall(t + b" " + text + b"\r\n")
        else:
            self.s.sendall(t + b" " + text + b" {%d+}\r\n" % len(literal) + literal + b"\r\n")
        lines, litbytes = [], 0
        while True:
            ln = self.line()
            while True:
                m = LIT_RE.search(ln)
                if not m:
                    break
                n = int(m.group(1))
                self.exact(n)
                litbytes += n
                ln = self.line()
            if ln.startswith(t + b" "):
                if not ln.startswith(t + b" OK"):
                    raise ImapError(f"{text[:40]!r}: {ln[:200]!r}")
                return lines, litbytes, ln
            lines.append(ln)

    def cmd_fast(self, text):
        """Send a command; read raw until its tagged line, without splitting
        lines (FETCH 1:* answers 100,000 of them). (bytes, seconds)."""
        t = self.tag()
        marker = b"\r\n" + t + b" "
        t0 = time.perf_counter()
        self.s.sendall(t + b" " + text + b"\r\n")
        start = 0
        while True:
            if self.buf.startswith(t + b" "):
                i = 0
            else:
                i = self.buf.find(marker, start)
                i = i + 2 if i >= 0 else -1
            if i >= 0:
                j = self.buf.find(b"\r\n", i)
                if j >= 0:
                    out = bytes(self.buf[:j + 2])
                    del self.buf[:j + 2]
                    dt = time.perf_counter() - t0
                    last = out[i:]
                    if not last.startswith(t + b" OK"):
                        raise ImapError(f"{text[:40]!r}: {last[:200]!r}")
                    return out, dt
            start = max(0, len(self.buf) - len(marker))
            self.recv()

    def login(self, user):
        self.cmd(f"LOGIN {user} {PASSWORD}".encode())

    def logout(self):
        try:
            self.cmd(b"LOGOUT")
        except ImapError:
            pass
        self.close()

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


# ---------------------------------------------------------------- load runner

def _proc_main(spec, clients, barrier, q):
    """One client process: setup every client (threads), meet the others at
    the barrier, run, report (ops, bytes, cpu seconds, errors)."""
    n = len(clients)
    states = [None] * n
    errors = []
    ready = threading.Barrier(n + 1)
    go = threading.Event()
    results = [(0, 0)] * n

    def run(k):
        cid, nops = clients[k]
        try:
            states[k] = spec["setup"](spec, cid)
        except Exception as e:   # noqa: BLE001
            errors.append(f"setup client {cid}: {e!r}")
        ready.wait()
        go.wait()
        if states[k] is None and spec["setup"] is not _no_setup:
            return
        try:
            results[k] = spec["work"](spec, cid, nops, states[k])
        except Exception as e:   # noqa: BLE001
            errors.append(f"client {cid}: {e!r}")

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for th in threads:
        th.start()
    ready.wait()
    barrier.wait()
    c0 = time.process_time()
    go.set()
    for th in threads:
        th.join()
    cpu = time.process_time() - c0
    q.put((sum(r[0] for r in results), sum(r[1] for r in results), cpu, errors))


def _no_setup(spec, cid):
    return None


def run_load(spec, nclients, total_ops, procs, server):
    """nclients clients over procs processes, total_ops spread over them.
    Returns dict(seconds, ops, bytes, client_cpu, server_cpu, errors)."""
    per = [total_ops // nclients + (1 if c < total_ops % nclients else 0) for c in range(nclients)]
    groups = [[] for _ in range(procs)]
    for c in range(nclients):
        groups[c % procs].append((c, per[c]))
    groups = [g for g in groups if g]
    barrier = multiprocessing.Barrier(len(groups) + 1)
    q = multiprocessing.Queue()
    ps = [multiprocessing.Process(target=_proc_main, args=(spec, g, barrier, q)) for g in groups]
    for p in ps:
        p.start()
    barrier.wait(timeout=1800)
    cpu0 = server.cpu()
    t0 = time.perf_counter()
    out = [q.get(timeout=3600) for _ in groups]
    dt = time.perf_counter() - t0
    cpu1 = server.cpu()
    for p in ps:
        p.join()
    errors = [e for r in out for e in r[3]]
    return {"seconds": dt, "ops": sum(r[0] for r in out), "bytes": sum(r[1] for r in out),
            "client_cpu": sum(r[2] for r in out), "server_cpu": cpu1 - cpu0, "errors": errors}


# login
def login_work(spec, cid, nops, state):
    user = spec["users"][cid % len(spec["users"])]
    for _ in range(nops):
        c = Imap(spec["port"])
        c.login(user)
        c.logout()
    return nops, 0


# append
def append_setup(spec, cid):
    c = Imap(spec["port"])
    c.login(spec["users"][cid % len(spec["users"])])
    return c


def append_work(spec, cid, nops, c):
    for k in range(nops):
        c.cmd(b"APPEND INBOX", append_message(f"{spec['side']}.{spec['round']}.{cid}.{k}"))
    c.logout()
    return nops, nops * APPEND_SIZE


# fetch
def fetch_setup(spec, cid):
    c = Imap(spec["port"])
    c.login(BIG)
    c.cmd(b"EXAMINE INBOX")
    return c


def fetch_work(spec, cid, nops, c):
    rng = random.Random(cid * 7919 + spec["round"])
    total = 0
    for _ in range(nops):
        n = rng.randint(1, spec["messages"])
        lines, lb, _ = c.cmd(b"FETCH %d BODY[]" % n)
        if lb == 0:
            raise ImapError(f"FETCH {n} BODY[]: no literal in {lines[:2]!r}")
        total += lb
    c.logout()
    return nops, total


# ---------------------------------------------------------------- servers

def proc_tree(root):
    """Pids of root and all its descendants."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(root):
    """CPU seconds of root and its descendants, including reaped children."""
    total = 0
    for p in proc_tree(root):
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        total += sum(int(x) for x in fields[11:15])     # utime stime cutime cstime
    return total / TICK


def tree_memory(root):
    """(processes, RSS KiB, PSS KiB) summed over root and its descendants."""
    n = rss = pss = 0
    for p in proc_tree(root):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                txt = f.read()
        except OSError:
            continue
        r = re.search(r"^Rss:\s+(\d+)", txt, re.M)
        s = re.search(r"^Pss:\s+(\d+)", txt, re.M)
        if r is None:
            continue     # a kernel thread or a zombie
        n += 1
        rss += int(r.group(1))
        pss += int(s.group(1))
    return n, rss, pss


def tree_fds(root):
    """(descriptors, inotify instances) of root and its descendants."""
    fds = ino = 0
    for p in proc_tree(root):
        try:
            names = os.listdir(f"/proc/{p}/fd")
        except OSError:
            continue
        for fd in names:
            fds += 1
            try:
                ino += os.readlink(f"/proc/{p}/fd/{fd}") == "anon_inode:inotify"
            except OSError:
                pass
    return fds, ino


class Side:
    def __init__(self, name, port, pid, log, restart):
        self.name, self.port, self.pid, self.log = name, port, pid, log
        self._restart = restart

    def restart(self):
        self.pid = self._restart()

    def cpu(self):
        return tree_cpu(self.pid)

    def memory(self):
        return tree_memory(self.pid)


class BenchDovecot(dovecot_common.DovecotBase):
    """A private Dovecot IMAP server like tests/integration/imap_dovecot.py's
    (same namespace and special-use mailboxes, ssl = required), with the
    accounts' password hashes ({CRYPT}, the same yescrypt strings as in
    Surel's surel.db) and limits raised for thousands of connections:
    imap-login in high-performance mode (service_count = 0, one process per
    core, each proxying many TLS connections), one imap process per session
    (client_limit = 1, Dovecot's default)."""
    PROTOCOL = "imap"
    SSL = "required"

    def __init__(self, tmp, cert, key, hashes, max_conn):
        self.max_conn = max_conn
        passwd = tmp / "passwd"
        tmp.mkdir(parents=True, exist_ok=True)
        passwd.write_text("".join(f"{u}:{h}::::::\n" for u, h in hashes.items()))
        passwd.chmod(0o644)
        passdb = ("passdb {\n  driver = passwd-file\n"
                  f"  args = username_format=%u {passwd}\n}}")
        mailboxes = "".join(f"  mailbox {name} {{\n    auto = subscribe\n    special_use = {use}\n  }}\n"
                            for name, use in imap_dovecot.SPECIAL_USE.items())
        limit = max_conn + 1000
        extra = f"""namespace inbox {{
  inbox = yes
  separator = /
  mailbox INBOX {{
    auto = subscribe
  }}
{mailboxes}}}
default_process_limit = {limit}
default_client_limit = {4 * limit}
default_vsz_limit = 1G
mail_max_userip_connections = {limit}
"""
        super().__init__(tmp, cert, key, passdb, extra=extra, ports=("imap", "imaps"))
        self.port = self.ports["imaps"]
        for user in hashes:
            self.make_mailboxes(user)

    def restart(self):
        """Stop and start again (the same configuration and ports)."""
        self.stop()
        self.proc = subprocess.Popen([dovecot_common.DOVECOT, "-F", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return self.proc.pid
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("bench/imap: dovecot did not restart:\n" + self.log()[-3000:])
                time.sleep(0.05)

    def make_mailboxes(self, user):
        md = self.maildir(user)
        for folder in [md] + [md / f".{name}" for name in imap_dovecot.SPECIAL_USE]:
            for d in ("cur", "new", "tmp"):
                (folder / d).mkdir(parents=True, exist_ok=True)
            if folder != md:
                (folder / "maildirfolder").touch()
        self.chown_home(user)

    def service_conf(self):
        return f"""service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.ports["imap"]}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.ports["imaps"]}
    ssl = yes
  }}
  chroot =
  service_count = 0
  process_min_avail = {os.cpu_count()}
}}
service imap {{
  process_limit = {self.max_conn + 1000}
  client_limit = 1
}}"""


# ---------------------------------------------------------------- steps

def step_select(side, messages, want):
    c = Imap(side.port)
    c.login(BIG)
    resp, t_select = c.cmd_fast(b"SELECT INBOX")
    m = re.search(rb"\* (\d+) EXISTS", resp)
    exists = int(m.group(1)) if m else -1
    resp, t_fetch = c.cmd_fast(b"FETCH 1:* (FLAGS)")
    got = {"exists": exists, "fetched": resp.count(b" FETCH ("),
           "seen": resp.count(b"\\Seen"), "answered": resp.count(b"\\Answered"),
           "flagged": resp.count(b"\\Flagged")}
    c.logout()
    check(side.name, got, want, ("exists", "seen", "answered", "flagged"))
    if got["fetched"] != want["exists"]:
        warn(f"{side.name}: FETCH 1:* (FLAGS) answered {got['fetched']} FETCH lines, "
             f"expected {want['exists']}")
    return {"select_s": t_select, "fetch_flags_s": t_fetch}


def step_search(side, want):
    c = Imap(side.port)
    c.login(BIG)
    c.cmd_fast(b"SELECT INBOX")
    resp, t = c.cmd_fast(b"SEARCH BODY " + NEEDLE.encode())
    m = re.search(rb"^\* SEARCH([ 0-9]*)\r$", resp, re.M)
    hits = len(m.group(1).split()) if m else 0
    c.logout()
    check(side.name, {"hits": hits}, want, ("hits",))
    return {"search_s": t, "hits": hits}


def open_idle(port, user, src):
    c = Imap(port, timeout=600, src=src)
    c.login(user)
    c.cmd(b"SELECT INBOX")
    t = c.tag()
    c.s.sendall(t + b" IDLE\r\n")
    ln = c.line()
    if not ln.startswith(b"+"):
        raise ImapError(f"IDLE: {ln[:100]!r}")
    c.idle_tag = t
    return c


def step_idle(side, n, users, srcs, cycles=1):
    """A freshly restarted server; n idle sessions, measured; closed; the
    memory after. With cycles > 1, open and close them again that many times
    on the same server process, and the memory after each (retention, leaks)."""
    side.restart()
    time.sleep(2.0)
    r = idle_cycle(side, n, users, srcs, measure=True)
    r["after_cycles_pss_kib"] = [r["after_pss_kib"]]
    r["after_cycles_rss_kib"] = [r["after_rss_kib"]]
    for _ in range(cycles - 1):
        x = idle_cycle(side, n, users, srcs, measure=False)
        r["after_cycles_pss_kib"].append(x["after_pss_kib"])
        r["after_cycles_rss_kib"].append(x["after_rss_kib"])
    return r


def idle_cycle(side, n, users, srcs, measure, settle=3.0, cpu_window=10.0):
    r = {}
    r["before_procs"], r["before_rss_kib"], r["before_pss_kib"] = side.memory()
    conns, errors = [], []
    t0 = time.perf_counter()
    with ThreadPoolExecutor(40) as ex:
        futs = [ex.submit(open_idle, side.port, users[i % len(users)], srcs[i % len(srcs)])
                for i in range(n)]
        for f in futs:
            try:
                conns.append(f.result())
            except Exception as e:   # noqa: BLE001
                errors.append(repr(e))
    r["open_s"] = time.perf_counter() - t0
    r["opened"] = len(conns)
    r["errors"] = len(errors)
    if errors:
        r["first_errors"] = sorted(set(errors))[:3]
    time.sleep(settle)
    r["with_procs"], r["with_rss_kib"], r["with_pss_kib"] = side.memory()
    r["with_fds"], r["with_inotify"] = tree_fds(side.pid)
    if measure:
        cpu0 = side.cpu()
        time.sleep(cpu_window)
        r["idle_cpu_pct"] = 100 * (side.cpu() - cpu0) / cpu_window
        # a new session while the others idle
        t0 = time.perf_counter()
        c = Imap(side.port)
        c.login(users[0])
        c.cmd(b"SELECT INBOX")
        r["login_select_while_idle_ms"] = 1000 * (time.perf_counter() - t0)
        c.logout()
    # were the idlers still there? (a DONE on a few)
    alive = 0
    for c in conns[:: max(1, len(conns) // 20)]:
        try:
            c.s.sendall(b"DONE\r\n")
            ln = c.line()
            while not ln.startswith(c.idle_tag):
                ln = c.line()
            alive += ln.startswith(c.idle_tag + b" OK")
            c.s.sendall(c.idle_tag + b"X IDLE\r\n")
            c.idle_tag += b"X"
            c.line()
        except Exception:   # noqa: BLE001
            pass
    r["sampled_alive"] = f"{alive}/{len(conns[:: max(1, len(conns) // 20)])}"
    for c in conns:
        c.close()
    time.sleep(settle + 2)
    r["after_procs"], r["after_rss_kib"], r["after_pss_kib"] = side.memory()
    if conns:
        r["rss_per_conn_kib"] = (r["with_rss_kib"] - r["before_rss_kib"]) / len(conns)
        r["pss_per_conn_kib"] = (r["with_pss_kib"] - r["before_pss_kib"]) / len(conns)
    return r


# ---------------------------------------------------------------- report

WARNINGS = []


def warn(text):
    WARNINGS.append(text)
    print("warning:", text, file=sys.stderr, flush=True)


def check(name, got, want, keys):
    for k in keys:
        if got.get(k) != want.get(k):
            warn(f"{name}: {k} = {got.get(k)}, expected {want.get(k)}")


def fmt_t(v):
    if v is None:
        return "—"
    return f"{v * 1000:.2f} ms" if v < 0.1 else (f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s")


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def ratio(a, b):
    if a is None or not b:
        return "—"
    r = a / b
    return f"{r:.2f}" if r >= 0.1 else f"{r:.3f}"


def sh(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True, **kw)


def looks_sanitized(path):
    try:
        out = subprocess.run(["nm", "-D", str(path)], capture_output=True, text=True).stdout
    except OSError:
        return False
    return "__asan_init" in out or "__ubsan_handle" in out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--surel", default=os.environ.get("SUREL_BIN", str(ROOT / "build/src/surel")))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--messages", type=int, default=None, help="big mailbox (100000)")
    ap.add_argument("--idle", type=int, default=None, help="idle connections (5000)")
    ap.add_argument("--idle-rounds", type=int, default=None,
                    help="rounds of the idle step (default: --rounds)")
    ap.add_argument("--idle-cycles", type=int, default=1,
                    help="open and close the idle sessions this many times on the same "
                         "server process (memory retained after each)")
    ap.add_argument("--logins", type=int, default=None, help="logins per round (600)")
    ap.add_argument("--appends", type=int, default=None, help="appends per round (2000)")
    ap.add_argument("--fetches", type=int, default=None, help="FETCH BODY[] per round (20000)")
    ap.add_argument("--append-target", choices=("own", "same"), default="own",
                    help="20 APPEND clients each in its own account, or all in one INBOX")
    ap.add_argument("--procs", type=int, default=os.cpu_count(),
                    help="client processes the concurrent clients are spread over")
    ap.add_argument("--quick", action="store_true", help="small numbers, a smoke run")
    ap.add_argument("--only", default=None, help="comma-separated steps: " + ",".join(STEPS))
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()
    q = a.quick
    a.messages = a.messages or (2000 if q else 100000)
    a.idle = a.idle or (200 if q else 5000)
    a.logins = a.logins or (100 if q else 600)
    a.appends = a.appends or (200 if q else 2000)
    a.fetches = a.fetches or (1000 if q else 20000)
    a.idle_rounds = a.idle_rounds or a.rounds
    only = set(STEPS) if not a.only else set(a.only.split(","))
    if only - set(STEPS):
        ap.error(f"--only: unknown step(s) {','.join(only - set(STEPS))}")
    reason = imap_dovecot.available()
    if reason:
        sys.exit(f"bench/imap: {reason}")
    surel = Path(a.surel).resolve()
    if not surel.exists():
        sys.exit(f"bench/imap: {surel} not found (meson setup /tmp/build-rel --buildtype=release "
                 f"&& ninja -C /tmp/build-rel)")
    if looks_sanitized(surel):
        warn(f"{surel} is built with sanitizers: its figures are not Surel's")
    os.environ["SUREL_BIN"] = str(surel)

    # Thousands of sockets here and in the servers (which inherit the limit).
    want_fd = max(65536, 4 * a.idle + 1000)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want_fd, want_fd))
    except (ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    max_conn = max(a.idle, 100) + 200
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if nofile < 4 * a.idle + 1000:
        warn(f"open-files limit {nofile}: may be too low for {a.idle} idle sessions")

    tmp = Path(tempfile.mkdtemp(prefix="surel-bench-imap-", dir="/var/tmp"))
    tmp.chmod(0o755)
    nusers = 20
    users = client_users(nusers)
    want = expected(a.messages)
    print(f"bench/imap: client = this Python script ({a.procs} processes of threads, "
          f"blocking ssl sockets, TLS 1.3); Surel {surel}; Dovecot "
          f"{sh(['dovecot', '--version']).stdout.strip()}; {os.cpu_count()} CPUs; "
          f"rounds {a.rounds}; open-files limit {nofile}; load average {os.getloadavg()[0]:.2f}; in {tmp}", flush=True)
    inst = dov = None
    raw = {"args": vars(a)}
    try:
        # ---- Surel: configuration, accounts, big mailbox
        (tmp / "surel").mkdir(mode=0o755)
        inst = Instance(tmp / "surel", f"""
[limits]
max_connections = {max_conn}
max_connections_per_ip = {max_conn}
""")
        conf = inst.conf.read_text().replace("level = debug", "level = warn")
        inst.conf.write_text(conf.replace("workers = 2", "workers = 0"))
        (tmp / "surel").chmod(0o755)
        inst.cli("domain", "add", DOMAIN)
        for u in users + [BIG]:
            inst.cli("user", "add", "--password-stdin", u, input=PASSWORD + "\n")
        db = sqlite3.connect(inst.data / "surel.db")
        hashes = dict(db.execute("SELECT address, password_hash FROM accounts"))
        db.close()
        src_md = tmp / "maildir-src"
        need_big = bool(only & {"select", "search", "fetch"})
        n_big = a.messages if need_big else 0
        t0 = time.perf_counter()
        total = write_maildir(src_md, n_big)
        print(f"generated {n_big} messages ({total / 1048576:.1f} MiB, LF lines) as a Maildir "
              f"in {time.perf_counter() - t0:.1f} s", flush=True)
        if n_big:
            t0 = time.perf_counter()
            inst.cli("mailbox", "import", BIG, src_md, timeout=7200)
            raw["surel_import_s"] = time.perf_counter() - t0
            print(f"surel mailbox import: {raw['surel_import_s']:.1f} s", flush=True)
        inst.start()
        cert = inst.data / "tls" / "cert.pem"
        deadline = time.monotonic() + 60
        while not (cert.exists() and (inst.data / "tls" / "key.pem").exists()):
            if time.monotonic() > deadline:
                raise SystemExit("bench/imap: surel made no certificate:\n" + inst.log_text())
            time.sleep(0.1)
        time.sleep(0.5)

        def surel_restart():
            inst.stop(timeout=60)
            inst.start()
            return inst.proc.pid
        surel_side = Side("surel", inst.port("imaps"), inst.proc.pid, inst.log_text, surel_restart)

        # ---- Dovecot: same cert, same hashes, the same Maildir
        dov = BenchDovecot(tmp / "dovecot", inst.data / "tls" / "cert.pem",
                           inst.data / "tls" / "key.pem", {u: "{CRYPT}" + h for u, h in hashes.items()},
                           max_conn)
        big_md = dov.maildir(BIG)
        shutil.rmtree(big_md)
        os.rename(src_md, big_md)
        dov.make_mailboxes(BIG)     # and chown to the mail user
        dov_side = Side("dovecot", dov.port, dov.proc.pid, dov.log, dov.restart)
        sides = [surel_side, dov_side]
        cfg_check = subprocess.run(["doveconf", "-c", str(dov.conf), "-n"], capture_output=True,
                                   text=True)
        if cfg_check.stderr.strip():
            print("doveconf:", cfg_check.stderr.strip(), flush=True)

        # First SELECT of the big mailbox, not timed in the table.
        if n_big:
            for side in sides:
                c = Imap(side.port)
                c.login(BIG)
                _, t = c.cmd_fast(b"SELECT INBOX")
                c.logout()
                raw[f"{side.name}_first_select_s"] = t
                print(f"{side.name}: first SELECT of the {n_big}-message INBOX {fmt_t(t)}",
                      flush=True)

        res = {s.name: {k: [] for k in ("login", "append", "select", "search", "fetch", "idle")}
               for s in sides}
        rounds = max(a.rounds, a.idle_rounds if "idle" in only else 0)
        for r in range(rounds):
            order = sides if r % 2 == 0 else sides[::-1]
            for side in order:
                base = {"port": side.port, "side": side.name, "round": r,
                        "messages": a.messages}
                tag = f"round {r + 1} {side.name:<7}"
                if r < a.rounds and "login" in only:
                    x = run_load(dict(base, users=users, setup=_no_setup, work=login_work),
                                 20, a.logins, a.procs, side)
                    x["rate"] = x["ops"] / x["seconds"]
                    res[side.name]["login"].append(x)
                    print(f"{tag} login: {x['ops']} in {x['seconds']:.2f} s = {x['rate']:.1f}/s "
                          f"(server CPU {x['server_cpu']:.1f} s, client CPU "
                          f"{x['client_cpu']:.1f} s){err(x)}", flush=True)
                if r < a.rounds and "append" in only:
                    au = users if a.append_target == "own" else users[:1]
                    x = run_load(dict(base, users=au, setup=append_setup, work=append_work),
                                 20, a.appends, a.procs, side)
                    x["rate"] = x["ops"] / x["seconds"]
                    res[side.name]["append"].append(x)
                    print(f"{tag} append: {x['ops']} in {x['seconds']:.2f} s = "
                          f"{x['rate']:.1f}/s (server CPU {x['server_cpu']:.1f} s, client CPU "
                          f"{x['client_cpu']:.1f} s){err(x)}", flush=True)
                if r < a.rounds and "select" in only:
                    x = step_select(side, a.messages, want)
                    res[side.name]["select"].append(x)
                    print(f"{tag} SELECT {fmt_t(x['select_s'])}, FETCH 1:* (FLAGS) "
                          f"{fmt_t(x['fetch_flags_s'])}", flush=True)
                if r < a.rounds and "search" in only:
                    x = step_search(side, want)
                    res[side.name]["search"].append(x)
                    print(f"{tag} SEARCH BODY {NEEDLE}: {fmt_t(x['search_s'])} "
                          f"({x['hits']} hits)", flush=True)
                if r < a.rounds and "fetch" in only:
                    x = run_load(dict(base, setup=fetch_setup, work=fetch_work),
                                 50, a.fetches, a.procs, side)
                    x["rate"] = x["ops"] / x["seconds"]
                    x["mbps"] = x["bytes"] / x["seconds"] / 1e6
                    res[side.name]["fetch"].append(x)
                    print(f"{tag} FETCH n BODY[]: {x['ops']} in {x['seconds']:.2f} s = "
                          f"{x['rate']:.0f}/s, {x['mbps']:.1f} MB/s (server CPU "
                          f"{x['server_cpu']:.1f} s, client CPU {x['client_cpu']:.1f} s)"
                          f"{err(x)}", flush=True)
                if r < a.idle_rounds and "idle" in only:
                    srcs = ["127.0.0.1"]
                    x = step_idle(side, a.idle, users, srcs, a.idle_cycles)
                    res[side.name]["idle"].append(x)
                    print(f"{tag} idle: {json.dumps(x)}", flush=True)
        raw["results"] = res
        report(a, res, want, raw)
        for side in sides:
            check_log(side)
    finally:
        if dov is not None:
            dov.stop()
        if inst is not None:
            try:
                rc = inst.stop(timeout=60)
                if rc not in (0, None):
                    warn(f"surel serve exited {rc}")
            except AssertionError as e:
                warn(str(e)[:2000])
                inst.kill_all()
        if a.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if WARNINGS:
        print(f"\n{len(WARNINGS)} warning(s):")
        for w in WARNINGS:
            print("  " + w[:500])


def err(x):
    if not x["errors"]:
        return ""
    warn(f"{len(x['errors'])} client error(s), e.g. {x['errors'][0]}")
    return f" [{len(x['errors'])} ERRORS]"


def check_log(side):
    """The server's warnings and errors, grouped (timestamps, pids, session
    ids and user names blanked), with their counts."""
    groups = {}
    for ln in side.log().splitlines():
        if not re.search(r"level=(error|warn)|Error:|Fatal:|Panic:|Warning:", ln):
            continue
        if re.search(r"Killed with signal 15|Shutting down logging", ln):
            continue       # Dovecot's restart between rounds
        key = re.sub(r"^\w{3} \d+ [\d:]+ ", "", ln)
        key = re.sub(r"\(([^)]*)\)<\d+><[^>]*>", "(*)", key)
        key = re.sub(r"\b(ts|time|session|id|pid)=\S+", r"\1=*", key)
        key = re.sub(r"\b\d+\b", "N", key)
        groups.setdefault(key, [0, ln])[0] += 1
    if groups:
        print(f"\n{side.name} log: warnings and errors (count, first line):")
        for key, (n, first) in sorted(groups.items(), key=lambda kv: -kv[1][0])[:15]:
            print(f"  {n:6d}  {first[:300]}")


def report(a, res, want, raw):
    rows = []

    def add(name, key, f, unit_fmt, higher_better):
        s = med([f(x) for x in res["surel"][key]])
        d = med([f(x) for x in res["dovecot"][key]])
        if s is None and d is None:
            return
        rows.append((name, unit_fmt(s), unit_fmt(d), ratio(s, d),
                     "higher is better" if higher_better else "lower is better"))

    rate = lambda u: (lambda v: "—" if v is None else f"{v:,.1f} {u}")   # noqa: E731
    kib = lambda v: "—" if v is None else f"{v:,.0f} KiB"                # noqa: E731
    mib = lambda v: "—" if v is None else f"{v / 1024:,.1f} MiB"        # noqa: E731
    tgt = "own account each" if a.append_target == "own" else "all in one INBOX"
    add("logins/s (LOGIN+LOGOUT, TLS, 20 clients)", "login", lambda x: x["rate"], rate("/s"), True)
    add("  server CPU per login", "login", lambda x: x["server_cpu"] / x["ops"],
        lambda v: fmt_t(v), False)
    add(f"APPEND/s (10 KB, 20 clients, {tgt})", "append", lambda x: x["rate"], rate("/s"), True)
    add("  server CPU per APPEND", "append", lambda x: x["server_cpu"] / x["ops"],
        lambda v: fmt_t(v), False)
    add(f"SELECT INBOX ({a.messages:,} messages)", "select", lambda x: x["select_s"], fmt_t, False)
    add(f"FETCH 1:* (FLAGS) ({a.messages:,} messages)", "select", lambda x: x["fetch_flags_s"],
        fmt_t, False)
    add(f"SEARCH BODY {NEEDLE} ({want['hits']:,} hits)", "search", lambda x: x["search_s"],
        fmt_t, False)
    add("FETCH n BODY[] messages/s (50 clients)", "fetch", lambda x: x["rate"], rate("/s"), True)
    add("FETCH n BODY[] MB/s (50 clients)", "fetch", lambda x: x["mbps"], rate("MB/s"), True)
    add("  server CPU per FETCH BODY[]", "fetch", lambda x: x["server_cpu"] / x["ops"],
        lambda v: fmt_t(v), False)
    n_idle = a.idle
    add(f"idle: PSS per connection ({n_idle:,} in IDLE)", "idle",
        lambda x: x.get("pss_per_conn_kib"), kib, False)
    add(f"idle: RSS per connection ({n_idle:,} in IDLE)", "idle",
        lambda x: x.get("rss_per_conn_kib"), kib, False)
    add("idle: server PSS before", "idle", lambda x: x["before_pss_kib"], mib, False)
    add(f"idle: server PSS with {n_idle:,}", "idle", lambda x: x["with_pss_kib"], mib, False)
    add("idle: server PSS retained after they closed", "idle",
        lambda x: x["after_pss_kib"] - x["before_pss_kib"], mib, False)
    num = lambda v: "—" if v is None else f"{v:,.0f}"                    # noqa: E731
    add("idle: server processes with them", "idle", lambda x: x["with_procs"], num, False)
    add("idle: server descriptors with them", "idle", lambda x: x["with_fds"], num, False)
    add("idle: server inotify instances with them", "idle", lambda x: x["with_inotify"], num,
        False)
    add("idle: server CPU while they idle (10 s)", "idle", lambda x: x["idle_cpu_pct"],
        lambda v: "—" if v is None else f"{v:.1f} %", False)
    add(f"idle: opening them (TLS+LOGIN+SELECT+IDLE)", "idle", lambda x: x["open_s"], fmt_t, False)
    add("idle: a new LOGIN+SELECT meanwhile", "idle",
        lambda x: x["login_select_while_idle_ms"] / 1000, fmt_t, False)
    w = max(len(r[0]) for r in rows) if rows else 10
    print()
    print(f"{'':<{w}}  {'Surel':>14}  {'Dovecot':>14}  {'Surel/Dovecot':>13}")
    for name, s, d, rt, hb in rows:
        print(f"{name:<{w}}  {s:>14}  {d:>14}  {rt:>13}   ({hb})")
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f} (other work on the machine "
          f"shows there; Surel and Dovecot alternate first place in each round)")
    print(f"medians of {a.rounds} rounds (idle: {a.idle_rounds}); client: Python "
          f"({a.procs} processes of threads) on the same {os.cpu_count()} CPUs as the server; "
          f"both servers verify the same yescrypt hashes; Dovecot: Maildir, mail_fsync=always, "
          f"no FTS plugin, imap-login service_count=0.")
    print("raw:", json.dumps(raw, default=str))


if __name__ == "__main__":
    main()
