"""Lambda layers, as a boto3 user sees them: publishing, reading, listing, deleting and sharing
layer versions, and functions configured with them, whose environments find the layers merged in
order at /opt (Python's /opt/python and site-packages, Node.js's /opt/nodejs/node_modules, /opt/bin
on PATH), with AWS's answers to bad input (six layers, over 250 MB, zip tricks, another account's
layer without permission, a version that does not exist)."""

from __future__ import annotations

import io
import json
import re
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, aws_error, make_zip, unique
from lambdabox.testing import LocalLambdabox

ROOT_KEYS = "test:test,other:other:222222222222"
OTHER_ROLE = "arn:aws:iam::222222222222:role/lambda-role"
#: a site-packages dir for every Python a runtime may run on here
PY_VERSIONS = [f"3.{minor}" for minor in range(8, 16)]


@pytest.fixture(scope="module")
def lbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path_factory.mktemp("layers") / "data", root_keys=ROOT_KEYS) as server:
        yield server


@pytest.fixture(scope="module")
def lam(lbx: LocalLambdabox) -> Any:
    return lbx.client("lambda")


@pytest.fixture(scope="module")
def other(lbx: LocalLambdabox) -> Any:
    return lbx.client("lambda", key="other", secret="other")


def publish(lam: Any, name: str, files: dict[str, str | bytes], **kw: Any) -> dict[str, Any]:
    modes = {n: 0o755 for n in files if n.startswith("bin/")}
    return dict(lam.publish_layer_version(LayerName=name, Content={"ZipFile": make_zip(files, modes)}, **kw))


def create(lam: Any, files: dict[str, str | bytes], layers: list[str], **kw: Any) -> str:
    name = unique()
    lam.create_function(
        FunctionName=name,
        Runtime=kw.pop("Runtime", "python3.12"),
        Role=kw.pop("Role", ROLE),
        Handler=kw.pop("Handler", "app.handler"),
        Code={"ZipFile": make_zip(files)},
        Layers=layers,
        Timeout=30,
        **kw,
    )
    return name


def call(lam: Any, name: str, **kw: Any) -> Any:
    resp = lam.invoke(FunctionName=name, Payload=b"{}", **kw)
    body = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, body
    return body


