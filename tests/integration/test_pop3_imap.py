"""IMAP and POP3 on one mailbox at the same time (docs/pop3.md, "POP3 and
IMAP together"): raw IMAP sessions over imaps (test_imap.Imap) beside
poplib sessions over pop3s, on alice's INBOX.

  (a) DELE + QUIT over POP3: a selected IMAP session gets "* n EXPUNGE" on
      NOOP, or at once while in IDLE; with the account's to-Trash option the
      message shows up in Trash instead.
  (b) mail that arrives during a POP3 session (IMAP APPEND from another
      session, or `surel mailbox import`): IMAP sees EXISTS, the POP3
      session's STAT/LIST/UIDL stay those of its snapshot.
  (c) IMAP \\Deleted + EXPUNGE of a message in the POP3 snapshot: RETR/TOP
      of it answer -ERR, the session goes on and QUIT succeeds.
  (d) UIDL is stable across IMAP flag changes and the expunge of other
      messages; a message moved away and back is a new message (new UID,
      new UIDL).
  (e) RETR sets \\Seen at QUIT, seen by IMAP FETCH FLAGS; TOP does not."""
import poplib
import re

import pytest

from test_imap import ALICE, ALICE_PW, Imap, append, msg
from test_pop3 import deliver, message
from test_server import HOST, tls_context, wait_for


def pop_login(inst):
    p = poplib.POP3_SSL(HOST, inst.port("pop3s"), context=tls_context(), timeout=10)
    p.user(ALICE)
    assert p.pass_(ALICE_PW) == b"+OK Logged in"
    return p


def pop_relogin(inst):
    """Log in again once the previous session's lock is gone."""
    def attempt():
        try:
            return pop_login(inst)
        except poplib.error_proto as e:
            assert b"IN-USE" in e.args[0]
            return None
    return wait_for(attempt, what="POP3 login")


def uidl(p):
    return [line.decode().split()[1] for line in p.uidl()[1]]


def subject_of(p, n):
    lines = p.retr(n)[1]
    return next(l.decode() for l in lines if l.startswith(b"Subject: "))


def untagged(lines, kind):
    return [l for l in lines if re.fullmatch(rf"\* \d+ {kind}", l)]


def read_until(imap, pred, limit=10):
    """Untagged lines from an idling session up to and including the first
    for which pred is true."""
    out = []
    for _ in range(limit):
        out.append(imap.line())
        if pred(out[-1]):
            return out
    raise AssertionError(f"not seen in {out}")


# ------------------------------------------------------------- (a) POP3 deletes

def test_pop3_dele_is_expunge_for_imap_noop(server):
    append(server, msg(1), msg(2), msg(3))
    a = Imap(server)
    assert "* 3 EXISTS" in a.ok("SELECT INBOX")
    p = pop_login(server)
    p.dele(1)
    p.dele(3)
    assert a.ok("NOOP") == []                 # DELE changes nothing before QUIT
    assert p.quit() == b"+OK Surel signing off"
    r = a.ok("NOOP")
    # the \Deleted flag may be told first; the expunges are what counts
    assert untagged(r, "EXPUNGE") == ["* 3 EXPUNGE", "* 1 EXPUNGE"], r
    assert untagged(r, "EXISTS") == []
    assert a.ok("FETCH 1:* UID") == ["* 1 FETCH (UID 2)"]


def test_pop3_dele_is_expunge_for_imap_idle(server):
    append(server, msg(1), msg(2))
    a = Imap(server)
    a.ok("SELECT INBOX")
    t = a.tag()
    a.send(f"{t} IDLE\r\n".encode())
    assert a.line() == "+ idling"
    p = pop_login(server)
    p.dele(2)
    p.quit()
    r = read_until(a, lambda l: l.endswith(" EXPUNGE"))
    assert r[-1] == "* 2 EXPUNGE"
    assert all(l == "* 2 FETCH (FLAGS (\\Deleted))" for l in r[:-1]), r
    a.send(b"DONE\r\n")
    assert a.line() == f"{t} OK IDLE terminated"
    assert a.ok("FETCH 1:* UID") == ["* 1 FETCH (UID 1)"]


