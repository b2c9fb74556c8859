"""serverless.yml variables: `${source:address, fallback}` resolved as the Serverless Framework does.

Sources: `self:` (this file, by dotted path), `opt:` (CLI options: stage, region, ...), `sls:stage`,
`sls:instanceId`, `aws:region`, `aws:accountId`, `env:`, `file(./x.yml):a.b` and `file(./x.json)`.
Addresses may hold variables (`${self:custom.${opt:stage}}`); fallbacks are tried in order when a
value is not found (`${env:X, 'dev'}`, `${env:X, ${self:custom.x}}`, numbers and booleans too).
A string that is one variable takes the value's type; inside a longer string values are written as
text. `${aws:accountId}` becomes `{"Ref": "AWS::AccountId"}` (an `Fn::Join` inside a longer string),
so the engine fills in the account it deploys into. `${sls:instanceId}` is stable per service,
stage and region (the Framework makes a new one each run; a stable one keeps redeploys no-ops).
`${AWS::Region}` and `${Name}` (no `source:`) are CloudFormation's Fn::Sub syntax and stay as written.
Sources that need AWS (ssm, cf, s3, ...) use their fallback with a warning, else are errors.

Errors (not found without fallback, circular references, bad syntax) raise ProjectError naming the
file, line and key that holds the variable.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lambdabox.deploy import yamlfile
from lambdabox.deploy.project import Problem, ProjectError, Where
from lambdabox.deploy.yamlfile import Document, KeyPath

_MISSING: Any = object()
_FILE = re.compile(r"^file\((?P<path>[^)]*)\)(?::(?P<address>.*))?$")
_VARIABLE = re.compile(r"^\s*(?:file\(|[A-Za-z][\w-]*:(?!:))")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_AWS_SOURCES = ("ssm", "cf", "s3", "sm", "param", "secretsmanager", "terraform", "vault")


class Resolver:
    """Resolves every variable in a serverless.yml Document, in place, lazily and memoized."""

    def __init__(
        self,
        doc: Document,
        *,
        stage: str | None,
        region: str | None,
        options: Mapping[str, str],
        env: Mapping[str, str],
        warn: Callable[[Where, str], None],
    ) -> None:
        self.doc = doc
        self.data = doc.data
        self.options = dict(options)
        if stage:
            self.options["stage"] = stage
        if region:
            self.options["region"] = region
        self.env = env
        self.warn = warn
        self.base = doc.file.parent
        self._done: set[KeyPath] = set()
        self._active: list[KeyPath] = []
        self._files: dict[Path, Any] = {}

    # -- the tree -------------------------------------------------------------------------------

    def resolve_all(self) -> Any:
        return self.resolve_at(())

    def resolve_at(self, path: KeyPath) -> Any:
        """Resolves the node at `path` (and all below it) in place; returns it."""
        if path in self._done:
            return self._get(path)
        if path in self._active:
            cycle = " -> ".join(
                ".".join(map(str, p)) or "(root)" for p in [*self._active[self._active.index(path) :], path]
            )
            raise self._error(path, f"circular variable reference: {cycle}")
        self._active.append(path)
        try:
            node = self._get(path)
            if isinstance(node, str) and "${" in node:
                node = self.interpolate(node, path)
                self._set(path, node)
            if isinstance(node, dict):
                for key in list(node):
                    self.resolve_at((*path, key))
            elif isinstance(node, list):
                for i in range(len(node)):
                    self.resolve_at((*path, i))
        finally:
            self._active.pop()
        self._done.add(path)
        return self._get(path)

    def _get(self, path: KeyPath) -> Any:
        node = self.data
        for k in path:
            node = node[k]
        return node

    def _set(self, path: KeyPath, value: Any) -> None:
        if not path:
            self.data = value
            return
        self._get(path[:-1])[path[-1]] = value

    def lookup_self(self, address: str, where: KeyPath) -> Any:
        """The resolved value at a dotted address of this file, or _MISSING."""
        keys = [k for k in address.split(".") if k != ""]
        path: KeyPath = ()
        node = self.resolve_at(()) if not keys else self.data
        for k in keys:
            if isinstance(node, str) and "${" in node:
                node = self.resolve_at(path)
            step: str | int
            if isinstance(node, dict) and k in node:
                step = k
            elif isinstance(node, list) and k.isdigit() and int(k) < len(node):
                step = int(k)
            else:
                return _MISSING
            path = (*path, step)
            node = node[step]
        return self.resolve_at(path)

    # -- strings --------------------------------------------------------------------------------

    def interpolate(self, text: str, path: KeyPath) -> Any:
        """A string with variables -> its value (a string unless the string is one variable)."""
        parts: list[Any] = []
        i = 0
        while True:
            start = text.find("${", i)
            if start == -1:
                parts.append(text[i:])
                break
            parts.append(text[i:start])
            end = _closing(text, start)
            if end == -1:
                raise self._error(path, f"unterminated variable in {text!r}")
            body = text[start + 2 : end]
            if _VARIABLE.match(body):
                parts.append(_Value(self.evaluate(body, path)))
            else:  # `${AWS::Region}`, `${Bucket}`, `${!Literal}`: Fn::Sub's, left as written
                parts.append(text[start : end + 1])
            i = end + 1
        parts = [p for p in parts if p != ""]
        if len(parts) == 1 and isinstance(parts[0], _Value):
            return parts[0].value
        return self._concat(parts, text, path)

    def _concat(self, parts: list[Any], text: str, path: KeyPath) -> Any:
        out: list[Any] = []
        for p in parts:
            v = p.value if isinstance(p, _Value) else p
            if isinstance(v, bool):
                v = "true" if v else "false"
            elif isinstance(v, int | float):
                v = str(v)
            elif v is None:
                raise self._error(path, f"a variable in {text!r} resolved to null")
            elif isinstance(v, dict) and len(v) == 1 and next(iter(v)).startswith(("Ref", "Fn::")):
                pass  # a CloudFormation intrinsic: joined below
            elif not isinstance(v, str):
                raise self._error(path, f"a variable in {text!r} resolved to a {type(v).__name__}, not text")
            if out and isinstance(v, str) and isinstance(out[-1], str):
                out[-1] += v
            else:
                out.append(v)
        if all(isinstance(v, str) for v in out):
            return "".join(out)
        return {"Fn::Join": ["", out]}

    def evaluate(self, body: str, path: KeyPath) -> Any:
        """The value of one variable's body (`source:address, fallback, ...`)."""
        choices = _split_top(body)
        first = choices[0].strip()
        if "${" in first:
            resolved = self.interpolate(first, path)
            if not isinstance(resolved, str):
                raise self._error(path, f"the address ${{{first}}} resolved to a {type(resolved).__name__}")
            first = resolved
        value = self._source(first, path, has_fallback=len(choices) > 1)
        for fallback in choices[1:]:
            if value is not _MISSING and value is not None:
                break
            value = self._fallback(fallback.strip(), path)
        if value is _MISSING:
            raise self._error(path, f"cannot resolve ${{{body}}}: no value found")
        return value

    def _fallback(self, text: str, path: KeyPath) -> Any:
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            return text[1:-1]
        if text.startswith("${"):
            return self.interpolate(text, path)
        if _NUMBER.match(text):
            return float(text) if "." in text else int(text)
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        if ":" in text or text.startswith("file("):
            return self._source(text, path, has_fallback=True)
        raise self._error(path, f"fallback {text!r} is neither a quoted string, a number nor a variable")

    def _source(self, ref: str, path: KeyPath, *, has_fallback: bool) -> Any:
        m = _FILE.match(ref)
        if m:
            return self._file(m.group("path").strip(), (m.group("address") or "").strip(), path)
        source, colon, address = ref.partition(":")
        source, address = source.strip(), address.strip()
        if not colon:
            raise self._error(path, f"${{{ref}}} is not a variable (expected source:address)")
        if source == "self":
            return self.lookup_self(address, path)
        if source == "opt":
            return self.options.get(address, _MISSING)
        if source == "env":
            return self.env.get(address, _MISSING)
        if source == "sls":
            if address == "stage":
                return self.stage()
            if address == "instanceId":
                return self.instance_id()
            raise self._error(path, f"unknown variable ${{sls:{address}}} (sls:stage, sls:instanceId)")
        if source == "aws":
            if address == "region":
                return self.region()
            if address == "accountId":
                return {"Ref": "AWS::AccountId"}
            raise self._error(path, f"unknown variable ${{aws:{address}}} (aws:region, aws:accountId)")
        if source in _AWS_SOURCES or source.startswith(("ssm", "s3")):
            if has_fallback:
                self.warn(
                    self.doc.where(path), f"${{{ref}}} is not supported by lambdabox: using the fallback"
                )
                return _MISSING
            raise self._error(
                path, f"${{{ref}}}: variables from {source} are not supported by lambdabox (give a fallback)"
            )
        raise self._error(path, f"unknown variable source {source!r} in ${{{ref}}}")

    def _file(self, rel: str, address: str, path: KeyPath) -> Any:
        rel = rel.strip("'\"")
        target = (self.base / rel).resolve()
        if target not in self._files:
            if not target.is_file():
                self._files[target] = _MISSING
            elif target.suffix in (".yml", ".yaml"):
                self._files[target] = yamlfile.load(target, name=rel).data
            elif target.suffix == ".json":
                try:
                    self._files[target] = json.loads(target.read_text(encoding="utf-8"))
                except (OSError, ValueError) as e:
                    raise self._error(path, f"cannot read {rel}: {e}") from e
            else:
                raise self._error(path, f"${{file({rel})}}: only .yml, .yaml and .json files are supported")
        value = self._files[target]
        for k in (k for k in address.split(".") if k):
            if isinstance(value, dict) and k in value:
                value = value[k]
            elif isinstance(value, list) and k.isdigit() and int(k) < len(value):
                value = value[int(k)]
            else:
                return _MISSING
        return json.loads(json.dumps(value)) if isinstance(value, dict | list) else value

    # -- stage and region -----------------------------------------------------------------------

    def stage(self) -> str:
        return self._setting("stage", "dev")

    def region(self) -> str:
        return self._setting("region", "us-east-1")

    def _setting(self, name: str, default: str) -> str:
        if name in self.options:
            return self.options[name]
        provider = self.data.get("provider") if isinstance(self.data, dict) else None
        if isinstance(provider, dict) and name in provider:
            value = self.resolve_at(("provider", name))
            if value is not None:
                return str(value)
        return default

    def instance_id(self) -> str:
        service = self.data.get("service") if isinstance(self.data, dict) else None
        seed = f"{service}|{self.stage()}|{self.region()}"
        return hashlib.sha256(seed.encode()).hexdigest()[:13]

    def _error(self, path: KeyPath, message: str) -> ProjectError:
        return ProjectError([Problem("error", self.doc.where(path), message)])


class _Value:
    """A variable's value among the literal parts of a string."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _closing(text: str, start: int) -> int:
    """The index of the `}` closing the `${` at `start`, or -1."""
    depth = 0
    i = start
    quote = ""
    while i < len(text):
        c = text[i]
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"" and depth:
            quote = c
        elif text.startswith("${", i):
            depth += 1
            i += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _split_top(body: str) -> list[str]:
    """`a, 'b,c', ${d, e}` -> ["a", " 'b,c'", " ${d, e}"]: commas outside quotes and nested ${}."""
    parts: list[str] = []
    depth = 0
    quote = ""
    current: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif body.startswith("${", i):
            depth += 1
            current.append("${")
            i += 2
            continue
        elif c == "}" and depth:
            depth -= 1
        elif c == "," and depth == 0:
            parts.append("".join(current))
            current = []
            i += 1
            continue
        current.append(c)
        i += 1
    parts.append("".join(current))
    return parts
