"""Runtime identifiers map to installed interpreters, or to the nearest one with a warning."""

from __future__ import annotations

from pathlib import Path

from lambdabox.lambda_.runtime_catalog import BLOCKED, RuntimeCatalog, lambda_runtimes, runnable, runs

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
