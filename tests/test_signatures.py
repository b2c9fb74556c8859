"""SigV4 verification (`--verify-signatures`) from the outside: boto3, the AWS CLI, the JavaScript
SDK and hand-signed requests against a real server, with every refusal as AWS words it per service
family; temporary keys' tokens and expiry (checked always, on the manual clock); tenants by account."""

from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore import UNSIGNED
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ROLE, aws_error, make_zip, unique
from lambdabox.lambda_.runtime_sdk import find_runtime_sdk
from lambdabox.testing import LocalLambdabox
from sdk_helpers import needs_python_sdk

TENANT_B = ("AKIDTENANTB0000000001", "tenant-b-secret", "222222222222")
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
)
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
INVALID_TOKEN = "The security token included in the request is invalid."


@pytest.fixture(scope="module")
def lbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdabox]:
    root_keys = "test:test," + ":".join(TENANT_B)
    with LocalLambdabox(
        tmp_path_factory.mktemp("sig"), manual_clock=True, verify_signatures=True, root_keys=root_keys
    ) as server:
        yield server


def signed(
    url: str,
    method: str = "GET",
    body: bytes = b"",
    *,
    service: str = "lambda",
    key: str = "test",
    secret: str = "test",
    when: dt.datetime | None = None,
    headers: dict[str, str] | None = None,
) -> AWSRequest:
    """A request signed with botocore's signer at `when` (default now)."""
    req = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    stamp = (when or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    req.context["timestamp"] = stamp
    req.headers["X-Amz-Date"] = stamp
    auth = SigV4Auth(Credentials(key, secret), service, "us-east-1")
    canonical = auth.canonical_request(req)
    signature = auth.signature(auth.string_to_sign(req, canonical), req)
    headers_list = auth.signed_headers(auth.headers_to_sign(req))
    scope = auth.credential_scope(req)
    req.headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={key}/{scope}, SignedHeaders={headers_list}, Signature={signature}"
    )
    return req


