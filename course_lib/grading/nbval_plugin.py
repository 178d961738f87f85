"""A pytest plugin for the grader's nbval run: per-cell reports, per-cell time limits, kernel watch, output caps.

The grader runs, for each submission, ``pytest -p nbval.plugin -p course_lib.grading.nbval_plugin --nbval-lax
graded.ipynb`` with the environment variable ``COURSE_GRADE_PLUGIN`` naming a JSON file that describes the graded
notebook's cells (their kind, exercise and time limit), the report file to write and the limits. Without that
variable the plugin does nothing, so installing it never changes an ordinary nbval run.

What it adds to nbval, all in the trusted pytest process:

- **a report**: one JSON line per event (``start`` of a cell, its ``result``, the kernel's pid), flushed at once,
  so that the grader knows which cell was running when a kernel or the whole run died;
- **per-cell time limits** (nbval has one for all cells): submission cells and probes get the instructor's
  ``--timeout-cell``, the notebook's own cells a longer one;
- **stderr is never compared**: nbval compares every stream of a checked cell, so a warning printed on stderr
  would fail it; the plugin removes stderr streams from both sides of the comparison;
- **a dead kernel is noticed at once** (nbval would wait for the cell's time limit) and named in the report;
- **memory**: a watchdog thread sums the resident memory of the kernel and its children and kills the kernel past
  the limit (the kernel's own ``RLIMIT_DATA`` does not cover shared mappings);
- **output caps**: stream text and display data past a per-cell budget are dropped (and the report says so), so a
  flood of prints cannot exhaust the grader's memory;
- **results leave the kernel's reach**: right after a probe cell, its results file is moved from the kernel's folder
  to the grader's private folder, so that no later cell of the submission can rewrite it; and right before a probe,
  every process the kernel started is killed (and reported), so that nothing runs beside the probe;
- **cases only for their probe**: an exercise's cases are copied into the kernel's folder right before its probe and
  removed right after, so no other cell (another exercise's, a later one) can read them;
- **processes die with the run**: this process is the subreaper of the kernel's descendants (``setsid -f`` or a
  double fork re-parents them here) and kills them all before each probe and at the end;
- **a hard deadline per cell**: a watch thread kills the kernel of a cell still running a few seconds past its
  limit, whatever the kernel keeps printing (nbval's own limit is per message).
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from pathlib import Path
from queue import Empty
from typing import Any

import pytest

_CONFIG: dict[str, Any] | None = None
_REPORT = None
_CURRENT: dict[str, Any] = {"cell": None, "bytes": 0, "truncated": False, "error": None, "memory": False,
                            "hard_timeout": False, "deadline": None}
_KERNEL: dict[str, Any] = {"pid": None, "watchdog": None}
_LOCK = threading.Lock()
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_PR_SET_CHILD_SUBREAPER = 36
HARD_GRACE = 10.0  # seconds past a cell's limit before its kernel is killed, whatever it still prints


class KernelDied(RuntimeError):
    """The kernel process ended while a cell was running."""


def _write(event: dict[str, Any]) -> None:
    if _REPORT is None:
        return
    with _LOCK:
        _REPORT.write(json.dumps(event) + "\n")
        _REPORT.flush()


def _cell_info(cell_num: int) -> dict[str, Any]:
    assert _CONFIG is not None
    return _CONFIG["cells"].get(str(cell_num), {"kind": "reference", "exercise": None})


# ----------------------------------------------------------------------------------------------------------------------
# Patches of nbval (applied only when the grader configured this plugin)
# ----------------------------------------------------------------------------------------------------------------------
def _patch_nbval() -> None:
    from nbval import kernel as nbval_kernel
    from nbval import plugin as nbval_plugin

    transform = nbval_plugin.transform_streams_for_comparison

    def without_stderr(outputs):
        return transform([o for o in outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")])

    nbval_plugin.transform_streams_for_comparison = without_stderr
    original_coalesce = nbval_plugin.coalesce_streams

    def coalesce(outputs):
        return original_coalesce([o for o in outputs
                                  if not (o.get("output_type") == "stream" and o.get("name") == "stderr")])

    nbval_plugin.coalesce_streams = coalesce

    def await_reply(self, msg_id, timeout=None):
        """nbval's loop, polling the kernel's liveness every half second."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
            try:
                msg = self.get_message(stream="shell", timeout=wait)
            except Empty:
                if not self.km.is_alive():
                    raise KernelDied("the kernel died while this cell ran") from None
                if deadline is not None and time.monotonic() >= deadline:
                    raise
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                if msg["content"]["status"] == "aborted":
                    raise RuntimeError("Kernel aborted execution request")
                return

    nbval_kernel.RunningKernel.await_reply = await_reply
    get_message = nbval_kernel.RunningKernel.get_message

    def capped_get_message(self, stream, timeout=None):
        msg = get_message(self, stream, timeout=timeout)
        if stream != "iopub":
            return msg
        kind = msg.get("msg_type")
        content = msg.get("content", {})
        if kind == "error":
            _CURRENT["error"] = {"ename": str(content.get("ename", ""))[:200],
                                 "evalue": str(content.get("evalue", ""))[:1000]}
        elif kind in ("stream", "display_data", "execute_result", "update_display_data"):
            size = len(json.dumps(content.get("data", content.get("text", "")), default=str))
            _CURRENT["bytes"] += size
            if _CURRENT["bytes"] > _CONFIG["output_cap_bytes"]:  # type: ignore[index]
                _CURRENT["truncated"] = True
                if kind == "stream":
                    content["text"] = ""
                else:
                    content["data"] = {"text/plain": ""}
        return msg

    nbval_kernel.RunningKernel.get_message = capped_get_message

    def setup(self):
        """No "previous cell timed out, expect failure" marker: every cell is judged on its own."""
        self.parent.timed_out = False

    nbval_plugin.IPyNbCell.setup = setup


