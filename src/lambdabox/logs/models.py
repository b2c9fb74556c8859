"""CloudWatch Logs data: log groups, log streams and events, and their AWS API shapes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lambdabox.aws.arns import log_group_arn

#: Event positions (GetLogEvents tokens, eventId) pack (timestamp, row id) into one integer.
POSITION_SCALE = 10**20
#: AWS's event ids and tokens are 56-digit numbers.
POSITION_DIGITS = 56
#: CloudWatch counts 26 bytes of overhead per event against the size limits.
EVENT_OVERHEAD = 26
#: Largest message Lambda delivers in one event (256 KB event limit minus the overhead).
MAX_MESSAGE_BYTES = 256 * 1024 - EVENT_OVERHEAD
#: PutLogEvents batch limit: UTF-8 message bytes plus 26 per event.
MAX_BATCH_BYTES = 1_048_576
#: Responses of GetLogEvents / FilterLogEvents carry at most this many message bytes.
MAX_RESPONSE_BYTES = 1_048_576
#: the values PutRetentionPolicy accepts
RETENTION_DAYS: tuple[int, ...] = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731)
RETENTION_DAYS += (1096, 1827, 2192, 2557, 2922, 3288, 3653)


def position(ts: int, row_id: int) -> int:
    """The total order of events in a stream: by timestamp, then by ingestion order."""
    return ts * POSITION_SCALE + row_id


def split_position(pos: int) -> tuple[int, int]:
    return divmod(pos, POSITION_SCALE)


def sequence_token(upload_seq: int) -> str:
    """A stream's upload sequence token (AWS's are long decimal strings; it is now ignored)."""
    return str(49 * 10**54 + upload_seq)


@dataclass(frozen=True)
class LogGroup:
    region: str
    account: str
    name: str
    creation_time: int
    retention_days: int | None = None
    kms_key_id: str | None = None
    log_group_class: str = "STANDARD"
    stored_bytes: int = 0
    tags: Mapping[str, str] = field(default_factory=dict)
    id: int = 0

    @property
    def arn(self) -> str:
        """The ARN DescribeLogGroups reports as `arn`, ending in `:*`."""
        return log_group_arn(self.region, self.account, self.name)

    @property
    def log_group_arn(self) -> str:
        """The ARN without the trailing `:*` (used for tagging and IAM)."""
        return self.arn[:-2]

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "logGroupName": self.name,
            "creationTime": self.creation_time,
            "metricFilterCount": 0,
            "arn": self.arn,
            "storedBytes": self.stored_bytes,
            "logGroupClass": self.log_group_class,
            "logGroupArn": self.log_group_arn,
        }
        if self.retention_days is not None:
            out["retentionInDays"] = self.retention_days
        if self.kms_key_id is not None:
            out["kmsKeyId"] = self.kms_key_id
        return out


@dataclass(frozen=True)
class LogStream:
    region: str
    account: str
    group: str
    name: str
    creation_time: int
    first_event_ts: int | None = None
    last_event_ts: int | None = None
    last_ingestion_time: int | None = None
    upload_seq: int = 0
    id: int = 0

    @property
    def arn(self) -> str:
        return f"arn:aws:logs:{self.region}:{self.account}:log-group:{self.group}:log-stream:{self.name}"

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"logStreamName": self.name, "creationTime": self.creation_time}
        if self.first_event_ts is not None:
            out["firstEventTimestamp"] = self.first_event_ts
        if self.last_event_ts is not None:
            out["lastEventTimestamp"] = self.last_event_ts
        if self.last_ingestion_time is not None:
            out["lastIngestionTime"] = self.last_ingestion_time
        out["uploadSequenceToken"] = sequence_token(self.upload_seq)
        out["arn"] = self.arn
        out["storedBytes"] = 0  # AWS: "no longer supported for log streams, always reported as zero"
        return out


@dataclass(frozen=True)
class LogEvent:
    row_id: int
    stream: str
    timestamp: int
    ingestion_time: int
    message: str

    @property
    def position(self) -> int:
        return position(self.timestamp, self.row_id)

    @property
    def event_id(self) -> str:
        return f"{self.position:0{POSITION_DIGITS}d}"

    def to_output(self) -> dict[str, Any]:
        """GetLogEvents' OutputLogEvent."""
        return {"timestamp": self.timestamp, "message": self.message, "ingestionTime": self.ingestion_time}

    def to_filtered(self) -> dict[str, Any]:
        """FilterLogEvents' FilteredLogEvent."""
        return {
            "logStreamName": self.stream,
            "timestamp": self.timestamp,
            "message": self.message,
            "ingestionTime": self.ingestion_time,
            "eventId": self.event_id,
        }


def truncate_message(message: str, limit: int = MAX_MESSAGE_BYTES) -> str:
    """Cut `message` to at most `limit` UTF-8 bytes, never inside a character."""
    if len(message) * 4 <= limit:
        return message
    raw = message.encode("utf-8", "surrogatepass")
    if len(raw) <= limit:
        return message
    return raw[:limit].decode("utf-8", "ignore")