def send(req: AWSRequest, body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    """Send `req` (optionally with another body than the one signed) with urllib."""
    data = req.body if body is None else body
    raw = urllib.request.Request(req.url, data=data or None, method=req.method, headers=dict(req.headers))
    try:
        with urllib.request.urlopen(raw, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


# ------------------------------------------------------------------------------ good signatures
def test_boto3_requests_signed_with_the_root_keys_are_accepted(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    name = unique("sig")
    arn = lam.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return {'got': e}\n"})},
    )["FunctionArn"]  # fmt: skip
    # an ARN in the path: its colons are percent-encoded, and SigV4 encodes the path once more
    assert lam.get_function(FunctionName=arn)["Configuration"]["FunctionName"] == name
    payload = json.dumps({"text": "héllo wörld ✓", "n": [1, 2]}).encode()
    out = lam.invoke(FunctionName=name, Payload=payload, Qualifier="$LATEST")
    assert json.loads(out["Payload"].read()) == {"got": json.loads(payload)}
    page = lam.list_functions(MaxItems=1)  # a query string, signed
    assert len(page["Functions"]) == 1
    assert lbx.client("sts").get_caller_identity()["Arn"] == "arn:aws:iam::000000000000:root"
    assert lbx.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]


def test_a_signed_query_string_with_spaces_and_reserved_characters_verifies(lbx: LocalLambdabox) -> None:
    base = lbx.url + "/2015-03-31/functions/?Marker=" + "a%20b%2Bc%2F%3D~&MaxItems=5"
    status, _, body = send(signed(base))
    assert (status, json.loads(body)["message"]) == (400, "Invalid marker")  # verified, then validated


def test_each_root_key_acts_in_its_own_account(lbx: LocalLambdabox) -> None:
    key, secret, account = TENANT_B
    b_lambda = lbx.client("lambda", key=key, secret=secret)
    ident = lbx.client("sts", key=key, secret=secret).get_caller_identity()
    assert (ident["Account"], ident["Arn"]) == (account, f"arn:aws:iam::{account}:root")
    name = unique("tenantb")
    b_lambda.create_function(
        FunctionName=name, Runtime="python3.11", Role=f"arn:aws:iam::{account}:role/r", Handler="a.h",
        Code={"ZipFile": make_zip({"a.py": "def h(e, c):\n    return 1\n"})},
    )  # fmt: skip
    assert b_lambda.get_function(FunctionName=name)["Configuration"]["FunctionArn"].split(":")[4] == account
    assert lbx.client("sts").get_access_key_info(AccessKeyId=key)["Account"] == account
    a_lambda = lbx.client("lambda")
    assert name not in [f["FunctionName"] for f in a_lambda.list_functions()["Functions"]]
    with pytest.raises(ClientError) as exc:
        a_lambda.get_function_configuration(FunctionName=name)
    assert aws_error(exc)[0] == "ResourceNotFoundException"


def test_one_tenant_cannot_assume_or_pass_another_tenants_role(lbx: LocalLambdabox) -> None:
    key, secret, account = TENANT_B
    b_iam = lbx.client("iam", key=key, secret=secret)
    own = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root", "Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    private = b_iam.create_role(RoleName=unique("private"), AssumeRolePolicyDocument=own)["Role"]["Arn"]
    shared_trust = own.replace(f"arn:aws:iam::{account}:root", "000000000000")
    shared = b_iam.create_role(RoleName=unique("shared"), AssumeRolePolicyDocument=shared_trust)["Role"][
        "Arn"
    ]
    a_sts = lbx.client("sts")
    with pytest.raises(ClientError) as exc:
        a_sts.assume_role(RoleArn=private, RoleSessionName="steal")
    assert aws_error(exc) == (
        "AccessDenied",
        f"User: arn:aws:iam::000000000000:root is not authorized to perform: sts:AssumeRole on resource: {private}",
        403,
    )
    # trust policies that open to "*" under a condition only A cannot meet (a review's bypasses)
    for condition in (
        {"StringEquals": {"aws:PrincipalAccount": account}},
        {"StringEquals": {"sts:ExternalId": "b-only"}},
        {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    ):
        doc = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": "sts:AssumeRole",
                    "Condition": condition,
                }
            ],
        }
        guarded = b_iam.create_role(RoleName=unique("guarded"), AssumeRolePolicyDocument=json.dumps(doc))
        for extra in ({}, {"ExternalId": "guess"}):
            with pytest.raises(ClientError) as exc:
                a_sts.assume_role(RoleArn=guarded["Role"]["Arn"], RoleSessionName="steal", **extra)
            assert aws_error(exc)[0] == "AccessDenied", condition
    # B's own root may; and a role whose trust policy names A's account is assumable by A, as on AWS
    assert lbx.client("sts", key=key, secret=secret).assume_role(RoleArn=private, RoleSessionName="mine")
    creds = a_sts.assume_role(RoleArn=shared, RoleSessionName="granted")["Credentials"]
    ident = lbx.client(
        "sts", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"]
    ).get_caller_identity()
    assert ident["Account"] == account
    # a function of A's naming B's role would run with B's credentials: refused, as AWS does
    with pytest.raises(ClientError) as exc:
        lbx.client("lambda").create_function(
            FunctionName=unique("pass"), Runtime="python3.11", Role=private, Handler="a.h",
            Code={"ZipFile": make_zip({"a.py": "def h(e, c):\n    return 1\n"})},
        )  # fmt: skip
    assert aws_error(exc) == ("AccessDeniedException", "Cross-account pass role is not allowed.", 403)


