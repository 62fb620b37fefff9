"""surel mailbox list|import|export and surel store check: migration from a
Maildir (with Dovecot's dovecot-uidlist and dovecot-keywords) and from mbox,
export and re-import round trips (byte-identical messages), and the checker.
The store's files are read independently with sqlite3 where it matters."""
import os
import pwd
import re
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

UIDVALIDITY = 1234567890


def msg(n, subject=None, extra=""):
    subject = subject or f"Message {n}"
    return (f"From: Alice <alice@example.org>\nTo: bob@example.org\nSubject: {subject}\n"
            f"Date: Mon, 2 Nov 2026 10:{n:02d}:00 +0000\nMessage-ID: <m{n}@example.org>\n"
            f"\nBody of message {n}.\n{extra}").encode()


def write(path, data, mtime=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def make_maildir(root: Path):
    """A Dovecot Maildir++: INBOX with a uidlist, keywords, a message only in
    new/, and subfolders Work/Projects, Sent and a modified UTF-7 name."""
    files = {}
    for d in ("cur", "new", "tmp"):
        (root / d).mkdir(parents=True, exist_ok=True)
    inbox = [
        (3, "1700000001.M1P1.host,S=100:2,S", msg(1)),
        (7, "1700000002.M2P1.host,S=100:2,FRS", msg(2)),
        (12, "1700000003.M3P1.host,S=100:2,Pa", msg(3, extra="From the start of a line\n")),
    ]
    lines = [f"3 V{UIDVALIDITY} N20 Gabcdef"]
    for uid, name, data in inbox:
        write(root / "cur" / name, data, mtime=1600000000 + uid)
        lines.append(f"{uid} :{name.split(':')[0]}")
        files[("INBOX", uid)] = (name, data)
    (root / "dovecot-uidlist").write_text("\n".join(lines) + "\n")
    (root / "dovecot-keywords").write_text("0 Work\n1 $Junk\n")
    write(root / "new" / "1700000009.M9P1.host", msg(4), mtime=1600000100)
    files[("INBOX", None)] = ("1700000009.M9P1.host", msg(4))

    work = root / ".Work.Projects"
    for d in ("cur", "new", "tmp"):
        (work / d).mkdir(parents=True, exist_ok=True)
    write(work / "cur" / "1700000010.M10P1.host:2,T", msg(10), mtime=1600000200)
    (work / "dovecot-uidlist").write_text("3 V99 N6\n5 :1700000010.M10P1.host\n")
    files[("Work/Projects", 5)] = ("1700000010.M10P1.host:2,T", msg(10))

    sent = root / ".Sent"
    for d in ("cur", "new", "tmp"):
        (sent / d).mkdir(parents=True, exist_ok=True)
    write(sent / "cur" / "1700000020.M20P1.host:2,S", msg(20), mtime=1600000300)

    umlaut = root / ".&AMQ-rger"      # "Ärger"
    for d in ("cur", "new", "tmp"):
        (umlaut / d).mkdir(parents=True, exist_ok=True)
    write(umlaut / "new" / "1700000030.M30P1.host", msg(30), mtime=1600000400)
    return files


def account_id(instance, address):
    con = sqlite3.connect(instance.data / "surel.db")
    try:
        return con.execute("SELECT id FROM accounts WHERE address = ?", (address,)).fetchone()[0]
    finally:
        con.close()


def index_rows(instance, address, mailbox):
    """(uid, flags, keywords, internaldate, blob) of every message, by UID."""
    path = instance.data / "users" / str(account_id(instance, address)) / "index.db"
    con = sqlite3.connect(path)
    try:
        return con.execute(
            "SELECT m.uid, m.flags, (SELECT group_concat(k.name, ' ') FROM message_keywords mk "
            " JOIN keywords k ON k.id = mk.keyword_id WHERE mk.message_id = m.id),"
            " m.internaldate, c.blob "
            "FROM messages m JOIN mailboxes mb ON mb.id = m.mailbox_id "
            "JOIN contents c ON c.id = m.content_id WHERE mb.name = ? ORDER BY m.uid",
            (mailbox,)).fetchall()
    finally:
        con.close()


def mailbox_row(instance, address, mailbox):
    path = instance.data / "users" / str(account_id(instance, address)) / "index.db"
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT uidvalidity, uidnext FROM mailboxes WHERE name = ?",
                           (mailbox,)).fetchone()
    finally:
        con.close()


