"""Reading a Lambda authorizer's answer as API Gateway does (pure functions)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdabox.gateway.authorizer import Malformed, read_answer

ARN = "arn:aws:execute-api:us-east-1:000000000000:abcdefghij/prod/GET/admin"


def policy(*statements: dict[str, Any]) -> bytes:
    return json.dumps(
        {"principalId": "u", "policyDocument": {"Version": "2012-10-17", "Statement": list(statements)}}
    ).encode()


ALLOW_ALL = {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"}


@pytest.mark.parametrize(
    "deny",
    [
        {
            "Effect": "Deny",
            "Action": "execute-api:invoke",
            "Resource": "*/GET/admin",
        },  # names are case-insensitive
        {"Effect": "Deny", "Action": "execute-api:*", "NotResource": "*/GET/public"},
        {"Effect": "Deny", "NotAction": "execute-api:ManageConnections", "Resource": "*"},
    ],
)
def test_a_deny_wins_however_it_is_written(deny: dict[str, Any]) -> None:
    assert not read_answer(policy({**ALLOW_ALL, "Resource": "*"}, deny), simple=False).allows(ARN)


def test_only_star_and_question_mark_are_wildcards() -> None:
    answer = read_answer(policy({**ALLOW_ALL, "Resource": ARN.replace("admin", "[a-z]*")}), simple=False)
    assert not answer.allows(ARN)
    answer = read_answer(policy({**ALLOW_ALL, "Resource": ARN.replace("admin", "adm?n")}), simple=False)
    assert answer.allows(ARN)


def test_a_policy_is_judged_for_each_route() -> None:
    answer = read_answer(policy({**ALLOW_ALL, "Resource": ARN}), simple=False)
    assert answer.allows(ARN) and not answer.allows(ARN.replace("/prod/", "/dev/"))


@pytest.mark.parametrize(
    "payload", [b"nope", b"[]", b'{"isAuthorized": "true"}', b'{"isAuthorized": true, "context": []}']
)
def test_malformed_simple_answers(payload: bytes) -> None:
    with pytest.raises(Malformed):
        read_answer(payload, simple=True)


def test_malformed_policy_answers() -> None:
    for payload in (b"{}", json.dumps({"policyDocument": {"Statement": ["x"]}}).encode()):
        with pytest.raises(Malformed):
            read_answer(payload, simple=False)