def test_the_aws_cli_is_accepted_and_a_wrong_secret_is_refused(lbx: LocalLambdabox, tmp_path: Path) -> None:
    aws = shutil.which("aws") or str(Path(os.sys.executable).parent / "aws")  # type: ignore[attr-defined]
    env = {
        **os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }  # fmt: skip
    env.pop("AWS_SESSION_TOKEN", None)
    args = [aws, "--endpoint-url", lbx.url, "sts", "get-caller-identity", "--output", "json"]
    ok = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["Account"] == "000000000000"
    bad = subprocess.run(
        args, env={**env, "AWS_SECRET_ACCESS_KEY": "wrong"}, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode != 0
    assert "SignatureDoesNotMatch" in bad.stderr and MISMATCH in bad.stderr


SDK = find_runtime_sdk()


@pytest.mark.skipif(shutil.which("node") is None or SDK.node_modules is None, reason="no node or JS SDK")
def test_the_javascript_sdk_v3_signs_requests_that_verify(lbx: LocalLambdabox, tmp_path: Path) -> None:
    script = tmp_path / "call.mjs"
    script.write_text(
        """
import { createRequire } from "node:module";
const require = createRequire(process.env.SDK + "/");
const { LambdaClient, ListFunctionsCommand, GetFunctionCommand } = require("@aws-sdk/client-lambda");
const { STSClient, GetCallerIdentityCommand } = require("@aws-sdk/client-sts");
const config = { endpoint: process.env.URL, region: "us-east-1", maxAttempts: 1,
  credentials: { accessKeyId: "test", secretAccessKey: process.env.SECRET } };
const out = {};
for (const [label, run] of [
  ["sts", () => new STSClient(config).send(new GetCallerIdentityCommand({}))],
  ["list", () => new LambdaClient(config).send(new ListFunctionsCommand({ MaxItems: 2 }))],
  ["get", () => new LambdaClient(config).send(new GetFunctionCommand(
      { FunctionName: "arn:aws:lambda:us-east-1:000000000000:function:nope" }))],
]) {
  try { const r = await run(); out[label] = { ok: true, account: r.Account }; }
  catch (e) { out[label] = { ok: false, name: e.name, status: e.$metadata?.httpStatusCode }; }
}
console.log(JSON.stringify(out));
"""
    )
    env = {**os.environ, "SDK": str(SDK.node_modules), "URL": lbx.url}

    def run(secret: str) -> dict[str, Any]:
        done = subprocess.run(
            ["node", str(script)], env={**env, "SECRET": secret}, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    good = run("test")
    assert good["sts"] == {"ok": True, "account": "000000000000"}
    assert good["list"]["ok"] is True
    assert good["get"] == {"ok": False, "name": "ResourceNotFoundException", "status": 404}
    bad = run("wrong")
    assert bad["sts"]["name"] == "SignatureDoesNotMatch"
    assert bad["list"] == {"ok": False, "name": "InvalidSignatureException", "status": 403}


# ------------------------------------------------------------------------------ refusals, per family
CALLS = {
    "lambda": lambda c: c.list_functions(),
    "logs": lambda c: c.describe_log_groups(),
    "sts": lambda c: c.get_caller_identity(),
    "iam": lambda c: c.list_roles(),
}


@pytest.mark.parametrize(
    ("service", "key", "code", "message", "status"),
    [
        ("lambda", "test", "InvalidSignatureException", MISMATCH, 403),
        ("logs", "test", "InvalidSignatureException", MISMATCH, 400),
        ("sts", "test", "SignatureDoesNotMatch", MISMATCH, 403),
        ("iam", "test", "SignatureDoesNotMatch", MISMATCH, 403),
        ("lambda", "AKIAIOSFODNN7EXAMPLE", "UnrecognizedClientException", INVALID_TOKEN, 403),
        ("logs", "AKIAIOSFODNN7EXAMPLE", "UnrecognizedClientException", INVALID_TOKEN, 400),
        ("sts", "AKIAIOSFODNN7EXAMPLE", "InvalidClientTokenId", INVALID_TOKEN, 403),
        ("iam", "AKIAIOSFODNN7EXAMPLE", "InvalidClientTokenId", INVALID_TOKEN, 403),
    ],
)
def test_a_wrong_secret_or_an_unknown_key_is_refused_as_each_service_words_it(
    lbx: LocalLambdabox, service: str, key: str, code: str, message: str, status: int
) -> None:
    with pytest.raises(ClientError) as exc:
        CALLS[service](lbx.client(service, key=key, secret="not-the-secret"))
    assert aws_error(exc) == (code, message, status)


def test_unsigned_requests_are_refused_and_unverifiable_web_identity_too(lbx: LocalLambdabox) -> None:
    with pytest.raises(ClientError) as exc:
        lbx.client("lambda", signature_version=UNSIGNED).list_functions()
    assert aws_error(exc) == ("MissingAuthenticationTokenException", "Missing Authentication Token", 403)
    sts = lbx.client("sts", signature_version=UNSIGNED)
    with pytest.raises(ClientError) as exc:
        sts.get_caller_identity()
    assert aws_error(exc) == ("MissingAuthenticationToken", "Request is missing Authentication Token", 403)
    iam = lbx.client("iam")
    role = iam.create_role(RoleName=unique("web"), AssumeRolePolicyDocument=TRUST)["Role"]
    # served unsigned, but a token cannot be verified (no OpenID Connect provider can be registered
    # yet): under --verify-signatures anyone could forge one for any account's role
    token = _jwt({"sub": "user-1", "aud": "app", "iss": "https://idp.example"})
    with pytest.raises(ClientError) as exc:
        sts.assume_role_with_web_identity(RoleArn=role["Arn"], RoleSessionName="sess", WebIdentityToken=token)
    assert aws_error(exc) == (
        "InvalidIdentityToken",
        "No OpenIDConnect provider found in your account for https://idp.example",
        400,
    )


def test_an_unreadable_authorization_header_is_an_incomplete_signature(lbx: LocalLambdabox) -> None:
    for auth in ["AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/lambda/aws4_request", "Bearer xyz"]:
        req = urllib.request.Request(lbx.url + "/2015-03-31/functions/", headers={"Authorization": auth})
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(req, timeout=30)
        assert exc.value.code == 403
        assert exc.value.headers["x-amzn-ErrorType"].startswith("IncompleteSignatureException")


def test_a_body_changed_after_signing_is_refused(lbx: LocalLambdabox) -> None:
    name = unique("tamper")
    lbx.client("lambda").create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return e\n"})},
    )  # fmt: skip
    url = f"{lbx.url}/2015-03-31/functions/{name}/invocations"
    req = signed(url, "POST", b'{"amount": 1}')
    status, _, body = send(req)
    assert (status, body) == (200, b'{"amount": 1}')
    status, headers, body = send(req, b'{"amount": 9}')
    assert (status, headers["x-amzn-ErrorType"].split(":")[0]) == (403, "InvalidSignatureException")
    assert json.loads(body)["message"] == MISMATCH
    # a payload hash header that does not match the body is refused too
    lying = signed(url, "POST", b'{"amount": 1}', headers={"X-Amz-Content-SHA256": "0" * 64})
    assert send(lying)[0] == 403


@pytest.mark.parametrize(
    ("minutes", "words"), [(-20, "Signature expired:"), (20, "Signature not yet current:"), (-10, None)]
)
def test_clock_skew_over_15_minutes_is_refused(lbx: LocalLambdabox, minutes: int, words: str | None) -> None:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
    status, _, body = send(signed(lbx.url + "/2015-03-31/functions/", when=when))
    if words is None:
        assert status == 200, body
        return
    assert status == 403
    message = json.loads(body)["message"]
    assert message.startswith(words) and message.endswith(("- 15 min.)", "+ 15 min.)")), message
    assert when.strftime("%Y%m%dT%H%M%SZ") in message


def test_presigned_get_caller_identity_verifies_and_a_tampered_one_does_not(lbx: LocalLambdabox) -> None:
    # botocore presigns STS's (POST) operations for a POST with an empty body
    url = lbx.client("sts").generate_presigned_url("get_caller_identity", ExpiresIn=60)
    status, _, body = send(AWSRequest(method="POST", url=url))
    assert status == 200 and b"<Arn>arn:aws:iam::000000000000:root</Arn>" in body
    for changed in (url.replace("Expires=60", "Expires=600"), url + "&Extra=1"):
        status, _, body = send(AWSRequest(method="POST", url=changed))
        assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body
    status, _, body = send(AWSRequest(method="GET", url=url))  # signed for another method
    assert status == 403


def test_an_expired_presigned_url_is_refused(lbx: LocalLambdabox) -> None:
    req = AWSRequest(method="POST", url=lbx.url + "/?Action=GetCallerIdentity&Version=2011-06-15")
    old = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=120)
    SigV4QueryAuthAt(Credentials("test", "test"), "sts", "us-east-1", expires=60, when=old).add_auth(req)
    status, _, body = send(AWSRequest(method="POST", url=req.url))
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body
    assert b"Signature expired: " + old.strftime("%Y%m%dT%H%M%SZ").encode() in body