def refused(fn: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as exc:
        fn()
    return aws_error(exc)


def big_zip(name: str, mb: int) -> bytes:
    """A small zip that unzips to `mb` MB (zeros compress well)."""
    buf = io.BytesIO()
    with (
        zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf,
        zf.open(name, "w", force_zip64=True) as member,
    ):
        chunk = b"\0" * (1 << 20)
        for _ in range(mb):
            member.write(chunk)
    return buf.getvalue()


HANDLER = """
import json, os, subprocess, sys

def handler(event, context):
    import shared, only_a, from_site
    tool = subprocess.run(["layer-tool"], capture_output=True, text=True).stdout.strip()
    opt_dir = os.environ["PATH"].rsplit(":", 1)[1].removesuffix("/bin")  # /opt/bin comes last
    return {"shared": shared.WHO, "only_a": only_a.WHO, "site": from_site.WHO, "tool": tool,
            "internal": [k for k in os.environ if k.startswith("_LAMBDABOX")],
            "opt_dir": opt_dir, "opt": sorted(os.listdir(opt_dir)), "ld": os.environ["LD_LIBRARY_PATH"]}
"""


# ------------------------------------------------------------------------------ control plane
def test_publish_get_list_and_delete_as_aws_answers(lam: Any) -> None:
    name = unique("layer")
    first = publish(
        lam, name, {"python/a.py": "X = 1\n"}, Description="one", CompatibleRuntimes=["python3.12"],
        CompatibleArchitectures=["x86_64"], LicenseInfo="MIT",
    )  # fmt: skip
    assert first["Version"] == 1
    assert first["LayerArn"] == f"arn:aws:lambda:us-east-1:000000000000:layer:{name}"
    assert first["LayerVersionArn"] == first["LayerArn"] + ":1"
    assert first["Description"] == "one" and first["LicenseInfo"] == "MIT"
    assert first["CompatibleRuntimes"] == ["python3.12"] and first["CompatibleArchitectures"] == ["x86_64"]
    content = first["Content"]
    assert content["CodeSize"] > 0 and len(content["CodeSha256"]) == 44
    # Location: a presigned URL of lambdabox's that serves the zip
    with urllib.request.urlopen(content["Location"]) as resp:
        got = zipfile.ZipFile(io.BytesIO(resp.read()))
    assert got.read("python/a.py") == b"X = 1\n"
    before = lam.get_account_settings()["AccountUsage"]["TotalCodeSize"]
    second = publish(lam, name, {"python/a.py": "X = 2\n"}, CompatibleRuntimes=["nodejs20.x"])
    assert second["Version"] == 2
    # layer archives count towards the account's code storage
    after = lam.get_account_settings()["AccountUsage"]["TotalCodeSize"]
    assert after == before + second["Content"]["CodeSize"]

    got_v1 = lam.get_layer_version(LayerName=name, VersionNumber=1)
    assert got_v1["LayerVersionArn"] == first["LayerVersionArn"] and got_v1["Description"] == "one"
    by_arn = lam.get_layer_version_by_arn(Arn=second["LayerVersionArn"])
    assert by_arn["Version"] == 2 and by_arn["Content"]["CodeSha256"] == second["Content"]["CodeSha256"]
    assert lam.get_layer_version(LayerName=first["LayerArn"], VersionNumber=2)["Version"] == 2

    versions = lam.list_layer_versions(LayerName=name)["LayerVersions"]
    assert [v["Version"] for v in versions] == [2, 1]  # newest first
    assert "Content" not in versions[0]
    py = lam.list_layer_versions(LayerName=name, CompatibleRuntime="python3.12")["LayerVersions"]
    assert [v["Version"] for v in py] == [1]

    listed = {la["LayerName"]: la for la in lam.list_layers()["Layers"]}
    assert listed[name]["LatestMatchingVersion"]["Version"] == 2
    matching = {la["LayerName"]: la for la in lam.list_layers(CompatibleRuntime="python3.12")["Layers"]}
    assert matching[name]["LatestMatchingVersion"]["Version"] == 1
    arm = {la["LayerName"] for la in lam.list_layers(CompatibleArchitecture="arm64")["Layers"]}
    assert name not in arm

    lam.delete_layer_version(LayerName=name, VersionNumber=2)
    lam.delete_layer_version(LayerName=name, VersionNumber=2)  # again: still fine
    assert refused(lambda: lam.get_layer_version(LayerName=name, VersionNumber=2)) == (
        "ResourceNotFoundException", "The resource you requested does not exist.", 404,
    )  # fmt: skip
    # numbers are never reused
    assert publish(lam, name, {"python/a.py": "X = 3\n"})["Version"] == 3


def test_layer_version_permissions(lam: Any) -> None:
    name = unique("layer")
    arn = publish(lam, name, {"python/p.py": ""})["LayerVersionArn"]
    no_policy = ("ResourceNotFoundException", "No policy is associated with the given resource.", 404)
    assert refused(lambda: lam.get_layer_version_policy(LayerName=name, VersionNumber=1)) == no_policy
    added = lam.add_layer_version_permission(
        LayerName=name, VersionNumber=1, StatementId="acct", Action="lambda:GetLayerVersion",
        Principal="222222222222",
    )  # fmt: skip
    assert json.loads(added["Statement"]) == {
        "Sid": "acct", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
        "Action": "lambda:GetLayerVersion", "Resource": arn,
    }  # fmt: skip
    org = lam.add_layer_version_permission(
        LayerName=name, VersionNumber=1, StatementId="org", Action="lambda:GetLayerVersion",
        Principal="*", OrganizationId="o-abcdefghij", RevisionId=added["RevisionId"],
    )  # fmt: skip
    assert json.loads(org["Statement"])["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}
    }
    policy = lam.get_layer_version_policy(LayerName=name, VersionNumber=1)
    assert policy["RevisionId"] == org["RevisionId"]
    assert [s["Sid"] for s in json.loads(policy["Policy"])["Statement"]] == ["acct", "org"]

    stale = added["RevisionId"]
    assert refused(
        lambda: lam.add_layer_version_permission(
            LayerName=name, VersionNumber=1, StatementId="x", Action="lambda:GetLayerVersion",
            Principal="*", RevisionId=stale,
        )
    ) == (
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. Call the GetLayerPolicy API to "
        "retrieve the latest Revision Id",
        412,
    )  # fmt: skip
    assert refused(
        lambda: lam.add_layer_version_permission(
            LayerName=name,
            VersionNumber=1,
            StatementId="acct",
            Action="lambda:GetLayerVersion",
            Principal="*",
        )
    ) == (
        "ResourceConflictException",
        "The statement id (acct) provided already exists. Please provide a new statement id, or remove the "
        "existing statement.",
        409,
    )
    lam.remove_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="org")
    assert refused(
        lambda: lam.remove_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="org")
    ) == ("ResourceNotFoundException", "Statement org is not found in resource policy.", 404)
    assert refused(
        lambda: lam.add_layer_version_permission(
            LayerName=name, VersionNumber=9, StatementId="a", Action="lambda:GetLayerVersion", Principal="*"
        )
    ) == ("ResourceNotFoundException", f"Layer version {arn[: arn.rindex(':')]}:9 does not exist.", 404)


