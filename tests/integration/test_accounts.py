"""surel domain|user|alias: every command, every error, and the stored
password hashes checked independently (sqlite3 + the system's crypt(3))."""
import os
import pty
import re
import select
import sqlite3
import subprocess
import time
import warnings

import pytest

from conftest import surel_path, sanitizer_env

try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # crypt(3) of the system's libcrypt (removed in Python 3.13)
except ImportError:  # the same function through ctypes
    import ctypes
    import ctypes.util

    class crypt:  # noqa: N801 - stands in for the module
        _lib = ctypes.CDLL(ctypes.util.find_library("crypt"))
        _lib.crypt.restype = ctypes.c_char_p
        _lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]

        @staticmethod
        def crypt(word, salt):
            r = crypt._lib.crypt(word.encode(), salt.encode())
            return r.decode() if r is not None else None


# ---- helpers ----

def db_rows(instance):
    """Every row of the directory's tables: the database's whole state."""
    con = sqlite3.connect(instance.data / "surel.db")
    try:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY id").fetchall()
                for t in ("domains", "accounts", "aliases")}
    finally:
        con.close()


def stored_hash(instance, address):
    con = sqlite3.connect(instance.data / "surel.db")
    try:
        row = con.execute("SELECT password_hash FROM accounts WHERE address = ?",
                          (address,)).fetchone()
    finally:
        con.close()
    assert row is not None, f"no account {address} in surel.db"
    return row[0]


def check_password(instance, address, password):
    h = stored_hash(instance, address)
    return crypt.crypt(password, h) == h


def lines(r):
    return r.stdout.splitlines()


def state(instance):
    """What the list commands show, plus the raw rows."""
    return (instance.cli("domain", "list").stdout, instance.cli("user", "list").stdout,
            instance.cli("alias", "list").stdout, db_rows(instance))


