"""`--enforce-resource-policies` end to end, through boto3 and plain HTTP: SNS's deliveries and
API Gateway's integrations need a function policy that lets their topic or API in (denied: SNS
gives the delivery up, to the subscription's dead-letter queue; API Gateway answers 500), other
accounts' Lambda calls need one that names them (with signatures verified), callers of the
function's own account need none; a deployed serverless.yml brings the permissions it needs; and
with the setting off, everything runs as before it."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import aws_error, deploy, start_server, unique, wait_until
from lambdabox.deploy.apply import apply_plan
from lambdabox.deploy.plan import plan_project
from lambdabox.deploy.serverless import compile_serverless
from lambdabox.testing import LocalLambdabox
from rest_helpers import proxy_api
from rest_helpers import send as http_send
from test_sns import LOGS_EVENT, logged_events, queue, received

ACCOUNT = "000000000000"
OTHER = "111122223333"
KEYS = f"test:test,other:othersecret:{OTHER}"
GATEWAY_ECHO = {
    "app.py": "import json\ndef handler(event, context):\n    return {'statusCode': 200, 'body': 'hello'}\n"
}


def _server(tmp: Path, *, enforce: bool) -> LocalLambdabox:
    return LocalLambdabox(
        tmp / "data",
        manual_clock=True,
        verify_signatures=True,
        root_keys=KEYS,
        enforce_resource_policies=enforce,
    )


@pytest.fixture(scope="module")
def lbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdabox]:
    with _server(tmp_path_factory.mktemp("enforced"), enforce=True) as server:
        yield server


@pytest.fixture(scope="module")
def lax(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdabox]:
    with _server(tmp_path_factory.mktemp("lax"), enforce=False) as server:
        yield server


def other_account(lbx: LocalLambdabox, service: str = "lambda") -> Any:
    return lbx.client(service, key="other", secret="othersecret")


def refused(call: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as exc:
        call()
    return aws_error(exc)


def denied(arn: str, action: str, who: str = f"arn:aws:iam::{OTHER}:root") -> tuple[str, str, int]:
    return (
        "AccessDeniedException",
        f"User: {who} is not authorized to perform: {action} on resource: {arn} because no "
        f"resource-based policy allows the {action} action",
        403,
    )


# ================================================================================================
# SNS → Lambda
# ================================================================================================


def sns_setup(lbx: LocalLambdabox, endpoint_suffix: str = "") -> tuple[str, str, str, str]:
    """A function subscribed to a new topic, the subscription's dead-letter queue a new queue:
    (function name, function ARN, topic ARN, dead-letter queue URL)."""
    lam, sns = lbx.client("lambda"), lbx.client("sns")
    name = deploy(lam, LOGS_EVENT, Publish=True)
    fn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    topic = sns.create_topic(Name=unique("topic"))["TopicArn"]
    dlq_url, dlq_arn = queue(lbx, unique("dlq"))
    sns.subscribe(
        TopicArn=topic, Protocol="lambda", Endpoint=fn + endpoint_suffix,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})},
    )  # fmt: skip
    return name, fn, topic, dlq_url


def test_sns_delivers_only_what_the_function_policy_lets_in(lbx: LocalLambdabox) -> None:
    lam, sns = lbx.client("lambda"), lbx.client("sns")
    name, _, topic, dlq = sns_setup(lbx)
    # no policy: the delivery is a client-side error, given up at once, to the dead-letter queue
    mid = sns.publish(TopicArn=topic, Message="denied")["MessageId"]
    (m,) = received(lbx, dlq)
    assert json.loads(m["Body"])["MessageId"] == mid
    # another topic's permission lets this one nowhere
    lam.add_permission(
        FunctionName=name, StatementId="other-topic", Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com", SourceArn=topic + "-other",
    )  # fmt: skip
    sns.publish(TopicArn=topic, Message="wrong source")
    (m,) = received(lbx, dlq)
    assert json.loads(m["Body"])["Message"] == "wrong source"
    assert logged_events(lbx, name) == []  # the function never ran
    # the topic's own permission, as `aws lambda add-permission` gives it
    lam.add_permission(
        FunctionName=name, StatementId="sns", Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com", SourceArn=topic, SourceAccount=ACCOUNT,
    )  # fmt: skip
    sns.publish(TopicArn=topic, Message="allowed")
    wait_until(lambda: len(logged_events(lbx, name)) == 1)
    assert logged_events(lbx, name)[0]["Records"][0]["Sns"]["Message"] == "allowed"
    wait_until(lambda: lbx.app.sns_deliveries.backlog == 0)
    assert "Messages" not in lbx.client("sqs").receive_message(QueueUrl=dlq)


def test_sns_to_an_alias_needs_the_alias_s_policy(lbx: LocalLambdabox) -> None:
    lam, sns = lbx.client("lambda"), lbx.client("sns")
    name, _, topic, dlq = sns_setup(lbx, ":live")
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    grant = {"Action": "lambda:InvokeFunction", "Principal": "sns.amazonaws.com", "SourceArn": topic}
    lam.add_permission(FunctionName=name, StatementId="fn", **grant)  # the function's: not the alias's
    sns.publish(TopicArn=topic, Message="to the alias")
    (m,) = received(lbx, dlq)
    assert json.loads(m["Body"])["Message"] == "to the alias"
    lam.add_permission(FunctionName=name, Qualifier="live", StatementId="alias", **grant)
    sns.publish(TopicArn=topic, Message="again")
    wait_until(lambda: len(logged_events(lbx, name)) == 1)


def test_without_enforcement_sns_delivers_without_a_policy(lax: LocalLambdabox) -> None:
    name, _, topic, dlq = sns_setup(lax)
    lax.client("sns").publish(TopicArn=topic, Message="no policy needed")
    wait_until(lambda: len(logged_events(lax, name)) == 1)
    wait_until(lambda: lax.app.sns_deliveries.backlog == 0)
    assert "Messages" not in lax.client("sqs").receive_message(QueueUrl=dlq)


# ================================================================================================
# API Gateway → Lambda
# ================================================================================================


def http_api(lbx: LocalLambdabox) -> tuple[str, str]:
    """A function behind a quick-created HTTP API (its `$default` route and stage): (name, API id)."""
    lam = lbx.client("lambda")
    name = deploy(lam, GATEWAY_ECHO)
    fn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    api_id = lbx.client("apigatewayv2").create_api(Name=unique("api"), ProtocolType="HTTP", Target=fn)[
        "ApiId"
    ]
    return name, api_id


def test_http_api_invokes_only_with_the_api_s_permission(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    name, api_id = http_api(lbx)
    status, _, body = http_send(lbx, "GET", f"/_apis/{api_id}/hello")
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    lam.add_permission(
        FunctionName=name, StatementId="other-api", Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com", SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:otherapi00/*",
    )  # fmt: skip
    assert http_send(lbx, "GET", f"/_apis/{api_id}/hello")[0] == 500
    lam.add_permission(
        FunctionName=name, StatementId="api", Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com", SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/*/*",
    )  # fmt: skip
    assert http_send(lbx, "GET", f"/_apis/{api_id}/hello")[::2] == (200, b"hello")


def test_http_api_source_arn_names_the_stage_method_and_route(lbx: LocalLambdabox) -> None:
    lam, gw = lbx.client("lambda"), lbx.client("apigatewayv2")
    name = deploy(lam, GATEWAY_ECHO)
    fn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    api_id = gw.create_api(Name=unique("api"), ProtocolType="HTTP")["ApiId"]
    integration = gw.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=fn, PayloadFormatVersion="2.0"
    )["IntegrationId"]
    for key in ("GET /pets/{id}", "POST /pets/{id}"):
        gw.create_route(ApiId=api_id, RouteKey=key, Target=f"integrations/{integration}")
    gw.create_stage(ApiId=api_id, StageName="prod", AutoDeploy=True)
    lam.add_permission(
        FunctionName=name, StatementId="get-pets", Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/prod/GET/pets/{{id}}",
    )  # fmt: skip
    assert http_send(lbx, "GET", f"/_apis/{api_id}/prod/pets/7")[::2] == (200, b"hello")
    assert http_send(lbx, "POST", f"/_apis/{api_id}/prod/pets/7")[0] == 500


AUTHORIZER = {"app.py": "def handler(event, context):\n    return {'isAuthorized': True}\n"}


def test_an_http_api_authorizer_needs_its_own_permission(lbx: LocalLambdabox) -> None:
    lam, gw = lbx.client("lambda"), lbx.client("apigatewayv2")
    name, api_id = http_api(lbx)
    lam.add_permission(
        FunctionName=name, StatementId="api", Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com", SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/*",
    )  # fmt: skip
    auth_name = deploy(lam, AUTHORIZER)
    auth_arn = lam.get_function(FunctionName=auth_name)["Configuration"]["FunctionArn"]
    authorizer_id = gw.create_authorizer(
        ApiId=api_id, Name="simple", AuthorizerType="REQUEST", AuthorizerUri=auth_arn,
        AuthorizerPayloadFormatVersion="2.0", EnableSimpleResponses=True,
        IdentitySource=["$request.header.Authorization"],
    )["AuthorizerId"]  # fmt: skip
    route = next(r for r in gw.get_routes(ApiId=api_id)["Items"] if r["RouteKey"] == "$default")
    gw.update_route(
        ApiId=api_id, RouteId=route["RouteId"], AuthorizationType="CUSTOM", AuthorizerId=authorizer_id
    )
    token = {"Authorization": "t"}
    status, _, body = http_send(lbx, "GET", f"/_apis/{api_id}/x", headers=token)
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    # the route's permission is not the authorizer's: its source is API_ID/authorizers/ID
    lam.add_permission(
        FunctionName=auth_name, StatementId="authorizer", Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/authorizers/{authorizer_id}",
    )  # fmt: skip
    assert http_send(lbx, "GET", f"/_apis/{api_id}/x", headers=token)[::2] == (200, b"hello")


def test_rest_api_answers_500_without_the_api_s_permission(lbx: LocalLambdabox) -> None:
    lam, gw = lbx.client("lambda"), lbx.client("apigateway")
    name = deploy(lam, GATEWAY_ECHO)
    fn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    api_id, _, _ = proxy_api(gw, fn, stage="dev", name=unique("rest"))
    status, _, body = http_send(lbx, "GET", f"/_apis/{api_id}/dev/anything")
    assert (status, json.loads(body)) == (500, {"message": "Internal server error"})
    lam.add_permission(
        FunctionName=name, StatementId="rest", Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com", SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/*/GET/*",
    )  # fmt: skip
    assert http_send(lbx, "GET", f"/_apis/{api_id}/dev/anything")[::2] == (200, b"hello")
    assert http_send(lbx, "POST", f"/_apis/{api_id}/dev/anything")[0] == 500


def test_without_enforcement_api_gateway_needs_no_permission(lax: LocalLambdabox) -> None:
    _, api_id = http_api(lax)
    assert http_send(lax, "GET", f"/_apis/{api_id}/hello")[::2] == (200, b"hello")


# ================================================================================================
# other accounts' callers (signatures verified)
# ================================================================================================


@pytest.fixture(scope="module")
def shared(lbx: LocalLambdabox) -> tuple[str, str]:
    """A function of account 000000000000 with an alias `live`: (name, ARN)."""
    lam = lbx.client("lambda")
    name = deploy(lam, {"app.py": "def handler(event, context):\n    return 'mine'\n"}, Publish=True)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    return name, str(lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"])


def test_another_account_invokes_only_what_the_policy_grants_it(
    lbx: LocalLambdabox, shared: tuple[str, str]
) -> None:
    name, arn = shared
    them = other_account(lbx)
    assert refused(lambda: them.invoke(FunctionName=arn)) == denied(arn, "lambda:InvokeFunction")
    lbx.client("lambda").add_permission(
        FunctionName=name, StatementId="other-invoke", Action="lambda:InvokeFunction", Principal=OTHER
    )
    out = them.invoke(FunctionName=arn)
    assert (out["StatusCode"], out["Payload"].read(), out["ExecutedVersion"]) == (200, b'"mine"', "$LATEST")
    assert them.invoke(FunctionName=arn + ":$LATEST")["StatusCode"] == 200
    # only what it was granted: not GetFunction, not the alias (whose policy is its own)
    assert refused(lambda: them.get_function(FunctionName=arn)) == denied(arn, "lambda:GetFunction")
    live = arn + ":live"
    assert refused(lambda: them.invoke(FunctionName=live)) == denied(live, "lambda:InvokeFunction")
    assert refused(lambda: them.invoke(FunctionName=arn, Qualifier="live")) == denied(
        arn, "lambda:InvokeFunction"
    )
    # operations a function policy cannot grant stay refused
    assert refused(lambda: them.delete_function(FunctionName=arn)) == denied(arn, "lambda:DeleteFunction")


def test_another_account_streams_only_with_invoke_function_granted(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    name = deploy(lam, {"app.py": "def handler(event, context):\n    return 'streamed'\n"})
    arn = str(lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"])
    them = other_account(lbx)
    assert refused(lambda: them.invoke_with_response_stream(FunctionName=arn)) == denied(
        arn, "lambda:InvokeFunction"
    )
    lam.add_permission(FunctionName=name, StatementId="o", Action="lambda:InvokeFunction", Principal=OTHER)
    got = [e for e in them.invoke_with_response_stream(FunctionName=arn)["EventStream"]]
    assert got == [{"PayloadChunk": {"Payload": b'"streamed"'}}, {"InvokeComplete": {}}]


def test_another_account_reads_with_a_granted_get_function(
    lbx: LocalLambdabox, shared: tuple[str, str]
) -> None:
    name, arn = shared
    lam = lbx.client("lambda")
    lam.add_permission(
        FunctionName=name, Qualifier="live", StatementId="other-get", Action="lambda:GetFunction",
        Principal=f"arn:aws:iam::{OTHER}:root",
    )  # fmt: skip
    got = other_account(lbx).get_function(FunctionName=arn + ":live")["Configuration"]
    assert (got["FunctionName"], got["FunctionArn"], got["Version"]) == (name, arn + ":live", "1")


def test_a_user_of_another_account_is_named_and_matched(lbx: LocalLambdabox, shared: tuple[str, str]) -> None:
    name, arn = shared
    iam = other_account(lbx, "iam")
    user = unique("ops")
    user_arn = iam.create_user(UserName=user)["User"]["Arn"]
    key = iam.create_access_key(UserName=user)["AccessKey"]
    theirs = lbx.client("lambda", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    action = "lambda:GetFunctionConfiguration"
    assert refused(lambda: theirs.get_function_configuration(FunctionName=arn)) == denied(
        arn, action, user_arn
    )
    lbx.client("lambda").add_permission(
        FunctionName=name, StatementId="ops-user", Action=action, Principal=user_arn
    )
    assert theirs.get_function_configuration(FunctionName=arn)["FunctionArn"] == arn


def test_the_function_s_own_account_needs_no_policy(lbx: LocalLambdabox, shared: tuple[str, str]) -> None:
    _, arn = shared
    lam = lbx.client("lambda")
    assert lam.invoke(FunctionName=arn + ":live")["StatusCode"] == 200
    assert lam.get_function(FunctionName=arn)["Configuration"]["FunctionArn"] == arn


def test_without_enforcement_other_accounts_are_refused_whatever_the_policy(lax: LocalLambdabox) -> None:
    lam = lax.client("lambda")
    name = deploy(lam, {"app.py": "def handler(event, context):\n    return 1\n"})
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    lam.add_permission(FunctionName=name, StatementId="x", Action="lambda:InvokeFunction", Principal=OTHER)
    assert refused(lambda: other_account(lax).invoke(FunctionName=arn)) == denied(
        arn, "lambda:InvokeFunction"
    )


# ================================================================================================
# the setting
# ================================================================================================


def health(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/_lambdabox/health", timeout=10) as resp:
        out: dict[str, Any] = json.loads(resp.read())
        return out


def test_health_says_whether_resource_policies_are_enforced(lbx: LocalLambdabox, lax: LocalLambdabox) -> None:
    assert (health(lbx.url)["enforceResourcePolicies"], health(lax.url)["enforceResourcePolicies"]) == (
        True,
        False,
    )


@pytest.mark.parametrize(
    ("flags", "env"),
    [(("--enforce-resource-policies",), {}), ((), {"LAMBDABOX_ENFORCE_RESOURCE_POLICIES": "1"})],
)
def test_the_flag_and_the_variable_turn_it_on(
    tmp_path: Path, flags: tuple[str, ...], env: dict[str, str]
) -> None:
    srv = start_server(tmp_path / "data", *flags, env=env)
    try:
        assert health(srv.url)["enforceResourcePolicies"] is True
    finally:
        srv.stop()


# ================================================================================================
# deployed projects carry their permissions
# ================================================================================================

PROJECT = """\
service: guarded
provider:
  name: aws
  runtime: python3.12
