"""Limits for an untrusted process: resource limits, a death signal, and a Landlock file-system sandbox (Linux).

The grader runs each submission in a Jupyter kernel started by :mod:`course_lib.grading.launcher`, which calls
:func:`confine` before the kernel imports anything the learner wrote. :func:`confine` applies, in this order:

- ``RLIMIT_DATA`` (the heap and private anonymous mappings, where tensors live). ``RLIMIT_AS`` is not used: importing
  a CUDA build of torch reserves several GiB of address space, so an address-space limit small enough to matter
  breaks ``import torch``. A memory-hungry learner function therefore sees ``MemoryError`` or torch's "can't allocate
  memory" as an ordinary exception. Shared mappings escape ``RLIMIT_DATA``: the grader also watches the kernel's
  resident memory from outside and kills it past a limit (:mod:`course_lib.grading.nbval_plugin`);
- ``RLIMIT_FSIZE`` (the largest file it may write; ``SIGXFSZ`` is ignored so that a write past it fails with an
  ``OSError`` instead of killing the kernel) and ``RLIMIT_CORE = 0``;
- ``PR_SET_PDEATHSIG``: the kernel is killed when the process that started it (the grader's pytest) exits, so a
  kernel stuck in an endless loop never outlives its submission's time limit;
- Landlock (Linux 5.13 and later; :func:`landlock_abi` says which version the running kernel offers): the process
  and every child it starts may write only under the submission's own folder, may read only that folder and what a
  Python kernel needs (:func:`python_readable`: the system folders, the interpreter, site-packages, the imported
  packages' folders), so not the grader's work folder (the other submissions, the grader's private files), not the
  home folder (the grader's secret key, anyone's credentials), not the reference solutions; and, from Landlock ABI 6,
  it may not send signals to processes outside its sandbox (no ``os.kill`` of the grader or of another submission's
  kernel). Ptrace of processes outside the sandbox is refused by Landlock itself.

Everything here is best effort where the operating system says no: :func:`confine` returns what it applied, and the
grader reports a missing Landlock in its summary (run it in a container on systems without it).
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Confinement", "confine", "kernel_readable", "landlock_abi", "python_readable", "restrict_network",
           "set_limits"]

# Landlock constants (linux/landlock.h).
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS, _PR_SET_PDEATHSIG = 38, 1

_FS_EXECUTE = 1 << 0
_FS_WRITE_FILE = 1 << 1
_FS_READ_FILE = 1 << 2
_FS_READ_DIR = 1 << 3
_FS_REMOVE_DIR = 1 << 4
_FS_REMOVE_FILE = 1 << 5
_FS_MAKE_CHAR = 1 << 6
_FS_MAKE_DIR = 1 << 7
_FS_MAKE_REG = 1 << 8
_FS_MAKE_SOCK = 1 << 9
_FS_MAKE_FIFO = 1 << 10
_FS_MAKE_BLOCK = 1 << 11
_FS_MAKE_SYM = 1 << 12
_FS_REFER = 1 << 13          # ABI 2
_FS_TRUNCATE = 1 << 14       # ABI 3
_FS_IOCTL_DEV = 1 << 15      # ABI 5
_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0   # ABI 6
_SCOPE_SIGNAL = 1 << 1                 # ABI 6

_FILE_ONLY = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def landlock_abi() -> int:
    """The Landlock ABI version the running Linux kernel offers, 0 when it has none (or this is not Linux)."""
    try:
        libc = _libc()
        abi = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return int(abi) if abi > 0 else 0


def _fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1                    # ABI 1: bits 0-12
    if abi >= 2:
        rights |= _FS_REFER
    if abi >= 3:
        rights |= _FS_TRUNCATE
    if abi >= 5:
        rights |= _FS_IOCTL_DEV
    return rights


@dataclass
class Confinement:
    """What :func:`confine` applied (for the grader's report)."""

    limits: dict[str, int] = field(default_factory=dict)
    landlock_abi: int = 0
    landlock: bool = False
    problems: list[str] = field(default_factory=list)


def set_limits(memory_mb: int | None, file_mb: int | None, report: Confinement | None = None) -> Confinement:
    """Apply ``RLIMIT_DATA`` (``memory_mb``), ``RLIMIT_FSIZE`` (``file_mb``) and ``RLIMIT_CORE = 0`` to this process.

    A limit is only ever lowered (a hard limit already below the request is kept).
    """
    report = report or Confinement()
    for name, mb in (("RLIMIT_DATA", memory_mb), ("RLIMIT_FSIZE", file_mb), ("RLIMIT_CORE", 0)):
        if mb is None:
            continue
        which = getattr(resource, name)
        value = int(mb) << 20
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        try:
            resource.setrlimit(which, (value, value))
            report.limits[name] = value
        except (ValueError, OSError) as err:
            report.problems.append(f"{name}: {err}")
    if file_mb is not None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past RLIMIT_FSIZE fails with EFBIG instead of killing
    return report


def _add_rule(libc: ctypes.CDLL, ruleset: int, path: str, access: int) -> bool:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            access &= _FILE_ONLY
        attr = _PathBeneathAttr(access, fd)
        return libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH),
                            ctypes.byref(attr), ctypes.c_uint32(0)) == 0
    finally:
        os.close(fd)


