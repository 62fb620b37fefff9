"""Per-account POP3 options (surel user set ... --pop3-delete-after-retr,
--pop3-deleted-to-trash) over the global [pop3] settings: each way round,
what CAPA's EXPIRE says before and after login (RFC 2449 6.7), the move to
Trash, and when a change takes effect (at the next login)."""
import poplib

import pytest

from test_pop3 import (ALICE, ALICE_PW, BOB, BOB_PW, MSGS, deliver, login, pop,  # noqa: F401
                       try_login)
from test_server import HOST, tls_context, wait_for
from test_store_cli import index_rows


def set_opts(inst, address, **opts):
    args = []
    for name, value in opts.items():
        args += ["--pop3-" + name.replace("_", "-"), value]
    inst.cli("user", "set", address, *args)


def capa_before_login(inst):
    p = poplib.POP3_SSL(HOST, inst.port("pop3s"), context=tls_context(), timeout=10)
    caps = p.capa()
    p.quit()
    return caps["EXPIRE"]


def retrieve_all_and_quit(inst, user, pw):
    """RETR every message; returns EXPIRE as CAPA shows it after login."""
    p = login(inst, user, pw)
    expire = p.capa()["EXPIRE"]
    for n in range(1, p.stat()[0] + 1):
        p.retr(n)
    p.quit()
    return expire


def uids(inst, user, mailbox="INBOX"):
    return [r[0] for r in index_rows(inst, user, mailbox)]


def test_account_deletes_after_retr_when_global_keeps(pop, tmp_path):
    inst = pop()                                   # pop3.delete_after_retr = no
    set_opts(inst, ALICE, delete_after_retr="yes")
    deliver(inst, tmp_path, *MSGS[:2])
    deliver(inst, tmp_path, *MSGS[:2], user=BOB)
    assert capa_before_login(inst) == ["NEVER", "USER"]
    assert retrieve_all_and_quit(inst, ALICE, ALICE_PW) == ["0"]
    assert retrieve_all_and_quit(inst, BOB, BOB_PW) == ["NEVER"]
    assert uids(inst, ALICE) == []
    assert uids(inst, BOB) == [1, 2]
    assert [r[1] & 1 for r in index_rows(inst, BOB, "INBOX")] == [1, 1]   # \Seen
    log = inst.log_text()
    assert "event=login user=alice@example.org method=USER messages=2" in log
    assert "user=alice@example.org deleted=2 to=expunge" in log
    assert "delete_after_retr=yes deleted_to=expunge" in log
    assert "delete_after_retr=no deleted_to=expunge" in log


def test_account_keeps_mail_when_global_deletes(pop, tmp_path):
    inst = pop("[pop3]\ndelete_after_retr = yes\nexpire = 30\n")
    set_opts(inst, ALICE, delete_after_retr="no")
    deliver(inst, tmp_path, *MSGS[:3])
    deliver(inst, tmp_path, *MSGS[:3], user=BOB)
    assert capa_before_login(inst) == ["0", "USER"]
    assert retrieve_all_and_quit(inst, ALICE, ALICE_PW) == ["30"]
    assert retrieve_all_and_quit(inst, BOB, BOB_PW) == ["0"]
    assert uids(inst, ALICE) == [1, 2, 3]
    assert uids(inst, BOB) == []
    # back to the default: the global setting again
    set_opts(inst, ALICE, delete_after_retr="default")
    assert retrieve_all_and_quit(inst, ALICE, ALICE_PW) == ["0"]
    assert uids(inst, ALICE) == []


def test_account_moves_deleted_to_trash(pop, tmp_path):
    inst = pop()                                   # pop3.deleted_to_trash = no
    set_opts(inst, ALICE, deleted_to_trash="yes")
    for user, pw in ((ALICE, ALICE_PW), (BOB, BOB_PW)):
        deliver(inst, tmp_path, *MSGS, user=user)
        p = login(inst, user, pw)
        p.dele(1)
        p.dele(3)
        p.quit()
        assert uids(inst, user) == [2, 4]
    assert len(index_rows(inst, ALICE, "Trash")) == 2
    log = inst.log_text()
    assert "user=alice@example.org deleted=2 to=trash" in log
    assert "user=bob@example.org deleted=2 to=expunge" in log


def test_account_expunges_when_global_moves_to_trash(pop, tmp_path):
    inst = pop("[pop3]\ndeleted_to_trash = yes\n")
    set_opts(inst, BOB, deleted_to_trash="no")
    deliver(inst, tmp_path, *MSGS[:2])
    deliver(inst, tmp_path, *MSGS[:2], user=BOB)
    for user, pw in ((ALICE, ALICE_PW), (BOB, BOB_PW)):
        p = login(inst, user, pw)
        p.dele(2)
        p.quit()
        assert uids(inst, user) == [1]
    assert len(index_rows(inst, ALICE, "Trash")) == 1
    assert index_rows(inst, BOB, "Trash") == []


def test_both_options_together(pop, tmp_path):
    """delete-after-RETR with to-Trash: what RETR sent whole goes to Trash."""
    inst = pop()
    set_opts(inst, ALICE, delete_after_retr="yes", deleted_to_trash="yes")
    deliver(inst, tmp_path, *MSGS)
    p = login(inst)
    p.retr(2)
    p.top(3, 0)          # not a retrieval
    p.dele(4)
    p.quit()
    assert uids(inst, ALICE) == [1, 3]
    trash = index_rows(inst, ALICE, "Trash")
    assert len(trash) == 2
    assert [r[1] & 1 for r in trash] == [1, 0]     # the RETRed one is \Seen


def test_change_applies_at_next_login(pop, tmp_path):
    """The options are read at login: a session already logged in keeps
    those it started with."""
    inst = pop()
    deliver(inst, tmp_path, *MSGS[:2])
    p = login(inst)
    set_opts(inst, ALICE, delete_after_retr="yes")
    assert p.capa()["EXPIRE"] == ["NEVER"]
    p.retr(1)
    p.quit()
    assert uids(inst, ALICE) == [1, 2]
    p = wait_for(lambda: try_login(inst), what="relogin")
    assert p.capa()["EXPIRE"] == ["0"]
    p.retr(1)
    p.quit()
    assert uids(inst, ALICE) == [2]


@pytest.mark.parametrize("value", ["yes", "no", "default"])
def test_expire_before_login_is_the_global_value(pop, value):
    inst = pop("[pop3]\nexpire = 7\n")
    set_opts(inst, ALICE, delete_after_retr=value)
    assert capa_before_login(inst) == ["7", "USER"]
    p = login(inst)
    assert p.capa()["EXPIRE"] == (["0"] if value == "yes" else ["7"])
    p.quit()
