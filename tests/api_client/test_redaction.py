"""The one redaction filter: no secret survives into a log line, whoever logged it."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from api_client import redact, redact_url
from api_client.redaction import RedactSecretsFilter, install_httpx_log_filter

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMDAxIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@dataclass
class Captured:
    logger: logging.Logger
    stream: io.StringIO

    @property
    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def captured(request: pytest.FixtureRequest) -> Iterator[Captured]:
    """A real logger whose handler carries the filter, as Django's LOGGING sets it up."""
    logger = logging.getLogger(f"tests.redaction.{request.node.name}")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactSecretsFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield Captured(logger, stream)
    logger.removeHandler(handler)


def test_a_jwt_in_the_arguments_is_masked(captured: Captured) -> None:
    captured.logger.info("Exchanged a JWT: %s", JWT)
    assert JWT not in captured.text
    assert "Exchanged a JWT: ***" in captured.text


def test_a_bearer_token_is_masked(captured: Captured) -> None:
    captured.logger.warning("Sent headers %r", {"Authorization": "Bearer s3cr3t-t0ken.value"})
    assert "s3cr3t-t0ken" not in captured.text
    assert "Bearer ***" in captured.text


def test_a_password_parameter_is_masked(captured: Captured) -> None:
    captured.logger.error("Login failed for user=ann&password=hunter2&next=/")
    assert "hunter2" not in captured.text
    assert "user=ann&password=***&next=/" in captured.text


def test_a_json_api_token_is_masked(captured: Captured) -> None:
    captured.logger.info('Body: {"api_token": "a1b2c3d4e5", "name": "Alpha"}')
    assert "a1b2c3d4e5" not in captured.text
    assert '"api_token": "***"' in captured.text
    assert '"name": "Alpha"' in captured.text


def test_secret_query_parameters_are_masked(captured: Captured) -> None:
    captured.logger.info(
        "GET %s", "https://x.test/v4/token?client_id=app&client_secret=s3&code=c0de&state=st4te"
    )
    assert captured.text == (
        "INFO GET https://x.test/v4/token?client_id=app&client_secret=***&code=***&state=***\n"
    )


def test_the_exception_text_is_masked(captured: Captured) -> None:
    try:
        raise RuntimeError(f"auth failed with token={JWT} and password=hunter2")
    except RuntimeError:
        captured.logger.exception("Sync failed")
    assert "Traceback" in captured.text
    assert "RuntimeError: auth failed with token=*** and password=***" in captured.text
    assert JWT not in captured.text
    assert "hunter2" not in captured.text


def test_a_record_without_secrets_keeps_its_message_and_arguments() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "Synced %d of %s", (3, "db"), None)
    assert RedactSecretsFilter().filter(record) is True
    assert record.msg == "Synced %d of %s"
    assert record.args == (3, "db")


def test_a_record_with_a_secret_gets_the_redacted_message_and_no_arguments() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "Token %s", (JWT,), None)
    assert RedactSecretsFilter().filter(record) is True
    assert record.msg == "Token ***"
    assert record.args is None


def test_a_malformed_logging_call_neither_raises_nor_leaks() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s and %s", (JWT,), None)
    assert RedactSecretsFilter().filter(record) is True
    assert record.args == ("***",)


def test_the_filter_on_httpx_masks_its_request_log(caplog: pytest.LogCaptureFixture) -> None:
    install_httpx_log_filter()
    install_httpx_log_filter()
    httpx_logger = logging.getLogger("httpx")
    assert sum(isinstance(item, RedactSecretsFilter) for item in httpx_logger.filters) == 1
    with caplog.at_level(logging.INFO, logger="httpx"):
        httpx_logger.info(
            'HTTP Request: %s %s "%s %d %s"',
            "GET",
            "https://x.test/v4/token?client_secret=s3cr3t&code=c0de",
            "HTTP/1.1",
            200,
            "OK",
        )
    assert "s3cr3t" not in caplog.text
    assert "c0de" not in caplog.text
    assert "client_secret=***&code=***" in caplog.text


def test_redact_masks_everything_redact_url_masks_and_more() -> None:
    url = "https://x.test/cb?code=&state=abc;client_secret=s,3#frag"
    assert redact_url(url) == "https://x.test/cb?code=***&state=abc;client_secret=***#frag"
    assert redact(url) == "https://x.test/cb?code=***&state=***;client_secret=***#frag"


def test_redacting_twice_changes_nothing_more() -> None:
    text = f'Bearer abc {JWT} password=x "token": "y" ?code=z'
    once = redact(text)
    assert redact(once) == once
    assert once == 'Bearer *** *** password=*** "token": "***" ?code=***'
