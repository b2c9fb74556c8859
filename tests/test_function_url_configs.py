"""Function URL configurations through boto3: create, get, update, delete and list on a function
and on an alias, AWS's refusals (a version, $LATEST, a second URL, a missing one, bad CORS), the
url-id's shape, and URLs gone with their function or alias and kept across a restart."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import aws_error, start_server

APP = {"app.py": "def handler(event, context):\n    return {'statusCode': 200, 'body': event['rawPath']}\n"}
URL = re.compile(r"http://([a-z0-9]{32})\.lambda-url\.us-east-1\.localhost:\d+/")


def test_create_get_update_list_delete(lam: Any, create_fn: Callable[..., str]) -> None:
    name = create_fn(APP)
    made = lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert made["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert URL.fullmatch(made["FunctionUrl"]), made["FunctionUrl"]
    assert made["FunctionArn"].endswith(f":function:{name}")
    assert (made["AuthType"], made["InvokeMode"]) == ("NONE", "BUFFERED")
    assert "Cors" not in made and "LastModifiedTime" not in made
    got = lam.get_function_url_config(FunctionName=name)
    assert got["FunctionUrl"] == made["FunctionUrl"] and got["CreationTime"] == made["CreationTime"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", got["LastModifiedTime"])
    cors = {"AllowOrigins": ["https://a.example"], "AllowMethods": ["get", "POST"], "MaxAge": 30}
    upd = lam.update_function_url_config(
        FunctionName=name, AuthType="AWS_IAM", Cors=cors, InvokeMode="RESPONSE_STREAM"
    )
    assert upd["FunctionUrl"] == made["FunctionUrl"]  # the same url-id
    assert (upd["AuthType"], upd["InvokeMode"]) == ("AWS_IAM", "RESPONSE_STREAM")
    assert upd["Cors"] == {
        "AllowOrigins": ["https://a.example"],
        "AllowMethods": ["GET", "POST"],
        "MaxAge": 30,
    }
    assert lam.update_function_url_config(FunctionName=name, AuthType="NONE")["Cors"] == upd["Cors"]
    listed = lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]
    assert [c["FunctionUrl"] for c in listed] == [made["FunctionUrl"]]
    assert lam.delete_function_url_config(FunctionName=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as err:
        lam.get_function_url_config(FunctionName=name)
    assert aws_error(err) == ("ResourceNotFoundException", "The resource you requested does not exist.", 404)
    with pytest.raises(ClientError) as err:
        lam.delete_function_url_config(FunctionName=name)
    assert aws_error(err)[0] == "ResourceNotFoundException"


def test_an_alias_has_its_own_url_and_loses_it_with_the_alias(
    lam: Any, create_fn: Callable[..., str]
) -> None:
    name = create_fn(APP)
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    own = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    live = lam.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
    assert live["FunctionArn"].endswith(f":function:{name}:live") and live["FunctionUrl"] != own
    assert lam.get_function_url_config(FunctionName=f"{name}:live")["FunctionUrl"] == live["FunctionUrl"]
    listed = lam.list_function_url_configs(FunctionName=name, MaxItems=1)
    assert len(listed["FunctionUrlConfigs"]) == 1 and "NextMarker" in listed
    rest = lam.list_function_url_configs(FunctionName=name, Marker=listed["NextMarker"])
    assert {c["FunctionUrl"] for c in listed["FunctionUrlConfigs"] + rest["FunctionUrlConfigs"]} == {
        own,
        live["FunctionUrl"],
    }
    lam.delete_alias(FunctionName=name, Name="live")
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    with pytest.raises(ClientError) as err:
        lam.get_function_url_config(FunctionName=name, Qualifier="live")
    assert aws_error(err)[0] == "ResourceNotFoundException"


def test_aws_refusals(lam: Any, lam_raw: Any, create_fn: Callable[..., str]) -> None:
    name = create_fn(APP)
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    with pytest.raises(ClientError) as err:
        lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert aws_error(err) == (
        "ResourceConflictException",
        f"Failed to create function url config for [functionArn = {arn}]. Error message:  "
        "FunctionUrlConfig exists for this Lambda function",
        409,
    )
    for qualifier in ("$LATEST", "1"):
        with pytest.raises(ClientError) as err:
            lam_raw.create_function_url_config(FunctionName=name, Qualifier=qualifier, AuthType="NONE")
        assert aws_error(err)[0] == "ValidationException", qualifier
    with pytest.raises(ClientError) as err:
        lam.create_function_url_config(FunctionName=name, Qualifier="nope", AuthType="NONE")
    assert aws_error(err)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        lam.update_function_url_config(FunctionName=name, Cors={"AllowMethods": ["FETCH"]})
    code, message, status = aws_error(err)
    assert (code, status) == ("InvalidParameterValueException", 400) and "FETCH" in message
    with pytest.raises(ClientError) as err:
        lam_raw.create_function_url_config(FunctionName=create_fn(APP), AuthType="OPEN")
    assert aws_error(err)[0] == "ValidationException"
    with pytest.raises(ClientError) as err:
        lam.update_function_url_config(FunctionName=name, Cors={"MaxAge": 86401})
    assert aws_error(err)[0] == "ValidationException"
    with pytest.raises(ClientError) as err:
        lam.list_function_url_configs(FunctionName="no-such-function")
    assert aws_error(err)[0] == "ResourceNotFoundException"


def test_urls_survive_a_restart_and_go_with_their_function(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data")
    try:
        lam = srv.client("lambda")
        from conftest import deploy

        name = deploy(lam, APP)
        url = lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"]
        srv.stop()
        srv = start_server(tmp_path / "data")
        lam = srv.client("lambda")
        got = lam.get_function_url_config(FunctionName=name)
        assert (got["AuthType"], got["FunctionUrl"].split(".")[0]) == ("AWS_IAM", url.split(".")[0])
        lam.delete_function(FunctionName=name)
        deploy(lam, APP, FunctionName=name)
        assert lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"] == []
    finally:
        srv.stop()
