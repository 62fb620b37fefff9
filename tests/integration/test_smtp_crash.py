"""Crash safety of SMTP acceptance and local delivery: while client threads
send mail over the plain smtp listener, the whole server (master, workers,
queue runner: its process group) is killed with SIGKILL at random moments
and restarted on the same data directory and ports. Afterwards every
message that got 250 after DATA must be in each of its recipients' INBOX
exactly once, with the body it was sent with; a message that got no 250
(the connection died under it) may be there or not, but at most once.

The short form (make check) kills 4 times in about 15-20 s, one of them
within 0.6 s of a restart (the queue runner resuming interrupted
deliveries). A longer one:

  SUREL_CRASH_KILLS=30 SUREL_CRASH_SEED=123 python3 -m pytest \\
      tests/integration/test_smtp_crash.py

SUREL_CRASH_SEED replays the same kill moments (the load itself is not
deterministic); the seed is printed in every failure."""
import hashlib
import os
import random
import signal
import smtplib
import threading
import time
from email.parser import BytesParser

from test_server import HOST

USERS = ("alice@example.org", "bob@example.org", "carol@example.org")
CONF = ("[queue]\nlocal_delivery = yes\n[smtp]\ngreeting_delay = 0\n"
        "[limits]\nmax_connections_per_ip = 200\n")
CLIENTS = 5
# messages per second per client at most: acceptance is ~10x faster than
# delivery in a sanitizer build, and the queue must drain within the test
RATE = 10
KILLS = int(os.environ.get("SUREL_CRASH_KILLS", "4"))
SEED = int(os.environ.get("SUREL_CRASH_SEED", str(random.SystemRandom().randrange(1 << 30))))
# a kill comes this many seconds after the server is ready again (and at
# least MIN_ACCEPTED_BEFORE_KILL messages got 250 since); every third one,
# the second first, comes early instead, while the restarted queue runner
# is still resuming what the previous kill interrupted
KILL_AFTER = (2.0, 5.0)
KILL_EARLY = (0.05, 0.6)
MIN_ACCEPTED_BEFORE_KILL = 5
READY_TIMEOUT = 60
DRAIN_TIMEOUT = 90


# ---------------------------------------------------------------- processes

def _proc_stat(pid):
    """(state, ppid, pgid) of pid, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
    except OSError:
        return None
    fields = st[st.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[2])


def _ours(pid, conf):
    """pid runs `surel ... -c conf` (and is not a zombie)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return conf in f.read().split(b"\0") and (_proc_stat(pid) or ("Z",))[0] != "Z"
    except OSError:
        return False


def server_pids(inst):
    """The pids of this instance's server, each checked to run with this
    instance's config file: (its process group: Instance starts the master
    with start_new_session, so the group id is the master's pid; the
    master's descendants that left the group, if any)."""
    root = inst.proc.pid
    conf = str(inst.conf).encode()
    children, group = {}, set()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        s = _proc_stat(int(d))
        if s is None or s[0] == "Z":
            continue
        children.setdefault(s[1], []).append(int(d))
        if s[2] == root:
            group.add(int(d))
    tree, todo = set(), [root]
    while todo:
        p = todo.pop()
        tree.add(p)
        todo.extend(children.get(p, []))
    return ([p for p in sorted(group) if _ours(p, conf)],
            [p for p in sorted(tree - group) if _ours(p, conf)])


def kill_server(inst):
    """SIGKILL to the master and every child of this instance at once (its
    process group), and to any descendant outside the group; wait until
    all of them are gone. Nothing else on the machine is touched (other
    tests may run their own servers in parallel). Returns the pids."""
    conf = str(inst.conf).encode()
    group, others = server_pids(inst)
    assert inst.proc.pid in group, f"master {inst.proc.pid} not found among {group}"
    os.killpg(inst.proc.pid, signal.SIGKILL)
    for p in others:
        if _ours(p, conf):
            os.kill(p, signal.SIGKILL)
    inst.proc.wait(30)
    pids = group + others
    deadline = time.monotonic() + 30
    while True:
        alive = [p for p in pids if _ours(p, conf)]
        if not alive:
            break
        assert time.monotonic() < deadline, f"still alive after SIGKILL: {alive}"
        time.sleep(0.02)
    inst.log.close()
    inst.proc = None
    return pids


def restart(inst):
    """Start the server again on the same data directory and ports. A
    start that fails because a port is still taken (a client's ephemeral
    port, seldom) is tried again."""
    for attempt in range(5):
        inst.start(wait=False)
        try:
            inst.wait_ready(timeout=READY_TIMEOUT)
            return
        except AssertionError:
            if inst.proc.poll() is None or attempt == 4 or \
                    "Address already in use" not in inst.log_text()[-2000:]:
                raise
            inst.log.close()
            inst.proc = None
            time.sleep(1)


