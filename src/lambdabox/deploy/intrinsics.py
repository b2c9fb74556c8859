"""CloudFormation's template language over a plain template: Parameters, Conditions, Mappings and the
intrinsic functions, as CloudFormation evaluates them
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference.html).

`Template` checks a template once (parameter values against their Type / AllowedValues / patterns,
conditions, every Ref and GetAtt naming something that exists, the dependency graph without
cycles) and then resolves values on demand. Resources' values come from a `lookup(logical_id,
attribute)` callback (attribute None for Ref): the plan answers with what is deployed, or with
`UNKNOWN` for what an apply is yet to create; a value built from UNKNOWN is UNKNOWN. Pure: no I/O.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any

from lambdabox.deploy.graph import DependencyGraph
from lambdabox.deploy.parameters import parameter_values
from lambdabox.deploy.project import Problem, ProjectError, Where
from lambdabox.deploy.template_syntax import (
    LOGICAL_ID,
    NO_VALUE,
    PSEUDO,
    SUB_VAR,
    UNKNOWN,
    Lookup,
    contains_unknown,
    intrinsic,
)

__all__ = ["NO_VALUE", "UNKNOWN", "Template", "contains_unknown"]


class Template(DependencyGraph):
    """A checked template for one stack; raises ProjectError naming each problem's key."""

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str],
        *,
        stack_name: str,
        region: str,
        account_id: str,
        file: str = "template",
        attributes: Callable[[str], frozenset[str] | None] = lambda _t: None,
        extra_deps: Mapping[str, set[str]] | None = None,
        lines: Mapping[str, int] | None = None,
    ) -> None:
        self.file = file
        self.lines = dict(lines or {})  # logical id -> its line in the project file
        self.stack_name, self.region, self.account_id = stack_name, region, account_id
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        if not isinstance(template, Mapping):
            raise ProjectError([self._problem("error", "", "a template is a mapping")])
        self.raw = template
        self.mappings: dict[str, Any] = dict(template.get("Mappings") or {})
        param_errors: list[tuple[str, str]] = []
        self.params = parameter_values(dict(template.get("Parameters") or {}), parameters, param_errors)
        self.errors += [self._problem("error", k, m) for k, m in param_errors]
        self._cond_defs: dict[str, Any] = dict(template.get("Conditions") or {})
        self._cond_values: dict[str, bool] = {}
        all_resources = template.get("Resources")
        if not isinstance(all_resources, Mapping) or not all_resources:
            self.errors.append(self._problem("error", "Resources", "a template needs at least one resource"))
            all_resources = {}
        self.all_resources: dict[str, dict[str, Any]] = {}
        for lid, res in all_resources.items():
            if not LOGICAL_ID.match(str(lid)):
                self.errors.append(self._problem("error", f"Resources.{lid}", "logical ids are alphanumeric"))
            if not isinstance(res, Mapping) or not isinstance(res.get("Type"), str):
                self.errors.append(self._problem("error", f"Resources.{lid}", "a resource needs a Type"))
                continue
            self.all_resources[str(lid)] = dict(res)
        for name in self._cond_defs:
            self.condition(name, f"Conditions.{name}")
        self.resources = {
            lid: res
            for lid, res in self.all_resources.items()
            if "Condition" not in res or self.condition(str(res["Condition"]), f"Resources.{lid}.Condition")
        }
        self.outputs = {
            name: out
            for name, out in dict(template.get("Outputs") or {}).items()
            if not isinstance(out, Mapping)
            or "Condition" not in out
            or self.condition(str(out["Condition"]), f"Outputs.{name}.Condition")
        }
        self.deps = {lid: self._dependencies(lid, res, attributes) for lid, res in self.resources.items()}
        for lid, extra in (extra_deps or {}).items():  # implicit ones the engine knows of
            if lid in self.deps:
                self.deps[lid] |= {d for d in extra if d in self.resources and d != lid}
        for name, out in self.outputs.items():
            value = out.get("Value") if isinstance(out, Mapping) else None
            if value is None:
                self.errors.append(self._problem("error", f"Outputs.{name}", "an output needs a Value"))
            else:
                self._refs(self._pruned(value, f"Outputs.{name}"), f"Outputs.{name}.Value", set(), attributes)
        self.order: list[str] = self._topological() if not self.errors else []
        if self.errors:
            raise ProjectError(self.errors)

    # -- problems ---------------------------------------------------------------------------
    def _problem(self, level: str, key: str, message: str) -> Problem:
        parts = key.split(".")
        line = self.lines.get(parts[1]) if len(parts) > 1 and parts[0] == "Resources" else None
        return Problem(
            "error" if level == "error" else "warning", Where(self.file, line, key or None), message
        )

    def error(self, key: str, message: str) -> ProjectError:
        return ProjectError([self._problem("error", key, message)])

    # -- parameters -------------------------------------------------------------------------
    def pseudo(self, name: str) -> Any:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/lambdabox",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
            "AWS::NotificationARNs": [],
        }[name]

    # -- conditions -------------------------------------------------------------------------
    def condition(self, name: str, key: str, _seen: tuple[str, ...] = ()) -> bool:
        if name in self._cond_values:
            return self._cond_values[name]
        if name not in self._cond_defs:
            self.errors.append(self._problem("error", key, f"no such condition {name!r}"))
            return False
        if name in _seen:
            cycle = " -> ".join((*_seen[_seen.index(name) :], name))
            self.errors.append(self._problem("error", f"Conditions.{name}", f"circular condition: {cycle}"))
            return False
        value = self._cond_eval(self._cond_defs[name], f"Conditions.{name}", (*_seen, name))
        self._cond_values[name] = value
        return value

    def _cond_eval(self, expr: Any, key: str, seen: tuple[str, ...]) -> bool:
        fn = intrinsic(expr)
        if fn is None:
            if isinstance(expr, bool):
                return expr
            self.errors.append(
                self._problem("error", key, "a condition is Fn::Equals, And, Or, Not or Condition")
            )
            return False
        name, arg = fn
        if name == "Condition":
            return self.condition(str(arg), key, seen)
        if name == "Fn::Not" and isinstance(arg, list) and len(arg) == 1:
            return not self._cond_eval(arg[0], key, seen)
        if name in ("Fn::And", "Fn::Or") and isinstance(arg, list) and 2 <= len(arg) <= 10:
            values = [self._cond_eval(a, key, seen) for a in arg]
            return all(values) if name == "Fn::And" else any(values)
        if name == "Fn::Equals" and isinstance(arg, list) and len(arg) == 2:
            a, b = (self.resolve(x, key, _no_resources(self, key)) for x in arg)
            return str(a).lower() == str(b).lower() if isinstance(a, bool) or isinstance(b, bool) else a == b
        self.errors.append(self._problem("error", key, f"malformed {name} in a condition"))
        return False

    def properties(self, lid: str, lookup: Lookup) -> dict[str, Any]:
        """A resource's Properties with every intrinsic resolved (AWS::NoValue keys dropped)."""
        value = self.resolve(
            self.resources[lid].get("Properties") or {}, f"Resources.{lid}.Properties", lookup
        )
        if not isinstance(value, dict):
            raise self.error(f"Resources.{lid}.Properties", "Properties is a mapping")
        return value

    def output_values(self, lookup: Lookup) -> dict[str, Any]:
        return {
            name: self.resolve(out["Value"], f"Outputs.{name}.Value", lookup)
            for name, out in self.outputs.items()
        }

    def resolve(self, value: Any, key: str, lookup: Lookup) -> Any:
        fn = intrinsic(value)
        if fn is not None:
            return self._call(fn[0], fn[1], key, lookup)
        if isinstance(value, dict):
            items = ((k, self.resolve(v, f"{key}.{k}", lookup)) for k, v in value.items())
            return {k: v for k, v in items if v is not NO_VALUE}
        if isinstance(value, list):
            values = (self.resolve(v, f"{key}[{i}]", lookup) for i, v in enumerate(value))
            return [v for v in values if v is not NO_VALUE]
        return value

    def _ref(self, name: str, attr: str | None, key: str, lookup: Lookup) -> Any:
        if attr is None and name in self.params:
            return self.params[name]
        if attr is None and name in PSEUDO:
            return self.pseudo(name)
        if name not in self.resources:
            raise self.error(key, f"{name} is no resource or parameter of the template")
        return lookup(name, attr)

    def _call(self, name: str, arg: Any, key: str, lookup: Lookup) -> Any:
        bad = self.error(key, f"malformed {name}")
        if name == "Ref":
            return self._ref(str(arg), None, key, lookup)
        if name == "Fn::GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else list(arg)
            attr = self.resolve(parts[1], key, lookup)
            return UNKNOWN if attr is UNKNOWN else self._ref(str(parts[0]), str(attr), key, lookup)
        if name == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            values = {k: self.resolve(v, key, lookup) for k, v in variables.items()}
            return self._sub(text, values, key, lookup)
        if name == "Fn::If":
            if not isinstance(arg, list) or len(arg) != 3:
                raise bad
            taken = self.condition(str(arg[0]), key)
            if self.errors:
                raise ProjectError(self.errors)
            return self.resolve(arg[1] if taken else arg[2], key, lookup)
        if name in ("Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not", "Condition"):
            result = self._cond_eval({name: arg}, key, ())
            if self.errors:
                raise ProjectError(self.errors)
            return result
        args = self.resolve(arg, key, lookup)
        if contains_unknown(args):
            return UNKNOWN
        if name == "Fn::Join":
            if not (isinstance(args, list) and len(args) == 2 and isinstance(args[1], list)):
                raise bad
            return str(args[0]).join(_text(v) for v in args[1])
        if name == "Fn::Select":
            if not (isinstance(args, list) and len(args) == 2 and isinstance(args[1], list)):
                raise bad
            index = int(args[0])
            if not 0 <= index < len(args[1]):
                raise self.error(key, f"Fn::Select index {index} is out of range")
            return args[1][index]
        if name == "Fn::Split":
            if not (isinstance(args, list) and len(args) == 2 and isinstance(args[1], str)):
                raise bad
            return args[1].split(str(args[0]))
        if name == "Fn::GetAZs":
            region = args or self.region
            return [f"{region}{z}" for z in "abc"]
        if name == "Fn::Base64":
            return base64.b64encode(_text(args).encode()).decode()
        if name == "Fn::FindInMap":
            if not (isinstance(args, list) and len(args) == 3):
                raise bad
            try:
                return self.mappings[args[0]][args[1]][args[2]]
            except (KeyError, TypeError):
                raise self.error(
                    key, f"Fn::FindInMap: no {args[0]}.{args[1]}.{args[2]} in Mappings"
                ) from None
        raise bad

    def _sub(self, text: str, values: dict[str, Any], key: str, lookup: Lookup) -> Any:
        unknown = False

        def one(m: re.Match[str]) -> str:
            nonlocal unknown
            var = m.group(1)
            if var.startswith("!"):
                return "${" + var[1:] + "}"
            var = var.strip()
            if var in values:
                value = values[var]
            else:
                target, _, attr = var.partition(".")
                value = self._ref(target, attr or None, key, lookup)
            if value is UNKNOWN:
                unknown = True
                return ""
            return _text(value)

        out = SUB_VAR.sub(one, text)
        return UNKNOWN if unknown else out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    return str(value)


def _no_resources(template: Template, key: str) -> Lookup:
    def lookup(name: str, attr: str | None) -> Any:
        raise template.error(key, f"a condition cannot refer to the resource {name}")

    return lookup
