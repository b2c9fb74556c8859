"""YAML project files: CloudFormation's short tags in their long form, and the line of every key.

`load(path)` returns a `Document`: `data` is plain Python (dicts, lists, str, int, float, bool, None)
with `!Ref x` turned into `{"Ref": "x"}`, `!GetAtt a.b` into `{"Fn::GetAtt": ["a", "b"]}`,
`!Condition c` into `{"Condition": "c"}` and every other short tag `!Name v` into `{"Fn::Name": v}`;
`lines` is a side table from a key path to its 1-based line: the path of a mapping entry is the
tuple of keys (str) and list indexes (int) leading to it, e.g. `("functions", "hello", "handler")`
or `("functions", "hello", "events", 0)`; the root `()` is line 1.

`Document.where(path)` is the `Where` for messages (`serverless.yml:12: functions.hello.handler`),
taking the nearest known line when the path goes deeper than the file (a value a variable made).

Mapping keys are kept as written (`on:` stays "on", `200:` becomes "200"), as JSON and JavaScript's
YAML loaders see them. Merge keys (`<<: *anchor`) and anchors work; a duplicated key is an error
(as in the Serverless Framework's js-yaml and in CloudFormation). Syntax errors raise `ProjectError`
naming the file and line.

Two bounds keep a hostile or broken file from exhausting the deployer, each a `ProjectError` with a
line: mappings and lists nested more than `MAX_DEPTH` levels deep (real templates use a dozen; Python
would run out of stack on a few thousand), and aliases that expand the document to more than
`MAX_NODES` values (a "billion laughs": nine lists of nine aliases to the previous one, nine levels
deep, are 387 million strings from a dozen lines). Both are measured on the composed node graph, where
every alias is the node it names, so measuring costs one visit per node, not per expanded value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lambdabox.deploy.project import Problem, ProjectError, Where

KeyPath = tuple[str | int, ...]

MAX_DEPTH = 100  # levels of nested mappings and lists, aliases expanded
MAX_NODES = 1_000_000  # values (scalars, mappings, lists) of the document, aliases expanded

# CloudFormation's short-form intrinsic functions (the `Fn::` prefix is added), plus the two that
# are not `Fn::`: !Ref and !Condition.
_FN_TAGS = frozenset(
    {
        "Base64",
        "Cidr",
        "FindInMap",
        "GetAtt",
        "GetAZs",
        "ImportValue",
        "Join",
        "Length",
        "Select",
        "Split",
        "Sub",
        "ToJsonString",
        "Transform",
        "And",
        "Equals",
        "If",
        "Not",
        "Or",
    }
)


@dataclass(frozen=True)
class Document:
    """A loaded YAML file: its data, the line of every key path, and the name used in messages."""

    file: Path
    name: str  # how messages name the file (`serverless.yml`, `config/dev.yml`)
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line(self, path: Sequence[str | int]) -> int | None:
        """The line of `path`, else of its nearest ancestor that the file has."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get(())

    def where(self, path: Sequence[str | int]) -> Where:
        """`file:line: a.b.0.c` for `path`."""
        key = ".".join(str(k) for k in path) or None
        return Where(self.name, self.line(path), key)


def load(path: Path, *, name: str | None = None) -> Document:
    """Reads and parses `path` (ProjectError if it cannot be read or is not valid YAML)."""
    shown = name or path.name
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ProjectError([Problem("error", Where(shown), f"cannot read {path}: {e}")]) from e
    return loads(text, file=path, name=shown)


def loads(text: str, *, file: Path, name: str | None = None) -> Document:
    """Parses YAML text as if read from `file`."""
    shown = name or file.name
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is not None and loader.first_alias is not None:
            _check_expansion(root, loader.first_alias)
        builder = _Builder(loader, shown)
        data = None if root is None else builder.build(root, ())
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = None if mark is None else mark.line + 1
        message = " ".join(str(x) for x in (e.context, e.problem) if x) or str(e)
        raise ProjectError([Problem("error", Where(shown, line), f"invalid YAML: {message}")]) from e
    except yaml.YAMLError as e:
        raise ProjectError([Problem("error", Where(shown), f"invalid YAML: {e}")]) from e
    finally:
        loader.dispose()
    lines = builder.lines if root is not None else {}
    lines.setdefault((), 1)
    return Document(file=file, name=shown, data=data, lines=lines)


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing to compose more than MAX_DEPTH levels (its composer recurses),
    and noting where the first alias is (only then can the document expand beyond its text)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.depth = 0
        self.first_alias: yaml.Mark | None = None

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            if self.first_alias is None:
                self.first_alias = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            return super().compose_node(parent, index)
        if not self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _too_deep(self.peek_event().start_mark)  # type: ignore[no-untyped-call]
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _too_deep(mark: yaml.Mark) -> yaml.MarkedYAMLError:
    return yaml.MarkedYAMLError(
        problem=f"nested too deeply: more than {MAX_DEPTH} levels of mappings and lists", problem_mark=mark
    )


