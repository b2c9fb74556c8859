"""CloudFormation's Parameters: the value of each, given or its Default, checked as CloudFormation
checks it (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html).
Lists (CommaDelimitedList, List<...>) are lists of strings; everything else is a string. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any


def parameter_values(
    decls: Mapping[str, Any], given: Mapping[str, str], errors: list[tuple[str, str]]
) -> dict[str, Any]:
    """The value of each declared parameter (given, else its Default), checked against its Type,
    AllowedValues, AllowedPattern, lengths and bounds; (key, message) appended to `errors`."""
    out: dict[str, Any] = {}
    for name in given:
        if name not in decls:
            errors.append((f"Parameters.{name}", "no such parameter in the template"))
    for name, decl in decls.items():
        key = f"Parameters.{name}"
        decl = decl if isinstance(decl, Mapping) else {}
        ptype = str(decl.get("Type", ""))
        if name in given:
            raw: Any = given[name]
        elif "Default" in decl:
            raw = decl["Default"]
        else:
            errors.append((key, "no value given and no Default"))
            continue
        value = ",".join(str(x) for x in raw) if isinstance(raw, list) else str(raw)
        problem = check_parameter(ptype, value, decl)
        if problem:
            errors.append((key, problem))
            continue
        if ptype.startswith("AWS::SSM::"):
            errors.append((key, f"parameter type {ptype} is not supported"))
            continue
        is_list = ptype in ("CommaDelimitedList", "List<Number>") or ptype.startswith("List<")
        out[name] = [v.strip() for v in value.split(",")] if is_list else value
    return out


def check_parameter(ptype: str, value: str, decl: Mapping[str, Any]) -> str | None:
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
