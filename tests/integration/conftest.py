"""Integration-test harness: a real `surel serve` on free loopback ports in a
temporary data directory, driven with the CLI and real protocol clients.

Fixtures:
  surel_bin   path of the program under test (SUREL_BIN, else build/src/surel)
  cli         run `surel -c CONF ...` against a fresh config without a server
  server      a started server (function scope); server.cli(...), server.port("imap")
"""
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LISTENERS = ("smtp", "submission", "smtps", "imap", "imaps", "pop3", "pop3s", "http")


def surel_path():
    return os.environ.get("SUREL_BIN") or str(ROOT / "build" / "src" / "surel")


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (bound and released)."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def sanitizer_env():
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return env


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")


class Instance:
    """One configuration + data directory; optionally a running server."""

    def __init__(self, tmp: Path, extra_conf: str = ""):
        self.dir = tmp
        self.data = tmp / "var"
        self.conf = tmp / "surel.conf"
        self.log_path = tmp / "server.log"
        self.ports = dict(zip(LISTENERS, free_ports(len(LISTENERS))))
        self.proc = None
        self.write_conf(extra_conf)

    def write_conf(self, extra: str = ""):
        lines = ["[server]", f"data_dir = {self.data}", "workers = 2", ""]
        for name in LISTENERS:
            lines += [f"[{name}]", f"listen = 127.0.0.1:{self.ports[name]}", ""]
        lines += ["[log]", "level = debug", ""]
        self.conf.write_text("\n".join(lines) + extra)

    def port(self, name):
        return self.ports[name]

    def cli(self, *args, input=None, check=True, timeout=60):
        """Run `surel -c CONF args...`; returns the CompletedProcess."""
        r = subprocess.run([surel_path(), "-c", str(self.conf), *map(str, args)],
                           input=input, capture_output=True, text=True,
                           timeout=timeout, env=sanitizer_env())
        if check and r.returncode != 0:
            raise AssertionError(f"surel {' '.join(map(str, args))} exited {r.returncode}:\n"
                                 f"{r.stdout}{r.stderr}")
        for m in SANITIZER_MARKERS:
            assert m not in r.stderr, r.stderr
        return r

    # ---- server ----
    def start(self, wait=True):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([surel_path(), "serve", "-c", str(self.conf)],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     env=sanitizer_env(), start_new_session=True)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=15):
        """Until every listener accepts a connection."""
        deadline = time.monotonic() + timeout
        for name in LISTENERS:
            while True:
                if self.proc.poll() is not None:
                    raise AssertionError(f"surel serve exited {self.proc.returncode}:\n"
                                         + self.log_text())
                try:
                    socket.create_connection(("127.0.0.1", self.ports[name]), 0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise AssertionError(f"{name} port not ready:\n" + self.log_text())
                    time.sleep(0.05)

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=20):
        """SIGTERM and wait; returns the exit status (None if never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                raise AssertionError("surel serve did not stop on SIGTERM:\n" + self.log_text())
        self.log.close()
        rc = self.proc.returncode
        self.proc = None
        return rc

    def kill_all(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()

    def sanitizer_errors(self):
        text = self.log_text()
        return [m for m in SANITIZER_MARKERS if m in text]


@pytest.fixture
def surel_bin():
    return surel_path()


@pytest.fixture
def instance(tmp_path):
    """A configuration and data directory, no server started."""
    inst = Instance(tmp_path)
    yield inst
    inst.kill_all()


@pytest.fixture
def cli(instance):
    return instance.cli


@pytest.fixture
def server(instance):
    """A running server with domain example.org and users alice and bob
    (passwords 'alice-secret' and 'bob-secret')."""
    instance.cli("domain", "add", "example.org")
    instance.cli("user", "add", "--password-stdin", "alice@example.org", input="alice-secret\n")
    instance.cli("user", "add", "--password-stdin", "bob@example.org", input="bob-secret\n")
    instance.start()
    yield instance
    rc = instance.stop()
    errors = instance.sanitizer_errors()
    assert not errors, "sanitizer report in server log:\n" + instance.log_text()
    assert rc == 0, f"surel serve exited {rc}:\n" + instance.log_text()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Print the server's log for a failed test."""
    outcome = yield
    rep = outcome.get_result()
    if rep.when in ("call", "teardown") and rep.failed:
        inst = item.funcargs.get("instance") if hasattr(item, "funcargs") else None
        if inst is not None:
            rep.sections.append(("surel server log", inst.log_text()[-20000:]))