def _check_expansion(root: yaml.Node, first_alias: yaml.Mark) -> None:
    """Refuses (MarkedYAMLError at the first alias) a node graph whose aliases expand it beyond
    MAX_NODES values or MAX_DEPTH levels, or make it infinite (an alias inside the node it names).
    Each node's expanded size and height are memoized, so shared nodes are measured once."""
    measured: dict[int, tuple[int, int]] = {}  # id(node) -> (values, levels) once expanded
    active: set[int] = set()  # the nodes being measured: the path from the root

    def measure(node: yaml.Node, depth: int) -> tuple[int, int]:
        key = id(node)
        known = measured.get(key)
        if known is None:
            if key in active:
                raise yaml.MarkedYAMLError(
                    problem="an alias refers to the mapping or list that contains it: "
                    "it would expand without end",
                    problem_mark=first_alias,
                )
            if depth > MAX_DEPTH:
                raise _too_deep(first_alias)
            active.add(key)
            size, height = 1, 0
            if isinstance(node, yaml.CollectionNode):
                pairs = node.value if isinstance(node, yaml.MappingNode) else [(c,) for c in node.value]
                for pair in pairs:
                    for child in pair:
                        child_size, child_height = measure(child, depth + 1)
                        size += child_size
                        height = max(height, child_height + 1)
            active.discard(key)
            known = measured[key] = (size, height)
        size, height = known
        if size > MAX_NODES:
            raise yaml.MarkedYAMLError(
                problem=f"aliases (*name) expand this file to more than {MAX_NODES:,} values "
                "(an alias bomb?): refused",
                problem_mark=first_alias,
            )
        if depth + height > MAX_DEPTH:
            raise _too_deep(first_alias)
        return known

    measure(root, 0)


class _Builder:
    """Constructs plain data from PyYAML's node graph, recording each key path's line."""

    def __init__(self, loader: yaml.SafeLoader, name: str) -> None:
        self.loader = loader
        self.name = name
        self.lines: dict[KeyPath, int] = {}

    def _error(self, node: yaml.Node, path: KeyPath, message: str) -> ProjectError:
        key = ".".join(str(k) for k in path) or None
        return ProjectError([Problem("error", Where(self.name, node.start_mark.line + 1, key), message)])

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        tag = node.tag
        if tag.startswith("!") and not tag.startswith("!!"):
            return self._short_tag(node, path, tag[1:])
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return self._sequence(node, path)
        if tag == "tag:yaml.org,2002:timestamp":
            return str(node.value)  # `Version: 2012-10-17` is the string IAM expects, not a date
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[str, Any]:
        own = {id(k) for k, _ in node.value}
        self.loader.flatten_mapping(node)  # resolves `<<` merge keys in place, merged ones first
        out: dict[str, Any] = {}
        written: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise self._error(key_node, path, "a mapping key must be a plain scalar")
            key = str(key_node.value)
            if id(key_node) in own:  # a key merged in may be overridden; one written twice may not
                if key in written:
                    raise self._error(key_node, (*path, key), f"duplicated mapping key {key!r}")
                written.add(key)
            self.lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = self.build(value_node, (*path, key))
        return out

    def _sequence(self, node: yaml.SequenceNode, path: KeyPath) -> list[Any]:
        out: list[Any] = []
        for i, item in enumerate(node.value):
            self.lines[(*path, i)] = item.start_mark.line + 1
            out.append(self.build(item, (*path, i)))
        return out

    def _plain(self, node: yaml.Node, path: KeyPath) -> Any:
        """The value under a short tag: a scalar stays the string it was written as."""
        if isinstance(node, yaml.ScalarNode):
            return str(node.value)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        assert isinstance(node, yaml.SequenceNode)
        return self._sequence(node, path)

    def _short_tag(self, node: yaml.Node, path: KeyPath, name: str) -> Any:
        value = self._plain(node, path)
        if name == "Ref" or name == "Condition":
            if not isinstance(value, str):
                raise self._error(node, path, f"!{name} takes a name")
            return {name: value}
        if name == "GetAtt" and isinstance(value, str):
            resource, dot, attribute = value.partition(".")
            if not dot or not resource or not attribute:
                raise self._error(node, path, f"!GetAtt {value!r}: expected Resource.Attribute")
            return {"Fn::GetAtt": [resource, attribute]}
        if name in _FN_TAGS:
            return {f"Fn::{name}": value}
        raise self._error(node, path, f"unknown tag !{name}")
