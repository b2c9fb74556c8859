"""Settings precedence: flag > LAMBDABOX_* environment variable > default."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdabox.config import Settings


def test_defaults() -> None:
    s = Settings.resolve({}, env={})
    assert (s.host, s.port, s.region, s.idle_timeout, s.concurrency_limit) == (
        "127.0.0.1",
        4566,
        "us-east-1",
        600.0,
        1000,
    )
    assert s.endpoint_url == "http://127.0.0.1:4566"


def test_environment_overrides_default_and_flag_overrides_environment() -> None:
    env = {"LAMBDABOX_PORT": "5000", "LAMBDABOX_DATA_DIR": "/tmp/x", "LAMBDABOX_IDLE_TIMEOUT": "1.5"}
    s = Settings.resolve({}, env=env)
    assert s.port == 5000 and s.data_dir == Path("/tmp/x") and s.idle_timeout == 1.5
    s = Settings.resolve({"port": 6000, "data_dir": None}, env=env)
    assert s.port == 6000 and s.data_dir == Path("/tmp/x")


def test_bad_value_is_reported() -> None:
    with pytest.raises(ValueError, match="port"):
        Settings.resolve({}, env={"LAMBDABOX_PORT": "eighty"})


def test_cli_rejects_bad_environment_value() -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "lambdabox", "serve"],
        capture_output=True,
        text=True,
        env={"LAMBDABOX_PORT": "eighty", "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert out.returncode == 2
    assert "invalid value for port" in out.stderr


def test_boolean_settings_accept_the_usual_words() -> None:
    assert Settings.resolve({}, env={}).check_roles is False
    for word in ("1", "true", "Yes", "ON"):
        assert Settings.resolve({}, env={"LAMBDABOX_CHECK_ROLES": word}).check_roles is True
    for word in ("0", "false", "No", "off"):
        assert Settings.resolve({}, env={"LAMBDABOX_CHECK_ROLES": word}).check_roles is False
    # the flag (argparse's True) wins over the variable
    assert Settings.resolve({"check_roles": True}, env={"LAMBDABOX_CHECK_ROLES": "off"}).check_roles is True


def test_bad_boolean_is_reported() -> None:
    with pytest.raises(ValueError, match="invalid value for check_roles"):
        Settings.resolve({}, env={"LAMBDABOX_CHECK_ROLES": "maybe"})


def test_root_keys_name_their_accounts_or_act_in_the_configured_one() -> None:
    s = Settings.resolve(
        {"root_keys": "test:test, AKIDB:sb:222222222222", "account_id": "111111111111"}, env={}
    )
    keys = s.root_key_set()
    assert (keys.get("test").account, keys.get("AKIDB").account) == ("111111111111", "222222222222")  # type: ignore[union-attr]
    assert keys.get("AKIDB").secret_access_key == "sb"  # type: ignore[union-attr]
    assert keys.get("other") is None


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (" , ", "at least one"),
        ("onlyid", "ID:SECRET"),
        ("k:s:123", "12 digits"),
        ("k:s,k:t", "twice"),
        ("k y:s", "characters"),
    ],
)
def test_malformed_root_keys_are_refused_with_what_is_wrong(spec: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Settings.resolve({"root_keys": spec}, env={})