class SigV4QueryAuthAt(SigV4QueryAuth):
    """botocore's presigner at a chosen time."""

    def __init__(self, *args: Any, when: dt.datetime, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._when = when

    def add_auth(self, request: AWSRequest) -> None:
        request.context["timestamp"] = self._when.strftime("%Y%m%dT%H%M%SZ")
        self._modify_request_before_signing(request)
        canonical = self.canonical_request(request)
        signature = self.signature(self.string_to_sign(request, canonical), request)
        self._inject_signature_to_request(request, signature)


# ------------------------------------------------------------------------------ IAM and STS keys
def test_iam_user_keys_verify_until_made_inactive_or_deleted(lbx: LocalLambdabox) -> None:
    iam = lbx.client("iam")
    user = unique("user")
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    mine = lbx.client("lambda", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    assert "Functions" in mine.list_functions()
    with pytest.raises(ClientError) as exc:
        lbx.client("lambda", key=key["AccessKeyId"], secret="wrong").list_functions()
    assert aws_error(exc)[0] == "InvalidSignatureException"
    iam.update_access_key(UserName=user, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    with pytest.raises(ClientError) as exc:
        mine.list_functions()
    assert aws_error(exc) == ("UnrecognizedClientException", INVALID_TOKEN, 403)
    iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    with pytest.raises(ClientError) as exc:
        mine.list_functions()
    assert aws_error(exc) == ("UnrecognizedClientException", INVALID_TOKEN, 403)


def test_sts_credentials_verify_need_their_token_and_expire_on_the_clock(lbx: LocalLambdabox) -> None:
    role = lbx.client("iam").create_role(RoleName=unique("r"), AssumeRolePolicyDocument=TRUST)["Role"]
    creds = lbx.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="sess", DurationSeconds=900)[
        "Credentials"
    ]
    kid, secret, token = creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]
    assert "Functions" in lbx.client("lambda", key=kid, secret=secret, token=token).list_functions()
    with pytest.raises(ClientError) as exc:
        lbx.client("lambda", key=kid, secret=secret, token=token[:-4] + "AAAA").list_functions()
    assert aws_error(exc) == ("UnrecognizedClientException", INVALID_TOKEN, 403)
    with pytest.raises(ClientError) as exc:
        lbx.client("lambda", key=kid, secret=secret).list_functions()  # no token at all
    assert aws_error(exc)[0] == "UnrecognizedClientException"
    lbx.advance(901)
    expired = "The security token included in the request is expired"
    with pytest.raises(ClientError) as exc:
        lbx.client("lambda", key=kid, secret=secret, token=token).list_functions()
    assert aws_error(exc) == ("ExpiredTokenException", expired, 403)
    with pytest.raises(ClientError) as exc:
        lbx.client("iam", key=kid, secret=secret, token=token).list_roles()
    assert aws_error(exc) == ("ExpiredToken", expired, 400)


def test_expired_sts_keys_are_refused_even_when_signatures_are_not_checked(tmp_path: Path) -> None:
    with LocalLambdabox(tmp_path, manual_clock=True) as server:
        role = server.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument=TRUST)["Role"]
        creds = server.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="sess")["Credentials"]
        lam = server.client(
            "lambda", key=creds["AccessKeyId"], secret="anything", token=creds["SessionToken"]
        )
        assert "Functions" in lam.list_functions()  # the secret is not checked without the flag
        assert "Functions" in server.client("lambda", key="whatever", secret="x").list_functions()
        server.advance(3601)
        with pytest.raises(ClientError) as exc:
            lam.list_functions()
        assert aws_error(exc)[0] == "ExpiredTokenException"


