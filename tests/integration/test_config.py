"""surel config show / check / docs, and configuration errors at start-up."""
import subprocess
from pathlib import Path

from conftest import ROOT, surel_path, sanitizer_env


def run(*args):
    return subprocess.run([surel_path(), *args], capture_output=True, text=True,
                          env=sanitizer_env(), timeout=30)


def test_show_defaults_lists_every_default_port():
    r = run("config", "show")
    assert r.returncode == 0, r.stderr
    for port in ("2525", "2587", "2465", "2143", "2993", "2110", "2995", "8080"):
        assert f"listen = 127.0.0.1:{port}\n" in r.stdout
    assert "data_dir = ./var\n" in r.stdout
    assert "built-in defaults" in r.stdout


def test_show_reflects_file(tmp_path):
    conf = tmp_path / "s.conf"
    conf.write_text("[imap]\nlisten = 127.0.0.1:1143\ntimeout = 45m\n")
    r = run("config", "show", "-c", str(conf))
    assert r.returncode == 0, r.stderr
    assert "[imap]" in r.stdout
    assert "listen = 127.0.0.1:1143\n" in r.stdout
    assert "timeout = 45m\n" in r.stdout
    # global -c works the same
    r2 = run("-c", str(conf), "config", "show")
    assert r2.stdout == r.stdout


def test_check_good_and_bad(tmp_path):
    good = tmp_path / "good.conf"
    good.write_text("[smtp]\nlisten = 127.0.0.1:25\n")
    r = run("config", "check", str(good))
    assert r.returncode == 0 and r.stdout.strip() == f"{good}: ok"

    bad = tmp_path / "bad.conf"
    bad.write_text("[smtp]\nlisten = 127.0.0.1:25\n\n[limits]\nmax_connections = zero\n")
    r = run("config", "check", str(bad))
    assert r.returncode == 2
    assert r.stderr.strip() == (f"surel: {bad}:5: limits.max_connections: "
                                "'zero' is not an integer")


def test_unknown_key_and_unreadable_file(tmp_path):
    bad = tmp_path / "bad.conf"
    bad.write_text("[pop3]\nlisten = 127.0.0.1:110\nlistne = 1\n")
    r = run("config", "check", str(bad))
    assert r.returncode == 2
    assert f"{bad}:3: pop3.listne: unknown key" in r.stderr
    r = run("config", "check", str(tmp_path / "missing.conf"))
    assert r.returncode == 2
    assert "cannot read" in r.stderr


def test_docs_file_matches_the_table():
    r = run("config", "docs")
    assert r.returncode == 0
    doc = (ROOT / "docs" / "configuration.md").read_text()
    assert doc == r.stdout, "docs/configuration.md is stale: run `surel config docs > docs/configuration.md`"


def test_example_config_is_valid():
    r = run("config", "check", str(ROOT / "etc" / "surel.conf.example"))
    assert r.returncode == 0, r.stderr


def test_unknown_command_and_usage():
    r = run("frobnicate")
    assert r.returncode == 2
    assert "unknown command 'frobnicate'" in r.stderr
    r = run("--help")
    assert r.returncode == 0 and "surel serve" in r.stdout
