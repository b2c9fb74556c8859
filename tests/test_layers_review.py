"""An outside-in review of Lambda layers (issue 19): the answers it found lambdabox giving
otherwise than AWS does, each now as AWS gives it (unextractable and empty layer zips, runtimes
outside the enum, ARNs of another partition, LD_LIBRARY_PATH, a dry-run code update's size check).
Everything goes through boto3 against a real lambdabox (two accounts, signatures verified), as a
user or another tenant would see it."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import make_zip, unique
from lambdabox.testing import LocalLambdabox
from test_layers import ROOT_KEYS, big_zip, create, publish, refused

UNZIP = (
    "InvalidParameterValueException",
    "Could not unzip uploaded file. Please check your file, then try to upload again.",
    400,
)


@pytest.fixture(scope="module")
def lbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path_factory.mktemp("layers-review") / "data", root_keys=ROOT_KEYS) as server:
        yield server


@pytest.fixture(scope="module")
def lam(lbx: LocalLambdabox) -> Any:
    return lbx.client("lambda")


def _corrupt_zip() -> bytes:
    """A stored (uncompressed) zip whose member's bytes no longer match its CRC-32."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("python/broken.py", "WHO = 'layer'\n" * 20)
    data = bytearray(buf.getvalue())
    data[data.index(b"WHO")] = ord("X")
    return bytes(data)


# ------------------------------------------------------------------------------ publishing
def test_publish_refuses_a_layer_zip_that_cannot_be_unzipped(lam: Any) -> None:
    # refused at publish time as AWS refuses it ("Could not unzip uploaded file"), as the same zip
    # is refused as function code by CreateFunction, not later at the first function naming it
    assert (
        refused(
            lambda: lam.publish_layer_version(LayerName=unique("crc"), Content={"ZipFile": _corrupt_zip()})
        )
        == UNZIP
    )


def test_publish_refuses_a_zip_without_entries(lam: Any) -> None:
    # refused as an empty upload, as AWS refuses it
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w"):
        pass  # just the end-of-central-directory record
    assert refused(
        lambda: lam.publish_layer_version(LayerName=unique("empty"), Content={"ZipFile": buf.getvalue()})
    ) == ("InvalidParameterValueException", "Uploaded file must be a non-empty zip", 400)


def test_publish_refuses_an_unknown_compatible_runtime(lam: Any) -> None:
    # refused by the request validation, as AWS refuses any value outside a list's enum (only a
    # function's own Runtime is Lambda's to word: it may be a runtime ARN)
    code, message, status = refused(
        lambda: lam.publish_layer_version(
            LayerName=unique("rt"),
            Content={"ZipFile": make_zip({"python/a.py": ""})},
            CompatibleRuntimes=["python9"],
        )
    )
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith("1 validation error detected: Value ") and "python9" in message
    assert "compatibleRuntimes" in message and "Member must satisfy enum value set" in message


def test_list_layers_refuses_an_unknown_compatible_runtime(lam: Any) -> None:
    # the query string's filter is held to the Runtime enum, as AWS holds it
    code, message, status = refused(lambda: lam.list_layers(CompatibleRuntime="python9"))
    assert (code, status) == ("ValidationException", 400)
    assert "'python9' at 'compatibleRuntime'" in message and "Member must satisfy enum value set" in message


# ------------------------------------------------------------------------------ ARNs
def test_a_layer_arn_of_another_partition_names_no_layer_here(lam: Any) -> None:
    # arn:aws-cn:… is not the arn:aws: layer of the same name: not found, and refused as a function's
    arn = publish(lam, unique("part"), {"python/p.py": ""})["LayerVersionArn"]
    foreign = arn.replace("arn:aws:", "arn:aws-cn:", 1)
    assert refused(lambda: lam.get_layer_version_by_arn(Arn=foreign)) == (
        "ResourceNotFoundException", "The resource you requested does not exist.", 404,
    )  # fmt: skip
    with pytest.raises(ClientError):  # and no function gets the aws-partition layer in its place
        create(lam, {"app.py": "def handler(e, c):\n    return 1\n"}, [foreign])


# ------------------------------------------------------------------------------ the environment
LIBS = """
import os

def handler(event, context):
    return {"ld": os.environ["LD_LIBRARY_PATH"].split(":"), "task": os.environ["LAMBDA_TASK_ROOT"]}
"""


def test_ld_library_path_searches_the_functions_lib_before_the_layers(lam: Any) -> None:
    # as Lambda's: /var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib
    # (shared libraries packaged with the code are found, before the layers')
    layer = publish(lam, unique("libs"), {"lib/libdemo.txt": "x"})["LayerVersionArn"]
    name = create(lam, {"app.py": LIBS}, [layer])
    resp = lam.invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(resp["Payload"].read())
    ld, task = body["ld"], body["task"]
    assert f"{task}/lib" in ld and task in ld
    assert ld[-1].endswith("/lib")  # the layers' lib comes last
    assert ld.index(task) < ld.index(f"{task}/lib") < len(ld) - 1


# ------------------------------------------------------------------------------ sizes
def test_a_dry_run_code_update_checks_code_plus_layers_too(lam: Any) -> None:
    # DryRun: "do all necessary computation and validation of your code but will not upload it"
    # (the API reference): refused as the same request without DryRun is
    big = publish_zip(lam, big_zip("python/big.bin", 200))
    name = create(lam, {"app.py": "def handler(e, c):\n    return 1\n"}, [big])
    code = big_zip("extra.bin", 60)
    expected = refused(lambda: lam.update_function_code(FunctionName=name, ZipFile=code))
    assert expected[0] == "InvalidParameterValueException"
    assert refused(lambda: lam.update_function_code(FunctionName=name, ZipFile=code, DryRun=True)) == expected


def publish_zip(lam: Any, data: bytes) -> str:
    return str(
        lam.publish_layer_version(LayerName=unique("big"), Content={"ZipFile": data})["LayerVersionArn"]
    )
