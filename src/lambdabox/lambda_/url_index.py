"""`FunctionUrls`: every function URL in memory, by function (and qualifier) and by url-id, for the
operations and the URL data plane; its writes go to the store first (`url_store.py`) and it is
rebuilt from the store on start."""

from __future__ import annotations

import secrets
import string
from urllib.parse import urlsplit

from lambdabox.lambda_ import url_store as sql
from lambdabox.lambda_.url_store import UrlConfig
from lambdabox.store.db import Store

_ALPHABET = string.ascii_lowercase + string.digits
Key = tuple[str, str, str]


def new_url_id() -> str:
    """A url-id as Lambda makes them: 32 random lowercase letters and digits."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(32))


class FunctionUrls:
    """Every function URL, indexed by (function key, qualifier) and by url-id; writes go to the store."""

    def __init__(self, store: Store, endpoint_url: str) -> None:
        self._store = store
        self._port = urlsplit(endpoint_url).port or 80
        self._by_target: dict[tuple[str, str, str, str], UrlConfig] = {}
        self._by_id: dict[str, UrlConfig] = {}

    async def load(self) -> None:
        for cfg in await self._store.read(sql.load_all):
            self._index(cfg)

    def _index(self, cfg: UrlConfig) -> None:
        self._by_target[(*cfg.key, cfg.qualifier)] = cfg
        self._by_id[cfg.url_id] = cfg

    def url(self, cfg: UrlConfig) -> str:
        return f"http://{cfg.url_id}.lambda-url.{cfg.region}.localhost:{self._port}/"

    def get(self, key: Key, qualifier: str) -> UrlConfig | None:
        return self._by_target.get((*key, qualifier))

    def by_id(self, url_id: str) -> UrlConfig | None:
        return self._by_id.get(url_id)

    def of_function(self, key: Key) -> list[UrlConfig]:
        return [c for c in self._by_target.values() if c.key == key]

    async def put(self, cfg: UrlConfig) -> None:
        await self._store.write(sql.put(cfg))
        old = self._by_target.get((*cfg.key, cfg.qualifier))
        if old is not None:
            self._by_id.pop(old.url_id, None)
        self._index(cfg)

    async def forget(self, key: Key, qualifier: str | None = None) -> None:
        """Delete the URL of `qualifier` ("" the function's own), or (None) every one of the function."""
        gone = [c for c in self.of_function(key) if qualifier is None or c.qualifier == qualifier]
        if not gone:
            return
        await self._store.write(sql.delete(*key, qualifier))
        for c in gone:
            self._by_target.pop((*c.key, c.qualifier), None)
            self._by_id.pop(c.url_id, None)
