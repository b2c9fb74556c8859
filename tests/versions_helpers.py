"""A function that says which code and version ran it, for the version and alias tests."""

from __future__ import annotations

import json
from typing import Any

ACCOUNT = "000000000000"
REGION = "us-east-1"


def source(code: str) -> dict[str, str | bytes]:
    """A handler answering its code's label, the version that ran, the invoked ARN and a token
    drawn once per environment (the same token means the same environment)."""
    return {
        "app.py": (
            "import os, uuid\n"
            "TOKEN = uuid.uuid4().hex\n"
            f"CODE = {code!r}\n"
            "def handler(event, context):\n"
            "    return {'code': CODE, 'version': context.function_version,\n"
            "            'env_version': os.environ['AWS_LAMBDA_FUNCTION_VERSION'],\n"
            "            'arn': context.invoked_function_arn, 'token': TOKEN}\n"
        )
    }


def arn(name: str, qualifier: str | None = None) -> str:
    base = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base


def run(lam: Any, name: str, **kw: Any) -> tuple[dict[str, Any], str]:
    """Invoke; the handler's answer and X-Amz-Executed-Version."""
    out = lam.invoke(FunctionName=name, **kw)
    assert "FunctionError" not in out, out["Payload"].read()
    return json.loads(out["Payload"].read()), out["ExecutedVersion"]
