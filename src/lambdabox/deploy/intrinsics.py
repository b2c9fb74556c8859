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
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from lambdabox.deploy.project import Problem, ProjectError, Where


class _Unknown:
    """A value known only after apply (the physical id of a resource not yet created)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(known after apply)"


UNKNOWN: Any = _Unknown()


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()

Lookup = Callable[[str, "str | None"], Any]

PSEUDO = (
    "AWS::Region",
    "AWS::AccountId",
    "AWS::StackName",
    "AWS::StackId",
    "AWS::Partition",
    "AWS::URLSuffix",
    "AWS::NoValue",
    "AWS::NotificationARNs",
)
INTRINSICS = frozenset(
    [
        "Ref",
        "Fn::GetAtt",
        "Fn::Sub",
        "Fn::Join",
        "Fn::Select",
        "Fn::Split",
        "Fn::If",
        "Fn::Equals",
        "Fn::And",
        "Fn::Or",
        "Fn::Not",
        "Condition",
        "Fn::GetAZs",
        "Fn::Base64",
        "Fn::FindInMap",
    ]
)
_SUB_VAR = re.compile(r"\$\{([^}]*)\}")
_LOGICAL_ID = re.compile(r"^[A-Za-z0-9]+$")


def contains_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_unknown(v) for v in value)
    return False


def _intrinsic(value: Any) -> tuple[str, Any] | None:
    if isinstance(value, dict) and len(value) == 1:
        ((k, v),) = value.items()
        if k in INTRINSICS:
            return k, v
    return None


def _sub_names(text: str) -> Iterator[str]:
    for m in _SUB_VAR.finditer(text):
        if not m.group(1).startswith("!"):
            yield m.group(1).strip()


class Template:
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
    ) -> None:
        self.file = file
        self.stack_name, self.region, self.account_id = stack_name, region, account_id
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        if not isinstance(template, Mapping):
            raise ProjectError([self._problem("error", "", "a template is a mapping")])
        self.raw = template
        self.mappings: dict[str, Any] = dict(template.get("Mappings") or {})
        self.params = self._parameters(dict(template.get("Parameters") or {}), parameters)
        self._cond_defs: dict[str, Any] = dict(template.get("Conditions") or {})
        self._cond_values: dict[str, bool] = {}
        all_resources = template.get("Resources")
        if not isinstance(all_resources, Mapping) or not all_resources:
            self.errors.append(self._problem("error", "Resources", "a template needs at least one resource"))
            all_resources = {}
        self.all_resources: dict[str, dict[str, Any]] = {}
        for lid, res in all_resources.items():
            if not _LOGICAL_ID.match(str(lid)):
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
        return Problem(
            "error" if level == "error" else "warning", Where(self.file, None, key or None), message
        )

    def error(self, key: str, message: str) -> ProjectError:
        return ProjectError([self._problem("error", key, message)])

    # -- parameters -------------------------------------------------------------------------
    def _parameters(self, decls: dict[str, Any], given: Mapping[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in given:
            if name not in decls:
                self.errors.append(
                    self._problem("error", f"Parameters.{name}", "no such parameter in the template")
                )
        for name, decl in decls.items():
            key = f"Parameters.{name}"
            decl = decl if isinstance(decl, Mapping) else {}
            ptype = str(decl.get("Type", ""))
            if name in given:
                raw: Any = given[name]
            elif "Default" in decl:
                raw = decl["Default"]
            else:
                self.errors.append(self._problem("error", key, "no value given and no Default"))
                continue
            value = ",".join(str(x) for x in raw) if isinstance(raw, list) else str(raw)
            problem = self._check_parameter(ptype, value, decl)
            if problem:
                self.errors.append(self._problem("error", key, problem))
                continue
            if ptype.startswith("AWS::SSM::"):
                self.errors.append(self._problem("error", key, f"parameter type {ptype} is not supported"))
                continue
            is_list = ptype in ("CommaDelimitedList", "List<Number>") or ptype.startswith("List<")
            out[name] = [v.strip() for v in value.split(",")] if is_list else value
        return out

    @staticmethod
    def _check_parameter(ptype: str, value: str, decl: Mapping[str, Any]) -> str | None:
        known = ("String", "Number", "CommaDelimitedList", "List<Number>")
        if ptype not in known and not ptype.startswith(("AWS::", "List<AWS::")):
            return f"Type {ptype!r} is not a parameter type"
        items = value.split(",") if ptype in ("CommaDelimitedList", "List<Number>") else [value]
        for item in items:
            if ptype in ("Number", "List<Number>"):
                try:
                    number = float(item)
                except ValueError:
                    return f"{item!r} is not a Number"
                if "MinValue" in decl and number < float(decl["MinValue"]):
                    return f"{item} is less than MinValue {decl['MinValue']}"
                if "MaxValue" in decl and number > float(decl["MaxValue"]):
                    return f"{item} is greater than MaxValue {decl['MaxValue']}"
        allowed = decl.get("AllowedValues")
        if allowed is not None and value not in [str(a) for a in allowed]:
            return f"{value!r} is not one of AllowedValues {[str(a) for a in allowed]}"
        if "AllowedPattern" in decl and not re.fullmatch(str(decl["AllowedPattern"]), value):
            return str(decl.get("ConstraintDescription") or f"{value!r} does not match AllowedPattern")
        if "MinLength" in decl and len(value) < int(decl["MinLength"]):
            return f"{value!r} is shorter than MinLength {decl['MinLength']}"
        if "MaxLength" in decl and len(value) > int(decl["MaxLength"]):
            return f"{value!r} is longer than MaxLength {decl['MaxLength']}"
        return None

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
        fn = _intrinsic(expr)
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

    # -- dependencies -----------------------------------------------------------------------
    def _pruned(self, value: Any, key: str) -> Any:
        """`value` with Fn::If replaced by its taken branch (what Ref/GetAtt deps are taken from)."""
        fn = _intrinsic(value)
        if fn and fn[0] == "Fn::If" and isinstance(fn[1], list) and len(fn[1]) == 3:
            taken = self.condition(str(fn[1][0]), key)
            return self._pruned(fn[1][1] if taken else fn[1][2], key)
        if isinstance(value, dict):
            return {k: self._pruned(v, key) for k, v in value.items()}
        if isinstance(value, list):
            return [self._pruned(v, key) for v in value]
        return value

    def _dependencies(
        self, lid: str, res: dict[str, Any], attributes: Callable[[str], frozenset[str] | None]
    ) -> set[str]:
        key = f"Resources.{lid}"
        deps: set[str] = set()
        depends_on = res.get("DependsOn", [])
        for dep in [depends_on] if isinstance(depends_on, str) else list(depends_on):
            if dep not in self.all_resources:
                self.errors.append(
                    self._problem("error", f"{key}.DependsOn", f"DependsOn {dep}: no such resource")
                )
            elif dep in self.resources:
                deps.add(dep)
        props = self._pruned(res.get("Properties") or {}, key)
        self._refs(props, f"{key}.Properties", deps, attributes)
        return deps

    def _refs(
        self, value: Any, key: str, deps: set[str], attributes: Callable[[str], frozenset[str] | None]
    ) -> None:
        fn = _intrinsic(value)
        if fn is None:
            if isinstance(value, dict):
                for k, v in value.items():
                    self._refs(v, f"{key}.{k}", deps, attributes)
            elif isinstance(value, list):
                for i, v in enumerate(value):
                    self._refs(v, f"{key}[{i}]", deps, attributes)
            return
        name, arg = fn
        if name == "Ref":
            self._ref_target(str(arg), None, key, deps, attributes)
        elif name == "Fn::GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else arg
            if not isinstance(parts, list) or len(parts) != 2:
                self.errors.append(self._problem("error", key, "Fn::GetAtt takes [LogicalId, Attribute]"))
                return
            attr = parts[1]
            if not isinstance(attr, str):
                self._refs(attr, key, deps, attributes)
                attr = None
            self._ref_target(str(parts[0]), attr or "*", key, deps, attributes)
        elif name == "Fn::Sub":
            text, variables = (
                (arg, {})
                if isinstance(arg, str)
                else (arg[0], arg[1])
                if isinstance(arg, list) and len(arg) == 2
                else ("", None)
            )
            if not isinstance(text, str) or not isinstance(variables, dict):
                self.errors.append(
                    self._problem("error", key, "Fn::Sub takes a string or [string, {variables}]")
                )
                return
            self._refs(variables, key, deps, attributes)
            for var in _sub_names(text):
                if var in variables:
                    continue
                target, _, attr = var.partition(".")
                self._ref_target(target, attr or None, key, deps, attributes)
        else:
            self._refs(arg, key, deps, attributes)

    def _ref_target(
        self,
        target: str,
        attr: str | None,
        key: str,
        deps: set[str],
        attributes: Callable[[str], frozenset[str] | None],
    ) -> None:
        if attr is None and (target in self.params or target in PSEUDO):
            return
        if target not in self.all_resources:
            what = "resource" if attr else "resource or parameter"
            self.errors.append(self._problem("error", key, f"{target} is no {what} of the template"))
            return
        if target not in self.resources:
            self.errors.append(
                self._problem("error", key, f"{target} is not created (its Condition is false)")
            )
            return
        known = attributes(self.resources[target]["Type"])
        if attr not in (None, "*") and known is not None and attr not in known:
            self.errors.append(
                self._problem(
                    "error", key, f"{target} ({self.resources[target]['Type']}) has no attribute {attr}"
                )
            )
        deps.add(target)

    def _topological(self) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}  # 1 visiting, 2 done

        def visit(lid: str, path: list[str]) -> None:
            if state.get(lid) == 2:
                return
            if state.get(lid) == 1:
                cycle = [*path[path.index(lid) :], lid]
                raise self.error(f"Resources.{lid}", "circular dependency: " + " -> ".join(cycle))
            state[lid] = 1
            for dep in sorted(self.deps[lid]):
                visit(dep, [*path, lid])
            state[lid] = 2
            order.append(lid)

        for lid in self.resources:
            visit(lid, [])
        return order

    # -- resolution -------------------------------------------------------------------------
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
        fn = _intrinsic(value)
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

        out = _SUB_VAR.sub(one, text)
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
