"""The demo function `make run` deploys: a small Python handler, created through the Lambda API."""

from __future__ import annotations

import io
import zipfile

from lambdabox.aws import ids
from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError
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


async def deploy(service: LambdaService, region: str, account: str) -> bool:
    """Create the demo function unless it exists; True if it was created now."""
    ctx = RequestContext(ids.request_id(), region, account, "lambda", "CreateFunction")
    try:
        await service.CreateFunction(
            ctx,
            {
                "FunctionName": NAME,
                "Runtime": "python3.11",
                "Handler": "app.handler",
                "Role": f"arn:aws:iam::{account}:role/lambdabox-demo",
                "Code": {"ZipFile": demo_zip()},
                "Description": "lambdabox demo function",
            },
        )
    except ServiceError as err:
        if err.code == "ResourceConflictException":
            return False
        raise
    return True


def instructions(endpoint: str, region: str, command: str = "lambdabox") -> str:
    return f"""
lambdabox is serving AWS Lambda and CloudWatch Logs on {endpoint}
A demo function '{NAME}' is deployed. Call it (any credentials work):

  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION={region}
  aws --endpoint-url {endpoint} lambda invoke --function-name {NAME} \\
      --payload '{{"name": "you"}}' /dev/stdout          # AWS CLI v2: add --cli-binary-format raw-in-base64-out

  python3 -c "import boto3; c = boto3.client('lambda', endpoint_url='{endpoint}');
      print(c.invoke(FunctionName='{NAME}', Payload=b'{{}}')['Payload'].read())"

  curl -s {endpoint}/_lambdabox/health
  {command} logs {NAME} --follow --endpoint-url {endpoint}

Press Ctrl-C to stop.
"""