def listing(cli, address):
    """{mailbox: (messages, unseen, use)} from surel mailbox list."""
    out = cli("mailbox", "list", address).stdout.splitlines()
    assert out[0].split()[0] == "MAILBOX"
    result = {}
    for line in out[1:-1]:
        m = re.match(r"^(.*?)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(yes|no)$",
                     line)
        assert m, line
        result[m.group(1)] = (int(m.group(3)), int(m.group(4)), m.group(2))
    assert out[-1].startswith("total: ")
    return result


def blob_bytes(instance, blob):
    return (instance.data / "blobs" / blob[:2] / blob[2:4] / blob).read_bytes()


def crlf(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


def maildir_messages(root: Path):
    """{folder: {base name: (info, bytes, mtime)}} of a Maildir++ tree."""
    result = {}
    for folder in [root] + sorted(p for p in root.iterdir() if p.name.startswith(".")):
        if not (folder / "cur").is_dir():
            continue
        msgs = {}
        for sub in ("cur", "new"):
            for f in (folder / sub).iterdir():
                base, _, info = f.name.partition(":2,")
                msgs[base] = (info, f.read_bytes(), int(f.stat().st_mtime))
        result[folder.name if folder != root else ""] = msgs
    return result


def uidlist(folder: Path):
    lines = (folder / "dovecot-uidlist").read_text().splitlines()
    head = dict((t[0], t[1:]) for t in lines[0].split()[1:])
    return head, [int(line.split()[0]) for line in lines[1:]]


@pytest.fixture
def users(instance):
    instance.cli("domain", "add", "example.org")
    for u in ("alice", "bob"):
        instance.cli("user", "add", "--password-stdin", f"{u}@example.org", input="pw\n")
    return instance


# ---- list ----

def test_list_new_account(users):
    mailboxes = listing(users.cli, "alice@example.org")
    assert list(mailboxes) == ["INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"]
    assert mailboxes["Sent"] == (0, 0, "\\Sent")
    assert mailboxes["INBOX"] == (0, 0, "-")
    r = users.cli("mailbox", "list", "nobody@example.org", check=False)
    assert r.returncode == 1
    assert "no such account 'nobody@example.org'" in r.stderr
    assert users.cli("mailbox", "list", check=False).returncode == 2
    assert users.cli("mailbox", "frobnicate", "x", check=False).returncode == 2


def test_files_belong_to_server_user(users):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    users.cli("mailbox", "list", "alice@example.org")
    owner = pwd.getpwnam("surel").pw_uid
    for path in [users.data / "blobs.db", users.data / "blobs", users.data / "users",
                 *(users.data / "users").rglob("*")]:
        assert path.stat().st_uid == owner, path


# ---- Maildir ----

def test_import_maildir_keeps_uids(users, tmp_path):
    src = tmp_path / "Maildir"
    files = make_maildir(src)
    r = users.cli("mailbox", "import", "alice@example.org", src)
    assert "imported 7 messages into 4 mailboxes (4 kept their UIDs" in r.stdout

    mailboxes = listing(users.cli, "alice@example.org")
    assert mailboxes["INBOX"][0] == 4
    assert mailboxes["INBOX"][1] == 2                    # the "Pa" one and the one from new/
    assert mailboxes["Work/Projects"][0] == 1
    assert mailboxes["Work"][0] == 0                     # parent created
    assert mailboxes["Sent"] == (1, 0, "\\Sent")         # into the existing special mailbox
    assert mailboxes["\u00c4rger"][0] == 1               # modified UTF-7 decoded

    rows = index_rows(users, "alice@example.org", "INBOX")
    assert [r[0] for r in rows] == [3, 7, 12, 20]        # kept; the new one after N20
    assert mailbox_row(users, "alice@example.org", "INBOX") == (UIDVALIDITY, 21)
    seen, answered, flagged, deleted = 1, 2, 4, 8
    assert rows[0][1] == seen and rows[0][2] is None
    assert rows[1][1] == seen | answered | flagged
    assert sorted(rows[2][2].split()) == ["$Forwarded", "Work"]   # P and keyword a
    assert rows[0][3] == 1600000003                      # INTERNALDATE from the mtime
    # Stored with CRLF, byte for byte otherwise.
    assert blob_bytes(users, rows[2][4]) == crlf(files[("INBOX", 12)][1])
    work = index_rows(users, "alice@example.org", "Work/Projects")
    assert [(r[0], r[1]) for r in work] == [(5, deleted)]
    assert mailbox_row(users, "alice@example.org", "Work/Projects") == (99, 6)

    # Importing again into the same, now used, mailboxes: new UIDs, nothing lost.
    users.cli("mailbox", "import", "alice@example.org", src)
    rows = index_rows(users, "alice@example.org", "INBOX")
    assert [r[0] for r in rows] == [3, 7, 12, 20, 21, 22, 23, 24]
    assert mailbox_row(users, "alice@example.org", "INBOX")[0] == UIDVALIDITY


def test_import_into_mailbox(users, tmp_path):
    src = tmp_path / "Maildir"
    make_maildir(src)
    users.cli("mailbox", "import", "--mailbox", "Old Server", "bob@example.org", src)
    mailboxes = listing(users.cli, "bob@example.org")
    assert mailboxes["Old Server"][0] == 4
    assert mailboxes["Old Server/Work/Projects"][0] == 1
    assert mailboxes["INBOX"][0] == 0
    assert [r[0] for r in index_rows(users, "bob@example.org", "Old Server")] == [3, 7, 12, 20]


def test_maildir_round_trip(users, tmp_path):
    src = tmp_path / "Maildir"
    make_maildir(src)
    users.cli("mailbox", "import", "alice@example.org", src)
    out = tmp_path / "export"
    r = users.cli("mailbox", "export", "alice@example.org", out)
    assert "exported 7 messages" in r.stdout

    original = maildir_messages(src)
    exported = maildir_messages(out)
    # The same messages, byte for byte, with their flags and dates, per folder.
    for folder in ("", ".Work.Projects", ".Sent", ".&AMQ-rger"):
        a = sorted((data, mtime) for info, data, mtime in original[folder].values())
        b = sorted((data, mtime) for info, data, mtime in exported[folder].values())
        assert a == b, folder
    infos = sorted(info for info, data, mtime in exported[""].values())
    assert infos == ["", "FRS", "Pa", "S"]
    assert (out / "dovecot-keywords").read_text() == "0 Work\n"
    head, uids = uidlist(out)
    assert head["V"] == str(UIDVALIDITY) and head["N"] == "21"
    assert uids == [3, 7, 12, 20]
    assert uidlist(out / ".Work.Projects")[1] == [5]

    # Re-import into another account: the same UIDs, flags and bodies.
    users.cli("mailbox", "import", "bob@example.org", out)
    for mailbox in ("INBOX", "Work/Projects", "Sent", "\u00c4rger"):
        a = index_rows(users, "alice@example.org", mailbox)
        b = index_rows(users, "bob@example.org", mailbox)
        assert [(r[0], r[1], r[3], r[4]) for r in a] == [(r[0], r[1], r[3], r[4]) for r in b]
    assert mailbox_row(users, "bob@example.org", "INBOX") == (UIDVALIDITY, 21)
    # One blob per message for both accounts.
    con = sqlite3.connect(users.data / "blobs.db")
    assert con.execute("SELECT COUNT(*), MIN(refcount), MAX(refcount) FROM blobs").fetchone() \
        == (7, 2, 2)
    con.close()

    # And exported again: identical trees.
    out2 = tmp_path / "export2"
    users.cli("mailbox", "export", "bob@example.org", out2)
    assert maildir_messages(out2) == exported

    # One mailbox only.
    out3 = tmp_path / "export3"
    r = users.cli("mailbox", "export", "--mailbox", "Work/Projects", "alice@example.org", out3)
    assert "exported 1 messages" in r.stdout
    assert list(maildir_messages(out3)) == [".Work.Projects"]
    r = users.cli("mailbox", "export", "--mailbox", "Nope", "alice@example.org", out3,
                  check=False)
    assert r.returncode == 1 and "does not exist" in r.stderr


# ---- mbox ----

MBOX = (b"From alice@example.org Mon Nov  2 10:01:00 2026\n"
        + msg(1, extra=">From the start of a line\n>>From already quoted\n") + b"\n"
        + b"From bob@example.org Tue Nov  3 11:02:03 2026\n"
        + msg(2).replace(b"Message-ID", b"Status: RO\nX-Status: AF\nMessage-ID") + b"\n"
        + b"From carol@example.org Wed Nov  4 12:03:04 2026\n"
        + msg(3) + b"\n")


def mbox_messages(data: bytes):
    """The messages of an mboxrd file, unquoted, with their From_ dates."""
    out = []
    for part in re.split(rb"(?m)^(?=From )", data):
        if not part:
            continue
        first, _, body = part.partition(b"\n")
        body = re.sub(rb"(?m)^>(>*From )", rb"\1", body)
        assert body.endswith(b"\n\n")
        out.append((first.split(b" ", 2)[2], body[:-1]))
    return out


def test_mbox_import_export(users, tmp_path):
    src = tmp_path / "inbox.mbox"
    src.write_bytes(MBOX)
    r = users.cli("mailbox", "import", "--mailbox", "Archive/2026", "alice@example.org", src)
    assert "imported 3 messages into 1 mailboxes" in r.stdout
    rows = index_rows(users, "alice@example.org", "Archive/2026")
    assert [r[0] for r in rows] == [1, 2, 3]
    assert rows[1][1] == 1 | 2 | 4                      # Status R, X-Status A F
    assert rows[0][3] == 1793613660                     # Mon Nov  2 10:01:00 2026 UTC
    original = mbox_messages(MBOX)
    # The quoted lines are unquoted once in the store.
    assert blob_bytes(users, rows[0][4]) == crlf(original[0][1])
    assert b"\r\nFrom the start of a line\r\n>From already quoted\r\n" in \
        blob_bytes(users, rows[0][4])

    out = tmp_path / "mbox-out"
    r = users.cli("mailbox", "export", "--format", "mbox", "alice@example.org", out)
    assert "exported 3 messages" in r.stdout
    exported = (out / "Archive" / "2026.mbox").read_bytes()
    assert [m for d, m in mbox_messages(exported)] == [m for d, m in original]
    assert [d for d, m in mbox_messages(exported)] == [
        b"Mon Nov  2 10:01:00 2026", b"Tue Nov  3 11:02:03 2026", b"Wed Nov  4 12:03:04 2026"]
    assert (out / "INBOX.mbox").read_bytes() == b""     # every mailbox, empty ones too

    # Directory of mbox files -> the same mailboxes for bob; export is identical.
    users.cli("mailbox", "import", "bob@example.org", out)
    assert listing(users.cli, "bob@example.org")["Archive/2026"][0] == 3
    out2 = tmp_path / "mbox-out2"
    users.cli("mailbox", "export", "--format", "mbox", "bob@example.org", out2)
    assert (out2 / "Archive" / "2026.mbox").read_bytes() == exported

    bad = tmp_path / "not-mbox"
    bad.write_text("hello\n")
    r = users.cli("mailbox", "import", "alice@example.org", bad, check=False)
    assert r.returncode == 1 and "not an mbox file" in r.stderr
    r = users.cli("mailbox", "import", "alice@example.org", tmp_path / "missing", check=False)
    assert r.returncode == 1


# ---- store check ----

def check(cli, *args, rc=0):
    r = cli("store", "check", *args, check=False)
    assert r.returncode == rc, r.stdout + r.stderr
    return dict(line.split(": ", 1) for line in r.stdout.splitlines())


def test_store_check(users, tmp_path):
    src = tmp_path / "Maildir"
    make_maildir(src)
    users.cli("mailbox", "import", "alice@example.org", src)
    report = check(users.cli)
    assert report["result"] == "ok"
    assert report["users"] == "1" and report["blobs"] == "7"

    # A lost blob file: found (exit 1), then its message is expunged.
    blob = index_rows(users, "alice@example.org", "Sent")[0][4]
    (users.data / "blobs" / blob[:2] / blob[2:4] / blob).unlink()
    # A stale temporary file and an orphan blob (a crash between rename and commit).
    stale = users.data / "blobs" / "tmp" / "12345.deadbeef"
    write(stale, b"partial", mtime=time.time() - 7200)
    orphan_id = "ab" * 32
    orphan = users.data / "blobs" / "ab" / "ab" / orphan_id
    write(orphan, b"orphan", mtime=time.time() - 7200)
    fresh_id = "cd" * 32
    fresh = users.data / "blobs" / "cd" / "cd" / fresh_id   # within the grace period
    write(fresh, b"fresh")

    report = check(users.cli, rc=1)
    assert report["missing blobs"] == "1"
    assert report["stale temporary files"] == "1"
    assert report["orphan blobs"] == "1"
    assert report["result"].startswith("problems found")
    assert stale.exists() and orphan.exists()

    report = check(users.cli, "--repair")
    assert report["result"] == "repaired"
    assert not stale.exists() and not orphan.exists() and fresh.exists()
    assert index_rows(users, "alice@example.org", "Sent") == []
    assert listing(users.cli, "alice@example.org")["Sent"][0] == 0
    assert check(users.cli)["result"] == "ok"
    # With no grace period the fresh orphan goes too.
    check(users.cli, "--repair", "--grace", "0")
    assert not fresh.exists()
    assert users.cli("store", "check", "--bogus", check=False).returncode == 2
    r = users.cli("store", "gc", "--grace", "0")
    assert r.stdout == "blobs removed: 0\n"


# ---- user del: the account's mail goes with it ----

def blob_rows(instance):
    con = sqlite3.connect(instance.data / "blobs.db")
    try:
        return dict(con.execute("SELECT id, refcount FROM blobs").fetchall())
    finally:
        con.close()


def test_user_del_removes_mail(users, tmp_path):
    src = tmp_path / "Maildir"
    make_maildir(src)
    users.cli("mailbox", "import", "alice@example.org", src)
    # bob holds one of alice's messages (the same bytes: the same blob)
    mbox = tmp_path / "one.mbox"
    mbox.write_bytes(b"From alice@example.org Mon Nov  2 10:01:00 2026\n" + msg(1) + b"\n")
    users.cli("mailbox", "import", "bob@example.org", mbox)
    alice = account_id(users, "alice@example.org")
    shared = index_rows(users, "bob@example.org", "INBOX")[0][4]
    alice_blobs = {r[4] for mb in ("INBOX", "Work/Projects", "Sent", "\u00c4rger")
                   for r in index_rows(users, "alice@example.org", mb)}
    assert shared in alice_blobs and len(alice_blobs) == 7
    assert blob_rows(users)[shared] == 2

    users.cli("user", "del", "alice@example.org")
    assert not (users.data / "users" / str(alice)).exists()
    counts = blob_rows(users)
    assert counts[shared] == 1
    assert all(counts[b] == 0 for b in alice_blobs - {shared})
    # Within the grace period nothing is collected and nothing is wrong.
    report = check(users.cli)
    assert report["result"] == "ok" and report["users"] == "1"
    assert all(blob_bytes(users, b) for b in alice_blobs)
    # After it, the blobs no one references any more go; bob's stays.
    report = check(users.cli, "--repair", "--grace", "0")
    assert report["blobs removed"] == "6"
    assert set(blob_rows(users)) == {shared}
    for b in alice_blobs - {shared}:
        assert not (users.data / "blobs" / b[:2] / b[2:4] / b).exists()
    assert blob_bytes(users, shared) == crlf(msg(1))
    assert listing(users.cli, "bob@example.org")["INBOX"][0] == 1
    assert check(users.cli)["result"] == "ok"

    # An account that never had mail; a second del of the same address.
    users.cli("user", "add", "--password-stdin", "carol@example.org", input="pw\n")
    users.cli("user", "del", "carol@example.org")
    r = users.cli("user", "del", "alice@example.org", check=False)
    assert r.returncode == 1 and "no such account 'alice@example.org'" in r.stderr


def test_user_del_store_unavailable(users, tmp_path):
    """The store cannot be opened: the account is deleted all the same, and
    the message says what is left and how to clean it up."""
    src = tmp_path / "Maildir"
    make_maildir(src)
    users.cli("mailbox", "import", "alice@example.org", src)
    alice = account_id(users, "alice@example.org")
    # A directory where the store's lock file should be: even root cannot
    # open it for writing.
    lock = users.data / "blobs.lock"
    lock.rename(tmp_path / "blobs.lock")
    lock.mkdir()
    try:
        r = users.cli("user", "del", "alice@example.org", check=False)
    finally:
        lock.rmdir()
        (tmp_path / "blobs.lock").rename(lock)
    assert r.returncode == 1
    assert "account 'alice@example.org' deleted, but not its mail" in r.stderr
    assert f"users/{alice}, then run 'surel store check --repair'" in r.stderr
    assert "alice@example.org" not in users.cli("user", "list").stdout
    assert (users.data / "users" / str(alice)).exists()
    # As the message says: remove the directory, repair (counts), collect.
    shutil.rmtree(users.data / "users" / str(alice))
    report = check(users.cli, "--repair", "--grace", "0")
    assert report["wrong reference counts"] == "7" and report["blobs removed"] == "7"
    assert blob_rows(users) == {}


# ---- import in several batches (blobs committed together per batch) ----

def test_import_many_batches(users, tmp_path):
    """More messages than one import batch (64): every one arrives, in
    order, byte for byte, with its flags; duplicates share one blob."""
    src = tmp_path / "Maildir"
    for d in ("cur", "new", "tmp"):
        (src / d).mkdir(parents=True)
    n = 150

    def data_of(i):
        key = i if i < 140 else i - 100                   # 140-149 repeat 40-49
        return msg(key % 60, subject=f"Batch {key}")

    for i in range(n):
        data = data_of(i)
        info = "S" if i % 3 == 0 else ""
        write(src / "cur" / f"{1700000000 + i}.M{i}P1.host:2,{info}", data,
              mtime=1600000000 + i)
    r = users.cli("mailbox", "import", "alice@example.org", src)
    assert f"imported {n} messages into 1 mailboxes" in r.stdout
    rows = index_rows(users, "alice@example.org", "INBOX")
    assert [r[0] for r in rows] == list(range(1, n + 1))
    assert [r[1] for r in rows] == [1 if i % 3 == 0 else 0 for i in range(n)]
    assert [r[3] for r in rows] == [1600000000 + i for i in range(n)]
    for i in (0, 63, 64, 65, 127, 128, 149):
        assert blob_bytes(users, rows[i][4]) == crlf(data_of(i))
    assert rows[140][4] == rows[40][4]
    assert len(blob_rows(users)) == 140
    assert not any((users.data / "blobs" / "tmp").iterdir())
    assert check(users.cli)["result"] == "ok"
