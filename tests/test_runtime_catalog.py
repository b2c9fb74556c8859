"""Runtime identifiers map to installed interpreters, or to the nearest one with a warning (in the
function's log at each cold start, in the server's log once per function and runtime)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from conftest import deploy
from lambdabox.lambda_.runtime_catalog import BLOCKED, RuntimeCatalog, lambda_runtimes, runnable, runs
from lambdabox.testing import LocalLambdabox

CODE = Path("/code")


def catalog(installed: dict[str, str]) -> RuntimeCatalog:
    return RuntimeCatalog(find_python=installed.get)


def test_exact_interpreter_is_used_without_warning() -> None:
    launch = catalog({"3.12": "/py/3.12"}).launch("python3.12", CODE)
    assert launch.argv[0] == "/py/3.12" and launch.argv[-1].endswith("bootstrap_python.py")
    assert launch.execution_env == "AWS_Lambda_python3.12"
    assert launch.warning is None


def test_missing_interpreter_falls_back_to_the_nearest_with_a_warning() -> None:
    launch = catalog({"3.11": "/py/3.11", "3.13": "/py/3.13"}).launch("python3.12", CODE)
    assert launch.argv[0] in ("/py/3.11", "/py/3.13")
    assert launch.warning is not None and "python3.12 is not installed here" in launch.warning
    assert launch.execution_env == "AWS_Lambda_python3.12"
    launch = catalog({"3.11": "/py/3.11"}).launch("python3.13", CODE)
    assert launch.argv[0] == "/py/3.11" and "Python 3.11" in (launch.warning or "")


def test_provided_runtime_runs_the_functions_bootstrap() -> None:
    launch = catalog({}).launch("provided.al2023", CODE)
    assert launch.argv == (str(CODE / "bootstrap"),)


def test_every_python_runtime_falls_back_to_the_nearest_installed() -> None:
    installed = {"3.10": "/py/3.10", "3.13": "/py/3.13"}
    assert catalog(installed).launch("python3.9", CODE).argv[0] == "/py/3.10"
    launch = catalog(installed).launch("python3.15", CODE)
    assert launch.argv[0] == "/py/3.13" and "running on Python 3.13 instead" in (launch.warning or "")
    # as near either way: the newer
    assert catalog({"3.11": "/py/3.11", "3.13": "/py/3.13"}).launch("python3.12", CODE).argv[0] == "/py/3.13"


def test_accepted_runtimes_are_the_models_less_the_blocked_ones() -> None:
    accepted = lambda_runtimes()
    assert not BLOCKED & set(accepted)
    assert {"python3.14", "nodejs24.x", "java21", "provided.al2023"} <= set(accepted)
    assert [r for r in accepted if runs(r)] == list(runnable())
    assert runs("python3.9") and runs("nodejs18.x") and runs("provided.al2")
    assert not runs("java21") and not runs("dotnet8") and not runs("ruby3.4")


def test_fallback_is_said_in_the_server_log_once_and_in_the_function_log_at_each_cold_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    real = RuntimeCatalog().python("3.11")
    if real is None:
        pytest.skip("needs Python 3.11")
    only_311 = RuntimeCatalog(find_python=lambda v: real if v == "3.11" else None)
    caplog.set_level(logging.WARNING, logger="lambdabox.lambda_.invoker")
    with LocalLambdabox(tmp_path / "data", catalog=only_311) as lbx:
        lam, logs = lbx.client("lambda"), lbx.client("logs")
        name = deploy(lam, {"app.py": "def handler(e, c):\n    return 1\n"}, runtime="python3.13")
        lam.invoke(FunctionName=name)
        lam.invoke(FunctionName=name)  # warm
        lam.update_function_configuration(FunctionName=name, Timeout=5)
        lam.invoke(FunctionName=name)  # a second cold start
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    said = "python3.13 is not installed here; running on Python 3.11 instead"
    in_server_log = [r.getMessage() for r in caplog.records if said in r.getMessage()]
    assert in_server_log == [f"function arn:aws:lambda:us-east-1:000000000000:function:{name}: {said}"]
    assert sum(said in e["message"] for e in events) == 2
