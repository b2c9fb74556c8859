"""With `--verify-signatures` lambdabox's admin endpoints (/_lambdabox/clock, faults, metrics) need
a request SigV4-signed with a root key of the server's account; health stays open. The testing
helpers (`Handle.admin`, `inject_fault`, `clear_faults`) sign with that key."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import deploy
from lambdabox.edge import ADMIN_SIGNED_MESSAGE
from lambdabox.testing import LocalLambdabox
from lambdabox.testing.handle import AdminError, admin_call, signed_headers
from test_resource_policies import KEYS, _server

OK = {"app.py": "def handler(event, context):\n    return 1\n"}


@pytest.fixture(scope="module")
def lbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdabox]:
    with _server(tmp_path_factory.mktemp("admin-signed"), enforce=True) as server:
        yield server


def get(lbx: LocalLambdabox, path: str, key: tuple[str, str] | None = None) -> tuple[int, str]:
    url = f"{lbx.url}/_lambdabox/{path}"
    headers = {} if key is None else signed_headers("GET", url, None, {}, key, lbx.region)
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def refusal(call: Any) -> tuple[int, str]:
    with pytest.raises(AdminError) as exc:
        call()
    return exc.value.status, exc.value.message


def test_the_helpers_sign_with_the_server_s_root_key(lbx: LocalLambdabox) -> None:
    assert lbx.admin_key == ("test", "test")
    name = deploy(lbx.client("lambda"), OK)
    fault = lbx.inject_fault(function=name, kind="error", error_message="boom")
    assert "FunctionError" in lbx.client("lambda").invoke(FunctionName=name)
    lbx.clear_faults(fault)
    assert "FunctionError" not in lbx.client("lambda").invoke(FunctionName=name)
    assert lbx.admin("GET", "clock")["now"] == pytest.approx(lbx.now())
    status, text = get(lbx, "metrics", key=("test", "test"))
    assert status == 200 and "lambdabox" in text


@pytest.mark.parametrize("path", ["clock", "metrics", "faults"])
def test_unsigned_admin_requests_are_refused_but_health_is_open(lbx: LocalLambdabox, path: str) -> None:
    status, text = get(lbx, path)
    assert status == 403
    assert json.loads(text)["message"] == f"{ADMIN_SIGNED_MESSAGE} (the request is not signed)"
    assert get(lbx, "health")[0] == 200


def test_another_account_s_root_key_cannot_inject_faults(lbx: LocalLambdabox) -> None:
    assert "other:othersecret:111122223333" in KEYS
    name = deploy(lbx.client("lambda"), OK)
    body = {"function": name, "kind": "error"}
    call = lambda: admin_call(lbx.url, "POST", "faults", body, key=("other", "othersecret"))  # noqa: E731
    assert refusal(call) == (403, f"{ADMIN_SIGNED_MESSAGE} (other is not a root key of account 000000000000)")
    assert "FunctionError" not in lbx.client("lambda").invoke(FunctionName=name)


def test_a_wrong_secret_is_refused(lbx: LocalLambdabox) -> None:
    status, message = refusal(lambda: admin_call(lbx.url, "GET", "clock", key=("test", "wrong")))
    assert status == 403 and message.startswith(ADMIN_SIGNED_MESSAGE)
    assert "signature we calculated does not match" in message