SYSTEM_READABLE = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc", "/proc", "/sys", "/dev")


def python_readable() -> list[str]:
    """What a Python kernel of this interpreter must be able to read: the system folders of
    :data:`SYSTEM_READABLE`, the interpreter's prefixes, the folders of ``sys.path`` (site-packages), and the folder
    of every package imported so far (packages installed in editable mode live outside site-packages).

    Nothing else: not the home folder (keys, the grader's secret key), not ``/tmp``, not the repository beyond the
    ``course_lib`` package (its ``solutions/`` stay unreadable).
    """
    import sys

    paths = set(SYSTEM_READABLE)
    for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        paths.add(prefix)
    paths.update(p for p in sys.path if p and os.path.isdir(p) and os.path.isabs(p) and p != os.getcwd())
    for name, module in list(sys.modules.items()):
        if "." in name or module is None:
            continue
        file = getattr(module, "__file__", None)
        if file and os.path.basename(file) == "__init__.py":
            paths.add(os.path.dirname(file))
    return sorted(str(Path(p).resolve()) for p in paths if os.path.exists(p))


def kernel_readable(extra: list[Path], hidden: list[Path]) -> list[str]:
    """What a graded kernel may read: :func:`python_readable` and ``extra`` (the grading build), without anything
    under ``hidden`` (the installed ``course_lib``, the repository it lives in).

    Landlock rules only allow, so a readable folder that holds a hidden one (``site-packages`` holding a
    non-editable install of ``course_lib``) is replaced by its entries, down to the hidden folder, which is left out.
    A readable folder under a hidden one (the repository's ``.venv``) stays readable.
    """
    hidden = [h.resolve() for h in hidden]

    def expand(path: Path) -> list[Path]:
        if any(path == h for h in hidden):
            return []
        if not any(path in h.parents for h in hidden):
            return [path]
        out: list[Path] = []
        try:
            children = sorted(path.iterdir())
        except OSError:
            return []
        for child in children:
            out += expand(child)
        return out

    keep: set[Path] = set()
    venv = Path(sys.prefix).resolve()
    for raw in [*python_readable(), *map(str, extra)]:
        path = Path(raw).resolve()
        under_hidden = any(h == path or h in path.parents for h in hidden)
        if under_hidden and not (path == venv or venv in path.parents) and path not in [Path(e).resolve() for e in extra]:
            continue  # e.g. the repository's tests/ (put on sys.path by a test) or the package itself
        keep.update(expand(path))
    return sorted(str(p) for p in keep)