def test_pop3_dele_to_trash_for_imap(server):
    server.cli("user", "set", ALICE, "--pop3-deleted-to-trash", "yes")
    append(server, msg(1), msg(2))
    a = Imap(server)
    a.ok("SELECT INBOX")
    p = pop_login(server)
    p.dele(1)
    p.quit()
    r = a.ok("NOOP")
    assert untagged(r, "EXPUNGE") == ["* 1 EXPUNGE"], r
    assert a.ok("STATUS Trash (MESSAGES)") == ["* STATUS Trash (MESSAGES 1)"]
    a.ok("SELECT Trash")
    r = a.ok("FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert any("Subject: Message 1" in l for l in r), r


# ------------------------------------------------------------- (b) new mail

@pytest.mark.parametrize("how", ["imap-append", "mailbox-import"])
def test_new_mail_during_pop3_session(server, tmp_path, how):
    append(server, msg(1), msg(2))
    a = Imap(server)
    a.ok("SELECT INBOX")
    p = pop_login(server)
    stat, listing, ids = p.stat(), p.list()[1], uidl(p)
    assert stat[0] == 2
    if how == "imap-append":
        append(server, msg(3))                # a third session
    else:
        deliver(server, tmp_path, message(3))
    assert "* 3 EXISTS" in a.ok("NOOP")
    assert p.stat() == stat
    assert p.list()[1] == listing
    assert uidl(p) == ids
    with pytest.raises(poplib.error_proto, match="No such message"):
        p.retr(3)
    assert subject_of(p, 2) == "Subject: Message 2"
    p.quit()
    p = pop_relogin(server)
    assert p.stat()[0] == 3
    assert uidl(p)[:2] == ids
    assert subject_of(p, 3) == "Subject: Message 3"
    p.quit()


# ------------------------------------------------------------- (c) IMAP expunges

def test_imap_expunge_of_message_in_pop3_snapshot(server):
    append(server, msg(1), msg(2), msg(3))
    p = pop_login(server)
    ids = uidl(p)
    a = Imap(server)
    a.ok("SELECT INBOX")
    a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    assert a.ok("EXPUNGE") == ["* 2 EXPUNGE"]
    # the snapshot keeps its numbering and sizes
    assert p.stat()[0] == 3
    assert uidl(p) == ids
    with pytest.raises(poplib.error_proto, match=r"^b'-ERR Message 2 was expunged by another "
                                                 r"session'"):
        p.retr(2)
    with pytest.raises(poplib.error_proto, match="was expunged"):
        p.top(2, 0)
    # and the session goes on
    assert subject_of(p, 3) == "Subject: Message 3"
    assert p.noop() == b"+OK"
    p.dele(2)                                 # already gone: nothing to do at QUIT
    p.dele(1)
    assert p.quit() == b"+OK Surel signing off"
    assert untagged(a.ok("NOOP"), "EXPUNGE") == ["* 1 EXPUNGE"]
    assert a.ok("FETCH 1:* UID") == ["* 1 FETCH (UID 3)"]
    assert "event=retr_expunged msg=2 uid=2" in server.log_text()
    assert "event=update user=alice@example.org deleted=1 to=expunge" in server.log_text()


# ------------------------------------------------------------- (d) UIDL stability

def test_uidl_stable_across_imap_changes(server):
    append(server, msg(1), msg(2), msg(3), msg(4))
    p = pop_login(server)
    before = dict(zip(range(1, 5), uidl(p)))
    p.quit()
    a = Imap(server)
    a.ok("SELECT INBOX")
    a.ok("STORE 2 +FLAGS (\\Flagged \\Answered $Label1)")
    a.ok("STORE 3 +FLAGS (\\Seen)")
    a.ok("STORE 3 -FLAGS (\\Seen)")
    a.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    a.ok("EXPUNGE")                           # another message's expunge
    p = pop_relogin(server)
    assert uidl(p) == [before[2], before[3], before[4]]
    p.quit()

    # MOVE away and back: the store gives the message a new UID in INBOX,
    # so POP3 sees a new message with a new UIDL (and would fetch it again)
    a.ok("CREATE Saved")
    r = a.ok("UID MOVE 2 Saved")
    assert any(re.search(r"COPYUID \d+ 2 1\]", l) for l in r), r
    a.ok("SELECT Saved")
    r = a.ok("UID MOVE 1 INBOX")
    new_uid = int(re.search(r"COPYUID \d+ 1 (\d+)\]", " ".join(r)).group(1))
    assert new_uid == 5                       # UIDNEXT of INBOX, never reused
    p = pop_relogin(server)
    ids = uidl(p)
    assert ids[:2] == [before[3], before[4]]
    assert ids[2] not in before.values()
    assert int(ids[2][:8], 16) == new_uid and ids[2][8:] == before[2][8:]  # same UIDVALIDITY
    assert subject_of(p, 3) == "Subject: Message 2"
    p.quit()


# ------------------------------------------------------------- (e) \Seen

def test_pop3_retr_sets_seen_for_imap(server):
    append(server, msg(1), msg(2), msg(3))
    a = Imap(server)
    a.ok("SELECT INBOX")
    p = pop_login(server)
    p.retr(2)
    p.top(3, 1)                                # not a retrieval
    assert a.ok("FETCH 1:3 FLAGS") == ["* 1 FETCH (FLAGS ())", "* 2 FETCH (FLAGS ())",
                                       "* 3 FETCH (FLAGS ())"]   # nothing before QUIT
    p.quit()
    r = a.ok("NOOP")
    assert "* 2 FETCH (FLAGS (\\Seen))" in r, r
    assert a.ok("FETCH 1:3 FLAGS") == ["* 1 FETCH (FLAGS ())", "* 2 FETCH (FLAGS (\\Seen))",
                                       "* 3 FETCH (FLAGS ())"]
    # a session that ends without QUIT sets nothing
    p = pop_relogin(server)
    p.retr(1)
    p.close()                                  # no QUIT
    p = pop_relogin(server)
    p.quit()
    assert a.ok("FETCH 1 FLAGS") == ["* 1 FETCH (FLAGS ())"]
