"""The demo function `make run` deploys (a small Python handler, created through the Lambda API) and
the lines the server prints to call it."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shlex
import sys
import zipfile
from pathlib import Path

from lambdabox.aws import ids
from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError
from lambdabox.iam.api import IamService
from lambdabox.lambda_.api import LambdaService

NAME = "hello"

HANDLER = """\
import json
import os

COUNT = 0  # module globals survive between warm invocations


def handler(event, context):
    global COUNT
    COUNT += 1
    print(f"hello from {context.function_name}, invocation #{COUNT} in pid {os.getpid()}")
    return {"message": f"Hello, {event.get('name', 'world')}!", "warm_invocations": COUNT}
"""


def demo_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("app.py", HANDLER)
    return buf.getvalue()


ROLE = "lambdabox-demo"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


async def deploy(service: LambdaService, iam: IamService, region: str, account: str) -> bool:
    """Create the demo function (and its role in IAM, trusting Lambda) unless it exists; True if
    the function was created now."""
    role_ctx = RequestContext(ids.request_id(), region, account, "iam", "CreateRole")
    try:
        await iam.CreateRole(role_ctx, {"RoleName": ROLE, "AssumeRolePolicyDocument": TRUST, "Path": "/"})
    except ServiceError as err:
        if err.code != "EntityAlreadyExists":
            raise
    ctx = RequestContext(ids.request_id(), region, account, "lambda", "CreateFunction")
    try:
        await service.CreateFunction(
            ctx,
            {
                "FunctionName": NAME,
                "Runtime": "python3.11",
                "Handler": "app.handler",
                "Role": f"arn:aws:iam::{account}:role/{ROLE}",
                "Code": {"ZipFile": demo_zip()},
                "Description": "lambdabox demo function",
            },
        )
    except ServiceError as err:
        if err.code == "ResourceConflictException":
            return False
        raise
    return True


def instructions(
    endpoint: str,
    region: str,
    command: str = "lambdabox",
    *,
    python: str | None = None,
    aws: str = "aws",
    key: tuple[str, str] | None = ("test", "test"),
) -> str:
    """How to call the demo function: lines that work pasted into a shell as they are.

    `command` runs lambdabox, `python` is an interpreter with boto3 (None: the Python line says how
    to get one), `aws` the AWS CLI; `tools()` finds the ones next to the running lambdabox. `key`:
    the credentials to export (None: signatures are verified and the root keys are not the default
    ones; the lines then name a placeholder for the user's own)."""
    q = shlex.quote
    cli_v2 = (
        "" if aws != "aws" else "  # AWS CLI v2: add --cli-binary-format raw-in-base64-out to the next line\n"
    )
    if python is not None:
        py = (
            f"  {q(python)} -c \"import boto3; c = boto3.client('lambda', endpoint_url='{endpoint}'); "
            f"print(c.invoke(FunctionName='{NAME}', Payload=b'{{}}')['Payload'].read())\"\n"
        )
    else:
        py = "  # (for the Python example: pip install boto3, then boto3.client('lambda').invoke(...))\n"
    if key is None:
        key_id, secret = "<your root key id>", "<its secret>"
        creds_note = "signatures are verified: put one of your --root-keys in the first line"
    else:
        key_id, secret = q(key[0]), q(key[1])
        creds_note = "any credentials work" if key == ("test", "test") else "signatures are verified"
    return f"""
lambdabox is serving AWS Lambda, CloudWatch Logs, IAM and STS on {endpoint}
A demo function '{NAME}' is deployed. Call it: paste these lines into a shell ({creds_note};
boto3 and the AWS CLI read AWS_ENDPOINT_URL, and so does `lambdabox logs`):

  export AWS_ACCESS_KEY_ID={key_id} AWS_SECRET_ACCESS_KEY={secret} AWS_DEFAULT_REGION={region} AWS_ENDPOINT_URL={endpoint}
{cli_v2}  {q(aws)} --endpoint-url {endpoint} lambda invoke --function-name {NAME} --payload '{{"name": "you"}}' /dev/stdout
{py}  curl -s {endpoint}/_lambdabox/health; echo
  {command} logs {NAME} --follow

Press Ctrl-C to stop.
"""


def tools(argv0: str | None = None) -> tuple[str, str | None, str]:
    """(lambdabox command, a Python with boto3 or None, AWS CLI) as this server was started:
    absolute paths into its virtualenv when they are there, so the lines work from any directory
    and without the virtualenv on PATH."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    if Path(argv0).name == "lambdabox":
        command = shlex.quote(os.path.abspath(argv0))
    elif Path(argv0).name == "__main__.py":  # python -m lambdabox
        command = f"{shlex.quote(sys.executable)} -m lambdabox"
    else:
        command = "lambdabox"
    python = sys.executable if importlib.util.find_spec("boto3") is not None else None
    venv_aws = Path(sys.executable).parent / "aws"
    aws = str(venv_aws) if venv_aws.is_file() and os.access(venv_aws, os.X_OK) else "aws"
    return command, python, aws
