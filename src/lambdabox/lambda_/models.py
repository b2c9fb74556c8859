"""Lambda's data: frozen dataclasses for function versions, aliases, invocations and their outcomes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lambdabox.aws.arns import function_arn

if TYPE_CHECKING:
    from lambdabox.lambda_.response_stream import ResponseStream

LATEST = "$LATEST"


def lambda_timestamp(epoch: float) -> str:
    """Lambda's LastModified format: 2026-11-25T12:00:00.000+0000."""
    t = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+0000"


@dataclass(frozen=True)
class FunctionLayer:
    """A layer version a function uses, as its configuration keeps it: a snapshot of what the
    version was when the function was configured (deleting the layer version changes nothing)."""

    arn: str  # the layer version's ARN (…:layer:name:3)
    code_size: int  # the layer zip's size (the API's CodeSize)
    code_key: str  # hex SHA-256 of the layer zip: names it in the code store
    unzipped: int = 0  # its unzipped size by the zip's headers

    def to_api(self) -> dict[str, Any]:
        return {"Arn": self.arn, "CodeSize": self.code_size}


@dataclass(frozen=True)
class FunctionConfig:
    """One version of a function as stored: its `$LATEST` (which updates change) or a published
    version (an immutable snapshot of `$LATEST`, numbered from 1); `to_api()` gives AWS's
    FunctionConfiguration."""

    region: str
    account: str
    name: str
    runtime: str | None
    role: str
    handler: str | None
    code_sha256: str  # base64 of the zip's SHA-256, as AWS reports it
    code_size: int
    code_key: str  # hex SHA-256: names the stored zip and its unpacked tree
    description: str = ""
    timeout: int = 3
    memory_size: int = 128
    ephemeral_storage: int = 512
    environment: dict[str, str] = field(default_factory=dict)
    #: Environment.Variables was sent (empty or not): AWS then reports it, `{}` included
    environment_given: bool = False
    architectures: tuple[str, ...] = ("x86_64",)
    tracing_mode: str = "PassThrough"
    dead_letter_arn: str | None = None  # DeadLetterConfig.TargetArn: an SQS queue or SNS topic
    log_format: str = "Text"
    log_group: str | None = None
    application_log_level: str | None = None  # JSON log format only (AWS default INFO)
    system_log_level: str | None = None
    last_modified: float = 0.0
    revision_id: str = ""
    state: str = "Active"
    last_update_status: str = "Successful"
    package_type: str = "Zip"
    version: str = LATEST
    #: the layers, in order (merged at /opt, later ones over earlier ones)
    layers: tuple[FunctionLayer, ...] = ()

    @property
    def arn(self) -> str:
        """The function's unqualified ARN."""
        return function_arn(self.region, self.account, self.name)

    @property
    def version_arn(self) -> str:
        """The ARN naming this version (`…:function:name:3`, `…:function:name:$LATEST`)."""
        return function_arn(self.region, self.account, self.name, self.version)

    @property
    def published(self) -> bool:
        return self.version != LATEST

    @property
    def runtime_version_arn(self) -> str:
        """A stable runtime version ARN per runtime identifier (as RuntimeVersionConfig and INIT_START show)."""
        digest = hashlib.sha256((self.runtime or "provided").encode()).hexdigest()
        return f"arn:aws:lambda:{self.region}::runtime:{digest}"

    @property
    def log_group_name(self) -> str:
        return self.log_group or f"/aws/lambda/{self.name}"

    def replace(self, **changes: Any) -> FunctionConfig:
        return dataclasses.replace(self, **changes)

    def to_api(self, qualifier: str | None = None) -> dict[str, Any]:
        """AWS's FunctionConfiguration; its FunctionArn carries `qualifier` (the version or alias
        the caller named), none for the function itself."""
        out: dict[str, Any] = {
            "FunctionName": self.name,
            "FunctionArn": function_arn(self.region, self.account, self.name, qualifier),
            "Role": self.role,
            "CodeSize": self.code_size,
            "Description": self.description,
            "Timeout": self.timeout,
            "MemorySize": self.memory_size,
            "LastModified": lambda_timestamp(self.last_modified),
            "CodeSha256": self.code_sha256,
            "Version": self.version,
            "TracingConfig": {"Mode": self.tracing_mode},
            "RevisionId": self.revision_id,
            "State": self.state,
            "LastUpdateStatus": self.last_update_status,
            "PackageType": self.package_type,
            "Architectures": list(self.architectures),
            "EphemeralStorage": {"Size": self.ephemeral_storage},
            "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
            "LoggingConfig": self._logging_config(),
        }
        if self.runtime is not None:
            out["Runtime"] = self.runtime
            out["RuntimeVersionConfig"] = {"RuntimeVersionArn": self.runtime_version_arn}
        if self.handler is not None:
            out["Handler"] = self.handler
        if self.dead_letter_arn is not None:
            out["DeadLetterConfig"] = {"TargetArn": self.dead_letter_arn}
        if self.environment or self.environment_given:
            out["Environment"] = {"Variables": dict(self.environment)}
        if self.layers:
            out["Layers"] = [layer.to_api() for layer in self.layers]
        return out

    def _logging_config(self) -> dict[str, str]:
        out = {"LogFormat": self.log_format, "LogGroup": self.log_group_name}
        if self.log_format == "JSON":
            out["ApplicationLogLevel"] = self.application_log_level or "INFO"
            out["SystemLogLevel"] = self.system_log_level or "INFO"
        return out

    # -- persistence -----------------------------------------------------------------------
    def to_row(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["architectures"] = list(self.architectures)
        d["layers"] = [dataclasses.asdict(layer) for layer in self.layers]
        return d

    @classmethod
    def from_row(cls, d: dict[str, Any]) -> FunctionConfig:
        d = dict(d)
        d["architectures"] = tuple(d.get("architectures") or ("x86_64",))
        d["layers"] = tuple(FunctionLayer(**layer) for layer in d.get("layers") or ())
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


#: what a published version does not take from `$LATEST` when compared with it (its
#: LastModified is `$LATEST`'s when it was published, which every update of `$LATEST` changes)
_NOT_CONTENT = frozenset({"version", "revision_id", "description", "state", "last_update_status"})


def same_content(a: FunctionConfig, b: FunctionConfig) -> bool:
    """Whether a version is `$LATEST` as it was published: same code, same configuration, and no
    update since (publishing it again gives that version back, as AWS does)."""
    return all(
        getattr(a, f.name) == getattr(b, f.name) for f in dataclasses.fields(a) if f.name not in _NOT_CONTENT
    )


@dataclass(frozen=True)
class Alias:
    """A named pointer to a published version (or `$LATEST`), maybe sending a share of invocations
    to one additional version (`weights`: version → share, 0 to 1)."""

    region: str
    account: str
    function: str
    name: str
    function_version: str
    description: str = ""
    weights: tuple[tuple[str, float], ...] = ()
    revision_id: str = ""

    @property
    def arn(self) -> str:
        return function_arn(self.region, self.account, self.function, self.name)

    def routes_to(self, version: str) -> bool:
        """Whether invocations of the alias may run `version` (its primary or its additional one)."""
        return self.function_version == version or any(v == version for v, _ in self.weights)

    def pick(self, draw: float) -> str:
        """The version an invocation runs, for a uniform `draw` in [0, 1)."""
        for version, weight in self.weights:
            if draw < weight:
                return version
            draw -= weight
        return self.function_version

    def replace(self, **changes: Any) -> Alias:
        return dataclasses.replace(self, **changes)

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "AliasArn": self.arn,
            "Name": self.name,
            "FunctionVersion": self.function_version,
            "Description": self.description,
            "RevisionId": self.revision_id,
        }
        if self.weights:
            out["RoutingConfig"] = {"AdditionalVersionWeights": dict(self.weights)}
        return out

    def to_row(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["weights"] = [list(w) for w in self.weights]
        return d

    @classmethod
    def from_row(cls, d: dict[str, Any]) -> Alias:
        d = dict(d)
        d["weights"] = tuple((str(v), float(w)) for v, w in d.get("weights") or ())
        return cls(**d)


@dataclass(frozen=True)
class EventInvokeConfig:
    """How asynchronous invocations of one qualifier (`$LATEST`, a version or an alias) are
    handled: retries, the age past which an event is dropped, and where records go. A setting
    left out is None (AWS's default applies: 2 retries, 6 hours)."""

    region: str
    account: str
    function: str
    qualifier: str
    last_modified: float  # epoch seconds
    maximum_retry_attempts: int | None = None
    maximum_event_age: int | None = None
    on_success: str | None = None
    on_failure: str | None = None

    @property
    def arn(self) -> str:
        return function_arn(self.region, self.account, self.function, self.qualifier)

    def replace(self, **changes: Any) -> EventInvokeConfig:
        return dataclasses.replace(self, **changes)

    def to_api(self) -> dict[str, Any]:
        """As AWS answers it: DestinationConfig always there (empty members for no destination),
        settings never set left out."""
        out: dict[str, Any] = {
            "FunctionArn": self.arn,
            "LastModified": self.last_modified,
            "DestinationConfig": {
                "OnSuccess": {"Destination": self.on_success} if self.on_success else {},
                "OnFailure": {"Destination": self.on_failure} if self.on_failure else {},
            },
        }
        if self.maximum_retry_attempts is not None:
            out["MaximumRetryAttempts"] = self.maximum_retry_attempts
        if self.maximum_event_age is not None:
            out["MaximumEventAgeInSeconds"] = self.maximum_event_age
        return out

    def to_row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_row(cls, d: dict[str, Any]) -> EventInvokeConfig:
        return cls(**d)


@dataclass
class Invocation:
    """One invoke as handed to an execution environment."""

    request_id: str
    payload: bytes
    function_arn: str  # the invoked ARN (qualified as the caller invoked it)
    deadline_ms: int  # epoch ms, for Lambda-Runtime-Deadline-Ms
    timeout: float  # seconds
    trace_id: str
    client_context: str | None = None  # JSON text
    cognito_identity: str | None = None  # JSON text
    #: where a caller that takes the answer as it comes reads it (None: the answer is buffered)
    stream: ResponseStream | None = None


@dataclass(frozen=True)
class Outcome:
    """What came of an invocation. `error_type` set means X-Amz-Function-Error: Unhandled."""

    payload: bytes
    error_type: str | None = None  # e.g. "Unhandled" for function errors
    #: for an invocation of a qualifier with provisioned concurrency: True when a provisioned
    #: environment ran it, False when it spilled over to an on-demand one (None: no such qualifier)
    provisioned: bool | None = None
    status: str = "success"  # success | error | timeout (REPORT's Status)
    report_error_type: str | None = None  # REPORT's "Error Type" field
    duration_ms: float = 0.0
    init_duration_ms: float | None = None
    max_memory_mb: int = 0
    log_tail: str = ""
