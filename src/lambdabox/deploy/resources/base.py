"""What every resource type's module implements, and what they share: clients, tags, fingerprints.

A `Handler` knows one CloudFormation resource type: how to find what is deployed (`find`: by the
stack's tags for taggable resources, through their parent for the others), how to tell whether
desired properties differ from it (`changes`), and how to create, update and delete it through the
public AWS API. `snapshot` reads what an update is about to overwrite, in the template's shape, so
a failed apply can put it back with `update`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import botocore.config
import botocore.session
from botocore.exceptions import ClientError

from lambdabox.deploy.resources.coerce import coerce
from lambdabox.target import Target

STACK_TAG = "aws:cloudformation:stack-name"
LOGICAL_TAG = "aws:cloudformation:logical-id"
PROPS_TAG = "lambdabox:properties-sha"
BODY_TAG = "lambdabox:body-sha"  # the OpenAPI document an imported API was last imported from

Props = dict[str, Any]
Severity = Literal["warning", "error"]


@dataclass(frozen=True)
class Deployed:
    """One deployed resource as read through the API."""

    type: str
    physical_id: str
    logical_id: str | None = None  # from its tag; for an untaggable child, set when matched
    key: tuple[str, ...] | None = None  # an untaggable child's natural key within its parent
    attributes: Mapping[str, Any] = field(default_factory=dict)  # Fn::GetAtt values
    observed: Mapping[str, Any] = field(default_factory=dict)  # what the API answered
    tags: Mapping[str, str] = field(default_factory=dict)
    parent: str | None = None  # the parent's physical id

    def label(self) -> str:
        """The logical id, or for an unmatched child its natural key (less its parent's id)."""
        return self.logical_id or (" ".join(self.key[1:]) if self.key else self.physical_id)


class Clients:
    """botocore clients of one lambdabox endpoint, made once each; `session` can carry event hooks."""

    def __init__(
        self, endpoint_url: str, region: str, session: botocore.session.Session | None = None
    ) -> None:
        self.endpoint_url, self.region = endpoint_url, region
        self._session = session or botocore.session.get_session()
        self._made: dict[str, Any] = {}
        self._account: str | None = None
        #: the project's code packages (S3Key -> zip bytes), set by the plan
        self.artifacts: dict[str, bytes] = {}
        #: function ARN -> the CodeSha256 its template code has (what a Version there publishes)
        self.expected_code: dict[str, str] = {}
        #: function ARN -> the fingerprint of the configuration its template gives (`version_config`)
        self.expected_config: dict[str, str] = {}

    def __call__(self, service: str) -> Any:
        if service not in self._made:
            target = Target.resolve(service, endpoint_url=self.endpoint_url, region=self.region)
            config = botocore.config.Config(retries={"max_attempts": 2}, read_timeout=120)
            client = self._session.create_client(service, config=config, **target.client_args())
            client.meta.events.register("before-parameter-build", coerce)  # CloudFormation's types
            self._made[service] = client
        return self._made[service]

    def function_arn(self, name: str) -> str:
        """A function's ARN (with its qualifier, if any) from a name, partial or full ARN."""
        if name.startswith("arn:"):
            return name
        parts = name.split(":")
        if len(parts) >= 3 and parts[-2] == "function":  # 123456789012:function:name
            return f"arn:aws:lambda:{self.region}:{name}"
        arn = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{parts[0]}"
        return arn + (f":{parts[1]}" if len(parts) > 1 else "")

    @property
    def account_id(self) -> str:
        if self._account is None:
            self._account = str(self("sts").get_caller_identity()["Account"])
        return self._account


def function_name(arn_or_uri: Any) -> str:
    """The function an ARN, a qualified ARN or an API Gateway invocation URI
    (`arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<arn>/invocations`) names."""
    text = str(arn_or_uri)
    if "/functions/" in text:
        text = text.split("/functions/", 1)[1].split("/invocations", 1)[0]
    parts = text.split(":")
    return parts[6] if len(parts) >= 7 and parts[5] == "function" else text


def error_message(exc: BaseException) -> str:
    """AWS's error as a person reads it: `Code: message`."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'Error')}: {err.get('Message', '')}"
    return f"{type(exc).__name__}: {exc}"


def is_not_found(exc: BaseException) -> bool:
    if not isinstance(exc, ClientError):
        return False
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return "NotFound" in code or code in ("NoSuchEntity", "ResourceNotFoundException")


def fingerprint(props: Mapping[str, Any]) -> str:
    """A tag value naming each property with a short hash of its value (`Code=1a2b3c4d Handler=...`),
    so that a later plan can say which properties changed; one hash of all when that is too long."""
    digests = {k: _digest(v)[:8] for k, v in sorted(props.items())}
    text = " ".join(f"{k}={d}" for k, d in digests.items())
    return text if len(text) <= 256 else "*=" + _digest(props)[:40]


def fingerprint_changes(props: Mapping[str, Any], tag: str | None) -> list[str]:
    """The names of properties whose value differs from what the fingerprint tag recorded."""
    if tag is None:
        return sorted(props) or ["*"]
    recorded = dict(part.split("=", 1) for part in tag.split(" ") if "=" in part)
    if "*" in recorded:
        return [] if recorded["*"] == _digest(props)[:40] else sorted(props) or ["*"]
    now = {k: _digest(v)[:8] for k, v in props.items()}
    return sorted(k for k in set(now) | set(recorded) if now.get(k) != recorded.get(k))


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def version_config(cfg: Mapping[str, Any]) -> str:
    """A short fingerprint of what a published version snapshots of its function's configuration
    (handler, runtime, memory, timeout, environment), from a template's function properties or
    from a version as Lambda lists it, defaults filled in alike."""
    env = cfg.get("Environment")
    variables = env.get("Variables") if isinstance(env, Mapping) else None
    seen = {
        "Handler": cfg.get("Handler"),
        "Runtime": cfg.get("Runtime"),
        "MemorySize": int(cfg.get("MemorySize") or 128),
        "Timeout": int(cfg.get("Timeout") or 3),
        "Environment": {str(k): str(v) for k, v in (variables or {}).items()},
    }
    return _digest(seen)[:12]


def body_text(body: Any) -> str:
    """An OpenAPI `Body` (an object in the template, or a string) as the import operations take it."""
    return body if isinstance(body, str) else json.dumps(body)


def body_sha(body: Any) -> str:
    """A short fingerprint of an OpenAPI `Body`, for the BODY_TAG."""
    text = body if isinstance(body, str) else json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def of_stack(tags: Mapping[str, str] | None, stack: str) -> bool:
    """Whether a resource's tags say the deploy engine made it for `stack` (as one of its logical ids)."""
    return tags is not None and tags.get(STACK_TAG) == stack and LOGICAL_TAG in tags


def stack_tags(stack: str, logical_id: str, props: Mapping[str, Any] | None = None) -> dict[str, str]:
    tags = {STACK_TAG: stack, LOGICAL_TAG: logical_id}
    if props is not None:
        tags[PROPS_TAG] = fingerprint(props)
    return tags


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tag_map(tags: Sequence[Mapping[str, str]] | Mapping[str, str] | None) -> dict[str, str]:
    """CloudFormation's Tags, as a list of {Key, Value} or (HTTP APIs) a map, as a map."""
    if not tags:
        return {}
    if isinstance(tags, Mapping):
        return {str(k): str(v) for k, v in tags.items()}
    return {str(t["Key"]): str(t.get("Value", "")) for t in tags}


def generated_name(stack: str, logical_id: str, limit: int = 64) -> str:
    """A physical name as CloudFormation makes one: `<stack>-<LogicalId>-<random>`, within `limit`."""
    suffix = hashlib.sha256(f"{stack}/{logical_id}/{time.time_ns()}".encode()).hexdigest()[:12].upper()
    head = f"{stack}-{logical_id}"[: limit - len(suffix) - 1]
    return f"{head}-{suffix}"


def wait_for(check: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    """Poll `check` (a read) until it holds; RuntimeError naming `what` after `limit` seconds."""
    deadline = time.monotonic() + limit
    delay = 0.02
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def same(want: Any, have: Any) -> bool:
    """Whether a desired property value is what the API answered: mappings compared on the keys
    the template gives (the API adds its defaults), numbers and booleans whatever their spelling,
    an empty value the same as an absent one, and a property the template does not give the same
    as any (the service's default: removing an optional property of an API's part is not seen)."""
    if want is None:  # not in the template: whatever default the service chose
        return True
    if want in ("", [], {}):
        return bool(have in (None, "", [], {}, False) or have == want)
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(same(v, have.get(k)) for k, v in want.items())
    if isinstance(want, list | tuple):
        return isinstance(have, list | tuple) and len(want) == len(have) and all(map(same, want, have))
    return bool(_scalar(want) == _scalar(have))


def _scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        if value.lower() in ("true", "false"):
            return value.lower()
        try:
            return float(value)
        except ValueError:
            return value
    return value


class Handler:
    """One resource type. Subclasses set the class variables and override the operations."""

    type: ClassVar[str]
    #: properties this module deploys; others are reported as warnings and not deployed
    properties: ClassVar[frozenset[str]] = frozenset()
    #: Fn::GetAtt attributes
    attributes: ClassVar[frozenset[str]] = frozenset()
    #: properties whose change needs a new resource (CloudFormation's "Replacement")
    immutable: ClassVar[frozenset[str]] = frozenset()
    #: found by the stack's tags (True) or through a parent of type `parent_type`
    tagged: ClassVar[bool] = True
    parent_type: ClassVar[str | None] = None
    #: further types whose deployed resources `find` is handed with the parents
    other_parents: ClassVar[frozenset[str]] = frozenset()
    #: deletes run by rank, lowest first (children before parents)
    delete_rank: ClassVar[int] = 50

    def find(self, c: Clients, stack: str, parents: Sequence[Deployed]) -> list[Deployed]:
        raise NotImplementedError

    def check(self, props: Mapping[str, Any]) -> list[tuple[Severity, str, str]]:
        """What the template's (unresolved) properties ask for that cannot be deployed as asked:
        (level, property, message) each, for the plan's problems naming file, line and key."""
        return []

    def describe(self, deployed: Deployed) -> str:
        """How a plan row names a deployed resource the template no longer has: its logical id,
        or for an untaggable child something a person recognises (`Route GET /old`)."""
        return deployed.label()

    def key(self, c: Clients, logical_id: str, props: Props) -> tuple[str, ...] | None:
        """An untaggable child's natural key from its desired properties (its parent's id first)."""
        return None

    def changes(self, props: Props, deployed: Deployed) -> list[str]:
        """Names of the properties that differ from what is deployed ([] when nothing does)."""
        return fingerprint_changes(props, deployed.tags.get(PROPS_TAG))

    def create(self, c: Clients, stack: str, logical_id: str, props: Props) -> Deployed:
        raise NotImplementedError

    def update(
        self, c: Clients, stack: str, deployed: Deployed, props: Props, props_tag: str | None = None
    ) -> Deployed:
        """Change the resource in place to `props`; `props_tag` (a rollback's) is the fingerprint to
        tag it with instead of that of `props`."""
        raise NotImplementedError

    def snapshot(self, c: Clients, deployed: Deployed) -> Props:
        """The deployed resource's properties in the template's shape, for a rollback's update."""
        raise NotImplementedError

    def delete(self, c: Clients, deployed: Deployed) -> None:
        raise NotImplementedError
