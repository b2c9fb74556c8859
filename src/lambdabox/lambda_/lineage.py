"""The lineage of an invocation: how often each function has run in one chain of invocations
caused by the same triggering event (Lambda's recursive loop detection).

Lambda carries it in the X-Ray trace header, `Root=1-…;Parent=…;Sampled=0;Lineage=<hash>:<count>`,
several functions' entries joined by `|` (`Lineage=1a2b3c4d:3|5e6f7a8b:2`); `<hash>` is 8 hex
digits naming a function (all its versions and aliases alike), `<count>` how many of its
invocations the chain holds. A function's runtime puts the header of its invocation into
`_X_AMZN_TRACE_ID`, and the AWS SDKs inside it send that as `X-Amzn-Trace-Id` on every call (botocore
percent-encodes the `|`), so an Invoke it makes — or a destination record its event leads to —
continues the chain. After `MAX_INVOCATIONS` invocations of one function in a chain, the next is
stopped (unless the function's recursion config allows loops).

Pure: parsing is lenient (an entry that is not `<8 hex>:<digits>` is ignored, so a bad header
never fails a request) and bounded (at most `MAX_ENTRIES` entries are kept).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import unquote

#: AWS: the invocation after a function's 16th in one chain is stopped
MAX_INVOCATIONS = 16
#: the entries a lineage keeps (the functions of one chain); more are dropped, oldest first
MAX_ENTRIES = 32
_ENTRY = re.compile(r"([0-9a-f]{8}):([0-9]{1,9})")


def function_hash(region: str, account: str, name: str) -> str:
    """The 8 hex digits that name a function in a lineage (the same for each of its qualifiers)."""
    return hashlib.sha256(f"{region}:{account}:{name}".encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Lineage:
    """(function hash, count) entries, in the order the functions joined the chain."""

    entries: tuple[tuple[str, int], ...] = ()

    @classmethod
    def parse(cls, value: str | None) -> Lineage:
        """A lineage as written (`h:c|h:c`); empty for None or nothing readable."""
        counts: dict[str, int] = {}
        for part in (value or "").split("|"):
            m = _ENTRY.fullmatch(part.strip())
            if m is not None:
                counts[m.group(1)] = max(counts.get(m.group(1), 0), int(m.group(2)))
        return cls(tuple(counts.items())[-MAX_ENTRIES:])

    @classmethod
    def of_trace_header(cls, header: str | None) -> Lineage:
        """The lineage of an X-Amzn-Trace-Id header (percent-encoded or not); empty without one."""
        for field in unquote(header or "").split(";"):
            key, _, value = field.partition("=")
            if key.strip() == "Lineage":
                return cls.parse(value)
        return cls()

    def count(self, fn_hash: str) -> int:
        """How many invocations of the function the chain holds."""
        return next((c for h, c in self.entries if h == fn_hash), 0)

    def stops(self, fn_hash: str) -> bool:
        """Whether one more invocation of the function would be a recursive loop's."""
        return self.count(fn_hash) >= MAX_INVOCATIONS

    def incremented(self, fn_hash: str) -> Lineage:
        """The lineage of one more invocation of the function (the other entries kept)."""
        if any(h == fn_hash for h, _ in self.entries):
            return Lineage(tuple((h, c + 1 if h == fn_hash else c) for h, c in self.entries))
        return Lineage((*self.entries, (fn_hash, 1))[-MAX_ENTRIES:])

    def __str__(self) -> str:
        return "|".join(f"{h}:{c}" for h, c in self.entries)

    def in_trace_header(self, trace_id: str) -> str:
        """`trace_id` (an X-Ray trace header) with this lineage as its Lineage field."""
        return f"{trace_id};Lineage={self}" if self.entries else trace_id


NO_LINEAGE = Lineage()
