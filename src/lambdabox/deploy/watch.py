"""--watch: call back with the changed files each time a project's sources are saved.

watchfiles (inotify underneath) groups the changes of one save: it yields once no new change came
for `STEP_MS`, so an editor's write-rename-chmod sequence is one reload. The directories nobody
edits by hand stay ignored (watchfiles' defaults: .git, node_modules, __pycache__, ...; plus what
deploy itself writes: .lambdabox, and the frameworks' .serverless and .aws-sam).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import watchfiles

STEP_MS = 50  # quiet time that ends a save's group of changes
DEBOUNCE_MS = 400  # the longest a group of changes is held back
IGNORED_DIRS = (".lambdabox", ".serverless", ".aws-sam")


class _Filter(watchfiles.DefaultFilter):
    ignore_dirs = (*watchfiles.DefaultFilter.ignore_dirs, *IGNORED_DIRS)


def watch(
    paths: Iterable[Path],
    on_change: Callable[[set[Path]], None],
    *,
    stop: threading.Event | None = None,
) -> None:
    """Block, calling `on_change` with the changed files after each save, until `stop` is set
    (or Ctrl-C)."""
    roots = sorted({p.resolve() for p in paths})
    for changes in watchfiles.watch(
        *roots,
        watch_filter=_Filter(),
        step=STEP_MS,
        debounce=DEBOUNCE_MS,
        stop_event=stop,
        raise_interrupt=False,
    ):
        on_change({Path(path) for _, path in changes})