def fails(instance, args, message, status=1, input=""):
    """Run a command that must fail with this message and status and change nothing."""
    before = state(instance)
    r = instance.cli(*args, check=False, input=input)
    assert r.returncode == status, (args, r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""
    assert message in r.stderr, (args, r.stderr)
    if status == 1:
        assert r.stderr.startswith("surel: "), r.stderr
    assert state(instance) == before
    return r


def add_user(instance, address, password="pw-" + "x" * 8, *extra):
    instance.cli("user", "add", "--password-stdin", *extra, address, input=password + "\n")


@pytest.fixture
def org(instance):
    """A directory with example.org, alice and bob."""
    instance.cli("domain", "add", "example.org")
    add_user(instance, "alice@example.org", "alice-secret")
    add_user(instance, "bob@example.org", "bob-secret")
    return instance


# ---- domains ----

def test_domain_add_list_del(instance):
    assert not instance.data.exists()
    instance.cli("domain", "add", "Example.ORG")
    instance.cli("domain", "add", "BÜCHER.example")
    instance.cli("domain", "add", "xn--r8jz45g.xn--zckzah")
    assert lines(instance.cli("domain", "list")) == [
        "example.org",
        "xn--bcher-kva.example (bücher.example)",
        "xn--r8jz45g.xn--zckzah (例え.テスト)",
    ]
    assert db_rows(instance)["domains"][1][1] == "xn--bcher-kva.example"
    instance.cli("domain", "del", "bücher.example")
    instance.cli("domain", "del", "例え.テスト")
    assert lines(instance.cli("domain", "list")) == ["example.org"]


def test_data_dir_and_db_file(instance):
    instance.cli("domain", "add", "example.org")
    db = instance.data / "surel.db"
    st = os.stat(db)
    assert st.st_mode & 0o777 == 0o600
    if os.geteuid() == 0:
        import pwd
        surel = pwd.getpwnam("surel")
        assert st.st_uid == surel.pw_uid
        assert os.stat(instance.data).st_uid == surel.pw_uid
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def test_domain_errors(instance):
    instance.cli("domain", "add", "example.org")
    fails(instance, ["domain", "add", "example.org"], "surel: domain 'example.org' already exists\n")
    fails(instance, ["domain", "add", "EXAMPLE.org"], "domain 'example.org' already exists")
    fails(instance, ["domain", "add", "--", "-bad.example"],
          "surel: invalid domain '-bad.example': label '-bad' begins with a hyphen\n")
    fails(instance, ["domain", "add", "bad-.example"],
          "surel: invalid domain 'bad-.example': label 'bad-' ends with a hyphen\n")
    fails(instance, ["domain", "add", "a_b.example"],
          "surel: invalid domain 'a_b.example': has the character '_' (only letters, digits "
          "and hyphens are allowed)\n")
    fails(instance, ["domain", "add", "a" * 64 + ".example"],
          "': label longer than 63 characters\n")
    fails(instance, ["domain", "add", "localhost"], "needs at least two labels")
    fails(instance, ["domain", "add", "[192.0.2.1]"], "is an address literal (not supported)")
    fails(instance, ["domain", "add", "a..example"], "has an empty label")
    fails(instance, ["domain", "del", "other.example"],
          "surel: no such domain 'other.example' (add it with: surel domain add other.example)\n")
    fails(instance, ["domain", "add"], "usage: surel domain add DOMAIN", status=2)
    fails(instance, ["domain", "add", "a.example", "b.example"], "usage:", status=2)
    fails(instance, ["domain", "list", "extra"], "usage:", status=2)
    fails(instance, ["domain", "del", "--bogus", "example.org"],
          "surel: unknown option '--bogus'", status=2)
    fails(instance, ["domain", "frob"], "surel: domain: unknown command 'frob'", status=2)
    fails(instance, ["domain"], "usage:", status=2)


def test_domain_del_refused_then_forced(org):
    org.cli("alias", "add", "@example.org", "alice@example.org")
    org.cli("domain", "add", "example.net")
    add_user(org, "carol@example.net")
    fails(org, ["domain", "del", "example.org"],
          "surel: domain 'example.org' has 2 accounts and 1 alias; delete them first "
          "or use --force to delete them with it\n")
    org.cli("domain", "del", "--force", "example.org")
    assert lines(org.cli("domain", "list")) == ["example.net"]
    assert lines(org.cli("user", "list")) == ["carol@example.net\tunlimited\tenabled"]
    assert org.cli("alias", "list").stdout == ""
    rows = db_rows(org)
    assert len(rows["accounts"]) == 1 and rows["aliases"] == []


# ---- accounts ----

def test_user_add_password_stdin(instance):
    instance.cli("domain", "add", "example.org")
    r = instance.cli("user", "add", "--password-stdin", "Alice@Example.ORG",
                     input="correct horse\n")
    assert r.stdout == "" and r.stderr == ""
    h = stored_hash(instance, "alice@example.org")
    assert h.startswith("$y$")
    assert crypt.crypt("correct horse", h) == h           # one trailing newline removed
    assert crypt.crypt("correct horse\n", h) != h
    # no trailing newline at all, and CRLF
    instance.cli("user", "add", "--password-stdin", "b@example.org", input="no-newline")
    assert check_password(instance, "b@example.org", "no-newline")
    instance.cli("user", "add", "--password-stdin", "c@example.org", input="crlf\r\n")
    assert check_password(instance, "c@example.org", "crlf")
    # longest accepted password, and UTF-8
    instance.cli("user", "add", "--password-stdin", "d@example.org", input="p" * 511 + "\n")
    assert check_password(instance, "d@example.org", "p" * 511)
    instance.cli("user", "add", "--password-stdin", "Jörg@example.org", input="pässwörd\n")
    assert check_password(instance, "jörg@example.org", "pässwörd")


def test_user_add_generate(instance):
    instance.cli("domain", "add", "example.org")
    r = instance.cli("user", "add", "--generate", "alice@example.org")
    assert re.fullmatch(r"[A-Za-z0-9]{20}\n", r.stdout), r.stdout
    assert check_password(instance, "alice@example.org", r.stdout.strip())
    r2 = instance.cli("user", "add", "--generate", "bob@example.org")
    assert r2.stdout != r.stdout


def test_user_add_hash_import(instance):
    instance.cli("domain", "add", "example.org")
    h = subprocess.run(["openssl", "passwd", "-6", "imported secret"], capture_output=True,
                       text=True, check=True).stdout.strip()
    assert h.startswith("$6$")
    instance.cli("user", "add", "--hash", h, "alice@example.org")
    assert stored_hash(instance, "alice@example.org") == h
    assert check_password(instance, "alice@example.org", "imported secret")
    md5 = subprocess.run(["openssl", "passwd", "-1", "x"], capture_output=True, text=True,
                         check=True).stdout.strip()
    fails(instance, ["user", "add", "--hash", md5, "bob@example.org"],
          "surel: --hash: not a supported password hash (yescrypt $y$, bcrypt $2b$/$2y$/$2a$, "
          "SHA-512-crypt $6$ or SHA-256-crypt $5$)\n")
    fails(instance, ["user", "add", "--hash", h[:-1], "bob@example.org"], "not a supported")
    fails(instance, ["user", "add", "--hash", "plain", "bob@example.org"], "not a supported")


def test_user_add_options(instance):
    instance.cli("domain", "add", "example.org")
    add_user(instance, "alice@example.org", "pw", "--quota", "500M", "--disabled")
    assert lines(instance.cli("user", "list")) == ["alice@example.org\t500M\tdisabled"]
    assert db_rows(instance)["accounts"][0][4] == 500 * 1024 * 1024


def test_user_add_needs_a_terminal(instance):
    instance.cli("domain", "add", "example.org")
    fails(instance, ["user", "add", "alice@example.org"],
          "surel: stdin is not a terminal: give the password with --password-stdin", status=2)


def run_on_tty(args, replies, timeout=30):
    """Run surel with a pseudo-terminal as its controlling terminal; answer
    each prompt (in order) with its reply. Returns (status, output)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(surel_path(), [surel_path(), *map(str, args)], sanitizer_env())
    out = b""
    pending = list(replies)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            out += data
        if pending and out.count(b"password: ") > len(replies) - len(pending):
            os.write(fd, pending.pop(0).encode() + b"\n")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def test_user_add_prompt(instance):
    instance.cli("domain", "add", "example.org")
    status, out = run_on_tty(["-c", instance.conf, "user", "add", "alice@example.org"],
                             ["tty secret", "tty secret"])
    assert status == 0, out
    assert "New password: " in out and "Retype new password: " in out
    assert "tty secret" not in out          # echo was off
    assert check_password(instance, "alice@example.org", "tty secret")

    status, out = run_on_tty(["-c", instance.conf, "user", "add", "bob@example.org"],
                             ["one", "two"])
    assert status == 1
    assert "surel: the passwords do not match" in out
    assert lines(instance.cli("user", "list")) == ["alice@example.org\tunlimited\tenabled"]

    status, out = run_on_tty(["-c", instance.conf, "user", "passwd", "alice@example.org"],
                             ["changed", "changed"])
    assert status == 0, out
    assert check_password(instance, "alice@example.org", "changed")


def test_user_list(org):
    org.cli("domain", "add", "bücher.example")
    add_user(org, "Jörg@BÜCHER.example")
    org.cli("user", "quota", "bob@example.org", "2G")
    org.cli("user", "disable", "bob@example.org")
    assert lines(org.cli("user", "list")) == [
        "alice@example.org\tunlimited\tenabled",
        "bob@example.org\t2G\tdisabled",
        "jörg@xn--bcher-kva.example\tunlimited\tenabled",
    ]
    assert lines(org.cli("user", "list", "bücher.example")) == [
        "jörg@xn--bcher-kva.example\tunlimited\tenabled"]
    assert lines(org.cli("user", "list", "EXAMPLE.org")) == [
        "alice@example.org\tunlimited\tenabled", "bob@example.org\t2G\tdisabled"]
    fails(org, ["user", "list", "nowhere.example"], "surel: no such domain 'nowhere.example'")
    fails(org, ["user", "list", "a.example", "b.example"], "usage:", status=2)


def test_user_del(org):
    org.cli("user", "del", "ALICE@example.org")
    assert lines(org.cli("user", "list")) == ["bob@example.org\tunlimited\tenabled"]
    fails(org, ["user", "del", "alice@example.org"], "surel: no such account 'alice@example.org'\n")
    fails(org, ["user", "del"], "usage:", status=2)


def test_user_passwd(org):
    old = stored_hash(org, "alice@example.org")
    org.cli("user", "passwd", "--password-stdin", "Alice@example.org", input="new secret\n")
    assert stored_hash(org, "alice@example.org") != old
    assert check_password(org, "alice@example.org", "new secret")
    assert not check_password(org, "alice@example.org", "alice-secret")
    assert check_password(org, "bob@example.org", "bob-secret")     # untouched

    r = org.cli("user", "passwd", "--generate", "alice@example.org")
    assert re.fullmatch(r"[A-Za-z0-9]{20}\n", r.stdout)
    assert check_password(org, "alice@example.org", r.stdout.strip())

    h = subprocess.run(["openssl", "passwd", "-5", "sha256 secret"], capture_output=True,
                       text=True, check=True).stdout.strip()
    org.cli("user", "passwd", "--hash", h, "alice@example.org")
    assert check_password(org, "alice@example.org", "sha256 secret")

    fails(org, ["user", "passwd", "--password-stdin", "carol@example.org"],
          "surel: no such account 'carol@example.org'\n", input="x\n")
    fails(org, ["user", "passwd", "--password-stdin", "alice@example.org"],
          "surel: empty password refused\n", input="\n")
    fails(org, ["user", "passwd", "alice@example.org"], "--password-stdin", status=2)
    fails(org, ["user", "passwd", "--quota", "1M", "alice@example.org"],
          "surel: unknown option '--quota'", status=2)


def test_user_enable_disable(org):
    org.cli("user", "disable", "alice@example.org")
    assert "alice@example.org\tunlimited\tdisabled" in lines(org.cli("user", "list"))
    org.cli("user", "enable", "ALICE@example.org")
    assert "alice@example.org\tunlimited\tenabled" in lines(org.cli("user", "list"))
    fails(org, ["user", "enable", "carol@example.org"], "surel: no such account 'carol@example.org'")
    fails(org, ["user", "disable", "carol@example.org"], "surel: no such account 'carol@example.org'")
    fails(org, ["user", "disable"], "usage:", status=2)


def test_user_quota(org):
    for size, shown in (("500M", "500M"), ("2G", "2G"), ("64K", "64K"), ("1000", "1000"),
                        ("0", "unlimited")):
        org.cli("user", "quota", "alice@example.org", size)
        assert f"alice@example.org\t{shown}\tenabled" in lines(org.cli("user", "list"))
    fails(org, ["user", "quota", "alice@example.org", "lots"],
          "surel: invalid size 'lots' (a number of bytes with an optional K, M or G: "
          "0 for unlimited, 500M, 2G)\n")
    fails(org, ["user", "quota", "alice@example.org", "-1"], "surel: unknown option '-1'",
          status=2)
    fails(org, ["user", "quota", "alice@example.org", "--", "-1"], "invalid size '-1'")
    fails(org, ["user", "quota", "carol@example.org", "1M"], "no such account 'carol@example.org'")
    fails(org, ["user", "quota", "alice@example.org"], "usage:", status=2)
    fails(org, ["user", "add", "--password-stdin", "--quota", "2X", "carol@example.org"],
          "invalid size '2X'", input="pw\n")


def test_user_add_errors(org):
    pw = {"input": "pw\n"}
    fails(org, ["user", "add", "--password-stdin", "ALICE@EXAMPLE.ORG"],
          "surel: account 'alice@example.org' already exists\n", **pw)
    fails(org, ["user", "add", "--password-stdin", "carol@nowhere.example"],
          "surel: no such domain 'nowhere.example' (add it with: surel domain add "
          "nowhere.example)\n", **pw)
    fails(org, ["user", "add", "--password-stdin", "carol"],
          "surel: invalid address 'carol': missing '@' and domain\n", **pw)
    fails(org, ["user", "add", "--password-stdin", '"carol"@example.org'],
          "surel: invalid address '\"carol\"@example.org': quoted local parts are not supported "
          "(use a dot-atom local part such as first.last)\n", **pw)
    fails(org, ["user", "add", "--password-stdin", "x" * 65 + "@example.org"],
          "local part longer than 64 octets", **pw)
    fails(org, ["user", "add", "--password-stdin", "a b@example.org"],
          "local part has the character ' ', which needs quoting", **pw)
    fails(org, ["user", "add", "--password-stdin", "carol@example.org"],
          "surel: empty password refused\n", input="\n")
    fails(org, ["user", "add", "--password-stdin", "carol@example.org"],
          "surel: empty password refused\n", input="")
    fails(org, ["user", "add", "--password-stdin", "carol@example.org"],
          "surel: password longer than 511 bytes refused (the limit of libcrypt)\n",
          input="p" * 512 + "\n")
    fails(org, ["user", "add", "--password-stdin", "carol@example.org"],
          "password longer than 511 bytes refused", input="p" * 1025 + "\n")
    fails(org, ["user", "add", "--password-stdin", "carol@example.org"],
          "surel: password with a line break refused", input="two\nlines\n")
    fails(org, ["user", "add", "--password-stdin", "carol@example.org"],
          "surel: password with a NUL byte refused", input="a\0b\n")
    # usage errors
    fails(org, ["user", "add", "--password-stdin"], "usage: surel user add", status=2, **pw)
    fails(org, ["user", "add", "--password-stdin", "a@example.org", "b@example.org"],
          "usage:", status=2, **pw)
    fails(org, ["user", "add", "--generate", "--password-stdin", "carol@example.org"],
          "surel: --password-stdin, --generate and --hash exclude each other", status=2, **pw)
    fails(org, ["user", "add", "--hash"], "surel: option '--hash' needs a value", status=2)
    fails(org, ["user", "add", "--bogus", "carol@example.org"], "surel: unknown option '--bogus'",
          status=2)
    fails(org, ["user", "add", "-x", "carol@example.org"], "surel: unknown option '-x'", status=2)
    fails(org, ["user", "frob"], "surel: user: unknown command 'frob'", status=2)
    fails(org, ["user"], "usage:", status=2)


def test_user_add_refused_for_alias_address(org):
    org.cli("alias", "add", "info@example.org", "alice@example.org")
    fails(org, ["user", "add", "--password-stdin", "info@example.org"],
          "surel: 'info@example.org' is an alias; delete it first (surel alias del "
          "info@example.org)\n", input="pw\n")


# ---- per-account POP3 options ----

def pop3_columns(instance, address):
    con = sqlite3.connect(instance.data / "surel.db")
    try:
        return con.execute("SELECT pop3_delete_after_retr, pop3_deleted_to_trash FROM accounts"
                           " WHERE address = ?", (address,)).fetchone()
    finally:
        con.close()


def show(instance, address):
    return dict(line.split(": ", 1) for line in lines(instance.cli("user", "show", address)))


def test_user_show(org):
    org.cli("user", "quota", "bob@example.org", "2G")
    org.cli("user", "disable", "bob@example.org")
    assert lines(org.cli("user", "show", "Bob@EXAMPLE.org")) == [
        "address: bob@example.org",
        "id: 2",
        "quota: 2G",
        "status: disabled",
        "pop3-delete-after-retr: default (no)",
        "pop3-deleted-to-trash: default (no)",
    ]
    # a default is shown with the value the configuration gives it
    org.write_conf("[pop3]\ndelete_after_retr = yes\n")
    assert show(org, "bob@example.org")["pop3-delete-after-retr"] == "default (yes)"
    assert show(org, "bob@example.org")["pop3-deleted-to-trash"] == "default (no)"
    fails(org, ["user", "show", "carol@example.org"], "surel: no such account 'carol@example.org'\n")
    fails(org, ["user", "show", "carol"], "surel: invalid address 'carol': missing '@' and domain\n")
    fails(org, ["user", "show"], "usage:", status=2)
    fails(org, ["user", "show", "alice@example.org", "bob@example.org"], "usage:", status=2)


def test_user_set_pop3_options(org):
    assert pop3_columns(org, "alice@example.org") == (None, None)   # NULL: the global setting
    org.cli("user", "set", "Alice@example.org", "--pop3-delete-after-retr", "yes")
    assert pop3_columns(org, "alice@example.org") == (1, None)
    org.cli("user", "set", "--pop3-deleted-to-trash", "no", "alice@example.org")  # options first
    assert pop3_columns(org, "alice@example.org") == (1, 0)
    org.cli("user", "set", "alice@example.org", "--pop3-delete-after-retr=default",
            "--pop3-deleted-to-trash", "YES")
    assert pop3_columns(org, "alice@example.org") == (None, 1)
    assert show(org, "alice@example.org")["pop3-delete-after-retr"] == "default (no)"
    assert show(org, "alice@example.org")["pop3-deleted-to-trash"] == "yes"
    # the booleans of the configuration file are taken too
    for value, stored in (("on", 1), ("false", 0), ("1", 1), ("Default", None)):
        org.cli("user", "set", "alice@example.org", "--pop3-delete-after-retr", value)
        assert pop3_columns(org, "alice@example.org") == (stored, 1)
    assert pop3_columns(org, "bob@example.org") == (None, None)      # untouched
    # the list keeps its three columns
    assert lines(org.cli("user", "list")) == ["alice@example.org\tunlimited\tenabled",
                                              "bob@example.org\tunlimited\tenabled"]


def test_user_set_errors(org):
    org.cli("user", "set", "alice@example.org", "--pop3-deleted-to-trash", "yes")
    setting = ["--pop3-delete-after-retr", "yes"]
    fails(org, ["user", "set", "carol@example.org", *setting],
          "surel: no such account 'carol@example.org'\n")
    fails(org, ["user", "set", "carol@nowhere.example", *setting],
          "surel: no such account 'carol@nowhere.example'\n")
    fails(org, ["user", "set", "carol", *setting],
          "surel: invalid address 'carol': missing '@' and domain\n")
    fails(org, ["user", "set", "alice@example.org", "--pop3-delete-after-retr", "maybe"],
          "surel: invalid value 'maybe' for --pop3-delete-after-retr (yes, no or default)\n")
    fails(org, ["user", "set", "alice@example.org", "--pop3-deleted-to-trash", ""],
          "surel: invalid value '' for --pop3-deleted-to-trash (yes, no or default)\n")
    # one bad value: the other option is not applied either
    fails(org, ["user", "set", "alice@example.org", *setting, "--pop3-deleted-to-trash", "perhaps"],
          "invalid value 'perhaps' for --pop3-deleted-to-trash")
    # a bad value is reported before the account is looked up
    fails(org, ["user", "set", "carol@example.org", "--pop3-delete-after-retr", "maybe"],
          "invalid value 'maybe'")
    # usage errors
    fails(org, ["user", "set", "alice@example.org"],
          "surel: nothing to set: give --pop3-delete-after-retr or --pop3-deleted-to-trash\n",
          status=2)
    fails(org, ["user", "set", *setting], "usage:", status=2)
    fails(org, ["user", "set", "alice@example.org", "bob@example.org", *setting], "usage:",
          status=2)
    fails(org, ["user", "set", "alice@example.org", "--pop3-delete-after-retr"],
          "surel: option '--pop3-delete-after-retr' needs a value", status=2)
    fails(org, ["user", "set", "--quota", "1M", "alice@example.org"],
          "surel: unknown option '--quota'", status=2)
    fails(org, ["user", "set"], "usage:", status=2)
    assert pop3_columns(org, "alice@example.org") == (None, 1)


def test_directory_from_version_2_is_migrated(instance):
    """A surel.db written before the POP3 columns: its accounts get NULL
    (the global settings), and the CLI works on it at once."""
    instance.data.mkdir()
    con = sqlite3.connect(instance.data / "surel.db")
    con.executescript(
        "CREATE TABLE domains (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
        " created INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " domain_id INTEGER NOT NULL REFERENCES domains(id), address TEXT NOT NULL UNIQUE,"
        " password_hash TEXT NOT NULL, quota_bytes INTEGER NOT NULL DEFAULT 0"
        " CHECK (quota_bytes >= 0), enabled INTEGER NOT NULL DEFAULT 1"
        " CHECK (enabled IN (0, 1)), created INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE aliases (id INTEGER PRIMARY KEY, domain_id INTEGER NOT NULL"
        " REFERENCES domains(id), source TEXT NOT NULL, target TEXT NOT NULL,"
        " UNIQUE (source, target));"
        "CREATE INDEX accounts_domain ON accounts(domain_id);"
        "CREATE INDEX aliases_domain ON aliases(domain_id);"
        "CREATE INDEX aliases_target ON aliases(target);"
        "INSERT INTO domains (name) VALUES ('example.org');"
        "PRAGMA user_version = 2;")
    h = crypt.crypt("old secret", "$6$saltsalt$")
    con.execute("INSERT INTO accounts (domain_id, address, password_hash) VALUES (1, ?, ?)",
                ("alice@example.org", h))
    con.commit()
    con.close()
    assert show(instance, "alice@example.org")["pop3-deleted-to-trash"] == "default (no)"
    con = sqlite3.connect(instance.data / "surel.db")
    assert con.execute("PRAGMA user_version").fetchone()[0] >= 3
    con.close()
    assert pop3_columns(instance, "alice@example.org") == (None, None)
    instance.cli("user", "set", "alice@example.org", "--pop3-deleted-to-trash", "yes")
    assert pop3_columns(instance, "alice@example.org") == (None, 1)
    assert check_password(instance, "alice@example.org", "old secret")


# ---- aliases ----

def test_alias_add_list_del(org):
    org.cli("domain", "add", "example.net")
    org.cli("alias", "add", "Postmaster@Example.org", "alice@example.org", "Bob@example.org",
            "someone@remote.example")
    org.cli("alias", "add", "@example.org", "alice@example.org")      # catch-all
    org.cli("alias", "add", "info@example.net", "postmaster@example.org")
    org.cli("alias", "add", "sales@example.org", "anyone@example.org")  # via the catch-all
    assert lines(org.cli("alias", "list")) == [
        "@example.org -> alice@example.org",
        "info@example.net -> postmaster@example.org",
        "postmaster@example.org -> alice@example.org",
        "postmaster@example.org -> bob@example.org",
        "postmaster@example.org -> someone@remote.example",
        "sales@example.org -> anyone@example.org",
    ]
    assert lines(org.cli("alias", "list", "example.net")) == [
        "info@example.net -> postmaster@example.org"]
    org.cli("alias", "del", "postmaster@example.org", "BOB@example.org")
    assert "postmaster@example.org -> bob@example.org" not in org.cli("alias", "list").stdout
    org.cli("alias", "del", "POSTMASTER@example.org")
    org.cli("alias", "del", "@EXAMPLE.org")
    assert lines(org.cli("alias", "list")) == [
        "info@example.net -> postmaster@example.org",
        "sales@example.org -> anyone@example.org",
    ]


def test_alias_errors(org):
    org.cli("alias", "add", "postmaster@example.org", "alice@example.org")
    fails(org, ["alias", "add", "postmaster@example.org", "ALICE@example.org"],
          "surel: alias 'postmaster@example.org -> alice@example.org' already exists\n")
    # all targets or none
    fails(org, ["alias", "add", "team@example.org", "bob@example.org", "ghost@example.org"],
          "surel: target 'ghost@example.org' is in our domain 'example.org' but is no account "
          "or alias there\n")
    fails(org, ["alias", "add", "alice@example.org", "bob@example.org"],
          "surel: 'alice@example.org' is an account; an alias cannot have the same address\n")
    fails(org, ["alias", "add", "x@nowhere.example", "bob@example.org"],
          "surel: no such domain 'nowhere.example'")
    fails(org, ["alias", "add", "@nowhere.example", "bob@example.org"],
          "surel: no such domain 'nowhere.example'")
    fails(org, ["alias", "add", "@", "bob@example.org"],
          "surel: invalid alias source '@': domain is empty\n")
    fails(org, ["alias", "add", "a b@example.org", "bob@example.org"],
          "surel: invalid alias source 'a b@example.org': local part has the character ' '")
    fails(org, ["alias", "add", "x@example.org", "not-an-address"],
          "surel: invalid address 'not-an-address': missing '@' and domain\n")
    fails(org, ["alias", "add", "x@example.org", "X@example.org"],
          "surel: alias 'x@example.org' cannot point to itself\n")
    fails(org, ["alias", "del", "nobody@example.org"], "surel: no such alias 'nobody@example.org'\n")
    fails(org, ["alias", "del", "postmaster@example.org", "bob@example.org"],
          "surel: no such alias 'postmaster@example.org -> bob@example.org'\n")
    fails(org, ["alias", "list", "nowhere.example"], "surel: no such domain 'nowhere.example'")
    fails(org, ["alias", "add", "x@example.org"], "usage: surel alias add SOURCE TARGET", status=2)
    fails(org, ["alias", "del"], "usage:", status=2)
    fails(org, ["alias", "del", "a@example.org", "b@example.org", "c@example.org"], "usage:",
          status=2)
    fails(org, ["alias", "list", "a.example", "b.example"], "usage:", status=2)
    fails(org, ["alias"], "usage:", status=2)


# ---- configuration ----

def test_config_from_environment(instance):
    env = sanitizer_env()
    env["SUREL_CONFIG"] = str(instance.conf)
    r = subprocess.run([surel_path(), "domain", "add", "example.org"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert lines(instance.cli("domain", "list")) == ["example.org"]


def test_bad_config_is_a_usage_error(instance, tmp_path):
    bad = tmp_path / "bad.conf"
    bad.write_text("[server]\nnope = 1\n")
    r = subprocess.run([surel_path(), "-c", str(bad), "domain", "list"], env=sanitizer_env(),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert f"surel: {bad}:2: server.nope: unknown key" in r.stderr
