"""The seccomp filter every environment runs under: what no function needs is refused.

Built once per server with libseccomp (through pyseccomp, a ctypes binding) and exported as a
BPF program that the spawner hands to each child (confine.py installs it just before exec, after
``no_new_privs``). The filter allows everything by default and answers ``EPERM`` for the calls
that would let code change the machine or leave its box: mounting and namespaces (mount,
umount, pivot_root, the new mount API, unshare, setns, clone with ``CLONE_NEWUSER``, clone3,
which hides its flags from the filter and so answers ``ENOSYS`` to make libc fall back to clone),
tracing and other processes' memory (ptrace, process_vm_*, pidfd_getfd, kcmp), the kernel
itself (modules, kexec, reboot, swap, bpf, perf_event_open, keyrings, syslog, clock and
time setting, quotas, acct, iopl/ioperm, open_by_handle_at), and io_uring (which bypasses
seccomp for the calls it makes). The pid namespace, the uid and the empty capability set do the
rest: most of these would already fail for an unprivileged user, the filter makes sure.
Syscalls of a foreign architecture (x32, i386 on x86_64) kill the process: libseccomp's default.
"""

from __future__ import annotations

import errno
import logging
import tempfile

log = logging.getLogger("lambdabox.sandbox")

DENIED = (
    "mount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick",
    "move_mount", "open_tree", "mount_setattr", "unshare", "setns",
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot",
    "swapon", "swapoff", "bpf", "perf_event_open", "keyctl", "add_key", "request_key",
    "syslog", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "quotactl", "acct",
    "iopl", "ioperm", "open_by_handle_at", "name_to_handle_at", "lookup_dcookie", "uselib",
    "userfaultfd", "vhangup", "io_uring_setup", "io_uring_enter", "io_uring_register",
)  # fmt: skip
CLONE_NEWUSER = 0x10000000


def compile_filter() -> bytes | None:
    """The BPF program, or None when libseccomp is not installed (logged once)."""
    try:
        import pyseccomp as sc
    except (ImportError, OSError) as exc:  # the binding loads libseccomp.so.2 at import
        log.warning("sandbox: no seccomp filter (libseccomp not available: %s)", exc)
        return None
    f = sc.SyscallFilter(sc.ALLOW)
    for name in DENIED:
        try:
            f.add_rule(sc.ERRNO(errno.EPERM), name)
        except (OSError, ValueError, RuntimeError):  # unknown to this libseccomp: no such call here
            log.debug("sandbox: seccomp does not know %s", name)
    f.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER))
    f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    with tempfile.TemporaryFile() as fh:
        f.export_bpf(fh)
        fh.seek(0)
        return fh.read()
