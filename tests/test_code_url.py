"""GetFunction's Code.Location: a presigned URL, valid for ten minutes of the server's clock."""

from __future__ import annotations

import stat
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import ROLE, make_zip, unique
from lambdabox.clock import ManualClock
from lambdabox.lambda_.code_url import KEY_FILE, CodeUrlDenied, CodeUrls, load_or_create_key
from lambdabox.testing import LocalLambdabox

KEY = "ab" * 32


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


# -- the signer, on a manual clock ------------------------------------------------------------
def test_url_shape_and_lifetime() -> None:
    clock = ManualClock(start=1_700_000_000.0)
    urls = CodeUrls(b"s" * 32, clock)
    url = urls.sign("http://127.0.0.1:4566", KEY)
    assert url.startswith(f"http://127.0.0.1:4566/_lambdabox/code/{KEY}.zip?")
    q = query_of(url)
    assert q["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert q["X-Amz-Date"] == "20231114T221320Z"
    assert q["X-Amz-Expires"] == "600"
    assert len(q["X-Amz-Signature"]) == 64 and int(q["X-Amz-Signature"], 16) >= 0
    urls.verify(KEY, q)
    clock.advance(600)
    urls.verify(KEY, q)  # still valid at the last second
    clock.advance(1)
    with pytest.raises(CodeUrlDenied) as denied:
        urls.verify(KEY, q)
    assert (denied.value.code, denied.value.message, denied.value.status) == (
        "AccessDenied",
        "Request has expired",
        403,
    )
    assert dict(denied.value.details) == {
        "X-Amz-Expires": "600",
        "Expires": "2023-11-14T22:23:20Z",
        "ServerTime": "2023-11-14T22:23:21Z",
    }


@pytest.mark.parametrize(
    "change",
    [
        {"X-Amz-Signature": "0" * 64},
        {"X-Amz-Expires": "6000"},  # a longer life is not ours to grant
        {"X-Amz-Date": "20991231T000000Z"},
    ],
)
def test_tampered_url_is_refused(change: dict[str, str]) -> None:
    urls = CodeUrls(b"s" * 32, ManualClock())
    q = {**query_of(urls.sign("http://x", KEY)), **change}
    with pytest.raises(CodeUrlDenied) as denied:
        urls.verify(KEY, q)
    assert (denied.value.code, denied.value.status) == ("SignatureDoesNotMatch", 403)


def test_signature_is_bound_to_its_code_and_its_key() -> None:
    clock = ManualClock()
    q = query_of(CodeUrls(b"s" * 32, clock).sign("http://x", KEY))
    with pytest.raises(CodeUrlDenied):
        CodeUrls(b"s" * 32, clock).verify("cd" * 32, q)
    with pytest.raises(CodeUrlDenied):
        CodeUrls(b"t" * 32, clock).verify(KEY, q)


def test_unsigned_and_half_signed_urls() -> None:
    urls = CodeUrls(b"s" * 32, ManualClock())
    with pytest.raises(CodeUrlDenied) as denied:
        urls.verify(KEY, {})
    assert (denied.value.code, denied.value.message, denied.value.status) == (
        "AccessDenied",
        "Access Denied",
        403,
    )
    q = query_of(urls.sign("http://x", KEY))
    del q["X-Amz-Signature"]
    with pytest.raises(CodeUrlDenied) as denied:
        urls.verify(KEY, q)
    assert (denied.value.code, denied.value.status) == ("AuthorizationQueryParametersError", 400)


def test_key_file_is_created_once_private_and_reused(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path)
    path = tmp_path / KEY_FILE
    assert len(key) == 32 and path.read_bytes() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(tmp_path) == key
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE]  # no temporary file left behind
    path.write_bytes(b"short")
    with pytest.raises(ValueError, match="damaged"):
        load_or_create_key(tmp_path)


# -- end to end: boto3 GetFunction, then a plain GET of the Location ----------------------------
@pytest.fixture
def lbx(tmp_path: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as server:
        yield server


def client(lbx: LocalLambdabox) -> Any:
    return lbx.client("lambda")


def fetch(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers.get("Content-Type", "")


def test_location_downloads_the_zip_until_it_expires(lbx: LocalLambdabox, tmp_path: Path) -> None:
    lam = client(lbx)
    zipped = make_zip({"app.py": "def handler(e, c):\n    return 'mine'\n"})
    name = unique()
    lam.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler", Code={"ZipFile": zipped}
    )
    location = lam.get_function(FunctionName=name)["Code"]["Location"]
    assert location.startswith(f"{lbx.url}/_lambdabox/code/")
    assert query_of(location)["X-Amz-Expires"] == "600"
    assert fetch(location) == (200, zipped, "application/zip")

    tampered = location[:-1] + ("0" if location[-1] != "0" else "1")
    status, body, ctype = fetch(tampered)
    assert (status, ctype) == (403, "application/xml")
    assert b"<Code>SignatureDoesNotMatch</Code>" in body
    assert b"<Message>The request signature we calculated does not match" in body

    status, body, ctype = fetch(location.split("?", 1)[0])  # the old guessable path
    assert (status, ctype) == (403, "application/xml")
    assert b"<Code>AccessDenied</Code><Message>Access Denied</Message>" in body

    lbx.advance(601)
    status, body, ctype = fetch(location)
    assert (status, ctype) == (403, "application/xml")
    assert b"<Code>AccessDenied</Code><Message>Request has expired</Message>" in body
    assert b"<X-Amz-Expires>600</X-Amz-Expires>" in body

    fresh = lam.get_function(FunctionName=name)["Code"]["Location"]
    assert fetch(fresh)[:2] == (200, zipped)
    lbx.close()

    # a restart keeps the key: a URL issued before it is still good
    with LocalLambdabox(tmp_path / "data") as again:
        assert fetch(fresh.replace(lbx.url, again.url))[:2] == (200, zipped)
