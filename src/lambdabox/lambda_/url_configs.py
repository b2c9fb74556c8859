"""Function URL configurations: CreateFunctionUrlConfig, GetFunctionUrlConfig,
UpdateFunctionUrlConfig, DeleteFunctionUrlConfig, ListFunctionUrlConfigs (kept by
`url_index.FunctionUrls`).

A URL belongs to the function itself or to one of its aliases (the model's qualifier pattern
already refuses `$LATEST` and version numbers); one per function or alias. Its url-id is 32
random lowercase letters and digits, and the URL answers at
`http://<url-id>.lambda-url.<region>.localhost:<port>/` (and at the path form
`http://localhost:<port>/_urls/<url-id>/`). Deleting the function or the alias deletes its URL
(`forget`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from lambdabox.aws.arns import function_arn
from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.lambda_.base import Key, LambdaOperations, Params, Result
from lambdabox.lambda_.paging import page
from lambdabox.lambda_.url_index import FunctionUrls, new_url_id
from lambdabox.lambda_.url_store import UrlConfig

_CORS_FIELDS = ("AllowCredentials", "AllowHeaders", "AllowMethods", "AllowOrigins", "ExposeHeaders", "MaxAge")
_METHODS = frozenset({"GET", "PUT", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS", "*"})


def _timestamp(epoch: float) -> str:
    """CreationTime / LastModifiedTime as Lambda gives them: 2021-12-01T12:00:00.000000Z."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _not_found() -> ServiceError:
    return client_error(
        "ResourceNotFoundException", "The resource you requested does not exist.", 404, Type="User"
    )


def _cors(params: Params) -> dict[str, Any] | None:
    """The request's Cors as stored (None: no CORS), after Lambda's own checks of it."""
    raw = params.get("Cors")
    if raw is None:
        return None
    cors = {k: raw[k] for k in _CORS_FIELDS if raw.get(k) is not None}
    for method in cors.get("AllowMethods", []):
        if method.upper() not in _METHODS:
            raise client_error(
                "InvalidParameterValueException",
                f"Invalid value for Cors.AllowMethods: {method}. Allowed values: "
                "GET, PUT, HEAD, POST, PATCH, DELETE, OPTIONS, *",
                Type="User",
            )
    if "AllowMethods" in cors:
        cors["AllowMethods"] = [m.upper() for m in cors["AllowMethods"]]
    return cors or None


class UrlConfigOperations(LambdaOperations):
    """The function URL configurations of functions and their aliases."""

    @property
    def _urls(self) -> FunctionUrls:
        urls = self._deps.urls
        if urls is None:
            raise client_error("ServiceException", "Function URLs are not available.", 500)
        return urls

    def _url_target(self, ctx: RequestContext, params: Params) -> tuple[Key, str, str]:
        """(function key, qualifier or "", the ARN as qualified) of an existing function or alias."""
        target = self._target(ctx, params["FunctionName"], params.get("Qualifier"))
        q = target.qualifier or ""
        if q and target.alias is None:  # a version named in FunctionName (`name:3`)
            raise _not_found()
        return target.key, q, target.arn

    def _render_url(self, cfg: UrlConfig, *, created: bool = False) -> Result:
        out: Result = {
            "FunctionUrl": self._urls.url(cfg),
            "FunctionArn": function_arn(cfg.region, cfg.account, cfg.function, cfg.qualifier or None),
            "AuthType": cfg.auth_type,
            "CreationTime": _timestamp(cfg.created),
            "InvokeMode": cfg.invoke_mode,
        }
        if cfg.cors is not None:
            out["Cors"] = cfg.cors
        if not created:
            out["LastModifiedTime"] = _timestamp(cfg.modified)
        return out

    async def CreateFunctionUrlConfig(self, ctx: RequestContext, params: Params) -> Result:
        key, q, arn = self._url_target(ctx, params)
        async with self._lock(key):
            self._current(key, arn)
            if self._urls.get(key, q) is not None:
                raise client_error(
                    "ResourceConflictException",
                    f"Failed to create function url config for [functionArn = {arn}]. Error message:  "
                    "FunctionUrlConfig exists for this Lambda function",
                    409,
                    Type="User",
                )
            now = self._clock.now()
            cfg = UrlConfig(*key, q, new_url_id(), params["AuthType"], _cors(params),
                            params.get("InvokeMode") or "BUFFERED", now, now)  # fmt: skip
            await self._urls.put(cfg)
        return self._render_url(cfg, created=True)

    async def GetFunctionUrlConfig(self, ctx: RequestContext, params: Params) -> Result:
        key, q, _arn = self._url_target(ctx, params)
        cfg = self._urls.get(key, q)
        if cfg is None:
            raise _not_found()
        return self._render_url(cfg)

    async def UpdateFunctionUrlConfig(self, ctx: RequestContext, params: Params) -> Result:
        key, q, arn = self._url_target(ctx, params)
        async with self._lock(key):
            self._current(key, arn)
            cfg = self._urls.get(key, q)
            if cfg is None:
                raise _not_found()
            cors = cfg.cors if params.get("Cors") is None else _cors(params)
            cfg = UrlConfig(*key, q, cfg.url_id, params.get("AuthType") or cfg.auth_type, cors,
                            params.get("InvokeMode") or cfg.invoke_mode, cfg.created, self._clock.now())  # fmt: skip
            await self._urls.put(cfg)
        return self._render_url(cfg)

    async def DeleteFunctionUrlConfig(self, ctx: RequestContext, params: Params) -> Result:
        key, q, arn = self._url_target(ctx, params)
        async with self._lock(key):
            self._current(key, arn)
            if self._urls.get(key, q) is None:
                raise _not_found()
            await self._urls.forget(key, q)
        return {}

    async def ListFunctionUrlConfigs(self, ctx: RequestContext, params: Params) -> Result:
        rec = self._record(ctx, params["FunctionName"])
        configs = sorted(self._urls.of_function(rec.key), key=lambda c: c.qualifier)
        return page("FunctionUrlConfigs", configs, params, lambda c: c.qualifier or " ", self._render_url)
