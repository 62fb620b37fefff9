#!/usr/bin/python3
"""SMTP benchmark (not a test): Surel and Debian's Postfix side by side on
loopback, in one run, loaded by Postfix's own load generator smtp-source(1)
(package postfix, /usr/sbin/smtp-source). Needs root (Postfix's master runs
as root and its virtual(8) delivers as nobody); changes nothing outside
its temporary directory.

  bench/smtp/run.py [--surel PATH] [--rounds 3] [--sessions 20,100]
                    [--sizes 10240,102400] [--messages 3000] [--idle 500]
                    [--only rate,idle] [--quick] [--keep]

rate  for every (sessions, size): smtp-source -s SESSIONS -d -m MESSAGES
      -l SIZE, one recipient per message, a fresh mailbox per run. Times
      from the start of smtp-source to the moment the last message is in
      the mailbox (Surel: IMAP STATUS MESSAGES, Postfix: files in the
      Maildir's new/), polled every 0.1 s; also when smtp-source finished
      (every message accepted with 250). Peak memory: sum of RSS (and PSS)
      of all the server's processes, sampled every 0.25 s. Server CPU:
      utime+stime of the server's process tree (reaped children included).
      Median of --rounds rounds; Surel and Postfix alternate going first.
idle  --idle SMTP connections, each after its EHLO reply, held open: the
      server's memory (sum of RSS and of PSS) before and with them, per
      connection. Run first.
Every measurement starts on a freshly restarted server (both sides), so
that what an earlier one left behind does not count (Postfix keeps idle
smtpd processes for max_idle = 100 s; a process's heap stays at its peak).
The data directories are kept: Surel's store and Postfix's Maildirs grow
over the run (a fresh mailbox for each measurement).

Surel: conftest's Instance (workers = 2 = cores), log level warn,
smtp.greeting_delay = 0 (Postfix's smtpd has no greeting pause either;
postscreen is not in use), connection limits raised, every other setting
the default (smtp.group_commit = no, queue.local_delivery = yes).

Postfix: its own config directory, queue and data directory in the
temporary directory (`postfix -c DIR`), smtpd on a free loopback port,
delivering with virtual(8) to Maildirs under virtual_mailbox_base (uid
nobody), every durability setting its default (the queue file is fsynced
before the 250, virtual(8) fsyncs each Maildir file before its rename).
smtpd's process limit raised to --idle + 100 for the idle step.

Build Surel without sanitizers, from a clean export of HEAD:
  git archive HEAD | tar -x -C /tmp/src && cd /tmp/src &&
  meson setup /tmp/rel --buildtype=release -Dtests=false && ninja -C /tmp/rel src/surel
"""
import argparse
import imaplib
import json
import os
import re
import resource
import shutil
import socket
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
from conftest import Instance, free_ports  # noqa: E402

SMTP_SOURCE = "/usr/sbin/smtp-source"
POSTFIX = "/usr/sbin/postfix"
DOMAIN = "example.org"
PASSWORD = "bench-secret"
SENDER = "bench@remote.example"
POLL = 0.1
MEM_EVERY = 0.25


# ---------------------------------------------------------------- /proc

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
    """CPU seconds of root and its descendants, reaped children included."""
    total = 0
    for p in proc_tree(root):
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
        except OSError:
            continue
        total += sum(int(x) for x in st[st.rindex(")") + 2:].split()[11:15])
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
            continue
        n += 1
        rss += int(r.group(1))
        pss += int(s.group(1))
    return n, rss, pss


def _zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
    except OSError:
        return True
    return st[st.rindex(")") + 2:].split()[0] == "Z"


class MemPeak:
    """Samples tree_memory(root) every MEM_EVERY seconds until stopped."""

    def __init__(self, root):
        self.root = root
        self.peak = (0, 0, 0)
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while True:
            m = tree_memory(self.root)
            self.peak = tuple(max(a, b) for a, b in zip(self.peak, m))
            if self.stop.wait(MEM_EVERY):
                return

    def done(self):
        self.stop.set()
        self.t.join()
        return self.peak


