"""Execution-role credentials inside environments and `--check-roles`, as a user sees them.

Functions call STS with what Lambda put into their environment (the bundled SDKs; AWS_ENDPOINT_URL
points back at lambdabox) and are told they are their role's session named after the function;
environments are replaced before their credentials run out (on the manual clock). With
`--check-roles`, CreateFunction and UpdateFunctionConfiguration refuse a role Lambda cannot assume.
Below them, the pieces on their own: the credentials cache, the pool's rule, trust policies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import Server, aws_client, aws_error, deploy, start_server, unique
from lambdabox.clock import ManualClock
from lambdabox.iam.trust import allows_caller, allows_service
from lambdabox.lambda_.credentials import ROLE_SECONDS, SPARE, RoleCredentials, RoleCredentialsCache
from lambdabox.lambda_.environment import Environment, State
from lambdabox.lambda_.models import FunctionConfig
from lambdabox.lambda_.pool import Pool
from lambdabox.testing import LocalLambdabox
from review_helpers import Background, invoke
from review_helpers import gate_fixture as gate_fixture
from sdk_helpers import needs_node_sdk, needs_python_sdk

ACCOUNT = "000000000000"
CANNOT_ASSUME = (
    "InvalidParameterValueException",
    "The role defined for the function cannot be assumed by Lambda.",
    400,
)


def _trust(*services: str, action: Any = "sts:AssumeRole") -> str:
    principal = {"Service": services[0] if len(services) == 1 else list(services)}
    statement = {"Effect": "Allow", "Principal": principal, "Action": action}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


LAMBDA_TRUST = _trust("lambda.amazonaws.com")


def _role(iam: Any, trust: str = LAMBDA_TRUST, **kw: Any) -> dict[str, Any]:
    """CreateRole with a fresh name; returns AWS's Role shape."""
    role: dict[str, Any] = iam.create_role(RoleName=unique("exec"), AssumeRolePolicyDocument=trust, **kw)[
        "Role"
    ]
    return role


@pytest.fixture
def new_role(server: Server) -> Iterator[Callable[..., dict[str, Any]]]:
    """Create an IAM role (trusting lambda.amazonaws.com unless told otherwise); deleted after the test."""
    iam = server.client("iam")
    names: list[str] = []

    def create(trust: str = LAMBDA_TRUST, **kw: Any) -> dict[str, Any]:
        role = _role(iam, trust, **kw)
        names.append(role["RoleName"])
        return role

    yield create
    for name in names:
        with contextlib.suppress(ClientError):
            iam.delete_role(RoleName=name)


#: returns the credentials its environment carries and, unless {"who": false}, who STS says it is;
#: with {"gate": port} it first waits at the test's gate
PY_WHO = """
import os, socket

def handler(event, context):
    if event.get("gate"):
        with socket.create_connection(("127.0.0.1", event["gate"]), timeout=60) as s:
            s.recv(2)
    who = None
    if event.get("who", True):
        import boto3
        got = boto3.client("sts").get_caller_identity()
        who = {k: got[k] for k in ("UserId", "Account", "Arn")}
    keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    return {"env": {k: os.environ.get(k) for k in keys}, "who": who, "stream": context.log_stream_name}
"""

NODE_WHO = """
const { STSClient, GetCallerIdentityCommand } = require("@aws-sdk/client-sts");
exports.handler = async () => {
  const who = await new STSClient({}).send(new GetCallerIdentityCommand({}));
  return { key: process.env.AWS_ACCESS_KEY_ID, token: process.env.AWS_SESSION_TOKEN,
           who: { UserId: who.UserId, Account: who.Account, Arn: who.Arn } };
};
"""


def _run(lam: Any, name: str, event: Any = None) -> Any:
    resp, out, tail = invoke(lam, name, event if event is not None else {})
    assert "FunctionError" not in resp, (out, tail)
    return out


def _creds(env: dict[str, str]) -> dict[str, str]:
    """STS's credential shape, from an environment's variables."""
    return {
        "AccessKeyId": env["AWS_ACCESS_KEY_ID"],
        "SecretAccessKey": env["AWS_SECRET_ACCESS_KEY"],
        "SessionToken": env["AWS_SESSION_TOKEN"],
    }


# ------------------------------------------------------------------------- inside functions


