"""The in-memory view of one function: `$LATEST`, published versions, aliases, policies, tags,
asynchronous invocation configurations and recursive loop detection.

`LambdaService` keeps one `FunctionRecord` per function, written through to the store (the
truth) and rebuilt from it at start, so that reading a function or resolving a qualifier never
touches SQLite. Records are changed only under the function's lock, after the store committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lambdabox.lambda_.models import LATEST, Alias, EventInvokeConfig, FunctionConfig
from lambdabox.lambda_.store import StoredFunction

#: the values of a function's recursive loop detection
ALLOW, TERMINATE = "Allow", "Terminate"


def is_version_number(qualifier: str) -> bool:
    """Whether a qualifier is a version number as Lambda writes them: ASCII digits, no leading
    zero ("03" names no version: it is not how version 3 is written)."""
    return qualifier.isascii() and qualifier.isdigit() and str(int(qualifier)) == qualifier


@dataclass
class FunctionRecord:
    """One function and everything that belongs to it."""

    latest: FunctionConfig
    tags: dict[str, str] = field(default_factory=dict)
    #: the highest version number ever published (never reused)
    last_version: int = 0
    versions: dict[int, FunctionConfig] = field(default_factory=dict)
    aliases: dict[str, Alias] = field(default_factory=dict)
    #: qualifier ("" for the function itself) → its policy statements, in order
    policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: qualifier (`$LATEST`, a version number or an alias name) → its event invoke configuration
    event_configs: dict[str, EventInvokeConfig] = field(default_factory=dict)
    #: its recursive loop detection (PutFunctionRecursionConfig): Terminate (the default) or Allow
    recursive_loop: str = TERMINATE

    @classmethod
    def from_stored(cls, stored: StoredFunction) -> FunctionRecord:
        return cls(
            latest=stored.latest,
            tags=dict(stored.tags),
            last_version=stored.last_version,
            versions={int(v.version): v for v in stored.versions},
            aliases={a.name: a for a in stored.aliases},
            policies={q: list(s) for q, s in stored.policies.items()},
            event_configs={c.qualifier: c for c in stored.event_configs},
            recursive_loop=stored.recursive_loop or TERMINATE,
        )

    @property
    def key(self) -> tuple[str, str, str]:
        """(region, account, name): how the service and the store name the function."""
        return (self.latest.region, self.latest.account, self.latest.name)

    def version(self, qualifier: str) -> FunctionConfig | None:
        """`$LATEST` or a published version by its number, or None."""
        if qualifier == LATEST:
            return self.latest
        if is_version_number(qualifier):
            return self.versions.get(int(qualifier))
        return None

    def all_versions(self) -> list[FunctionConfig]:
        """`$LATEST` then the published versions, oldest first."""
        return [self.latest, *(self.versions[n] for n in sorted(self.versions))]

    def aliases_of(self, version: str) -> list[str]:
        """The aliases that route to `version`, primary or additional."""
        return sorted(a.name for a in self.aliases.values() if a.routes_to(version))

    def code_size(self) -> int:
        """The code this function stores: `$LATEST` and every published version."""
        return sum(c.code_size for c in self.all_versions())
