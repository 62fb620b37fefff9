"""Real POP3 clients from Debian against Surel: fetchmail (over pop3s, and
over pop3 with STLS) and getmail6 (over pop3s into an mboxrd file), with
keep and with delete. Each skips with its reason when the client is not
installed (scripts/install-deps installs both)."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from test_pop3 import ALICE, ALICE_PW, MSGS, deliver, pop  # noqa: F401  (fixture)
from test_store_cli import index_rows


def need(program):
    if shutil.which(program) is None:
        pytest.skip(f"{program} is not installed (scripts/install-deps)")


def fetchmail(inst, tmp_path, port, tls, keep):
    out = tmp_path / "fetched"
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        "set no syslog\n"
        f"poll 127.0.0.1 with proto POP3 port {port} uidl\n"
        f'  user "{ALICE}" there with password "{ALICE_PW}" is root here\n'
        f"  {tls} no sslcertck\n"
        f"  {'keep' if keep else 'nokeep'} fetchall\n"
        f'  mda "cat >> {out}; echo ==== >> {out}"\n')
    rc.chmod(0o600)
    env = dict(os.environ, HOME=str(tmp_path), FETCHMAILHOME=str(tmp_path))
    r = subprocess.run(["fetchmail", "-N", "-d0", "-f", str(rc), "--idfile",
                        str(tmp_path / "ids"), "--pidfile", str(tmp_path / "pid")],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode in (0, 1), r.stdout + r.stderr   # 1: no mail
    return out.read_text() if out.exists() else "", r


@pytest.mark.parametrize("listener,tls", [("pop3s", "ssl"), ("pop3", "sslproto tls1.2+")])
@pytest.mark.parametrize("keep", [True, False])
def test_fetchmail(pop, tmp_path, listener, tls, keep):  # noqa: F811
    need("fetchmail")
    inst = pop()
    deliver(inst, tmp_path, *MSGS)
    text, r = fetchmail(inst, tmp_path, inst.port(listener), tls, keep)
    assert text.count("====") == 4, r.stdout + r.stderr
    for n in range(1, 5):
        assert f"Subject: Message {n}" in text
    assert "\n.starts with a dot\n..and two\n.\nend\n" in text   # unstuffed again
    remaining = [row[0] for row in index_rows(inst, ALICE, "INBOX")]
    assert remaining == ([1, 2, 3, 4] if keep else [])
    if keep:   # every message is \Seen now
        assert all(row[1] & 1 for row in index_rows(inst, ALICE, "INBOX"))


def getmail(tmp_path, port, delete):
    # getmail refuses to deliver as root: its mboxrd writer runs as the
    # server's unprivileged user, in a directory that user can reach.
    box_dir = tmp_path / "box"
    if not box_dir.exists():
        box_dir.mkdir()
        shutil.chown(box_dir, "surel")
        for d in (box_dir, *box_dir.parents):
            if str(d).startswith("/tmp/") and d != Path("/tmp"):
                d.chmod(d.stat().st_mode | 0o011)
    mbox = box_dir / "mbox"
    if not mbox.exists():
        mbox.touch()
        shutil.chown(mbox, "surel")
    gdir = tmp_path / "getmail"
    gdir.mkdir(exist_ok=True)
    rc = gdir / "getmailrc"
    rc.write_text(
        "[retriever]\ntype = SimplePOP3SSLRetriever\nserver = 127.0.0.1\n"
        f"port = {port}\nusername = {ALICE}\npassword = {ALICE_PW}\n"
        f"[destination]\ntype = Mboxrd\npath = {mbox}\nuser = surel\n"
        f"[options]\nverbose = 2\nread_all = false\ndelete = {str(delete).lower()}\n"
        "message_log_syslog = false\n")
    r = subprocess.run(["getmail", f"--getmaildir={gdir}", f"--rcfile={rc}"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return mbox.read_text(), r


@pytest.mark.parametrize("delete", [False, True])
def test_getmail6(pop, tmp_path, delete):  # noqa: F811
    need("getmail")
    inst = pop()
    deliver(inst, tmp_path, *MSGS)
    text, r = getmail(tmp_path, inst.port("pop3s"), delete)
    assert text.count("\nFrom ") + text.startswith("From ") == 4, r.stdout
    assert ".starts with a dot\n..and two\n" in text
    remaining = [row[0] for row in index_rows(inst, ALICE, "INBOX")]
    assert remaining == ([] if delete else [1, 2, 3, 4])
    # a second run: getmail remembers the UIDLs, so nothing new is fetched
    deliver(inst, tmp_path, MSGS[0].replace("Message 1", "Fifth"))
    text, r = getmail(tmp_path, inst.port("pop3s"), delete)
    assert text.count("Subject: Message 1") == 1
    assert text.count("Subject: Fifth") == 1