def _landlock(readable: list[str], writable: list[Path], abi: int, report: Confinement) -> None:
    libc = _libc()
    handled = _fs_rights(abi)
    scoped = (_SCOPE_SIGNAL | _SCOPE_ABSTRACT_UNIX_SOCKET) if abi >= 6 else 0
    attr = _RulesetAttr(handled, 0, scoped)
    # Older kernels know fewer fields; they accept the larger struct because the extra fields are zero.
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)),
                           ctypes.c_uint32(0))
    if ruleset < 0:
        report.problems.append(f"landlock_create_ruleset failed: {os.strerror(ctypes.get_errno())}")
        return
    try:
        read = (_FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR | (_FS_IOCTL_DEV if abi >= 5 else 0)) & handled
        for path in readable:
            _add_rule(libc, ruleset, path, read)
        for path in writable:
            if not _add_rule(libc, ruleset, str(path), handled):
                report.problems.append(f"landlock: cannot allow writing under {path}")
        _add_rule(libc, ruleset, "/dev/null", (_FS_READ_FILE | _FS_WRITE_FILE | _FS_TRUNCATE) & handled)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            report.problems.append(f"prctl(NO_NEW_PRIVS) failed: {os.strerror(ctypes.get_errno())}")
            return
        if libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            report.problems.append(f"landlock_restrict_self failed: {os.strerror(ctypes.get_errno())}")
            return
        report.landlock = True
    finally:
        os.close(ruleset)


_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1   # ABI 4


def restrict_network(report: Confinement | None = None) -> Confinement:
    """Deny this process (and its future children) every TCP ``bind`` and ``connect`` (Landlock ABI 4 and later).

    Applied by the launcher once the kernel has bound its own ports: sockets already bound or connected keep
    working, no new one can reach localhost listeners (other kernels, the grader's services) or the network.
    UDP and Unix sockets with a path are not covered by Landlock (pathname sockets need write access to a folder
    where the sandbox has none outside its own).
    """
    report = report or Confinement()
    abi = landlock_abi()
    report.landlock_abi = abi
    if abi < 4:
        report.problems.append(f"Landlock ABI {abi} has no network rules: TCP connections are not confined")
        return report
    libc = _libc()
    attr = _RulesetAttr(0, _NET_BIND_TCP | _NET_CONNECT_TCP, 0)
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)),
                           ctypes.c_uint32(0))
    if ruleset < 0:
        report.problems.append(f"landlock network ruleset failed: {os.strerror(ctypes.get_errno())}")
        return report
    try:
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or \
                libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            report.problems.append(f"landlock network restriction failed: {os.strerror(ctypes.get_errno())}")
        else:
            report.limits["network"] = 0
    finally:
        os.close(ruleset)
    return report


def _private_proc(readable: list[str]) -> list[str]:
    """``readable`` with ``/proc`` narrowed to this process's own entries and a few system-wide files: other
    processes' command lines and status (the grader's, other kernels') are not readable."""
    if "/proc" not in readable:
        return readable
    own = [f"/proc/{os.getpid()}", "/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/sys", "/proc/filesystems",
           "/proc/loadavg", "/proc/uptime", "/proc/version", "/proc/self"]
    return [p for p in readable if p != "/proc"] + [p for p in own if os.path.exists(p)]


def confine(*, memory_mb: int | None, file_mb: int | None, readable: list[str] | None, writable: list[Path],
            use_landlock: bool = True, private_proc: bool = False) -> Confinement:
    """Confine this process (and its future children); see the module docstring. Returns what was applied.

    ``readable``: the only paths (and what lies under them) it may read; ``writable``: the only ones it may write
    (read included). ``None`` for ``readable`` skips Landlock. ``private_proc``: of ``/proc``, only this process's
    own entries are readable (see :func:`_private_proc`).
    """
    report = set_limits(memory_mb, file_mb)
    try:
        if _libc().prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            report.problems.append("prctl(PDEATHSIG) failed")
    except (OSError, AttributeError) as err:
        report.problems.append(f"prctl(PDEATHSIG): {err}")
    report.landlock_abi = landlock_abi()
    if use_landlock and readable is not None:
        if report.landlock_abi <= 0:
            report.problems.append("Landlock is not available: file access is not confined")
        else:
            _landlock(_private_proc(readable) if private_proc else readable, writable, report.landlock_abi, report)
    return report

