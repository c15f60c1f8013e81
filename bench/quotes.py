"""Benchmark: which quote detector cuts the replies of the corpus and the tests correctly.

    .venv/bin/python bench/quotes.py [-v]

Cases:

* every human mail of ``tests/corpus`` (verdict answer or owner), labelled in
  ``tests/corpus/quotes.toml`` with the line where its quote starts ("" for none);
* the quote markers of ``tests/test_quotes.py`` (``QUOTE_MARKERS``, each below a short own
  text) and the own texts that only look like one (``LOOKALIKES``, nothing to cut).

A detector cuts a case correctly when the text it keeps above the quote is the labelled
own text (lines compared without outer whitespace). Detectors:

* ``hand-written`` — our rules alone, :data:`nachfass_bot.mail.quotes.QUOTE_RULES`;
* ``quotequail`` — ``quotequail.quote(text, quote_intro_line=True)``;
* ``mail-parser-reply`` — ``EmailReplyParser(languages=["de", "en", "fr", "es"])``,
  the first reply's whole content (signature included, as ours keeps it);
* ``split_quote`` — what the bot uses: the earlier cut of the hand-written rules and
  quotequail (:func:`nachfass_bot.mail.quotes.split_quote`).

Cases marked ``needs_draft`` (a reply without any quote mark or header, where only the
draft's own text shows where the quote starts) are counted apart: no generic detector can
cut them. The last line measures what approval uses on the owner's edited replies
(``owner_edit_*.eml``): :func:`nachfass_bot.mail.owntext.own_text` with the pending draft of
``tests/corpus/context.toml`` — correct and clean, signature kept as labelled.
``-v`` lists every case a detector gets wrong.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import quotequail
from mailparser_reply import EmailReplyParser

from nachfass_bot.mail.headers import plain_text
from nachfass_bot.mail.owntext import own_text
from nachfass_bot.mail.quotes import rule_start, split_quote, text_lines
from test_quotes import ABOVE, LOOKALIKES, QUOTE_MARKERS

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "corpus"

Detector = Callable[[str], str]  # text → the own text it keeps above the quote


@dataclass(frozen=True)
class Case:
    name: str
    text: str
    own: str
    needs_draft: bool = False


def normalized(text: str) -> str:
    """Lines without outer whitespace, runs of blank lines as one, no blank ends."""
    lines: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.strip() or (lines and lines[-1]):
            lines.append(line.strip())
    return "\n".join(lines).strip()


def corpus_cases() -> list[Case]:
    labels = tomllib.loads((CORPUS / "quotes.toml").read_text(encoding="utf-8"))
    cases = []
    for name, label in sorted(labels.items()):
        text = plain_text((CORPUS / name).read_bytes())
        lines = text.replace("\r\n", "\n").split("\n")
        own = text
        if label["quote_starts"]:
            starts = [i for i, line in enumerate(lines) if line.strip() == label["quote_starts"]]
            own = "\n".join(lines[: starts[label.get("occurrence", 1) - 1]])
        cases.append(Case(name, text, own, bool(label.get("needs_draft"))))
    return cases


def test_cases() -> list[Case]:
    cases = []
    for param in QUOTE_MARKERS:
        quote = param.values[0]
        text = f"{ABOVE}\n\n{quote}\n\nBitte zahlen Sie bis 20.01.2026.\n"
        cases.append(Case(f"test_quotes[{param.id}]", text, ABOVE))
    for index, text in enumerate(LOOKALIKES):
        cases.append(Case(f"test_quotes[lookalike-{index}]", text, text))
    return cases


def hand_written(text: str) -> str:
    lines = text_lines(text)
    start = rule_start(lines)
    return "\n".join(lines if start is None else lines[:start])


def with_quotequail(text: str) -> str:
    parts = quotequail.quote(text, quote_intro_line=True)
    return parts[0][1] if parts[0][0] else ""


_REPLY_PARSER = EmailReplyParser(languages=["de", "en", "fr", "es"])


def with_mail_parser_reply(text: str) -> str:
    return _REPLY_PARSER.parse_reply(text) or ""


DETECTORS: dict[str, Detector] = {
    "hand-written": hand_written,
    "quotequail": with_quotequail,
    "mail-parser-reply": with_mail_parser_reply,
    "split_quote": lambda text: split_quote(text)[0],
}


def main(verbose: bool) -> None:
    groups = {
        "corpus": [case for case in corpus_cases() if not case.needs_draft],
        "corpus, needs the draft": [case for case in corpus_cases() if case.needs_draft],
        "tests": test_cases(),
    }
    width = max(len(name) for name in DETECTORS)
    print(f"{'':{width}}  " + "  ".join(f"{group:>24}" for group in groups))
    for name, detect in DETECTORS.items():
        cells, wrong = [], []
        for cases in groups.values():
            right = 0
            for case in cases:
                if normalized(detect(case.text)) == normalized(case.own):
                    right += 1
                else:
                    wrong.append(case.name)
            cells.append(f"{right:>3} of {len(cases):<3} correct".rjust(24))
        print(f"{name:{width}}  " + "  ".join(cells))
        if verbose and wrong:
            print(f"{'':{width}}  wrong: {', '.join(wrong)}")
    print_own_text(verbose)


def print_own_text(verbose: bool) -> None:
    """own_text with the draft in hand, on the owner's edited replies."""
    draft = tomllib.loads((CORPUS / "context.toml").read_text(encoding="utf-8"))["pending_draft"]
    edits = [case for case in corpus_cases() if case.name.startswith("owner_edit_")]
    wrong = []
    for case in edits:
        own = own_text(case.text, draft_body=draft["body"], token=draft["token"])
        if not own.clean or normalized(own.text) != normalized(case.own):
            wrong.append(case.name)
    right = len(edits) - len(wrong)
    print(f"\nown_text with the draft, owner's edited replies: {right} of {len(edits)} correct")
    if verbose and wrong:
        print(f"  wrong: {', '.join(wrong)}")


if __name__ == "__main__":
    main(verbose="-v" in sys.argv[1:])
