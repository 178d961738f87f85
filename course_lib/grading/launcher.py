"""The kernel launcher of a graded notebook: confine the process, then start an ordinary IPython kernel.

The grader writes a kernelspec whose command line is::

    python -m course_lib.grading.launcher --config LAUNCHER.json -f {connection_file}

``LAUNCHER.json`` names the submission's kernel folder (its working directory, the only place it may write), the
paths it may read (:func:`course_lib.grading.sandbox.python_readable`, computed by the grader), the memory and
file-size limits, and whether to use Landlock. The
launcher applies them with :func:`course_lib.grading.sandbox.confine`, sends the kernel's own stdout and stderr file
descriptors to ``/dev/null`` (output reaches the notebook only through Jupyter messages, which the grader caps), and
starts ``ipykernel`` with its history and file-descriptor capture turned off. Once the kernel has bound its ports,
:func:`~course_lib.grading.sandbox.restrict_network` denies every further TCP bind and connect (Landlock ABI 4+).
Nothing the learner wrote has run yet at that point. Of ``/proc`` the kernel reads only its own entries.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from course_lib.grading.sandbox import confine, restrict_network


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="course_lib.grading.launcher")
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("-f", dest="connection_file", required=True)
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text())
    kernel_dir = Path(config["kernel_dir"])
    launch_dir = os.getcwd()
    sys.path[:] = [p for p in sys.path if p not in ("", launch_dir)]  # the grader's folder: not importable
    os.chdir(kernel_dir)
    report = confine(memory_mb=config.get("memory_mb"), file_mb=config.get("file_mb"),
                     readable=config.get("readable"), writable=[kernel_dir],
                     use_landlock=bool(config.get("landlock", True)), private_proc=True)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(["-f", args.connection_file, "--IPKernelApp.capture_fd_output=False",
                    "--HistoryManager.enabled=False", "--IPKernelApp.quiet=True"])
    if config.get("landlock", True):  # the kernel's ports are bound: from here on, no TCP bind or connect
        restrict_network(report)
    (kernel_dir / ".confinement.json").write_text(json.dumps(
        {"landlock": report.landlock, "landlock_abi": report.landlock_abi, "limits": report.limits,
         "problems": report.problems}))
    app.start()


if __name__ == "__main__":
    main()
