#!/usr/bin/python3
"""POP3 benchmark (not a test): Surel and Debian's Dovecot side by side on
this machine, each serving 20 accounts of 500 messages (10,000 in all) over
implicit TLS; 20 client processes, one per account, each log in, RETR and
DELE every message, and QUIT (UPDATE expunges them). Prints the wall time
of each round, messages per second, and the ratio of the medians.

  bench/pop3/run.py [--surel build/src/surel] [--rounds 3] [--clients 20]
                    [--messages 10000] [--size 4096]

Build Surel without sanitizers for a fair number:
  meson setup /tmp/surel-rel -Dbuildtype=release -Db_sanitize=none -Dtests=false
  ninja -C /tmp/surel-rel src/surel"""
import argparse
import multiprocessing
import os
import poplib
import shutil
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import pop3_dovecot  # noqa: E402
from conftest import Instance  # noqa: E402

PASSWORD = "bench-secret"


def ctx():
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def message(i, size):
    head = (f"From: Bench <bench@example.org>\r\nTo: user@example.org\r\n"
            f"Subject: Message {i}\r\nMessage-ID: <b{i}@example.org>\r\n\r\n")
    line = "The quick brown fox jumps over the lazy dog, again and again. 0123456789\r\n"
    body = (line * (size // len(line) + 1))[:max(0, size - len(head) - 2)]
    return (head + body.rstrip("\r\n") + "\r\n").encode()


def client(args):
    port, user, expect = args
    p = poplib.POP3_SSL("127.0.0.1", port, context=ctx(), timeout=120)
    p.user(user)
    p.pass_(PASSWORD)
    n, _ = p.stat()
    assert n == expect, (user, n, expect)
    got = 0
    for i in range(1, n + 1):
        got += len(p.retr(i)[1])
        p.dele(i)
    p.quit()
    return n


def timed(port, users, per_user, clients):
    with multiprocessing.Pool(clients) as pool:
        t0 = time.monotonic()
        done = sum(pool.map(client, [(port, u, per_user) for u in users]))
        return time.monotonic() - t0, done


def users_for(n):
    return [f"u{i:02d}@example.org" for i in range(n)]


def fill_surel(inst, users, msgs, tmp):
    mbox = tmp / "bench.mbox"
    with open(mbox, "wb") as f:
        for m in msgs:
            f.write(b"From bench@example.org Mon Nov  2 10:00:00 2026\n")
            f.write(m.replace(b"\r\n", b"\n") + b"\n")
    for u in users:
        inst.cli("mailbox", "import", u, mbox, timeout=600)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--surel", default=os.environ.get("SUREL_BIN", str(ROOT / "build/src/surel")))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--size", type=int, default=4096)
    a = ap.parse_args()
    reason = pop3_dovecot.available()
    if reason:
        sys.exit(f"bench/pop3: {reason}")
    os.environ["SUREL_BIN"] = a.surel
    per_user = a.messages // a.clients
    users = users_for(a.clients)
    msgs = [message(i, a.size) for i in range(per_user)]
    times = {"surel": [], "dovecot": []}
    for r in range(a.rounds):
        tmp = Path(tempfile.mkdtemp(prefix="surel-bench-pop3-"))
        tmp.chmod(0o755)
        inst = Instance(tmp, "[limits]\nmax_connections_per_ip = 1000\n")
        conf = inst.conf.read_text().replace("level = debug", "level = warn")
        conf = conf.replace("workers = 2", "workers = 0")
        inst.conf.write_text(conf)
        inst.cli("domain", "add", "example.org")
        for u in users:
            inst.cli("user", "add", "--password-stdin", u, input=PASSWORD + "\n")
        fill_surel(inst, users, msgs, tmp)
        inst.start()
        (tmp / "dovecot").mkdir()
        dov = pop3_dovecot.DovecotPop3(tmp / "dovecot", inst.data / "tls" / "cert.pem",
                                       inst.data / "tls" / "key.pem", password=PASSWORD)
        try:
            for u in users:
                dov.deliver(u, msgs)
            t, n = timed(inst.port("pop3s"), users, per_user, a.clients)
            times["surel"].append(t)
            print(f"round {r + 1}: surel   {n} messages in {t:.2f}s ({n / t:.0f}/s)", flush=True)
            t, n = timed(dov.port, users, per_user, a.clients)
            times["dovecot"].append(t)
            print(f"round {r + 1}: dovecot {n} messages in {t:.2f}s ({n / t:.0f}/s)", flush=True)
        finally:
            dov.stop()
            inst.stop()
            shutil.rmtree(tmp, ignore_errors=True)
    ms, md = statistics.median(times["surel"]), statistics.median(times["dovecot"])
    total = per_user * a.clients
    print(f"median: surel {ms:.2f}s ({total / ms:.0f} msg/s), dovecot {md:.2f}s "
          f"({total / md:.0f} msg/s); surel/dovecot time ratio {ms / md:.2f} "
          f"(< 1: Surel faster)")


if __name__ == "__main__":
    main()
