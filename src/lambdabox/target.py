"""Where a lambdabox command that talks to a server (`lambdabox logs`) sends its requests, and as whom.

Resolved as the AWS tools resolve them, then from the settings a `lambdabox serve` started in the
same environment would use:

- endpoint: `--endpoint-url` > `AWS_ENDPOINT_URL_<SERVICE>` (e.g. `AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`)
  > `AWS_ENDPOINT_URL` > `LAMBDABOX_HOST`/`LAMBDABOX_PORT` (default `http://127.0.0.1:4566`);
- region: `--region` > `AWS_REGION` > `AWS_DEFAULT_REGION` > `LAMBDABOX_REGION` (default `us-east-1`);
- credentials: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`) when set,
  otherwise lambdabox's default root key `test`/`test`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambdabox.config import Settings


@dataclass(frozen=True)
class Target:
    """A lambdabox server as a client reaches it."""

    endpoint_url: str
    region: str
    access_key_id: str = "test"
    secret_access_key: str = "test"
    session_token: str | None = None

    @classmethod
    def resolve(
        cls,
        service: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Target:
        """The target for `service` (its botocore service id, e.g. "CloudWatch Logs"): flags win over
        AWS's variables, which win over LAMBDABOX_* settings (ValueError if those are invalid)."""
        env = os.environ if env is None else env
        specific = "AWS_ENDPOINT_URL_" + service.upper().replace(" ", "_").replace("-", "_")
        endpoint = endpoint_url or env.get(specific) or env.get("AWS_ENDPOINT_URL")
        region = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if not endpoint or not region:
            settings = Settings.resolve({}, env)
            endpoint = endpoint or settings.endpoint_url
            region = region or settings.region
        key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
        if key and secret:
            return cls(endpoint, region, key, secret, env.get("AWS_SESSION_TOKEN") or None)
        return cls(endpoint, region)

    def client_args(self) -> dict[str, Any]:
        """Keyword arguments for botocore's `create_client`."""
        return {
            "endpoint_url": self.endpoint_url,
            "region_name": self.region,
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_session_token": self.session_token,
        }