# ---------------------------------------------------------------- load

class Load:
    """Client threads sending one message per transaction over the smtp
    listener, reconnecting (with a short pause) whenever the connection
    fails. accepted: Message-ID -> (recipients, body digest) for every
    message that got 250 after DATA; unsure: the same for those whose
    transaction was cut by the kill."""

    def __init__(self, inst, rng):
        self.inst = inst
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.accepted, self.unsure, self.refused = {}, {}, []
        self.qids = {}
        self.connects = 0
        self.errors = []
        self.seeds = [rng.randrange(1 << 30) for _ in range(CLIENTS)]
        self.threads = [threading.Thread(target=self.client, args=(k,), daemon=True)
                        for k in range(CLIENTS)]

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(90)
            assert not t.is_alive(), "a client thread is stuck"

    def count(self):
        with self.lock:
            return len(self.accepted)

    def message(self, rng, k, seq):
        mid = f"<crash.{k}.{seq}.{rng.getrandbits(48):012x}@load.example>"
        n = rng.choice((1, 1, 1, 2))
        rcpts = rng.sample(USERS, n)
        line = f"{mid} line %05d of a message for the crash test. 0123456789\r\n"
        body = "".join(line % i for i in range(rng.randint(1, 60))).encode()
        head = (f"From: Load <load@remote.example>\r\nTo: {', '.join(rcpts)}\r\n"
                f"Subject: crash {k}-{seq}\r\nMessage-ID: {mid}\r\n\r\n").encode()
        return mid, rcpts, head + body, hashlib.sha256(body).hexdigest()

    @staticmethod
    def transaction(c, rcpts, data):
        """MAIL, RCPT..., DATA: the (code, text) of the first reply that is
        not a success, else of the end of data."""
        code, text = c.mail("load@remote.example")
        if code != 250:
            c.rset()
            return code, text
        for r in rcpts:
            code, text = c.rcpt(r)
            if code != 250:
                c.rset()
                return code, text
        try:
            return c.data(data)
        except smtplib.SMTPDataError as e:     # no 354
            return e.smtp_code, e.smtp_error

    def client(self, k):
        rng = random.Random(self.seeds[k])
        seq = 0
        while not self.stop.is_set():
            try:
                c = smtplib.SMTP(HOST, self.inst.port("smtp"), timeout=30)
            except (OSError, smtplib.SMTPException):
                time.sleep(0.05 + rng.random() * 0.1)
                continue
            with self.lock:
                self.connects += 1
            try:
                c.ehlo("load.example")
                due = time.monotonic()
                while not self.stop.is_set():
                    due = max(due + 1 / RATE, time.monotonic() - 1 / RATE)
                    pause = due - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                    seq += 1
                    mid, rcpts, data, digest = self.message(rng, k, seq)
                    try:
                        reply = self.transaction(c, rcpts, data)
                    except (OSError, smtplib.SMTPException):
                        # cut by the kill: may have been queued or not
                        with self.lock:
                            self.unsure[mid] = (rcpts, digest)
                        break
                    with self.lock:
                        if reply[0] == 250:
                            self.accepted[mid] = (rcpts, digest)
                            self.qids[mid] = reply[1].decode(errors="replace").split()[-1]
                        else:
                            self.refused.append((mid, *reply))
                    if reply[0] == 421:
                        break
            except (OSError, smtplib.SMTPException):
                pass
            finally:
                try:
                    c.close()
                except OSError:
                    pass


# ---------------------------------------------------------------- reading back

def export_inbox(inst, user, dest):
    """Message-ID -> list of body digests, over user's INBOX (`surel
    mailbox export --format maildir`; its files have LF line ends)."""
    inst.cli("mailbox", "export", "--format", "maildir", user, dest, timeout=120)
    out = {}
    parser = BytesParser()
    for sub in ("new", "cur"):
        d = dest / sub
        if not d.exists():
            continue
        for name in os.listdir(d):
            raw = (d / name).read_bytes().replace(b"\r\n", b"\n")
            head, _, body = raw.partition(b"\n\n")
            mid = parser.parsebytes(head + b"\n\n", headersonly=True)["Message-ID"]
            digest = hashlib.sha256(body.replace(b"\n", b"\r\n")).hexdigest()
            out.setdefault(str(mid), []).append(digest)
    return out


def spool_entries(inst):
    d = inst.data / "spool"
    return sorted(n for n in os.listdir(d) if n.endswith(".env")) if d.exists() else []


def log_lines_for(inst, words, limit=40):
    out = [ln for ln in inst.log_text().splitlines() if any(w in ln for w in words)]
    return "\n".join(out[:limit])


# ---------------------------------------------------------------- the test

