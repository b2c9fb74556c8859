"""`lambdabox logs NAME [--follow]`: print a function's log events through the CloudWatch Logs API.

Works like `aws logs tail`: FilterLogEvents from a start time (`--since` seconds ago, ten minutes
by default), then polls for newer events, remembering the event ids already printed at the newest
timestamp. Which server it asks, in which region and signed how comes from `target.py`.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from typing import Any

import botocore.session
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from lambdabox.target import Target

#: `--since`'s default: ten minutes
SINCE = 600.0


def tail(target: Target, function: str, *, follow: bool, since: float = SINCE, poll: float = 1.0) -> int:
    """Print the events of `function`'s log group (a name, or a group name starting with "/") from
    `since` seconds ago; with `follow`, keep printing new ones. Returns the exit status."""
    client = botocore.session.get_session().create_client("logs", **target.client_args())
    group = function if function.startswith("/") else f"/aws/lambda/{function}"
    start = int((time.time() - since) * 1000)
    seen: dict[str, int] = {}  # event id -> timestamp, for events at the newest time (polled again)
    while True:
        kwargs: dict[str, Any] = {"logGroupName": group, "startTime": start, "interleaved": True}
        newest = start
        try:
            while True:
                page = client.filter_log_events(**kwargs)
                for ev in page.get("events", []):
                    if ev["eventId"] in seen:
                        continue
                    seen[ev["eventId"]] = ev["timestamp"]
                    ts = dt.datetime.fromtimestamp(ev["timestamp"] / 1000, dt.UTC).isoformat(
                        timespec="milliseconds"
                    )
                    sys.stdout.write(f"{ts} {ev['logStreamName']} {ev['message']}\n")
                    newest = max(newest, ev["timestamp"])
                token = page.get("nextToken")
                if not token:
                    break
                kwargs["nextToken"] = token
        except (EndpointConnectionError, ConnectionClosedError) as exc:
            print(f"lambdabox logs: {exc}", file=sys.stderr)
            return 1
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code != "ResourceNotFoundException" or not follow:
                print(f"lambdabox logs: {exc}", file=sys.stderr)
                return 1
        sys.stdout.flush()
        if not follow:
            return 0
        seen = {eid: ts for eid, ts in seen.items() if ts >= newest}
        start = newest
        time.sleep(poll)