CALLER = """
import os, boto3
from botocore.exceptions import ClientError

def handler(event, context):
    out = {"arn": boto3.client("sts").get_caller_identity()["Arn"]}
    out["listed"] = [f["FunctionName"] for f in boto3.client("lambda").list_functions()["Functions"]]
    forged = boto3.client(
        "lambda", aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"], aws_secret_access_key="forged",
        aws_session_token=os.environ["AWS_SESSION_TOKEN"],
    )
    try:
        forged.list_functions()
        out["forged"] = "accepted"
    except ClientError as err:
        out["forged"] = err.response["Error"]["Code"]
    return out
"""
LAMBDA_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


@needs_python_sdk
def test_a_functions_calls_verify_as_its_execution_role(lbx: LocalLambdabox) -> None:
    role = lbx.client("iam").create_role(RoleName=unique("fnrole"), AssumeRolePolicyDocument=LAMBDA_TRUST)
    lam = lbx.client("lambda", read_timeout=120)
    name = unique("caller")
    lam.create_function(
        FunctionName=name, Runtime="python3.11", Role=role["Role"]["Arn"], Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": CALLER})}, Timeout=60,
    )  # fmt: skip
    out = json.loads(lam.invoke(FunctionName=name)["Payload"].read())
    assert out["arn"] == f"arn:aws:sts::000000000000:assumed-role/{role['Role']['RoleName']}/{name}", out
    assert name in out["listed"]
    assert out["forged"] == "InvalidSignatureException"


