"""``redaction.redact``: the secrets the process holds, in every spelling, become ``***``."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgflow_yaml import db, redaction
from pgflow_yaml.worker import logs
from pgflow_yaml.worker.runner import Failure

PASSWORD = "p@ss:w/rd%?&=#'\""
URL = f"postgresql://app:{quote(PASSWORD, safe='')}@127.0.0.1:5432/shop"


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Give each test an empty set of known secrets (the registry is process-wide)."""
    monkeypatch.setattr(redaction, "_secrets", set())
    monkeypatch.setattr(redaction, "_known", None)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    yield


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"raw {PASSWORD} end", "raw *** end"),
        (f"quoted {PASSWORD!r}", "quoted '***'"),
        (f"json {json.dumps(PASSWORD)}", 'json "***"'),
        (f"url-encoded {quote(PASSWORD, safe='')}", "url-encoded ***"),
        (f"lower-case hex {quote(PASSWORD, safe='').lower()}", "lower-case hex ***"),
        (f"form-encoded {quote_plus(PASSWORD)}", "form-encoded ***"),
        (f"the DSN {URL}", "the DSN postgresql://app:***@127.0.0.1:5432/shop"),
        (
            make_conninfo("", **conninfo_to_dict(URL)),
            "user=app password=*** dbname=shop host=127.0.0.1 port=5432",
        ),
        (f"{{'password': {PASSWORD!r}}}", "{'password': '***'}"),
        (json.dumps({"e": repr({"password": PASSWORD})}), "{\"e\": \"{'password': '***'}\"}"),
        (json.dumps(f"nested {PASSWORD!r}"), "\"nested '***'\""),
    ],
)
def test_every_spelling_of_a_known_password_is_masked(text: str, expected: str) -> None:
    redaction.remember_dsn(URL)
    assert redaction.redact(text) == expected
    assert db.redact is redaction.redact


def test_the_password_of_pgpassword_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", "hunter2-secret")
    redaction.remember_dsn("postgresql://app@127.0.0.1/shop")
    assert redaction.redact("login hunter2-secret refused") == "login *** refused"


def test_a_short_password_is_masked_only_where_a_password_goes() -> None:
    redaction.remember_dsn("postgresql://app:abc@127.0.0.1/shop")
    assert redaction.redact("abc postgresql://app:abc@h/shop") == "abc postgresql://app:***@h/shop"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:{}@%2Fsrv%2Fapp%2F.pgflow%2Fdb:5432/shop",
        "postgresql://app:{}@/shop?host=/srv/app/.pgflow/db",
        "postgresql://app:{}@/shop?host=%2Fsrv%2Fapp%2F.pgflow%2Fdb&port=5432",
    ],
    ids=["socket-in-authority", "socket-in-query", "encoded-socket-in-query"],
)
def test_a_url_to_a_unix_socket_hides_its_password(url: str) -> None:
    """The embedded server is reached over a Unix socket: known or not, the password of such
    a URL is masked, and the socket folder stays readable."""
    unknown = url.format("s3cret-unknown")
    assert redaction.redact(f"at {unknown}.") == f"at {url.format('***')}."
    known = url.format(quote(PASSWORD, safe=""))
    redaction.remember_dsn(known)
    assert redaction.redact(f"at {known}.") == f"at {url.format('***')}."
    params = make_conninfo("", **conninfo_to_dict(known))
    assert redaction.redact(params) == params.replace(
        make_conninfo("", password=PASSWORD), "password=***"
    )
    assert "/srv/app/.pgflow/db" in redaction.redact(params)


def test_a_failure_records_its_message_and_traceback_redacted() -> None:
    redaction.remember(PASSWORD)
    failure = Failure(f"boom {PASSWORD}", "builtins.RuntimeError", f"tb {URL}", retryable=True)
    assert failure.message == "boom ***"
    assert failure.traceback == "tb postgresql://app:***@127.0.0.1:5432/shop"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Return a stream ``logs.configure`` may write to; restore the logger afterwards."""
    root = logging.getLogger("pgflow_yaml")
    saved = (list(root.handlers), root.level, root.propagate)
    yield io.StringIO()
    root.handlers[:], root.propagate = saved[0], saved[2]
    root.setLevel(saved[1])


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_log_lines_carry_no_known_password(fmt: logs.LogFormat, log_stream: io.StringIO) -> None:
    redaction.remember(PASSWORD)
    logs.configure(fmt, stream=log_stream)
    logger = logging.getLogger("pgflow_yaml.test")
    logger.warning("using %s", PASSWORD, extra={"action": "probe", "error": repr(PASSWORD)})
    line = log_stream.getvalue()
    assert "p@ss" not in line and "w/rd" not in line
    assert "using ***" in line
    if fmt == "json":
        assert json.loads(line)["error"] == "'***'"