functions:
  web:
    handler: handler.web
    events:
      - httpApi: GET /hello
  notes:
    handler: handler.notes
    events:
      - sns: guarded-notes
"""
HANDLERS = (
    "import json\n"
    "def web(event, context):\n    return {'statusCode': 200, 'body': 'hello'}\n"
    "def notes(event, context):\n    print('EVENT ' + json.dumps(event))\n"
)


def test_a_deployed_serverless_project_keeps_working_when_enforced(tmp_path: Path) -> None:
    """The Framework's AWS::Lambda::Permission resources (apigateway.amazonaws.com for the HTTP
    API, sns.amazonaws.com for the topic) are what let API Gateway and SNS in."""
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "serverless.yml").write_text(PROJECT)
    (tmp_path / "project" / "handler.py").write_text(HANDLERS)
    with LocalLambdabox(tmp_path / "data", manual_clock=True, enforce_resource_policies=True) as lbx:
        project = compile_serverless(tmp_path / "project" / "serverless.yml", options={}, env={})
        kinds = [r["Type"] for r in project.template["Resources"].values()]
        assert kinds.count("AWS::Lambda::Permission") == 2
        applied = apply_plan(plan_project(project, lbx.url), project, lbx.url)
        api_id = applied.physical_ids["HttpApi"]
        assert http_send(lbx, "GET", f"/_apis/{api_id}/hello")[::2] == (200, b"hello")
        topic = next(t["TopicArn"] for t in lbx.client("sns").list_topics()["Topics"])
        lbx.client("sns").publish(TopicArn=topic, Message="deployed")
        name = applied.physical_ids["NotesLambdaFunction"]
        wait_until(lambda: len(logged_events(lbx, name)) == 1)
