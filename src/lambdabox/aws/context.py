"""The per-request context handed to every service operation (who, where, which request)."""

from __future__ import annotations

from dataclasses import dataclass

from lambdabox.aws.sigv4 import UNSIGNED, Caller


@dataclass(frozen=True)
class RequestContext:
    """Facts about one AWS API request that operations may need, independent of HTTP.

    `caller` is the request's SigV4 claim, parsed once at the edge (not verified yet);
    `account_id` the account it acts in: the account an STS-issued (or IAM) key was issued in,
    the configured account for root keys (`test`, and any key nobody issued);
    `trace_header` the request's X-Amzn-Trace-Id header, as sent (the AWS SDKs inside a function
    send its invocation's; Lambda reads the chain of invocations from it, `lambda_/lineage.py`);
    `host` the request's Host header, as sent (SQS's queue URLs name the host the caller reached);
    `principal_arn` who the key speaks for: an IAM user's ARN or an STS session's
    (`arn:aws:sts::…:assumed-role/…`), None for the account's root (and unknown keys).
    """

    request_id: str
    region: str
    account_id: str
    service: str
    operation: str
    caller: Caller = UNSIGNED
    trace_header: str | None = None
    host: str | None = None
    principal_arn: str | None = None

    @property
    def caller_arn(self) -> str:
        """The caller's ARN as AWS names it in errors: its identity's, else the account's root."""
        return self.principal_arn or f"arn:aws:iam::{self.account_id}:root"