# ---------------------------------------------------------------- servers

class SurelSide:
    name = "surel"

    def __init__(self, tmp, users, max_conn):
        self.inst = Instance(tmp, "[smtp]\ngreeting_delay = 0\n"
                             f"[limits]\nmax_connections = {max_conn}\n"
                             f"max_connections_per_ip = {max_conn}\n")
        conf = self.inst.conf.read_text().replace("level = debug", "level = warn")
        self.inst.conf.write_text(conf)
        self.inst.cli("domain", "add", DOMAIN)
        for u in users:
            self.inst.cli("user", "add", "--password-stdin", u, input=PASSWORD + "\n")
        self.inst.start()
        self.port = self.inst.port("smtp")
        self.imap = None

    @property
    def pid(self):
        return self.inst.proc.pid

    def open_counter(self, user):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.imap = imaplib.IMAP4_SSL("127.0.0.1", self.inst.port("imaps"), ssl_context=ctx,
                                      timeout=60)
        self.imap.login(user, PASSWORD)

    def count(self, user):
        typ, data = self.imap.status("INBOX", "(MESSAGES)")
        return int(re.search(rb"MESSAGES (\d+)", data[0]).group(1))

    def close_counter(self):
        self.imap.logout()
        self.imap = None

    def stop(self):
        return self.inst.stop()

    def restart(self):
        rc = self.inst.stop()
        if rc:
            warn(f"surel stop: {rc}")
        self.inst.start()

    def log_problems(self):
        return [ln for ln in self.inst.log_text().splitlines()
                if " warn " in ln or " error " in ln]


