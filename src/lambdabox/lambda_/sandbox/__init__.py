"""The sandbox: execution environments as on Lambda, confined against each other and the host.

Threat model: function code is hostile and comes from several users sharing one host. No
environment may see, change or take over another's code, secrets, events or processes, nor the
server, its data dir or the host's files.

Public interface (everything else in the package is its machinery):

- `Sandbox` (manager.py): one per server; `start()` detects what the machine allows
  (``isolation``: full | userns | rlimits; ``mode``: the cgroup flavour), `spawn(SandboxSpec)`
  starts one environment, `view()` says where things are as environments see them, `owns_uid()`
  tells whether a socket's or process's uid is an environment's.
- `SandboxProcess` (process.py): one environment's processes: wait, measure, kill, clean up.
- `SandboxSpec`, `View`, `ExitInfo`, `SpawnError`, `SandboxError`, `runtime_memory_args`.

What confines what, in full mode (lambdabox as root):
- users.py: a uid of its own per environment (files, signals, ptrace, /proc, RLIMIT_NPROC and
  socket ownership then separate environments); no capabilities, ``no_new_privs``;
- confine.py (in the forked child): pid, ipc, uts, cgroup and mount namespaces (and network for
  ``--function-network none``), the root from rootfs.py (code at /var/task read-only, runtime
  clients and SDKs at /var/runtime, empty /opt, sized private /tmp, minimal /dev, own /proc;
  nothing of the data dir, other functions, /root or /home), rlimits;
- seccomp.py: the calls no function needs (mount, namespaces, ptrace, kernel modules, bpf ...);
- cgroups.py: memory, CPU and pids;
- spawner.py/channel.py: the helper that forks environments and kills them all when the server
  exits, however it exits.
The Runtime API answers only its own environment (runtime_api.py checks the connecting socket's
uid, or listens inside the environment's network namespace), and lambdabox's internal endpoints
refuse environments (edge.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lambdabox.lambda_.sandbox.channel import SandboxError
    from lambdabox.lambda_.sandbox.manager import (
        Isolation,
        Mode,
        Network,
        Sandbox,
        SandboxSpec,
        SpawnError,
        View,
        runtime_memory_args,
    )
    from lambdabox.lambda_.sandbox.process import ExitInfo, SandboxProcess

__all__ = [
    "ExitInfo",
    "Isolation",
    "Mode",
    "Network",
    "Sandbox",
    "SandboxError",
    "SandboxProcess",
    "SandboxSpec",
    "SpawnError",
    "View",
    "runtime_memory_args",
]

_WHERE = {"SandboxError": "channel", "ExitInfo": "process", "SandboxProcess": "process"}


def __getattr__(name: str) -> Any:
    """Lazy exports: the spawner imports this package's mechanism modules without pulling in
    asyncio (which would make each of its forks slower)."""
    if name not in __all__:
        raise AttributeError(name)
    import importlib

    module = importlib.import_module(f"{__name__}.{_WHERE.get(name, 'manager')}")
    return getattr(module, name)