@needs_python_sdk
def test_python_function_calls_sts_as_its_execution_role(
    lam: Any, server: Server, create_fn: Callable[..., str], new_role: Callable[..., dict[str, Any]]
) -> None:
    role = new_role()
    name = create_fn({"app.py": PY_WHO}, role=role["Arn"], Timeout=30, MemorySize=256)
    out = _run(lam, name)
    assert out["who"] == {
        "UserId": f"{role['RoleId']}:{name}",
        "Account": ACCOUNT,
        "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role['RoleName']}/{name}",
    }
    env = out["env"]
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA") and len(env["AWS_ACCESS_KEY_ID"]) == 20
    assert len(env["AWS_SECRET_ACCESS_KEY"]) == 40
    assert env["AWS_SESSION_TOKEN"] not in (None, "", "test")
    # the same credentials, used from outside, are the same session
    outside = aws_client(server.url, "sts", _creds(env)).get_caller_identity()
    assert outside["Arn"] == out["who"]["Arn"]


@needs_node_sdk
def test_node_function_calls_sts_as_its_execution_role(
    lam: Any, create_fn: Callable[..., str], new_role: Callable[..., dict[str, Any]]
) -> None:
    role = new_role()
    name = create_fn(
        {"index.js": NODE_WHO},
        runtime="nodejs20.x",
        handler="index.handler",
        role=role["Arn"],
        Timeout=30,
        MemorySize=256,
    )
    out = _run(lam, name)
    assert out["who"] == {
        "UserId": f"{role['RoleId']}:{name}",
        "Account": ACCOUNT,
        "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role['RoleName']}/{name}",
    }
    assert out["key"].startswith("ASIA") and out["token"] not in ("", "test")