MASTER_CF = """\
127.0.0.1:{port} inet n - n - {smtpd_max} smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class PostfixSide:
    """Postfix in its own directory: smtpd on a free loopback port, mail
    for DOMAIN delivered by virtual(8) into base/LOCALPART/ Maildirs."""
    name = "postfix"

    def __init__(self, tmp, users, smtpd_max):
        self.tmp = tmp
        self.conf, queue, data = tmp / "etc", tmp / "queue", tmp / "data"
        self.base = tmp / "mail"
        for d in (self.conf, queue, data, self.base):
            d.mkdir()
        shutil.chown(data, "postfix")
        shutil.chown(self.base, "nobody", "nogroup")
        self.port, = free_ports(1)
        maps = ", ".join(f"{u}={u.split('@')[0]}/" for u in users)
        self.log = tmp / "postfix.log"
        (self.conf / "main.cf").write_text(f"""\
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.bench.example
mydomain = bench.example
myorigin = bench.example
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
inet_interfaces = loopback-only
inet_protocols = ipv4
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_base = {self.base}
virtual_mailbox_maps = inline:{{ {maps} }}
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
maillog_file = {self.log}
maillog_file_prefixes = {tmp}
smtputf8_enable = no
smtp_dns_support_level = disabled
biff = no
""")
        (self.conf / "master.cf").write_text(MASTER_CF.format(port=self.port,
                                                              smtpd_max=smtpd_max))
        self.pidfile = queue / "pid" / "master.pid"
        self.pid = None
        self.start()

    def start(self):
        r = self.postfix("start")
        if r.returncode != 0:
            sys.exit(f"postfix start: {r.stdout}{r.stderr}")
        deadline = time.monotonic() + 30
        while True:
            try:
                pid = int(self.pidfile.read_text().split()[0])
                if pid == self.pid or not os.path.exists(f"/proc/{pid}"):
                    raise ValueError("old pid")
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                self.pid = pid
                break
            except (OSError, ValueError, IndexError):
                if time.monotonic() > deadline:
                    sys.exit("postfix did not start:\n" + self.log_text())
                time.sleep(0.1)

    def restart(self):
        """postfix stop, until the master and all its children are gone;
        postfix start."""
        old = proc_tree(self.pid)
        self.stop()
        deadline = time.monotonic() + 60
        while any(os.path.exists(f"/proc/{p}") and not _zombie(p) for p in old):
            if time.monotonic() > deadline:
                sys.exit(f"postfix did not stop: {old}")
            time.sleep(0.1)
        self.start()

    def postfix(self, *args):
        return subprocess.run([POSTFIX, "-c", str(self.conf), *args], capture_output=True,
                              text=True, timeout=120)

    def open_counter(self, user):
        pass

    def close_counter(self):
        pass

    def count(self, user):
        try:
            return len(os.listdir(self.base / user.split("@")[0] / "new"))
        except FileNotFoundError:
            return 0

    def stop(self):
        return self.postfix("stop").returncode

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def log_problems(self):
        return [ln for ln in self.log_text().splitlines()
                if re.search(r" (warning|error|fatal|panic):", ln)]


# ---------------------------------------------------------------- steps

def run_rate(side, user, sessions, size, messages):
    side.open_counter(user)
    assert side.count(user) == 0
    cpu0 = side_cpu(side)
    mem = MemPeak(side.pid)
    cmd = [SMTP_SOURCE, "-4", "-d", "-s", str(sessions), "-m", str(messages), "-l", str(size),
           "-f", SENDER, "-t", user, "-M", "load.example", f"127.0.0.1:{side.port}"]
    t0 = time.perf_counter()
    src = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t_acc = None
    n = 0
    deadline = t0 + 1800
    while True:
        if t_acc is None and src.poll() is not None:
            t_acc = time.perf_counter()
            out, err = src.communicate()
            if src.returncode != 0:
                mem.done()
                raise RuntimeError(f"{side.name}: {' '.join(cmd)} exited {src.returncode}: "
                                   f"{(out + err)[-2000:]}")
        n = side.count(user)
        if n >= messages and t_acc is not None:
            break
        if time.perf_counter() > deadline:
            mem.done()
            raise RuntimeError(f"{side.name}: {n} of {messages} messages after 1800 s")
        time.sleep(POLL)
    t_done = time.perf_counter()
    peak = mem.done()
    cpu = side_cpu(side) - cpu0
    time.sleep(1)
    n = side.count(user)
    side.close_counter()
    if n != messages:
        warn(f"{side.name}: {n} messages in {user}'s mailbox, {messages} sent")
    return {"seconds": t_done - t0, "accept_seconds": t_acc - t0,
            "rate": messages / (t_done - t0), "accept_rate": messages / (t_acc - t0),
            "peak_procs": peak[0], "peak_rss_kib": peak[1], "peak_pss_kib": peak[2],
            "cpu_ms_per_msg": 1000 * cpu / messages}


def side_cpu(side):
    return tree_cpu(side.pid)


def open_idle(port):
    s = socket.create_connection(("127.0.0.1", port), 60)
    f = s.makefile("rb")
    line = f.readline()
    while line[3:4] == b"-":
        line = f.readline()
    if not line.startswith(b"220"):
        raise RuntimeError(f"greeting {line!r}")
    s.sendall(b"EHLO idle.example\r\n")
    line = f.readline()
    while line[3:4] == b"-":
        line = f.readline()
    if not line.startswith(b"250"):
        raise RuntimeError(f"EHLO {line!r}")
    return s, f


def run_idle(side, n):
    time.sleep(2)
    before = tree_memory(side.pid)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(20) as ex:
        conns = list(ex.map(lambda _: open_idle(side.port), range(n)))
    opened = time.perf_counter() - t0
    time.sleep(3)
    with_ = tree_memory(side.pid)
    # still alive: a NOOP on a sample
    for s, f in conns[:: max(1, n // 20)]:
        s.sendall(b"NOOP\r\n")
        assert f.readline().startswith(b"250"), side.name
    for s, f in conns:
        try:
            s.sendall(b"QUIT\r\n")
        except OSError:
            pass
        f.close()
        s.close()
    time.sleep(3)
    after = tree_memory(side.pid)
    return {"n": n, "open_seconds": opened,
            "before_procs": before[0], "before_rss_kib": before[1], "before_pss_kib": before[2],
            "with_procs": with_[0], "with_rss_kib": with_[1], "with_pss_kib": with_[2],
            "after_rss_kib": after[1], "after_pss_kib": after[2],
            "rss_per_conn_kib": (with_[1] - before[1]) / n,
            "pss_per_conn_kib": (with_[2] - before[2]) / n}


# ---------------------------------------------------------------- report

def warn(text):
    print(f"WARNING: {text}", file=sys.stderr, flush=True)


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def ratio(a, b):
    if a is None or not b:
        return "-"
    r = a / b
    return f"{r:.2f}" if r >= 0.1 else f"{r:.3f}" if r >= 0.01 else f"{r:.4f}"


def kib(v):
    return f"{v / 1024:,.1f} MiB" if v >= 10240 else f"{v:,.0f} KiB"


def report(res, a):
    rows = []
    for key in res["rate"]:
        sessions, size = key.split("/")
        label = f"{sessions} sessions, {int(size) // 1024} KB x {a.messages}"
        s, p = res["rate"][key]["surel"], res["rate"][key]["postfix"]

        def m(side, k):
            return med([r[k] for r in side])
        for name, k, fmt, better in (
                ("msg/s until all in the mailbox", "rate", "{:,.0f} /s", "higher"),
                ("msg/s accepted (smtp-source done)", "accept_rate", "{:,.0f} /s", "higher"),
                ("peak RSS sum", "peak_rss_kib", None, "lower"),
                ("peak PSS sum", "peak_pss_kib", None, "lower"),
                ("peak processes", "peak_procs", "{:.0f}", None),
                ("server CPU per message", "cpu_ms_per_msg", "{:.2f} ms", "lower")):
            sv, pv = m(s, k), m(p, k)
            f = (lambda v: kib(v)) if fmt is None else (lambda v, fmt=fmt: fmt.format(v))
            rows.append((f"{label}: {name}" + (f" ({better} is better)" if better else ""),
                         f(sv), f(pv), ratio(sv, pv) if better else ""))
    if "idle" in res:
        s, p = res["idle"]["surel"], res["idle"]["postfix"]
        n = s["n"]
        for name, k, f in (("idle: RSS per session", "rss_per_conn_kib", kib),
                           ("idle: PSS per session", "pss_per_conn_kib", kib),
                           ("idle: RSS sum before", "before_rss_kib", kib),
                           (f"idle: RSS sum with {n}", "with_rss_kib", kib),
                           (f"idle: PSS sum with {n}", "with_pss_kib", kib),
                           ("idle: RSS sum after they closed", "after_rss_kib", kib),
                           (f"idle: processes with {n}", "with_procs", str),
                           (f"idle: opening {n} (20 at a time)", "open_seconds",
                            lambda v: f"{v:.2f} s")):
            rows.append((name, f(s[k]), f(p[k]), ratio(s[k], p[k])
                         if k not in ("with_procs",) else ""))
    w = max(len(r[0]) for r in rows)
    print()
    print(f"| {'step':<{w}} | Surel | Postfix | Surel/Postfix |")
    print(f"|{'-' * (w + 2)}|---:|---:|---:|")
    for r in rows:
        print(f"| {r[0]:<{w}} | {r[1]} | {r[2]} | {r[3]} |")


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--surel", default=os.environ.get("SUREL_BIN", str(ROOT / "build/src/surel")))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sessions", default="20,100")
    ap.add_argument("--sizes", default="10240,102400")
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--idle", type=int, default=500)
    ap.add_argument("--only", default="idle,rate")
    ap.add_argument("--quick", action="store_true", help="1 round, 1000 messages, 100 idle")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.messages, a.idle = 1, 1000, 100
    steps = a.only.split(",")
    for prog in (SMTP_SOURCE, POSTFIX, a.surel):
        if not os.access(prog, os.X_OK):
            sys.exit(f"bench/smtp: {prog} not found (apt-get install postfix; build surel)")
    if os.geteuid() != 0:
        sys.exit("bench/smtp: run as root (Postfix's master)")
    os.environ["SUREL_BIN"] = a.surel
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    sessions = [int(x) for x in a.sessions.split(",")]
    sizes = [int(x) for x in a.sizes.split(",")]
    combos = [(s, z) for z in sizes for s in sessions]
    nusers = len(combos) * a.rounds
    users = [f"u{i:03d}@{DOMAIN}" for i in range(nusers)]

    tmp = Path(tempfile.mkdtemp(prefix="surel-bench-smtp-", dir="/var/tmp"))
    tmp.chmod(0o755)
    (tmp / "surel").mkdir()
    (tmp / "postfix").mkdir()
    (tmp / "postfix").chmod(0o755)
    max_conn = max(a.idle, max(sessions)) + 100
    pf_version = subprocess.run(["postconf", "-d", "mail_version"], capture_output=True,
                                text=True).stdout.strip()
    print(f"bench/smtp: {tmp}; surel {a.surel}; postfix {pf_version}", flush=True)
    sides = []
    res = {"rate": {}, "args": vars(a)}
    try:
        sides = [SurelSide(tmp / "surel", users, max_conn),
                 PostfixSide(tmp / "postfix", users, max_conn)]
        if "idle" in steps:
            res["idle"] = {}
            for side in sides:
                side.restart()
                r = run_idle(side, a.idle)
                res["idle"][side.name] = r
                print(f"idle {side.name:7}: {a.idle} sessions, "
                      f"RSS {kib(r['before_rss_kib'])} -> {kib(r['with_rss_kib'])} "
                      f"({r['rss_per_conn_kib']:.0f} KiB each), PSS {kib(r['before_pss_kib'])} -> "
                      f"{kib(r['with_pss_kib'])} ({r['pss_per_conn_kib']:.0f} KiB each), "
                      f"{r['with_procs']} processes", flush=True)
        if "rate" in steps:
            k = 0
            for rnd in range(a.rounds):
                for sess, size in combos:
                    key = f"{sess}/{size}"
                    res["rate"].setdefault(key, {"surel": [], "postfix": []})
                    order = sides if k % 2 == 0 else sides[::-1]
                    for side in order:
                        user = users[k]
                        side.restart()
                        time.sleep(1)
                        r = run_rate(side, user, sess, size, a.messages)
                        r["loadavg"] = os.getloadavg()[0]
                        res["rate"][key][side.name].append(r)
                        print(f"round {rnd + 1} {sess:3} sessions {size // 1024:3} KB "
                              f"{side.name:7}: {r['rate']:7.0f} msg/s delivered "
                              f"({r['seconds']:.1f} s), accepted {r['accept_rate']:7.0f} msg/s, "
                              f"peak RSS {kib(r['peak_rss_kib'])} PSS {kib(r['peak_pss_kib'])} "
                              f"({r['peak_procs']} procs), CPU {r['cpu_ms_per_msg']:.2f} ms/msg, "
                              f"load {r['loadavg']:.1f}",
                              flush=True)
                    k += 1
    finally:
        for side in sides:
            rc = side.stop()
            if rc:
                warn(f"{side.name} stop: {rc}")
        for side in sides:
            probs = side.log_problems()
            if probs:
                print(f"{side.name}: {len(probs)} log warnings, first: {probs[:5]}")
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    report(res, a)
    print("raw: " + json.dumps(res))


if __name__ == "__main__":
    main()