def test_bad_layer_zips_get_the_answers_function_code_gets(lam: Any) -> None:
    unzip = (
        "InvalidParameterValueException",
        "Could not unzip uploaded file. Please check your file, then try to upload again.",
        400,
    )
    slip = make_zip({"../../etc/evil": "x"})
    assert (
        refused(lambda: lam.publish_layer_version(LayerName=unique("l"), Content={"ZipFile": slip})) == unzip
    )
    # a symlink, then a file written through it
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        link = zipfile.ZipInfo("python")
        link.external_attr = (0o120777) << 16
        zf.writestr(link, "/tmp")
        zf.writestr("python/evil.py", "x")
    through = buf.getvalue()
    assert (
        refused(lambda: lam.publish_layer_version(LayerName=unique("l"), Content={"ZipFile": through}))
        == unzip
    )
    s3 = {"S3Bucket": "nope", "S3Key": "layer.zip"}
    code, message, _ = refused(lambda: lam.publish_layer_version(LayerName=unique("l"), Content=s3))
    assert code == "InvalidParameterValueException" and "NoSuchBucket" in message


# ------------------------------------------------------------------------------ functions with layers
def own_root(lbx: LocalLambdabox) -> bool:
    """Whether environments have a root of their own here (not the rlimits-only isolation)."""
    with urllib.request.urlopen(f"{lbx.url}/_lambdabox/health") as resp:
        return bool(json.loads(resp.read())["isolation"] != "rlimits")


def test_layers_merge_in_order_at_opt_for_python(lam: Any, lbx: LocalLambdabox) -> None:
    a = publish(
        lam,
        unique("a"),
        {
            "python/shared.py": "WHO = 'a'\n",
            "python/only_a.py": "WHO = 'a'\n",
            "bin/layer-tool": "#!/bin/sh\necho a\n",
        },
    )
    site = {f"python/lib/python{v}/site-packages/from_site.py": "WHO = 'site'\n" for v in PY_VERSIONS}
    b = publish(
        lam, unique("b"), {"python/shared.py": "WHO = 'b'\n", **site, "bin/layer-tool": "#!/bin/sh\necho b\n"}
    )
    name = create(lam, {"app.py": HANDLER}, [a["LayerVersionArn"], b["LayerVersionArn"]])
    cfg = lam.get_function_configuration(FunctionName=name)
    assert cfg["Layers"] == [
        {"Arn": a["LayerVersionArn"], "CodeSize": a["Content"]["CodeSize"]},
        {"Arn": b["LayerVersionArn"], "CodeSize": b["Content"]["CodeSize"]},
    ]
    assert lam.get_function(FunctionName=name)["Configuration"]["Layers"] == cfg["Layers"]
    got = call(lam, name)
    assert got["shared"] == "b"  # the later layer's file wins
    assert got["only_a"] == "a" and got["site"] == "site" and got["tool"] == "b"
    assert got["internal"] == []
    assert got["opt"] == ["bin", "python"]  # the merged tree
    # at /opt with a root of its own; without one (rlimits), the merged tree's host path
    if own_root(lbx):
        assert got["opt_dir"] == "/opt"
    else:
        assert re.fullmatch(r"/.+/opt/[0-9a-f]{64}", got["opt_dir"]), got["opt_dir"]
    assert got["ld"].endswith(f":{got['opt_dir']}/lib")

    # PublishVersion snapshots them; removing the layers from $LATEST leaves the version as it was
    version = lam.publish_version(FunctionName=name)
    assert version["Layers"] == cfg["Layers"]
    lam.update_function_configuration(FunctionName=name, Layers=[a["LayerVersionArn"]])
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert call(lam, name, Qualifier=version["Version"])["shared"] == "b"
    with pytest.raises(AssertionError):
        call(lam, name)  # from_site is gone with layer b
    lam.update_function_configuration(FunctionName=name, Layers=[])
    assert "Layers" not in lam.get_function_configuration(FunctionName=name)