# ----------------------------------------------------------------------------------------------------------------------
# Memory watchdog
# ----------------------------------------------------------------------------------------------------------------------
def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie (a dead child its parent has not reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _tree(pid: int) -> list[int]:
    """``pid`` and its living descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p != pid and not _alive(p):
            continue
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except OSError:
            continue
    return out


def kill_tree(pid: int, keep_root: bool = False, keep: tuple[int, ...] = ()) -> int:
    """SIGKILL the living descendants of ``pid`` (and ``pid`` itself unless ``keep_root``), deepest first, until none
    is left (a process may fork while the tree is walked); returns how many were killed."""
    killed = 0
    for _ in range(20):
        victims = [p for p in reversed(_tree(pid)) if not (keep_root and p == pid) and p not in keep]
        if not victims:
            break
        for p in victims:
            try:
                os.kill(p, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        time.sleep(0.02)
    return killed


def _rss_bytes(pid: int) -> int:
    total = 0
    for p in _tree(pid):
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    return total


def _own_rss() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _deadline_watch() -> None:
    """The hard per-cell deadline: a cell still running ``HARD_GRACE`` seconds past its limit (a loop that swallows
    the interrupt and keeps printing, so that nbval's wait for the next message never times out) has its kernel
    killed, and the cell is reported as a time-out. It does not depend on anything the kernel sends."""
    while True:
        time.sleep(0.25)
        deadline = _CURRENT.get("deadline")
        if deadline is None or time.monotonic() < deadline or _KERNEL["pid"] is None:
            continue
        _CURRENT["hard_timeout"] = True
        _CURRENT["deadline"] = None
        _write({"event": "hard-timeout", "cell": _CURRENT["cell"]})
        kill_tree(os.getpid(), keep_root=True)


def _watch(pid: int, limit: int) -> None:
    while True:
        time.sleep(0.2)
        try:
            os.kill(pid, 0)
        except OSError:
            return
        if _rss_bytes(os.getpid()) - _own_rss() > limit:  # the kernel and every process it left behind
            _CURRENT["memory"] = True
            kill_tree(os.getpid(), keep_root=True)
            _write({"event": "memory", "cell": _CURRENT["cell"], "limit": limit})
            return


def _start_watchdog(item) -> None:
    if _KERNEL["pid"] is not None:
        return
    kernel = getattr(item.parent, "kernel", None)
    km = getattr(kernel, "km", None)
    provisioner = getattr(km, "provisioner", None)
    pid = getattr(provisioner, "pid", None) or getattr(getattr(provisioner, "process", None), "pid", None)
    if pid is None:
        return
    _KERNEL["pid"] = pid
    _write({"event": "kernel", "pid": pid})
    limit = int(_CONFIG["watchdog_bytes"])  # type: ignore[index]
    thread = threading.Thread(target=_watch, args=(pid, limit), daemon=True)
    thread.start()
    _KERNEL["watchdog"] = thread


# ----------------------------------------------------------------------------------------------------------------------
# Hooks
# ----------------------------------------------------------------------------------------------------------------------
def pytest_configure(config) -> None:
    global _CONFIG, _REPORT
    path = os.environ.get("COURSE_GRADE_PLUGIN")
    if not path:
        return
    _CONFIG = json.loads(Path(path).read_text())
    _REPORT = open(_CONFIG["report"], "a", buffering=1)  # noqa: SIM115 - open for the whole session
    if _CONFIG.get("pytest_memory_mb"):
        from course_lib.grading.sandbox import set_limits

        set_limits(int(_CONFIG["pytest_memory_mb"]), None)  # a flood of output cannot take the grader's memory
    _subreaper()
    _patch_nbval()
    threading.Thread(target=_deadline_watch, daemon=True).start()


def _subreaper() -> None:
    """Make this pytest process the subreaper of everything the kernel starts: a process that detaches itself
    (``setsid -f``, a double fork) is re-parented here instead of to init, so :func:`kill_tree` finds it."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _cell_num(item) -> int | None:
    return getattr(item, "cell_num", None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    num = _cell_num(item)
    if _CONFIG is not None and num is not None:
        info = _cell_info(num)
        timeout = float(info.get("timeout", _CONFIG["default_timeout"]))
        item.config.option.nbval_cell_timeout = timeout
        _CURRENT.update(cell=num, bytes=0, truncated=False, error=None, memory=False, hard_timeout=False,
                        deadline=None)
        _write({"event": "start", "cell": num, "time": time.time()})
    yield
    if _CONFIG is not None and num is not None:
        _start_watchdog(item)
        info = _cell_info(num)
        if info.get("kind") == "probe" and _KERNEL["pid"] is not None:
            _kill_children(num)
            _deliver_cases(info["exercise"])
        _CURRENT["deadline"] = time.monotonic() + float(info.get("timeout", _CONFIG["default_timeout"])) + HARD_GRACE


def _kill_children(cell: int) -> None:
    """Before a probe, stop every process the kernel started, detached ones included (this process is their
    subreaper): none should exist, and a learner's background process could otherwise race the probe."""
    count = kill_tree(os.getpid(), keep_root=True, keep=(_KERNEL["pid"],))
    if count:
        _write({"event": "children", "cell": cell, "count": count})


def _deliver_cases(exercise: str) -> None:
    """Copy the exercise's cases into the kernel's folder for its probe (they are removed right after it)."""
    assert _CONFIG is not None
    if not _CONFIG.get("cases_src"):
        return
    src = Path(_CONFIG["cases_src"]) / f"{exercise}.pt"
    dst = Path(_CONFIG["cases_dst"]) / f"{exercise}.pt"
    try:
        if dst.is_symlink() or dst.exists():
            _remove(dst)
        tmp = dst.with_name(f".{exercise}.{os.getpid()}.cases")
        with open(src, "rb") as fin, open(tmp, "xb") as fout:
            fout.write(fin.read())
        os.replace(tmp, dst)
    except OSError as err:
        _write({"event": "cases-error", "exercise": exercise, "message": str(err)[:300]})


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _withdraw_cases(exercise: str) -> None:
    assert _CONFIG is not None
    if _CONFIG.get("cases_dst"):
        try:
            _remove(Path(_CONFIG["cases_dst"]) / f"{exercise}.pt")
        except OSError:
            pass


def _category(text: str, exc_name: str) -> str:
    if _CURRENT["memory"]:
        return "memory"
    if _CURRENT.get("hard_timeout"):
        return "timeout"
    if "Kernel dead on test start" in text:
        return "kernel-dead"  # a victim: the kernel had died before this cell
    if exc_name == "KernelDied" or "kernel died" in text:
        return "kernel-died"
    if "Timeout of" in text or "timed out" in text.lower():
        return "timeout"
    if "Cell outputs differ" in text or "Missing output fields" in text or "Unexpected output fields" in text:
        return "output-mismatch"
    if "Cell execution caused an exception" in text:
        return "exception"
    return "error"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    num = _cell_num(item)
    if _CONFIG is None or num is None:
        return
    report = outcome.get_result()
    if report.when == "call" or (report.when == "setup" and report.failed):
        _CURRENT["deadline"] = None
        failed = report.failed or call.excinfo is not None
        text = _ANSI.sub("", str(report.longrepr)) if failed else ""
        exc_name = call.excinfo.typename if call.excinfo is not None else ""
        info = _cell_info(num)
        _write({"event": "result", "cell": num, "when": report.when, "outcome": "failed" if failed else "passed",
                "category": _category(text, exc_name) if failed else "passed",
                "error": _CURRENT["error"], "truncated": _CURRENT["truncated"], "duration": report.duration,
                "message": text[:300] + (" ... " + text[-1200:] if len(text) > 1500 else text[300:])})
        if info.get("kind") == "probe":
            _withdraw_cases(info["exercise"])
            _move_results(info["exercise"])


def _move_results(exercise: str) -> None:
    assert _CONFIG is not None
    src = Path(_CONFIG["results_src"]) / f"{exercise}.pt"
    dst = Path(_CONFIG["results_dst"]) / f"{exercise}.pt"
    try:
        if src.is_file() and not src.is_symlink():
            dst.parent.mkdir(parents=True, exist_ok=True)
            with open(src, "rb") as fin, open(dst, "wb") as fout:
                remaining = int(_CONFIG["results_max_bytes"]) + 1
                while remaining > 0:
                    chunk = fin.read(min(1 << 20, remaining))
                    if not chunk:
                        break
                    fout.write(chunk)
                    remaining -= len(chunk)
            src.unlink()
    except OSError as err:
        _write({"event": "results-error", "exercise": exercise, "message": str(err)})


def pytest_unconfigure(config) -> None:
    global _REPORT
    if _CONFIG is not None:
        kill_tree(os.getpid(), keep_root=True)  # the kernel, and whatever it left, die with the run
    if _REPORT is not None:
        _write({"event": "end", "time": time.time()})
        _REPORT.close()
        _REPORT = None