def test_health_says_whether_signatures_are_verified(lbx: LocalLambdabox) -> None:
    with urllib.request.urlopen(lbx.url + "/_lambdabox/health", timeout=10) as resp:
        assert json.loads(resp.read())["verifySignatures"] is True


def _jwt(claims: dict[str, Any]) -> str:
    import base64

    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.{hashlib.sha256(b'x').hexdigest()[:16]}"


# ------------------------------------------------------------------------------ a review's attacks
def test_a_long_term_key_with_a_session_token_is_refused(lbx: LocalLambdabox) -> None:
    with pytest.raises(ClientError) as exc:
        lbx.client("sts", token="stale-token").get_caller_identity()
    assert aws_error(exc) == ("InvalidClientTokenId", INVALID_TOKEN, 403)


def test_unsigned_payload_is_refused_outside_s3(lbx: LocalLambdabox) -> None:
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD",
    }
    req = signed(lbx.url + "/", "POST", body, service="sts", headers=headers)
    status, _, answer = send(req)
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in answer
    # and a swapped body under it cannot choose another operation
    status, _, answer = send(req, b"Action=GetSessionToken&Version=2011-06-15")
    assert status == 403 and b"Credentials" not in answer


def test_a_signature_scoped_to_another_service_is_refused(lbx: LocalLambdabox) -> None:
    body = b"{}"
    headers = {
        "X-Amz-Target": "Logs_20140328.DescribeLogGroups",
        "Content-Type": "application/x-amz-json-1.1",
    }
    status, _, answer = send(signed(lbx.url + "/", "POST", body, service="sts", headers=headers))
    assert (
        status == 400
        and json.loads(answer)["message"] == "Credential should be scoped to correct service: 'logs'. "
    )
    status, _, answer = send(signed(lbx.url + "/2015-03-31/functions/", service="s3"))
    assert status == 403 and "scoped to correct service: 'lambda'" in json.loads(answer)["message"]


def test_what_is_verified_is_what_runs(lbx: LocalLambdabox) -> None:
    # '+' in a query string is a space to the service: a signature over %2B does not cover it
    good = lbx.url + "/2015-03-31/functions/?Marker=ab%2Bcd"
    req = signed(good)
    assert send(req)[0] == 400  # verified; the marker itself is invalid
    tampered = AWSRequest(method="GET", url=good.replace("%2B", "+"), headers=dict(req.headers))
    assert send(tampered)[0] == 403
    # the path routed is the path signed: dot segments and doubled slashes are not normalized away
    for path in ("/2015-03-31/functions/fn/aliases/..", "//2015-03-31/functions/"):
        assert send(signed(lbx.url + path))[0] == 403, path