def test_sigkill_during_load_loses_and_duplicates_nothing(instance, tmp_path):
    inst = instance
    rng = random.Random(SEED)
    where = f"(SUREL_CRASH_SEED={SEED})"
    inst.write_conf(CONF)
    inst.cli("domain", "add", "example.org")
    for u in USERS:
        inst.cli("user", "add", "--password-stdin", u, input="pw-" + u + "\n")
    inst.start(wait=False)
    inst.wait_ready(timeout=READY_TIMEOUT)

    load = Load(inst, rng)
    load.start()
    t0 = time.monotonic()
    kills = []
    try:
        for n in range(KILLS):
            since = load.count()
            early = n % 3 == 1
            wait = rng.uniform(*(KILL_EARLY if early else KILL_AFTER))
            need = 0 if early else MIN_ACCEPTED_BEFORE_KILL
            ready_at = time.monotonic()
            # the moment: `wait` seconds after ready, and not before the
            # load got going again (a loaded machine restarts slowly)
            while time.monotonic() - ready_at < wait or load.count() - since < need:
                assert time.monotonic() - ready_at < 60, \
                    f"no mail accepted within 60 s after (re)start {n} {where}"
                time.sleep(0.01)
            pids = kill_server(inst)
            kills.append((round(time.monotonic() - t0, 2), load.count(), len(pids)))
            # down for a moment: clients see refused connections
            time.sleep(rng.uniform(0.0, 0.3))
            restart(inst)
        # some load on the last server too, then stop the clients
        since = load.count()
        deadline = time.monotonic() + 60
        while load.count() - since < MIN_ACCEPTED_BEFORE_KILL:
            assert time.monotonic() < deadline, f"no mail after the last restart {where}"
            time.sleep(0.05)
    finally:
        load.finish()
    t_load = time.monotonic() - t0

    # the queue drains: every spooled message delivered and removed
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while spool_entries(inst):
        assert time.monotonic() < deadline, \
            f"spool not drained after {DRAIN_TIMEOUT}s: {spool_entries(inst)[:10]} {where}"
        time.sleep(0.2)
    held = [n for n in os.listdir(inst.data / "spool" / "hold")] \
        if (inst.data / "spool" / "hold").exists() else []

    boxes = {u: export_inbox(inst, u, tmp_path / f"export-{u.split('@')[0]}") for u in USERS}
    missing, dup, wrong, unsure_dup, stray = [], [], [], [], []
    for mid, (rcpts, digest) in load.accepted.items():
        for u in rcpts:
            got = boxes[u].get(mid, [])
            if not got:
                missing.append((mid, u))
            elif len(got) > 1:
                dup.append((mid, u, len(got)))
            elif got[0] != digest:
                wrong.append((mid, u))
    for mid, (rcpts, digest) in load.unsure.items():
        for u in rcpts:
            got = boxes[u].get(mid, [])
            if len(got) > 1:
                unsure_dup.append((mid, u, len(got)))
            elif got and got[0] != digest:
                wrong.append((mid, u))
    cut_delivered = sum(1 for mid, (rcpts, _) in load.unsure.items()
                        if any(boxes[u].get(mid) for u in rcpts))
    known = set(load.accepted) | set(load.unsure)
    for u, box in boxes.items():
        for mid in box:
            if mid not in known:
                stray.append((mid, u))

    summary = (f"{where} {len(kills)} kills (s since start, accepted so far, pids): {kills}; "
               f"load {t_load:.1f}s, {load.connects} connections, "
               f"{len(load.accepted)} accepted, {len(load.unsure)} cut "
               f"({cut_delivered} of them delivered), "
               f"{len(load.refused)} refused {load.refused[:5]}; held {held[:10]}")
    print(summary)
    problems = {"250'd but missing": missing, "duplicated": dup + unsure_dup,
                "wrong body": wrong, "never sent": stray}
    bad = {k: v for k, v in problems.items() if v}
    if bad:
        ids = [load.qids.get(m, m) for v in bad.values() for m, *_ in v][:5]
        raise AssertionError(f"{summary}\n{ {k: v[:20] for k, v in bad.items()} }\n"
                             f"log lines of the first Message-IDs' queue ids:\n"
                             + log_lines_for(inst, ids + ["status=killed", "crash"]))
    assert len(kills) == KILLS
    assert len(load.accepted) >= MIN_ACCEPTED_BEFORE_KILL * (KILLS - KILLS // 3)
    assert held == [], f"held after delivery: {held} {where}"
    assert not load.refused, f"refused: {load.refused[:10]} {where}"

    rc = inst.stop()
    assert not inst.sanitizer_errors(), inst.log_text()[-20000:]
    assert rc == 0, f"surel serve exited {rc} {where}"