def test_node_requires_from_opt_nodejs_node_modules(lam: Any) -> None:
    layer = publish(
        lam,
        unique("node"),
        {
            "nodejs/node_modules/greet/index.js": "module.exports = () => 'hello from a layer';\n",
            "nodejs/node20/node_modules/versioned/index.js": "module.exports = 'node20';\n",
        },
    )
    code = (
        "exports.handler = async () => ({greet: require('greet')(), "
        "versioned: (() => { try { return require('versioned'); } catch (e) { return null; } })()});\n"
    )
    name = create(
        lam, {"index.js": code}, [layer["LayerVersionArn"]], Runtime="nodejs20.x", Handler="index.handler"
    )
    got = call(lam, name)
    assert got["greet"] == "hello from a layer"
    assert got["versioned"] == "node20"


def test_a_custom_runtime_bootstrap_in_a_layer_runs(lam: Any, lbx: LocalLambdabox) -> None:
    boot = (
        "#!/bin/sh\nset -e\nwhile true; do\n"
        '  H=$(mktemp); curl -sS -D "$H" -o /dev/null "http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation/next"\n'
        "  ID=$(grep -i lambda-runtime-aws-request-id \"$H\" | tr -d '\\r' | cut -d' ' -f2)\n"
        '  curl -sS -X POST -d \'"from /opt/bootstrap"\' "http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation/$ID/response"\n'
        "done\n"
    )
    if not Path("/usr/bin/curl").exists():
        pytest.skip("curl is not installed")
    layer = lam.publish_layer_version(
        LayerName=unique("rt"), Content={"ZipFile": make_zip({"bootstrap": boot}, {"bootstrap": 0o755})}
    )
    name = create(
        lam,
        {"README": "no bootstrap here"},
        [layer["LayerVersionArn"]],
        Runtime="provided.al2023",
        Handler="x",
    )
    assert call(lam, name) == "from /opt/bootstrap"


# ------------------------------------------------------------------------------ bad input
def test_six_layers_and_unknown_versions_are_refused(lam: Any) -> None:
    layer = publish(lam, unique("l"), {"python/x.py": ""})
    arn = layer["LayerVersionArn"]
    six = [publish(lam, unique("l"), {"python/x.py": ""})["LayerVersionArn"] for _ in range(6)]
    expected = ("InvalidParameterValueException", "Cannot reference more than 5 layers.", 400)
    assert refused(lambda: create(lam, {"app.py": HANDLER}, six)) == expected
    name = create(lam, {"app.py": HANDLER}, [arn])
    before = lam.get_function_configuration(FunctionName=name)
    assert refused(lambda: lam.update_function_configuration(FunctionName=name, Layers=six)) == expected
    elsewhere = arn.replace(":us-east-1:", ":eu-west-1:")
    assert refused(lambda: lam.update_function_configuration(FunctionName=name, Layers=[elsewhere])) == (
        "InvalidParameterValueException",
        "Layers are not in the same region as the function. Layers are expected to be in region us-east-1.",
        400,
    )
    twice = [arn, publish(lam, arn.split(":")[6], {"python/x.py": "2"})["LayerVersionArn"]]
    assert refused(lambda: lam.update_function_configuration(FunctionName=name, Layers=twice)) == (
        "InvalidParameterValueException",
        "Two different versions of the same layer are not allowed to be referenced in the same function. "
        f"{twice[0]} and {twice[1]} are versions of the same layer.",
        400,
    )
    missing = arn.rsplit(":", 1)[0] + ":99"
    assert refused(lambda: lam.update_function_configuration(FunctionName=name, Layers=[missing])) == (
        "InvalidParameterValueException", f"Layer version {missing} does not exist.", 400,
    )  # fmt: skip
    after = lam.get_function_configuration(FunctionName=name)
    assert after["Layers"] == before["Layers"] and after["RevisionId"] == before["RevisionId"]