def test_sessions_of_deleted_roles_and_users_stop_working(lbx: LocalLambdabox) -> None:
    iam = lbx.client("iam")
    role = iam.create_role(RoleName=unique("gone"), AssumeRolePolicyDocument=TRUST)["Role"]
    creds = lbx.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="sess")["Credentials"]
    user = unique("leaver")
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    user_sts = lbx.client("sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    user_creds = user_sts.get_session_token()["Credentials"]
    sessions = [
        lbx.client("lambda", key=c["AccessKeyId"], secret=c["SecretAccessKey"], token=c["SessionToken"])
        for c in (creds, user_creds)
    ]
    for lam in sessions:
        assert "Functions" in lam.list_functions()
    iam.delete_role(RoleName=role["RoleName"])
    iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    iam.delete_user(UserName=user)
    for lam in sessions:
        with pytest.raises(ClientError) as exc:
            lam.list_functions()
        assert aws_error(exc) == ("UnrecognizedClientException", INVALID_TOKEN, 403)
    # a role of the same name created again is another role: the old sessions stay refused
    iam.create_role(RoleName=role["RoleName"], AssumeRolePolicyDocument=TRUST)
    with pytest.raises(ClientError):
        sessions[0].list_functions()


def test_deleted_iam_keys_and_unissued_temporary_keys_never_act_as_root(tmp_path: Path) -> None:
    """Even without --verify-signatures, where any key nobody issued acts as a root key."""
    with LocalLambdabox(tmp_path) as server:
        iam = server.client("iam")
        iam.create_user(UserName="u")
        key = iam.create_access_key(UserName="u")["AccessKey"]
        lam = server.client("lambda", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
        assert "Functions" in lam.list_functions()
        iam.delete_access_key(UserName="u", AccessKeyId=key["AccessKeyId"])
        with pytest.raises(ClientError) as exc:
            lam.list_functions()
        assert aws_error(exc) == ("UnrecognizedClientException", INVALID_TOKEN, 403)
        with pytest.raises(ClientError) as exc:
            server.client("lambda", key="ASIAIOSFODNN7EXAMPLE", secret="x", token="t").list_functions()
        assert aws_error(exc) == ("UnrecognizedClientException", INVALID_TOKEN, 403)
        assert "Functions" in server.client("lambda", key="AKIAIOSFODNN7EXAMPLE", secret="x").list_functions()


def test_ambiguous_signatures_are_incomplete(lbx: LocalLambdabox) -> None:
    req = signed(lbx.url + "/2015-03-31/functions/")
    auth = req.headers["Authorization"]
    cases = {
        "two headers": [("Authorization", auth), ("Authorization", auth)],
        "a parameter twice": [("Authorization", auth + ", Signature=" + "0" * 64)],
    }
    for label, extra in cases.items():
        conn = http.client.HTTPConnection("127.0.0.1", lbx.app.port, timeout=30)
        conn.putrequest("GET", "/2015-03-31/functions/", skip_host=True)
        for name, value in [(k, v) for k, v in req.headers.items() if k != "Authorization"] + extra:
            conn.putheader(name, value)
        conn.putheader("Host", f"127.0.0.1:{lbx.app.port}")
        conn.endheaders()
        resp = conn.getresponse()
        resp.read()
        conn.close()
        assert (resp.status, resp.getheader("x-amzn-ErrorType", "").split(":")[0]) == (
            403,
            "IncompleteSignatureException",
        ), label
    both = AWSRequest(
        method="GET", url=req.url + "?X-Amz-Algorithm=AWS4-HMAC-SHA256", headers=dict(req.headers)
    )
    status, _, body = send(both)
    assert status == 403 and "Only one auth mechanism allowed" in json.loads(body)["message"]
