"""`blockpass sandbox --webhook-url/--webhook-secret`: bad values stop it before it serves."""

from __future__ import annotations

import pytest

from blockpass.cli import EXIT_USER_ERROR, main


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--webhook-url", "127.0.0.1:9000/hook"], "--webhook-url: not an http(s) URL"),
        (
            ["--webhook-url", "http://127.0.0.1:9000/hook", "--webhook-secret", "whsec_not*b64"],
            "--webhook-secret: a whsec_ secret must be base64",
        ),
    ],
)
def test_the_sandbox_refuses_a_bad_webhook_setting_with_one_clear_line(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sandbox", *arguments]) == EXIT_USER_ERROR
    error = capsys.readouterr().err
    assert error.startswith("blockpass: error: ")
    assert message in error
