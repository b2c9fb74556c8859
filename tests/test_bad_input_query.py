"""Bad query-protocol input against the real server (IAM and STS): huge and deeply nested form
fields, enormous `member.N` indexes, unknown actions and versions, policy documents nested deeper
than any policy. Each gets AWS's XML error as botocore reads it, none is a bug (nothing logged
as an internal error), and the server keeps serving.

Requests are sent as raw HTTP (the shapes boto3 would refuse to build), SigV4-signed for the
service like an SDK's, or unsigned where that is the point.
"""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import quote, urlsplit

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.parsers
import botocore.session
import pytest

from conftest import Server, unique

FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
IAM = "Action={action}&Version=2010-05-08"
STS = "Action={action}&Version=2011-06-15"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com", "AWS": "arn:aws:iam::000000000000:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


class Answer:
    """An HTTP answer and what botocore's query parser makes of it."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body
        parser = botocore.parsers.create_parser("query")
        http_response = {
            "status_code": status,
            "headers": botocore.awsrequest.HeadersDict(headers),
            "body": body,
        }
        self.parsed: dict[str, Any] = parser.parse(http_response, None)

    @property
    def error(self) -> tuple[str, str, int]:
        err = self.parsed["Error"]
        return err["Code"], err["Message"], self.status

    @property
    def request_id(self) -> str:
        return self.headers.get("x-amzn-RequestId", "")


def send(server: Server, body: bytes, service: str | None = "iam", *, query: str = "") -> Answer:
    """POST `body` as a form to the server, SigV4-signed for `service` (None: unsigned)."""
    url = server.url + "/" + (f"?{query}" if query else "")
    headers = dict(FORM)
    if service is not None:
        request = botocore.awsrequest.AWSRequest("POST", url, data=body, headers=headers)
        credentials = botocore.credentials.Credentials("test", "test")
        botocore.auth.SigV4Auth(credentials, service, "us-east-1").add_auth(request)
        headers = dict(request.prepare().headers)
    split = urlsplit(url)
    conn = http.client.HTTPConnection(split.hostname, split.port, timeout=120)
    try:
        conn.request("POST", split.path + (f"?{split.query}" if split.query else ""), body, headers)
        resp = conn.getresponse()
        return Answer(resp.status, dict(resp.getheaders()), resp.read())
    finally:
        conn.close()


@pytest.fixture
def still_serving(server: Server) -> Any:
    """Checks after the test that the server answers and logged none of the test's requests as a bug."""
    answers: list[Answer] = []
    yield answers
    assert server.client("sts").get_caller_identity()["Account"] == "000000000000"
    log = server.log_path.read_text(errors="replace")
    bugs = [a.request_id for a in answers if a.request_id and a.request_id in log]
    assert bugs == [], f"logged as internal errors: {bugs}"


HUGE = {
    "index 999999999": (
        IAM.format(action="TagRole")
        + "&RoleName=r&Tags.member.999999999.Key=x&Tags.member.999999999.Value=y",
        "Index 999999999 is above the maximum of 10000",
    ),
    "index 2**64": (
        IAM.format(action="TagRole") + f"&RoleName=r&Tags.member.{2**64}.Key=x",
        f"Index {2**64} is above the maximum of 10000",
    ),
    "100k fields": (
        IAM.format(action="GetRole") + "&RoleName=r&" + "&".join(f"f{i}=1" for i in range(100_000)),
        "The request has more than 10000 parameters",
    ),
    "100k copies of one field": (
        IAM.format(action="TagRole") + "&RoleName=r" + "&Tags.member.1.Key=k" * 100_000,
        "The request has more than 10000 parameters",
    ),
    "100k-segment key": (
        IAM.format(action="GetRole") + "&RoleName=r&" + ".".join(["a"] * 100_000) + "=1",
        "is nested deeper than the operation allows",
    ),
    "deeply nested member path": (
        IAM.format(action="TagRole") + "&RoleName=r&Tags" + ".member.1" * 30_000 + "=1",
        "is nested deeper than the operation allows",
    ),
    "5 MB known field": (
        IAM.format(action="GetRole") + "&RoleName=" + "a" * 5_000_000,
        "Member must have length less than or equal to 64",
    ),
    "5 MB policy document": (
        IAM.format(action="CreateRole") + "&RoleName=r&AssumeRolePolicyDocument=" + "a" * 5_000_000,
        "Member must have length less than or equal to 131072",
    ),
}


@pytest.mark.parametrize(("body", "message"), HUGE.values(), ids=HUGE.keys())
def test_huge_and_deep_form_fields_are_validation_errors(
    server: Server, still_serving: list[Answer], body: str, message: str
) -> None:
    answer = send(server, body.encode())
    still_serving.append(answer)
    code, text, status = answer.error
    assert (code, status, answer.parsed["Error"]["Type"]) == ("ValidationError", 400, "Sender")
    assert message in text
    # the answer is bounded by the request (a value too long is echoed once, as AWS does)
    assert len(answer.body) < len(body) + 2048