@needs_python_sdk
def test_concurrent_cold_starts_share_one_session_and_roles_differ(
    lam: Any, create_fn: Callable[..., str], new_role: Callable[..., dict[str, Any]], gate: Any
) -> None:
    first, second = new_role(), new_role()
    name = create_fn({"app.py": PY_WHO}, role=first["Arn"], Timeout=60, MemorySize=256)
    # two invocations at once: two cold starts, one session
    calls = [Background(lam, name, {"gate": gate.port, "who": False}) for _ in range(2)]
    gate.arrivals(2)
    gate.release()
    (_, a, _), (_, b, _) = (c.join() for c in calls)
    assert a["stream"] != b["stream"]  # two environments
    assert a["env"] == b["env"]
    # another function, another role: another identity
    other = create_fn({"app.py": PY_WHO}, role=second["Arn"], Timeout=30, MemorySize=256)
    theirs = _run(lam, other)
    assert theirs["env"]["AWS_ACCESS_KEY_ID"] != a["env"]["AWS_ACCESS_KEY_ID"]
    assert theirs["who"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{second['RoleName']}/{other}"
    # a role ARN IAM does not know still works (any well-formed ARN, as before): a derived role id
    unknown = f"arn:aws:iam::{ACCOUNT}:role/{unique('not-in-iam')}"
    lam.update_function_configuration(FunctionName=other, Role=unknown)
    who = _run(lam, other)["who"]
    assert who["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{unknown.rsplit('/', 1)[1]}/{other}"
    assert who["UserId"].startswith("AROA") and who["UserId"].endswith(f":{other}")


# ------------------------------------------------------------------------- expiry, on the manual clock


@needs_python_sdk
def test_environments_are_replaced_before_their_credentials_expire(tmp_path: Path, gate: Any) -> None:
    timeout = 60
    with LocalLambdabox(tmp_path / "data", manual_clock=True, idle_timeout=10**7) as lbx:
        lam, clock = aws_client(lbx.url, "lambda"), lbx.clock
        name = deploy(lam, {"app.py": PY_WHO}, Timeout=timeout, MemorySize=256)

        def left(issued_at: float) -> float:
            """Seconds the credentials issued at `issued_at` have left (they last whole seconds)."""
            return int(issued_at) + ROLE_SECONDS - clock.now()

        issued = clock.now()
        one = _run(lam, name)
        # still enough for an invocation and five minutes more: the same environment
        lbx.advance(left(issued) - (timeout + SPARE + 5))
        again = _run(lam, name)
        assert (again["stream"], again["env"]) == (one["stream"], one["env"])
        # not any more: a new environment with new credentials, of the same role session name
        lbx.advance(10)
        issued = clock.now()
        two = _run(lam, name)
        assert two["stream"] != one["stream"]
        assert two["env"]["AWS_ACCESS_KEY_ID"] != one["env"]["AWS_ACCESS_KEY_ID"]
        assert two["who"]["Arn"] == one["who"]["Arn"]
        old = aws_client(lbx.url, "sts", _creds(one["env"]))
        old.get_caller_identity()  # the old key is still valid, for a few minutes
        # an invocation never holds credentials that expire before its deadline: with 30 s left on
        # the current ones, an invocation that runs 45 s still calls STS successfully at its end
        lbx.advance(left(issued) - 30)
        call = Background(lam, name, {"gate": gate.port})
        gate.arrivals(1)
        lbx.advance(45)
        gate.release()
        resp, three, tail = call.join()
        assert "FunctionError" not in resp, (three, tail)
        assert three["env"]["AWS_ACCESS_KEY_ID"] not in (
            one["env"]["AWS_ACCESS_KEY_ID"],
            two["env"]["AWS_ACCESS_KEY_ID"],
        )
        # the replaced credentials have expired
        for expired in (one, two):
            with pytest.raises(ClientError) as exc:
                aws_client(lbx.url, "sts", _creds(expired["env"])).get_caller_identity()
            assert aws_error(exc) == (
                "ExpiredToken",
                "The security token included in the request is expired",
                400,
            )


# ------------------------------------------------------------------------- --check-roles


@pytest.fixture(scope="module")
def checking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server started with `lambdabox serve --check-roles`."""
    srv = start_server(tmp_path_factory.mktemp("check-roles") / "data", "--check-roles")
    yield srv
    srv.stop()


def test_check_roles_refuses_roles_lambda_cannot_assume(checking: Server) -> None:
    lam, iam = checking.client("lambda"), checking.client("iam")
    files: dict[str, str | bytes] = {"app.py": "def handler(e, c):\n    return 1\n"}
    missing = f"arn:aws:iam::{ACCOUNT}:role/{unique('missing')}"
    ec2 = _role(iam, _trust("ec2.amazonaws.com"))["Arn"]
    for role in (missing, ec2):
        with pytest.raises(ClientError) as exc:
            deploy(lam, files, role=role)
        assert aws_error(exc) == CANNOT_ASSUME
    assert lam.list_functions()["Functions"] == []
    # trusting lambda.amazonaws.com (among others, with more actions, under a path): accepted
    trusted = _role(
        iam, _trust("ec2.amazonaws.com", "lambda.amazonaws.com", action=["sts:AssumeRole", "sts:TagSession"]),
        Path="/service-role/",
    )["Arn"]  # fmt: skip
    name = deploy(lam, files, role=trusted)
    assert lam.invoke(FunctionName=name)["Payload"].read() == b"1"
    # UpdateFunctionConfiguration judges a new role the same way
    with pytest.raises(ClientError) as exc:
        lam.update_function_configuration(FunctionName=name, Role=ec2)
    assert aws_error(exc) == CANNOT_ASSUME
    assert lam.get_function_configuration(FunctionName=name)["Role"] == trusted
    plain = _role(iam)["Arn"]
    assert lam.update_function_configuration(FunctionName=name, Role=plain)["Role"] == plain
    # a role in another account is never passed (its credentials would act in that account)
    with pytest.raises(ClientError) as exc:
        lam.update_function_configuration(FunctionName=name, Role=plain.replace(ACCOUNT, "111111111111"))
    assert aws_error(exc) == ("AccessDeniedException", "Cross-account pass role is not allowed.", 403)


def test_without_check_roles_any_well_formed_role_is_accepted(
    lam: Any, create_fn: Callable[..., str], new_role: Callable[..., dict[str, Any]]
) -> None:
    ec2 = new_role(_trust("ec2.amazonaws.com"))["Arn"]
    missing = f"arn:aws:iam::{ACCOUNT}:role/{unique('missing')}"
    files: dict[str, str | bytes] = {"app.py": "def handler(e, c):\n    return 1\n"}
    name = create_fn(files, role=ec2)
    create_fn(files, role=missing)
    assert lam.update_function_configuration(FunctionName=name, Role=missing)["Role"] == missing


# ------------------------------------------------------------------------- the pieces


def _fn(name: str = "f", role: str = f"arn:aws:iam::{ACCOUNT}:role/r") -> FunctionConfig:
    return FunctionConfig(
        region="us-east-1", account=ACCOUNT, name=name, runtime="python3.12", role=role,
        handler="app.handler", code_sha256="", code_size=0, code_key="", timeout=60,
    )  # fmt: skip


class _Issuer:
    """A fake STS: counts the sessions it issued; holds each until `go` is set."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.issued: list[tuple[str, str, int]] = []
        self.go = asyncio.Event()
        self.go.set()
        self.fail = False

    async def __call__(self, role: str, session: str, seconds: int) -> RoleCredentials:
        self.issued.append((role, session, seconds))
        await self.go.wait()
        if self.fail:
            raise RuntimeError("store closed")
        n = len(self.issued)
        return RoleCredentials(f"ASIA{n}", "secret", "token", int(self.clock.now()) + seconds)


def test_credentials_cache_issues_once_per_function_and_role_and_renews_below_an_hour() -> None:
    async def go() -> None:
        clock = ManualClock()
        issuer = _Issuer(clock)
        cache = RoleCredentialsCache(issuer, clock)
        issuer.go.clear()
        burst = [asyncio.ensure_future(cache(_fn())) for _ in range(5)]
        await asyncio.sleep(0)
        issuer.go.set()
        got = await asyncio.gather(*burst)
        assert {c.access_key_id for c in got} == {"ASIA1"}
        assert issuer.issued == [(f"arn:aws:iam::{ACCOUNT}:role/r", "f", ROLE_SECONDS)]
        # another function or another role: a session of its own
        assert (await cache(_fn("g"))).access_key_id == "ASIA2"
        assert (await cache(_fn(role=f"arn:aws:iam::{ACCOUNT}:role/other"))).access_key_id == "ASIA3"
        # until an hour is left the session is handed out again; then a new one
        clock.advance(ROLE_SECONDS - 3600)
        assert (await cache(_fn())).access_key_id == "ASIA1"
        clock.advance(1)
        assert (await cache(_fn())).access_key_id == "ASIA4"
        # a failed issue is not remembered: the next cold start asks again
        issuer.fail = True
        with pytest.raises(RuntimeError):
            await cache(_fn("h"))
        issuer.fail = False
        assert (await cache(_fn("h"))).access_key_id == "ASIA6"

    asyncio.run(go())


class _FakeEnv:
    """An environment as the pool sees it, with the real rule for its credentials."""

    credentials_outlast = Environment.credentials_outlast

    def __init__(self, credentials: RoleCredentials, timeout: float) -> None:
        self.state = State.IDLE
        self.credentials = credentials
        self.spec = SimpleNamespace(timeout=timeout)
        self.last_used = 0.0
        self.post_runtime = None  # no extensions still busy with an invocation

    async def stop(self) -> None:
        self.state = State.STOPPED

    async def shutdown(self) -> None:  # no extensions to tell: as stop()
        await self.stop()


def test_pool_never_hands_out_an_environment_whose_credentials_run_out() -> None:
    async def go() -> None:
        clock = ManualClock()
        expires = clock.now() + 1000
        made: list[_FakeEnv] = []

        def factory() -> Any:
            made.append(_FakeEnv(RoleCredentials("ASIA", "s", "t", expires), timeout=60))
            return made[-1]

        pool = Pool("rev", factory, clock)
        env, cold = await pool.acquire()
        await pool.release(env)
        clock.advance(1000 - 60 - SPARE - 1)  # 361 s left: enough for a 60 s invocation and 300 more
        assert await pool.acquire() == (env, False)
        await pool.release(env)
        clock.advance(2)  # 359 s left: stopped instead of handed out, and a new one made
        fresh, cold = await pool.acquire()
        assert cold and fresh is not env and env.state is State.STOPPED
        # the reaper stops idle ones that ran low, however recently used
        await pool.release(fresh)
        assert await pool.reap(idle_timeout=10**9) == 1 and fresh.state is State.STOPPED and pool.size == 0

    asyncio.run(go())


def test_trust_policies_that_let_lambda_assume_a_role() -> None:
    def doc(*statements: dict[str, Any]) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})

    lam = {"Service": "lambda.amazonaws.com"}
    allow = {"Effect": "Allow", "Principal": lam, "Action": "sts:AssumeRole"}
    assert allows_service(doc(allow), "lambda.amazonaws.com")
    assert allows_service(json.dumps({"Statement": allow}), "lambda.amazonaws.com")  # one statement
    for action in ("sts:*", "*", "STS:assumerole", ["sts:TagSession", "sts:AssumeRole"]):
        assert allows_service(doc({**allow, "Action": action}), "lambda.amazonaws.com"), action
    principal = {"Service": ["edgelambda.amazonaws.com", "lambda.amazonaws.com"]}
    assert allows_service(doc({**allow, "Principal": principal}), "lambda.amazonaws.com")
    condition = {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    source = {"aws:SourceAccount": ACCOUNT}
    assert allows_service(doc({**allow, "Condition": condition}), "lambda.amazonaws.com", source)
    # a condition that cannot be evaluated does not allow (fails closed)
    assert not allows_service(doc({**allow, "Condition": condition}), "lambda.amazonaws.com")
    assert not allows_service(
        doc({**allow, "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": "300"}}}),
        "lambda.amazonaws.com",
        source,
    )
    refused = [
        doc({**allow, "Principal": {"Service": "ec2.amazonaws.com"}}),
        doc({**allow, "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}),
        doc({**allow, "Principal": "*"}),
        doc({**allow, "Action": "sts:AssumeRoleWithWebIdentity"}),
        doc({**allow, "Effect": "Deny"}),
        doc(allow, {**allow, "Effect": "Deny", "Principal": "*"}),
        "not json",
        "[]",
    ]
    for document in refused:
        assert not allows_service(document, "lambda.amazonaws.com"), document


def test_trust_policies_that_let_an_aws_caller_assume_a_role() -> None:
    def doc(principal: Any, effect: str = "Allow") -> str:
        statement = {"Effect": effect, "Principal": principal, "Action": "sts:AssumeRole"}
        return json.dumps({"Version": "2012-10-17", "Statement": [statement]})

    me = f"arn:aws:iam::{ACCOUNT}:user/alice"
    role = f"arn:aws:iam::{ACCOUNT}:role/ops"
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/ops/s1"
    for principal in (
        "*",
        {"AWS": "*"},
        {"AWS": ACCOUNT},
        {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        {"AWS": [me]},
    ):
        assert allows_caller(doc(principal), ACCOUNT, (me,)), principal
    assert allows_caller(doc({"AWS": role}), ACCOUNT, (session, role))  # a session of a named role
    for principal in (
        {"AWS": "111111111111"},
        {"AWS": "arn:aws:iam::111111111111:root"},
        {"AWS": f"arn:aws:iam::{ACCOUNT}:user/bob"},
        {"Service": "lambda.amazonaws.com"},
        {"Federated": "accounts.google.com"},
    ):
        assert not allows_caller(doc(principal), ACCOUNT, (me,)), principal
    assert not allows_caller(doc("*", "Deny"), ACCOUNT, (me,))


def test_trust_policies_fail_closed_on_what_they_cannot_evaluate() -> None:
    """The patterns a security review used to assume another account's roles: each refuses."""
    other = "222222222222"
    me = f"arn:aws:iam::{ACCOUNT}:root"

    def doc(*statements: dict[str, Any]) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})

    anyone = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
    only_b = {**anyone, "Condition": {"StringEquals": {"aws:PrincipalAccount": other}}}
    assert not allows_caller(doc(only_b), ACCOUNT, (me,))
    assert allows_caller(doc(only_b), other, (f"arn:aws:iam::{other}:root",))
    external = {**anyone, "Condition": {"StringEquals": {"sts:ExternalId": "s3cret"}}}
    assert not allows_caller(doc(external), ACCOUNT, (me,))  # none given
    assert not allows_caller(doc(external), ACCOUNT, (me,), {"sts:ExternalId": "guess"})
    assert allows_caller(doc(external), ACCOUNT, (me,), {"sts:ExternalId": "s3cret"})
    not_b = {
        "Effect": "Deny",
        "NotPrincipal": {"AWS": f"arn:aws:iam::{other}:root"},
        "Action": "sts:AssumeRole",
    }
    assert not allows_caller(doc(anyone, not_b), ACCOUNT, (me,))
    assert allows_caller(doc(anyone, not_b), other, (f"arn:aws:iam::{other}:root",))
    wildcard_deny = {"Effect": "Deny", "Principal": {"AWS": me}, "Action": "sts:Assume*"}
    assert not allows_caller(doc(anyone, wildcard_deny), ACCOUNT, (me,))
    unknown_op = {**anyone, "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}
    assert not allows_caller(doc(unknown_op), ACCOUNT, (me,))
    deny_unknown = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "*",
        "Condition": {"IpAddress": {"aws:SourceIp": "1.2.3.4/32"}},
    }
    assert not allows_caller(doc(anyone, deny_unknown), ACCOUNT, (me,))  # a Deny that might apply does
    not_allow = {
        "Effect": "Allow",
        "NotPrincipal": {"AWS": f"arn:aws:iam::{other}:root"},
        "Action": "sts:AssumeRole",
    }
    assert not allows_caller(doc(not_allow), ACCOUNT, (me,))
    not_action = {"Effect": "Allow", "Principal": {"AWS": me}, "NotAction": "sts:TagSession"}
    assert allows_caller(doc(not_action), ACCOUNT, (me,))
    assert not allows_caller(doc({**not_action, "NotAction": "sts:Assume*"}), ACCOUNT, (me,))
    if_exists = {**anyone, "Condition": {"StringEqualsIfExists": {"sts:ExternalId": "x"}}}
    assert allows_caller(doc(if_exists), ACCOUNT, (me,))
    assert not allows_caller(doc(if_exists), ACCOUNT, (me,), {"sts:ExternalId": "y"})