def test_function_and_layers_over_250_mb_unzipped_are_refused(lam: Any) -> None:
    # two layers that unzip to 130 MB each: each is fine alone, together they are over the limit
    big = [
        lam.publish_layer_version(LayerName=unique("big"), Content={"ZipFile": big_zip("zeros.bin", 130)})
        for _ in range(2)
    ]
    arns = [b["LayerVersionArn"] for b in big]
    app = make_zip({"app.py": HANDLER})
    total = 2 * 130 * (1 << 20) + len(HANDLER.encode())
    expected = (
        "InvalidParameterValueException",
        "Function code combined with layers exceeds the maximum allowed size of 262144000 bytes. "
        f"The actual size is {total} bytes.",
        400,
    )
    params = {"Runtime": "python3.12", "Role": ROLE, "Handler": "app.handler", "Code": {"ZipFile": app}}
    name = unique()
    assert refused(lambda: lam.create_function(FunctionName=name, Layers=arns, **params)) == expected
    assert refused(lambda: lam.get_function(FunctionName=name))[0] == "ResourceNotFoundException"
    name = create(lam, {"app.py": HANDLER}, [])
    assert refused(lambda: lam.update_function_configuration(FunctionName=name, Layers=arns)) == expected
    assert "Layers" not in lam.get_function_configuration(FunctionName=name)


def test_another_accounts_layer_needs_its_permission(lam: Any, other: Any) -> None:
    theirs = publish(other, unique("shared"), {"python/shared.py": "WHO = 'other account'\n"})
    arn = theirs["LayerVersionArn"]
    code = "def handler(event, context):\n    import shared\n    return shared.WHO\n"
    denied = (
        "AccessDeniedException",
        f"User: arn:aws:iam::000000000000:root is not authorized to perform: lambda:GetLayerVersion on "
        f"resource: {arn} because no resource-based policy allows the lambda:GetLayerVersion action",
        403,
    )
    assert refused(lambda: create(lam, {"app.py": code}, [arn])) == denied
    assert refused(lambda: lam.get_layer_version_by_arn(Arn=arn)) == denied
    # a statement for an organization grants nothing here (no organizations)
    other.add_layer_version_permission(
        LayerName=theirs["LayerArn"].rsplit(":", 1)[1], VersionNumber=1, StatementId="org",
        Action="lambda:GetLayerVersion", Principal="*", OrganizationId="o-abcdefghij",
    )  # fmt: skip
    assert refused(lambda: create(lam, {"app.py": code}, [arn])) == denied
    other.add_layer_version_permission(
        LayerName=theirs["LayerArn"].rsplit(":", 1)[1], VersionNumber=1, StatementId="mine",
        Action="lambda:GetLayerVersion", Principal="000000000000",
    )  # fmt: skip
    assert lam.get_layer_version_by_arn(Arn=arn)["Version"] == 1
    name = create(lam, {"app.py": code}, [arn])
    assert call(lam, name) == "other account"
    # their own layers are theirs to delete
    code_, _, status = refused(
        lambda: lam.delete_layer_version(LayerName=theirs["LayerArn"], VersionNumber=1)
    )
    assert (code_, status) == ("AccessDeniedException", 403)


def test_a_deleted_layer_version_keeps_working_for_its_functions(lam: Any) -> None:
    layer = publish(lam, unique("gone"), {"python/shared.py": "WHO = 'still here'\n"})
    code = "def handler(event, context):\n    import shared\n    return shared.WHO\n"
    name = create(lam, {"app.py": code}, [layer["LayerVersionArn"]])
    lam.delete_layer_version(LayerName=layer["LayerArn"], VersionNumber=1)
    assert call(lam, name) == "still here"
    assert lam.get_function_configuration(FunctionName=name)["Layers"][0]["Arn"] == layer["LayerVersionArn"]
    # a new configuration cannot name it any more
    assert refused(lambda: create(lam, {"app.py": code}, [layer["LayerVersionArn"]]))[0] == (
        "InvalidParameterValueException"
    )


def test_layers_survive_a_restart(tmp_path: Path) -> None:
    code = "def handler(event, context):\n    import shared\n    return shared.WHO\n"
    with LocalLambdabox(tmp_path / "data") as first:
        lam = first.client("lambda")
        layer = publish(lam, "kept", {"python/shared.py": "WHO = 'after a restart'\n"})
        name = create(lam, {"app.py": code}, [layer["LayerVersionArn"]])
        lam.delete_layer_version(LayerName="kept", VersionNumber=1)
    with LocalLambdabox(tmp_path / "data") as second:
        lam = second.client("lambda")
        assert call(lam, name) == "after a restart"
        assert publish(lam, "kept", {"python/shared.py": ""})["Version"] == 2
