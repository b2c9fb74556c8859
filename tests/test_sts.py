"""STS against the real server with boto3 and the AWS CLI: who is calling, temporary credentials
that identify their caller (and expire on the manual clock), web identity unsigned, AWS's errors;
and the SigV4 caller parser on its own."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError
from multidict import CIMultiDict

from conftest import Server, aws_client, aws_error, unique
from lambdabox.aws.sigv4 import Caller, parse_caller
from lambdabox.testing import LocalLambdabox

ACCOUNT = "000000000000"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
)


@pytest.fixture(scope="session")
def sts(server: Server) -> Any:
    return server.client("sts")


@pytest.fixture(scope="session")
def role_arn(server: Server) -> Iterator[str]:
    iam = server.client("iam")
    name = unique("sts-role")
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST, MaxSessionDuration=7200)[
        "Role"
    ]["Arn"]
    yield arn
    iam.delete_role(RoleName=name)


def _jwt(claims: dict[str, Any]) -> str:
    def b64(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'RS256', 'typ': 'JWT', 'kid': 'k1'})}.{b64(claims)}.c2lnbmF0dXJl"


# ---------------------------------------------------------------------------- identities


def test_get_caller_identity_root(sts: Any) -> None:
    who = sts.get_caller_identity()
    assert {k: who[k] for k in ("UserId", "Account", "Arn")} == {
        "UserId": ACCOUNT,
        "Account": ACCOUNT,
        "Arn": f"arn:aws:iam::{ACCOUNT}:root",
    }


def test_assume_role_credentials_identify_their_caller(server: Server, sts: Any, role_arn: str) -> None:
    out = sts.assume_role(
        RoleArn=role_arn, RoleSessionName="build-42", ExternalId="ext-id", Tags=[{"Key": "k", "Value": "v"}]
    )
    creds, user = out["Credentials"], out["AssumedRoleUser"]
    assert len(creds["AccessKeyId"]) == 20 and creds["AccessKeyId"].startswith("ASIA")
    assert set(creds["AccessKeyId"][4:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert len(creds["SecretAccessKey"]) == 40 and creds["SessionToken"]
    role_name = role_arn.rsplit("/", 1)[1]
    role_id = server.client("iam").get_role(RoleName=role_name)["Role"]["RoleId"]
    assert user == {
        "AssumedRoleId": f"{role_id}:build-42",
        "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/build-42",
    }
    who = aws_client(server.url, "sts", creds).get_caller_identity()
    assert (who["UserId"], who["Account"], who["Arn"]) == (user["AssumedRoleId"], ACCOUNT, user["Arn"])
    # the key's account, and a session cannot ask for a session token
    assert sts.get_access_key_info(AccessKeyId=creds["AccessKeyId"])["Account"] == ACCOUNT
    with pytest.raises(ClientError) as exc:
        aws_client(server.url, "sts", creds).get_session_token()
    assert aws_error(exc) == ("AccessDenied", "Cannot call GetSessionToken with session credentials", 403)
    # role chaining lasts an hour at most
    with pytest.raises(ClientError) as exc:
        aws_client(server.url, "sts", creds).assume_role(
            RoleArn=role_arn, RoleSessionName="c1", DurationSeconds=7200
        )
    assert aws_error(exc)[0] == "ValidationError"


def test_session_token_carries_the_callers_identity(server: Server, sts: Any) -> None:
    creds = sts.get_session_token()["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    who = aws_client(server.url, "sts", creds).get_caller_identity()
    assert who["Arn"] == f"arn:aws:iam::{ACCOUNT}:root" and who["UserId"] == ACCOUNT


def _user_keys(server: Server, path: str = "/") -> tuple[dict[str, Any], dict[str, str]]:
    """A new IAM user (under `path`) and its new access key, as CreateUser and CreateAccessKey answer."""
    iam = server.client("iam")
    user = iam.create_user(UserName=unique("sts-user"), Path=path)["User"]
    key = iam.create_access_key(UserName=user["UserName"])["AccessKey"]
    return user, {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}


def _user_client(server: Server, key: dict[str, str], service: str = "sts") -> Any:
    return server.client(service, key=key["AccessKeyId"], secret=key["SecretAccessKey"])


def test_iam_users_key_identifies_the_user(server: Server) -> None:
    user, key = _user_keys(server, "/team/ci/")
    assert key["AccessKeyId"].startswith("AKIA") and user["UserId"].startswith("AIDA")
    who = _user_client(server, key).get_caller_identity()
    assert {k: who[k] for k in ("UserId", "Account", "Arn")} == {
        "UserId": user["UserId"],
        "Account": ACCOUNT,
        "Arn": f"arn:aws:iam::{ACCOUNT}:user/team/ci/{user['UserName']}",
    }
    assert who["Arn"] == user["Arn"]


def test_iam_users_session_token_keeps_the_users_identity(server: Server) -> None:
    user, key = _user_keys(server)
    creds = _user_client(server, key).get_session_token(DurationSeconds=7200)["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    # an IAM user's session may last longer than an hour (a root session may not)
    assert (creds["Expiration"] - datetime.now(UTC)).total_seconds() > 3600
    session = aws_client(server.url, "sts", creds)
    who = session.get_caller_identity()
    assert (who["UserId"], who["Account"], who["Arn"]) == (user["UserId"], ACCOUNT, user["Arn"])
    # roles assumed from the user's session, and AWS's wording naming the user, follow from it
    with pytest.raises(ClientError) as exc:
        session.get_session_token()
    assert aws_error(exc)[0] == "AccessDenied"
    missing = f"arn:aws:iam::{ACCOUNT}:role/{unique('no-such-role')}"
    with pytest.raises(ClientError) as exc:
        _user_client(server, key).assume_role(RoleArn=missing, RoleSessionName="s1")
    assert aws_error(exc) == (
        "AccessDenied",
        f"User: {user['Arn']} is not authorized to perform: sts:AssumeRole on resource: {missing}",
        403,
    )


def test_deleted_users_key_is_refused(server: Server) -> None:
    # without --verify-signatures a key nobody issued acts as a root key, but not one IAM deleted
    iam = server.client("iam")
    user, key = _user_keys(server)
    iam.delete_access_key(UserName=user["UserName"], AccessKeyId=key["AccessKeyId"])
    with pytest.raises(ClientError) as exc:
        _user_client(server, key).get_caller_identity()
    assert aws_error(exc) == (
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
        403,
    )


def test_unknown_temporary_key_is_invalid(server: Server) -> None:
    fake = {"AccessKeyId": "ASIA" + "A" * 16, "SecretAccessKey": "s" * 40, "SessionToken": "nope"}
    with pytest.raises(ClientError) as exc:
        aws_client(server.url, "sts", fake).get_caller_identity()
    assert aws_error(exc) == (
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
        403,
    )


def test_wrong_session_token_is_invalid(server: Server, sts: Any) -> None:
    creds = dict(sts.get_session_token()["Credentials"], SessionToken="not-its-token")
    with pytest.raises(ClientError) as exc:
        aws_client(server.url, "sts", creds).get_caller_identity()
    assert aws_error(exc)[0] == "InvalidClientTokenId"


def test_credentials_expire_on_the_clock(tmp_path: Path) -> None:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as lbx:
        sts = aws_client(lbx.url, "sts")
        arn = f"arn:aws:iam::{ACCOUNT}:role/expiring"
        aws_client(lbx.url, "iam").create_role(RoleName="expiring", AssumeRolePolicyDocument=TRUST)
        out = sts.assume_role(RoleArn=arn, RoleSessionName="s1", DurationSeconds=900)
        issued = out["Credentials"]["Expiration"].timestamp()
        assert issued == pytest.approx(lbx.clock.now() + 900, abs=1.5)
        mine = aws_client(lbx.url, "sts", out["Credentials"])
        assert mine.get_caller_identity()["Arn"].endswith(":assumed-role/expiring/s1")
        lbx.advance(899)
        mine.get_caller_identity()
        lbx.advance(2)
        with pytest.raises(ClientError) as exc:
            mine.get_caller_identity()
        assert aws_error(exc) == (
            "ExpiredToken",
            "The security token included in the request is expired",
            400,
        )


def test_sessions_survive_a_restart(tmp_path: Path) -> None:
    with LocalLambdabox(tmp_path / "data") as lbx:
        creds = aws_client(lbx.url, "sts").get_session_token()["Credentials"]
    with LocalLambdabox(tmp_path / "data") as lbx:
        assert aws_client(lbx.url, "sts", creds).get_caller_identity()["Account"] == ACCOUNT


# ---------------------------------------------------------------------------- errors


def test_bad_duration_is_a_validation_error(server: Server, role_arn: str) -> None:
    raw = server.client("sts", parameter_validation=False)
    with pytest.raises(ClientError) as exc:
        raw.assume_role(RoleArn=role_arn, RoleSessionName="s1", DurationSeconds=100)
    code, message, status = aws_error(exc)
    assert (code, status) == ("ValidationError", 400)
    assert message == (
        "1 validation error detected: Value '100' at 'durationSeconds' failed to satisfy constraint: "
        "Member must have value greater than or equal to 900"
    )
    with pytest.raises(ClientError) as exc:
        raw.assume_role(RoleArn=role_arn, RoleSessionName="s1", DurationSeconds=10_800)
    assert aws_error(exc) == (
        "ValidationError",
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        400,
    )


def test_malformed_and_missing_roles(sts: Any) -> None:
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn="arn:aws:iam::000000000000:user/someone", RoleSessionName="s1")
    assert aws_error(exc) == ("ValidationError", "Request ARN is invalid", 400)
    missing = f"arn:aws:iam::{ACCOUNT}:role/{unique('nope')}"
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=missing, RoleSessionName="s1")
    assert aws_error(exc) == (
        "AccessDenied",
        f"User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: sts:AssumeRole on resource: {missing}",
        403,
    )


# ---------------------------------------------------------------------------- web identity


WEB_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/issuer.example"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {"issuer.example:aud": "my-app"},
                    "StringLike": {"issuer.example:sub": "user-*"},
                },
            }
        ],
    }
)


@pytest.fixture(scope="module")
def web_role_arn(server: Server) -> str:
    return str(
        server.client("iam").create_role(RoleName=unique("web"), AssumeRolePolicyDocument=WEB_TRUST)["Role"][
            "Arn"
        ]
    )


def test_assume_role_with_web_identity_unsigned(server: Server, web_role_arn: str) -> None:
    role_arn = web_role_arn
    anon = aws_client(server.url, "sts", signature_version=UNSIGNED)
    token = _jwt({"iss": "https://issuer.example", "sub": "user-7", "aud": "my-app", "exp": 4_000_000_000})
    out = anon.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="web", WebIdentityToken=token)
    assert out["SubjectFromWebIdentityToken"] == "user-7"
    assert out["Audience"] == "my-app" and out["Provider"] == "https://issuer.example"
    assert out["AssumedRoleUser"]["Arn"].endswith(f":assumed-role/{role_arn.rsplit('/', 1)[1]}/web")
    who = aws_client(server.url, "sts", out["Credentials"]).get_caller_identity()
    assert who["Arn"] == out["AssumedRoleUser"]["Arn"]
    # an unsigned call of anything else is refused
    with pytest.raises(ClientError) as exc:
        anon.get_caller_identity()
    assert aws_error(exc)[0] == "MissingAuthenticationToken"


def test_web_identity_needs_a_trust_policy_naming_its_provider_and_claims(
    server: Server, role_arn: str, web_role_arn: str
) -> None:
    anon = aws_client(server.url, "sts", signature_version=UNSIGNED)
    denied = ("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403)
    cases = [
        (role_arn, {"iss": "https://issuer.example", "sub": "user-7", "aud": "my-app"}),  # trusts AWS only
        (web_role_arn, {"iss": "https://other.example", "sub": "user-7", "aud": "my-app"}),
        (web_role_arn, {"iss": "https://issuer.example", "sub": "admin", "aud": "my-app"}),
        (web_role_arn, {"iss": "https://issuer.example", "sub": "user-7", "aud": "other-app"}),
    ]
    for arn, claims in cases:
        with pytest.raises(ClientError) as exc:
            anon.assume_role_with_web_identity(
                RoleArn=arn, RoleSessionName="w1", WebIdentityToken=_jwt(claims)
            )
        assert aws_error(exc) == denied, claims


def test_web_identity_token_errors(server: Server, web_role_arn: str) -> None:
    role_arn = web_role_arn
    anon = aws_client(server.url, "sts", signature_version=UNSIGNED)
    with pytest.raises(ClientError) as exc:
        anon.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="w1", WebIdentityToken="x" * 20)
    assert aws_error(exc)[0] == "InvalidIdentityToken"
    old = _jwt({"iss": "https://issuer.example", "sub": "u", "aud": "a", "exp": 1_000})
    with pytest.raises(ClientError) as exc:
        anon.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="w1", WebIdentityToken=old)
    assert aws_error(exc)[0] == "ExpiredTokenException"


# ---------------------------------------------------------------------------- the AWS CLI


def test_aws_cli_get_caller_identity(server: Server) -> None:
    aws = Path(sys.executable).with_name("aws")
    if not aws.exists():
        pytest.skip("the AWS CLI is not installed next to this Python")
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_PAGER": "",
    }
    out = subprocess.run(
        [str(aws), "sts", "get-caller-identity", "--endpoint-url", server.url, "--output", "json"],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert json.loads(out.stdout) == {
        "UserId": ACCOUNT,
        "Account": ACCOUNT,
        "Arn": f"arn:aws:iam::{ACCOUNT}:root",
    }


# ---------------------------------------------------------------------------- sigv4 parsing

_AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/eu-west-1/sts/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date, Signature=" + "a" * 64
)


def test_sigv4_header_form() -> None:
    caller = parse_caller(CIMultiDict({"authorization": _AUTH, "x-amz-security-token": "tok"}), {})
    assert (caller.access_key_id, caller.region, caller.service, caller.session_token, caller.signed) == (
        "AKIDEXAMPLE", "eu-west-1", "sts", "tok", True,
    )  # fmt: skip
    assert caller.signature is not None and caller.signature.signed_headers == (
        "content-type",
        "host",
        "x-amz-date",
    )
    assert not caller.signature.presigned and caller.problem is None


def test_sigv4_presigned_form() -> None:
    query = {
        "X-Amz-Algorithm": ["AWS4-HMAC-SHA256"],
        "X-Amz-Credential": ["ASIAEXAMPLE/20240101/us-east-1/lambda/aws4_request"],
        "X-Amz-SignedHeaders": ["host"],
        "X-Amz-Signature": ["b" * 64],
        "X-Amz-Security-Token": ["t2"],
    }
    caller = parse_caller(CIMultiDict(), query)
    assert caller == Caller("ASIAEXAMPLE", "us-east-1", "lambda", "t2", True, caller.signature)
    assert caller.temporary and caller.signature is not None and caller.signature.presigned


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "AWS AKID:c2lnbmF0dXJl",  # SigV2
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sts/aws4_request",  # no Signature
        "AWS4-HMAC-SHA256 Credential=AKID/notadate/x/y/aws4_request, SignedHeaders=host, Signature=a",
        "AWS4-HMAC-SHA256 Credential=, SignedHeaders=, Signature=",
        "AWS4-HMAC-SHA256 ,,,===,",
        "AWS4-HMAC-SHA256 Credential=" + "A" * 20_000,
    ],
)
def test_sigv4_malformed_header_is_unsigned(header: str) -> None:
    caller = parse_caller(CIMultiDict({"Authorization": header}), {})
    assert not caller.signed and caller.access_key_id is None and caller.service is None
    assert caller.problem


def test_malformed_authorization_over_http_is_answered(server: Server) -> None:
    """A broken Authorization header is read as unsigned: STS answers MissingAuthenticationToken."""
    import urllib.error
    import urllib.request

    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    req = urllib.request.Request(
        server.url + "/",
        data=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": "AWS4-HMAC-SHA256 ,,=",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=30)
    assert exc.value.code == 403
    assert b"<Code>MissingAuthenticationToken</Code>" in exc.value.read()


def test_unsigned_query_of_unknown_version_is_invalid_action(server: Server) -> None:
    """No service's operation, but a query request: AWS's InvalidAction (400), not STS's answer."""
    import urllib.error
    import urllib.request

    url = f"{server.url}/?Action=GetCallerIdentity&Version=1999-01-01&x={uuid.uuid4().hex}"
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(url, timeout=30)
    assert exc.value.code == 400
    body = exc.value.read()
    assert b"<Code>InvalidAction</Code>" in body
    assert b"Could not find operation GetCallerIdentity for version 1999-01-01" in body