def test_unknown_fields_however_big_are_ignored(server: Server, still_serving: list[Answer]) -> None:
    answer = send(server, (IAM.format(action="GetRole") + "&RoleName=r&Junk=" + "j" * 5_000_000).encode())
    still_serving.append(answer)
    assert answer.error == ("NoSuchEntity", "The role with name r cannot be found.", 404)


@pytest.mark.parametrize(
    ("service", "body", "message"),
    [
        ("iam", IAM.format(action="NoSuchThing"), "Could not find operation NoSuchThing for version 2010-05-08"),
        ("iam", "Action=GetRole&Version=1999-01-01&RoleName=r", "Could not find operation GetRole for version 1999-01-01"),
        ("sts", STS.format(action="NoSuchThing"), "Could not find operation NoSuchThing for version 2011-06-15"),
        ("sts", "Action=GetCallerIdentity&Version=2010-05-08", "Could not find operation GetCallerIdentity for version 2010-05-08"),
        ("sts", "Action=GetCallerIdentity", "Could not find operation GetCallerIdentity for version NO_VERSION_SPECIFIED"),
        # unsigned: no credential scope names the service, the query services still answer
        (None, STS.format(action="NoSuchThing"), "Could not find operation NoSuchThing for version 2011-06-15"),
        (None, "Action=GetRole&Version=1999-01-01", "Could not find operation GetRole for version 1999-01-01"),
        (None, "Action=" + "A" * 5000 + "&Version=1", "Could not find operation " + "A" * 100 + "... for version 1"),
    ],
)  # fmt: skip
def test_unknown_action_or_version_is_invalid_action(
    server: Server, still_serving: list[Answer], service: str | None, body: str, message: str
) -> None:
    answer = send(server, body.encode(), service)
    still_serving.append(answer)
    assert answer.error == ("InvalidAction", message, 400)
    assert answer.headers["Content-Type"].startswith("text/xml")


def test_unknown_action_in_the_query_string_is_invalid_action(
    server: Server, still_serving: list[Answer]
) -> None:
    answer = send(server, b"", None, query="Action=NoSuchThing&Version=2011-06-15")
    still_serving.append(answer)
    assert answer.error == (
        "InvalidAction",
        "Could not find operation NoSuchThing for version 2011-06-15",
        400,
    )


def test_missing_action_is_missing_action(server: Server, still_serving: list[Answer]) -> None:
    for body in (b"Version=2010-05-08", b"", b"%%%&&==&"):
        answer = send(server, body, "iam")
        still_serving.append(answer)
        assert answer.error == ("MissingAction", "Missing required parameter: Action", 400)


def test_known_but_unimplemented_action_is_501(server: Server, still_serving: list[Answer]) -> None:
    model = botocore.session.get_session().get_service_model("iam")
    assert "ListInstanceProfiles" in model.operation_names
    answer = send(server, IAM.format(action="ListInstanceProfiles").encode())
    still_serving.append(answer)
    code, message, status = answer.error
    assert (code, status) == ("InvalidAction", 501)
    assert "ListInstanceProfiles" in message


# nested deeper than Python's json reads (its recursion limit), within every size quota
@pytest.mark.parametrize("doc", ["[" * 1020 + "]" * 1020, "[" * 2040], ids=["valid JSON", "unclosed"])
def test_deeply_nested_policy_documents_are_malformed(
    server: Server, still_serving: list[Answer], doc: str
) -> None:
    role = unique("deep")
    quoted = quote(doc, safe="")
    answers = [
        send(
            server,
            f"{IAM.format(action='CreateRole')}&RoleName={role}&AssumeRolePolicyDocument={quoted}".encode(),
        ),
        send(
            server, f"{IAM.format(action='CreatePolicy')}&PolicyName={role}&PolicyDocument={quoted}".encode()
        ),
    ]
    iam = server.client("iam")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    try:
        answers.append(
            send(
                server,
                f"{IAM.format(action='PutRolePolicy')}&RoleName={role}&PolicyName=p&PolicyDocument={quoted}".encode(),
            )
        )
        # STS's session policies too
        arn = f"arn:aws:iam::000000000000:role/{role}"
        assume = f"{STS.format(action='AssumeRole')}&RoleArn={arn}&RoleSessionName=s1&Policy={quoted}"
        sts_answer = send(server, assume.encode(), "sts")
        for answer in answers:
            still_serving.append(answer)
            assert answer.error == ("MalformedPolicyDocument", "This policy contains invalid Json", 400)
        assert iam.list_role_policies(RoleName=role)["PolicyNames"] == []
        still_serving.append(sts_answer)
        assert sts_answer.error == (
            "MalformedPolicyDocument",
            "The policy is not in the valid JSON format.",
            400,
        )
    finally:
        iam.delete_role(RoleName=role)


def test_whitespace_does_not_count_towards_policy_size(server: Server) -> None:
    """AWS counts policy sizes in non-whitespace characters (GetAccountSummary's quotas say so)."""
    iam = server.client("iam")
    name = unique("ws")
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    doc = json.dumps({"Version": "2012-10-17", "Statement": [statement]}, indent=400)
    assert len(doc) > 6144
    arn = iam.create_policy(PolicyName=name, PolicyDocument=doc)["Policy"]["Arn"]
    iam.delete_policy(PolicyArn=arn)
