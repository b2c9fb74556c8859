"""Published versions: PublishVersion, ListVersionsByFunction, and publishing on create/update.

A version is an immutable snapshot of `$LATEST`'s code and configuration, numbered from 1; the
numbers of deleted versions are never given again. Publishing `$LATEST` unchanged since the last
version gives that version back, as AWS does. Each version runs in environments of its own (the
invoker pools by version ARN), so updating `$LATEST` never touches a version's environments.
"""

from __future__ import annotations

from lambdabox.aws import ids
from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import client_error
from lambdabox.lambda_ import store as sql
from lambdabox.lambda_.base import LambdaOperations, Params, Result
from lambdabox.lambda_.models import FunctionConfig, same_content
from lambdabox.lambda_.paging import page
from lambdabox.lambda_.records import FunctionRecord


def version_key(cfg: FunctionConfig) -> str:
    """Orders `$LATEST` before the versions, and versions by number, as strings."""
    return "0" if not cfg.published else f"1{int(cfg.version):012d}"


class VersionOperations(LambdaOperations):
    """Publishing and listing a function's versions."""

    def _next_version(self, rec: FunctionRecord, description: str | None) -> FunctionConfig | None:
        """The version publishing `rec.latest` makes now, or None when the last version is the
        same as `$LATEST` (AWS then answers with that version)."""
        if rec.versions:
            last = rec.versions[max(rec.versions)]
            if same_content(last, rec.latest):
                return None
        latest = rec.latest
        return latest.replace(
            version=str(rec.last_version + 1),
            description=latest.description if description is None else description,
            revision_id=ids.revision_id(),
            last_modified=latest.last_modified,
            state="Active",
            last_update_status="Successful",
        )

    def _published(self, rec: FunctionRecord, version: FunctionConfig) -> None:
        """Take a committed new version in memory."""
        rec.versions[int(version.version)] = version
        rec.last_version = int(version.version)

    def _publish_write(
        self, latest: FunctionConfig, version: FunctionConfig
    ) -> tuple[FunctionConfig, sql.Write]:
        """What publishing `version` of `latest` stores: the version, and `$LATEST` under a new
        revision (publishing is a change of `$LATEST`'s, as on AWS)."""
        latest = latest.replace(revision_id=ids.revision_id())
        return latest, sql.all_of(sql.update(latest), sql.publish(version))

    async def PublishVersion(self, ctx: RequestContext, params: Params) -> Result:
        rec = self._unqualified(ctx, params["FunctionName"])
        key = rec.key
        async with self._lock(key):
            rec = self._current(key, rec.latest.arn)
            latest = rec.latest
            self._check_revision(latest.revision_id, params)
            sha = params.get("CodeSha256")
            if sha is not None and sha != latest.code_sha256:
                raise client_error(
                    "InvalidParameterValueException",
                    f"CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST "
                    f"({latest.code_sha256}). Please try again with the CodeSHA256 in $LATEST.",
                    Type="User",
                )
            version = self._next_version(rec, params.get("Description"))
            if version is None:  # unchanged since: that version, as it is (Description ignored)
                version = rec.versions[max(rec.versions)]
                return version.to_api(version.version)
            new_latest, write = self._publish_write(latest, version)
            await self._store.write(write)
            self._published(rec, version)
            rec.latest = new_latest
            self._invoker.adopt(latest, new_latest)
        return version.to_api(version.version)

    async def ListVersionsByFunction(self, ctx: RequestContext, params: Params) -> Result:
        rec = self._record(ctx, params["FunctionName"])
        return page(
            "Versions",
            rec.all_versions(),
            params,
            version_key,
            lambda c: listed(c.to_api(c.version)),
            most=50,
        )


#: what AWS leaves out of FunctionConfigurations in lists (GetFunction has them)
_NOT_LISTED = ("State", "StateReason", "StateReasonCode", "LastUpdateStatus", "RuntimeVersionConfig")


def listed(config: Result) -> Result:
    """A FunctionConfiguration as ListFunctions and ListVersionsByFunction give it."""
    for key in _NOT_LISTED:
        config.pop(key, None)
    return config
