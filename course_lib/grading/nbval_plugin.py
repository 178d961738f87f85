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
  every process the kernel started is killed (and reported), so that nothing runs beside the probe.
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
_CURRENT: dict[str, Any] = {"cell": None, "bytes": 0, "truncated": False, "error": None, "memory": False}
_KERNEL: dict[str, Any] = {"pid": None, "watchdog": None}
_LOCK = threading.Lock()
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


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


def _rss_bytes(pid: int) -> int:
    total = 0
    for p in _tree(pid):
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    return total


def _watch(pid: int, limit: int) -> None:
    while True:
        time.sleep(0.2)
        try:
            os.kill(pid, 0)
        except OSError:
            return
        if _rss_bytes(pid) > limit:
            _CURRENT["memory"] = True
            for p in reversed(_tree(pid)):
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
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
    _patch_nbval()


def _cell_num(item) -> int | None:
    return getattr(item, "cell_num", None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    num = _cell_num(item)
    if _CONFIG is not None and num is not None:
        info = _cell_info(num)
        item.config.option.nbval_cell_timeout = float(info.get("timeout", _CONFIG["default_timeout"]))
        _CURRENT.update(cell=num, bytes=0, truncated=False, error=None, memory=False)
        _write({"event": "start", "cell": num, "time": time.time()})
    yield
    if _CONFIG is not None and num is not None:
        _start_watchdog(item)
        if _cell_info(num).get("kind") == "probe" and _KERNEL["pid"] is not None:
            _kill_children(num)


def _kill_children(cell: int) -> None:
    """Before a probe, stop every process the kernel started (none should exist: a learner's background process
    could otherwise race the probe for its results file)."""
    children = _tree(_KERNEL["pid"])[1:]
    for p in reversed(children):
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    if children:
        _write({"event": "children", "cell": cell, "count": len(children)})


def _category(text: str, exc_name: str) -> str:
    if _CURRENT["memory"]:
        return "memory"
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
        failed = report.failed or call.excinfo is not None
        text = _ANSI.sub("", str(report.longrepr)) if failed else ""
        exc_name = call.excinfo.typename if call.excinfo is not None else ""
        info = _cell_info(num)
        _write({"event": "result", "cell": num, "when": report.when, "outcome": "failed" if failed else "passed",
                "category": _category(text, exc_name) if failed else "passed",
                "error": _CURRENT["error"], "truncated": _CURRENT["truncated"], "duration": report.duration,
                "message": text[:300] + (" ... " + text[-1200:] if len(text) > 1500 else text[300:])})
        if info.get("kind") == "probe":
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
    if _REPORT is not None:
        _write({"event": "end", "time": time.time()})
        _REPORT.close()
        _REPORT = None
