"""``nachfass-bot preview``: the mail as it would go out, nothing sent or stored."""

from __future__ import annotations

from pathlib import Path

from loophelpers import cli, cli_json, track, write_config
from servers import MailAccount, SmtpSink


def test_preview_shows_headers_and_body_and_sends_nothing(
    tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch, capsys
) -> None:
    config = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    thread_id = track(
        config, capsys,
        "--kind", "angebot", "--to", "jonas@keller-bau.test",
        "--name", "Jonas Keller\r\nBcc: spion@evil.test", "--anrede", "herr",
        "--subject", "Angebot Geschäftsräume", "--message-id", "<offer-1@berger.test>",
        "--sent-at", "2026-03-03T10:15",
    )  # fmt: skip
    capsys.readouterr()
    assert cli(config, "preview", str(thread_id), "--now", "2026-03-11T10:30") == 0
    out = capsys.readouterr().out
    head, _, body = out.partition("\n\n")
    headers = dict(line.split(": ", 1) for line in head.splitlines())
    assert headers["To"].endswith("<jonas@keller-bau.test>")
    assert "Bcc" not in headers, "a name cannot inject a header"
    assert headers["In-Reply-To"] == "<offer-1@berger.test>"
    assert "Geschäftsräume" in headers["Subject"]
    assert "Date" in headers and "Message-ID" in headers
    assert body.startswith("Guten Tag,"), "a name with an address in it is not used"
    assert smtp_sink.messages == []
    assert cli_json(config, capsys, "show", str(thread_id))["events"][-1]["text"].endswith(
        "aufgenommen"
    )

    assert cli(config, "preview", str(thread_id), "--step", "2") == 0
    assert "Guten Tag," in capsys.readouterr().out
    assert cli(config, "preview", str(thread_id), "--step", "9") == 1
