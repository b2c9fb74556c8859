"""The dependency graph of a template's resources, from Ref, Fn::GetAtt, Fn::Sub and DependsOn
(on the branches its conditions take), in an order that creates what is referred to first; a
Ref or GetAtt to nothing, or a cycle, is an error naming the key (and the cycle)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lambdabox.deploy.project import Problem, ProjectError
from lambdabox.deploy.template_syntax import PSEUDO, intrinsic, sub_names


class DependencyGraph:
    """Template's part that finds references; the attributes are Template's."""

    all_resources: dict[str, dict[str, Any]]
    resources: dict[str, dict[str, Any]]
    params: dict[str, Any]
    errors: list[Problem]
    deps: dict[str, set[str]]

    def condition(self, name: str, key: str, _seen: tuple[str, ...] = ()) -> bool:
        raise NotImplementedError

    def _problem(self, level: str, key: str, message: str) -> Problem:
        raise NotImplementedError

    def error(self, key: str, message: str) -> ProjectError:
        raise NotImplementedError

    def _pruned(self, value: Any, key: str) -> Any:
        """`value` with Fn::If replaced by its taken branch (what Ref/GetAtt deps are taken from)."""
        fn = intrinsic(value)
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
        fn = intrinsic(value)
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
            for var in sub_names(text):
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
