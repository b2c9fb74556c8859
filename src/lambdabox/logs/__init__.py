"""CloudWatch Logs: log groups, streams and events for functions and for the AWS Logs API."""

from lambdabox.logs.api import LogsService

__all__ = ["LogsService"]
