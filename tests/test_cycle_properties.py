"""Properties of whole cycles: the real engine over a Maildir, generated stories of mail.

* A cycle never raises and leaves the store consistent: every state a known one, nothing
  left in ``sending``, a waiting draft only for open threads, one per thread
  (docs/DESIGN.md, "Guarantees").
* No client mail carries a ``[NF-…]`` tag or a sentence of the bot's notice, however the
  owner quotes and mangles the draft in her edited text.
* A forged answer, or one without exactly the draft's token in its subject, never
  causes a client mail; a client mail goes out only for a draft the owner answered with
  its token, only to that thread's client or assistant, and only once.
"""

from __future__ import annotations

import re
from email.message import EmailMessage

from hypothesis import event, given

from cycleworld import OWNER, Reply, Story, Tick, Tracked, World, open_world, recipients, stories
from mailstrategies import budget
from nachfass_bot.domain.models import Kind
from nachfass_bot.mail.owntext import NOTICE_PHRASES
from ownerreplies import ReplyRecipe, edited_replies, forged_replies


def trace_of_the_notice(message: EmailMessage, tokens: set[str]) -> str | None:
    """A token tag, a token of any draft or task, or a sentence of the owner's notice in a
    client mail, if any."""
    text = f"{message['Subject']}\n{message.get_content()}"
    folded = " ".join(text.casefold().split()).replace("„", '"').replace("“", '"')
    if re.search(r"\[\s*nf\s*-", folded):
        return "token tag"
    if any(token in folded.replace(" ", "") for token in tokens):
        return "token"
    for phrase in NOTICE_PHRASES:
        if " ".join(phrase.casefold().split()) in folded:
            return phrase
    return None


def check_client_mails(world: World) -> list[EmailMessage]:
    """Every client mail: no trace of the notice, a genuinely answered draft, the thread's
    own client or assistant, sent once."""
    sent = world.client_mails()
    db = world.store.db
    tokens = {row[0] for row in db.execute("SELECT token FROM drafts")}
    tokens |= {row[0] for row in db.execute("SELECT token FROM tasks WHERE token IS NOT NULL")}
    for message in sent:
        assert trace_of_the_notice(message, tokens) is None, message.get_content()
        token, allowed = world.draft_of(message)
        assert token in world.approvable, f"sent without the owner's yes: {message['Subject']}"
        assert set(recipients(message)) <= set(allowed), (recipients(message), allowed)
    ids = [str(message["Message-ID"]) for message in sent]
    assert len(ids) == len(set(ids)), "a client mail went out twice"
    return sent


def count(what: str, number: int) -> None:
    """Tell hypothesis' statistics how often a story got this far (not vacuous)."""
    event(f"{what}: {number if number < 2 else '2 or more'}")


@budget(50)
@given(stories())
def test_a_cycle_never_raises_and_leaves_the_store_consistent(story: Story) -> None:
    with open_world() as world:
        world.play(story)  # checks the store after every cycle
        count("client mails", len(check_client_mails(world)))


@budget(40)
@given(stories(edited_replies(OWNER), other_mail=False))
def test_no_client_mail_carries_a_token_or_the_notice(story: Story) -> None:
    with open_world() as world:
        world.play(story)
        count("client mails", len(check_client_mails(world)))


@budget(40)
@given(stories(forged_replies(OWNER)))
def test_a_forged_or_tokenless_answer_never_sends(story: Story) -> None:
    with open_world() as world:
        world.play(story)
        assert world.client_mails() == []
        count("mails with a token to the owner", len(world.token_mails))


def test_the_world_sends_after_a_genuine_ok() -> None:
    """The properties above are not vacuous: in this world an "ok" does send."""
    ok = ReplyRecipe(
        target=0, from_fields=(f"Anna Berger <{OWNER}>",), sender_is_owner=True,
        subject="Re: {subject}", subject_has_token=True, text="ok", layout="thunderbird",
        edits=(), in_reply_to=True, dmarc="", charset="utf-8", encoding="8bit",
    )  # fmt: skip
    story = Story(
        threads=(Tracked(Kind.ANGEBOT, client=0, days_ago=20, due_in=0),),
        actions=(Tick(2), Reply("INBOX", ok), Tick(1)),
    )
    with open_world() as world:
        world.play(story)
        sent = check_client_mails(world)
    assert len(sent) == 1
    assert recipients(sent[0]) == ["jonas@keller-bau.test"]
