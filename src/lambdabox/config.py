"""Settings: one frozen dataclass, resolved as flag > LAMBDABOX_* environment variable > default."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from lambdabox.aws.keys import RootKeys


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "lambdabox"


@dataclass(frozen=True)
class Settings:
    """Every tunable of a lambdabox server. Each field maps to env var LAMBDABOX_<NAME>."""

    host: str = "127.0.0.1"
    port: int = 4566
    data_dir: Path = dataclasses.field(default_factory=_default_data_dir)
    region: str = "us-east-1"
    account_id: str = "000000000000"
    #: seconds an idle execution environment is kept warm before it is stopped
    idle_timeout: float = 600.0
    #: account-wide concurrent executions (AWS default 1000)
    concurrency_limit: int = 1000
    #: durable writes: "FULL" fsyncs every group commit; "NORMAL" survives process crashes only
    sync: str = "FULL"
    log_level: str = "INFO"
    #: execution environments' network: "host" (the host's, as today) or "none" (loopback only,
    #: reaching just their Runtime API and lambdabox's AWS endpoint)
    function_network: str = "host"
    #: where the AWS SDK sets bundled for functions are (default: <sys.prefix>/share/lambdabox/runtime-sdk,
    #: where `make run` / `make test` install them with scripts/install-runtime-sdks.sh)
    runtime_sdk_dir: Path | None = None
    #: check every request's SigV4 signature against the keys the server knows (root keys, IAM
    #: users' access keys, STS's temporary keys), answering AWS's errors when it does not hold
    verify_signatures: bool = False
    #: root access keys, `ID:SECRET[:ACCOUNT]` comma separated (a key without an account acts in
    #: `account_id`); other keys act as root of `account_id` unless signatures are verified
    root_keys: str = "test:test"
    #: refuse (CreateFunction, UpdateFunctionConfiguration) execution roles that do not exist in IAM
    #: or whose trust policy does not let lambda.amazonaws.com assume them, as AWS does
    check_roles: bool = False
    #: functions' resource-based policies decide AWS services' invokes (SNS, API Gateway) and, by
    #: account, other accounts' calls of the Lambda API (meaningful with verify_signatures)
    enforce_resource_policies: bool = False
    #: asynchronous invocations and SNS deliveries: "run" (default) or "paused" (events and
    #: published messages are accepted and stored, and run or delivered once a server with "run"
    #: starts on the data dir: to inspect a queue, or to measure the acceptance path alone)
    async_dispatch: str = "run"
    #: the server's clock: "system" (real time) or "manual" (starts at the current time, paused,
    #: and moves only through POST /_lambdabox/clock: tests make minutes pass in milliseconds)
    clock: str = "system"
    #: how new Python environments start: "template" (forked from a pre-initialised interpreter
    #: and confined exactly as a spawned one; others are spawned) or "spawn" (every one spawned)
    cold_start: str = "template"

    @classmethod
    def resolve(
        cls, flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> Settings:
        """Build settings: explicit flags win over LAMBDABOX_* variables, which win over defaults."""
        flags = flags or {}
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw: Any = flags.get(f.name)
            if raw is None:
                raw = env.get(f"LAMBDABOX_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            values[f.name] = _coerce(f.name, f.type, raw)
        return cls(**values)

    def __post_init__(self) -> None:
        if self.function_network not in ("host", "none"):
            raise ValueError(f"function_network must be 'host' or 'none', not {self.function_network!r}")
        if self.async_dispatch not in ("run", "paused"):
            raise ValueError(f"async_dispatch must be 'run' or 'paused', not {self.async_dispatch!r}")
        if self.cold_start not in ("template", "spawn"):
            raise ValueError(f"cold_start must be 'template' or 'spawn', not {self.cold_start!r}")
        if self.clock not in ("system", "manual"):
            raise ValueError(f"clock must be 'system' or 'manual', not {self.clock!r}")
        if self.concurrency_limit < 1:
            raise ValueError(f"concurrency_limit must be at least 1, not {self.concurrency_limit}")
        RootKeys(self.root_keys, self.account_id)  # raises ValueError naming what is wrong

    def root_key_set(self) -> RootKeys:
        """The configured root keys, parsed."""
        return RootKeys(self.root_keys, self.account_id)

    @property
    def endpoint_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        return f"http://{host}:{self.port}"


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _coerce(name: str, typ: Any, raw: Any) -> Any:
    kind = typ if isinstance(typ, str) else getattr(typ, "__name__", str(typ))
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        word = str(raw).strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise ValueError(f"invalid value for {name}: {raw!r} (expected 1/true/yes/on or 0/false/no/off)")
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind in ("Path", "Path | None"):
            return Path(raw).expanduser()
    except ValueError as exc:
        raise ValueError(f"invalid value for {name}: {raw!r}") from exc
    return str(raw)
