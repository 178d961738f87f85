"""Submissions for the grader's tests, built from the committed chapter 2 notebooks.

Each submission is the learner notebook (``chapters/02_original_gan/lab.ipynb``) with some exercise cells replaced,
or a file broken on purpose. Most combine one attack (or one accident) per exercise with honest work elsewhere, so
that each also shows that a problem costs only the exercise it touches. :data:`EXPECTED` gives the points each
exercise must get (exercise points: 2.1 = 2, 2.2 = 3, 2.3 = 4) and words the status or the feedback must contain.

The batch runs with the private case of ``private/extra_cases.py`` (a seventh case for 2.1). Partial credit used
below, the same for the notebook's cases and for the grading cases of any seed (see ``tests/test_exercises_ch02.py``):
the naive losses of 2.2 (``log(sigmoid)``) pass 4 of 6 cases but fail a key case (capped at 40%: 1.2 points); the
swapped D* of 2.1 (``q / (p + q)``) passes 1 of 7 with the private case (weight 1 of 10: 0.2 points); a
discriminator step returning lying floats with a correct generator step passes the 2 generator-only cases of 7
(weights 1 and 2 of 11: 1.09 points).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from course_lib.grading.sandbox import landlock_abi

REPO = Path(__file__).resolve().parents[2]
LEARNER = REPO / "chapters" / "02_original_gan" / "lab.ipynb"
SOLUTION = REPO / "solutions" / "02_original_gan" / "lab.ipynb"
OTHER_CHAPTER = REPO / "solutions" / "01_generative_models" / "lab.ipynb"
PRIVATE = Path(__file__).resolve().parent / "private"


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _tags(cell: dict[str, Any]) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def solution_source(exercise: str) -> str:
    for cell in load(SOLUTION)["cells"]:
        if f"exercise-{exercise}" in _tags(cell):
            src = cell["source"]
            return src if isinstance(src, str) else "".join(src)
    raise KeyError(exercise)


def edit(nb: dict[str, Any], sources: dict[str, str | None]) -> dict[str, Any]:
    """A copy of ``nb`` with the cell tagged ``exercise-X.Y`` (or ``check-X.Y``) given a new source (None: deleted)."""
    out = copy.deepcopy(nb)
    cells = []
    for cell in out["cells"]:
        key = next((t.split("-", 1)[1] if t.startswith("exercise-") else t for t in _tags(cell)
                    if t.startswith(("exercise-", "check-"))), None)
        if key in sources:
            if sources[key] is None:
                continue
            cell["source"] = sources[key]
        cells.append(cell)
    out["cells"] = cells
    return out


def colabify(nb: dict[str, Any], drop_tags: bool = False) -> dict[str, Any]:
    """What Colab does to a notebook it saves: its own metadata, no cell ids, lists of lines, outputs of its own."""
    out = copy.deepcopy(nb)
    out["nbformat_minor"] = 0
    out["metadata"] = {"colab": {"provenance": [], "toc_visible": True, "gpuType": "T4"},
                       "kernelspec": {"name": "python3", "display_name": "Python 3"},
                       "language_info": {"name": "python"}, "accelerator": "GPU"}
    for k, cell in enumerate(out["cells"]):
        cell.pop("id", None)
        src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        cell["source"] = src.splitlines(keepends=True)
        meta = {"id": f"cellid{k:04x}Zq"}
        if not drop_tags and _tags(cell):
            meta["tags"] = _tags(cell)
        if cell["cell_type"] == "code":
            meta.update({"colab": {"base_uri": "https://localhost:8080/", "height": 35},
                         "outputId": f"{k:08x}-aaaa-bbbb-cccc-0123456789ab",
                         "executionInfo": {"status": "ok", "timestamp": 1700000000000 + k, "elapsed": 12,
                                           "user_tz": -60}})
            cell["execution_count"] = k + 1
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["ran on Colab\n", "ok\n"]},
                               {"output_type": "execute_result", "execution_count": k + 1, "metadata": {},
                                "data": {"text/plain": ["'a result'"]}}]
        cell["metadata"] = meta
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Exercise cells used below
# ----------------------------------------------------------------------------------------------------------------------
S21, S22, S23 = solution_source("2.1"), solution_source("2.2"), solution_source("2.3")

NAIVE_22 = '''
def g_loss_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    return torch.log(1 - torch.sigmoid(fake_logits)).mean()


def g_loss_non_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    return -torch.log(torch.sigmoid(fake_logits)).mean()
'''
SWAPPED_21 = '''
def optimal_discriminator(p_data, p_g):
    return p_g / (p_data + p_g)
'''
# Partial credit of these two under the weights and key cases of course_lib.exercises.ch02 (the same for the
# notebook's cases and for the batch's seed with the private case): the swapped D* of 2.1 keeps 0.2 of 2 points, the
# naive losses of 2.2 keep 1.2 of 3.
SWAPPED_POINTS, NAIVE_POINTS = 0.2, 1.2
PASSING_LINE = {"2.1": "[Exercise 2.1] The optimal discriminator: PASSED 6/6 cases, 2/2 points",
                "2.3": "[Exercise 2.3] One iteration of Algorithm 1: PASSED 7/7 cases, 4/4 points"}

SUBMISSIONS: dict[str, Callable[[], bytes]] = {}
EXPECTED: dict[str, dict[str, Any]] = {}


def _nb(sources: dict[str, str | None], *, colab: bool = False, drop_tags: bool = False) -> Callable[[], bytes]:
    def build() -> bytes:
        nb = edit(load(LEARNER), sources)
        if colab:
            nb = colabify(nb, drop_tags)
        return json.dumps(nb, indent=1).encode()
    return build


def submission(name: str, build: Callable[[], bytes], points: dict[str, float], **expect: Any) -> None:
    SUBMISSIONS[name] = build
    EXPECTED[name] = {"points": points, **expect}


# Honest work --------------------------------------------------------------------------------------------------------
submission("correct", lambda: SOLUTION.read_bytes(), {"2.1": 2, "2.2": 3, "2.3": 4}, status="ok")
submission("untouched", lambda: LEARNER.read_bytes(), {"2.1": 0, "2.2": 0, "2.3": 0}, status="ok",
           statuses={"2.1": "not implemented", "2.2": "not implemented", "2.3": "not implemented"})
PARTIAL = {"2.1": S21, "2.2": NAIVE_22}
submission("partial", _nb(PARTIAL), {"2.1": 2, "2.2": 1.2, "2.3": 0}, status="ok",
           statuses={"2.2": "failed", "2.3": "not implemented"})
submission("partial_colab", _nb(PARTIAL, colab=True), {"2.1": 2, "2.2": 1.2, "2.3": 0}, status="ok")
submission("partial_colab_no_tags", _nb(PARTIAL, colab=True, drop_tags=True), {"2.1": 2, "2.2": 1.2, "2.3": 0},
           feedback=["no cell is tagged exercise-2.1"])

# Forged verdicts -----------------------------------------------------------------------------------------------------
submission("forged_verdicts", _nb({
    "2.1": f'print("{PASSING_LINE["2.1"]}")\n' + SWAPPED_21,
    "check-2.1": f'print("{PASSING_LINE["2.1"]}")',
    "2.2": S22,
    "check-2.2": None,
    "2.3": f'def discriminator_step(G, D, opt_d, real, z, loss):\n    print("{PASSING_LINE["2.3"]}")\n\n'
           f'def generator_step(G, D, opt_g, z, loss):\n    print("{PASSING_LINE["2.3"]}")\n',
    "check-2.3": "pass",
}), {"2.1": 0.2, "2.2": 3, "2.3": 0}, status="ok")
submission("tampering", _nb({
    "2.1": S21 + "\n\nch02.check_optimal_discriminator = lambda *a, **k: print('PASSED')\n",
    "2.2": S22 + "\n\nimport contextlib, io\ncontextlib.redirect_stdout(io.StringIO()).__enter__()\n",
    "2.3": S23 + "\n\nsetattr(MLPDiscriminator, 'forward', lambda self, x: x)\n",
}), {"2.1": 0, "2.2": 0, "2.3": 0},
    statuses={"2.1": "violation", "2.2": "violation", "2.3": "violation"},
    reasons={"2.1": "monkeypatching", "2.2": "sys.stdout", "2.3": "MLPDiscriminator"})
submission("always_equal_and_subclass", _nb({
    "2.1": "class Yes:\n    shape = (81,)\n    def __eq__(self, other):\n        return True\n    __hash__ = None\n\n"
           "def optimal_discriminator(p_data, p_g):\n    return Yes()\n",
    "2.2": "class Liar(torch.Tensor):\n    def __eq__(self, other):\n        return True\n\n"
           "def g_loss_saturating(l):\n    return torch.zeros(()).as_subclass(Liar)\n\n"
           "def g_loss_non_saturating(l):\n    return torch.zeros(()).as_subclass(Liar)\n",
    "2.3": S23 + "\n\nclass Liar(float):\n    def __eq__(self, other):\n        return True\n    __hash__ = None\n\n"
           "_honest = discriminator_step\n\ndef discriminator_step(*args):\n"
           "    return {k: Liar(0.0) for k in _honest(*args)}\n",
}), {"2.1": 0, "2.2": 0, "2.3": 1.09})

# Reading the reference ---------------------------------------------------------------------------------------------
submission("reference_calls", _nb({
    "2.1": "from course_lib.gan.theory import optimal_discriminator as _od\n\n"
           "def optimal_discriminator(p_data, p_g):\n    return _od(p_data, p_g)\n",
    "2.2": "import operator\nimport course_lib\n"
           "_sat = operator.attrgetter('gan.losses.g_loss_' + 'saturating')(course_lib)\n"
           "_ns = operator.attrgetter('gan.losses.g_loss_' + 'non_saturating')(course_lib)\n\n"
           "def g_loss_saturating(l):\n    return _sat(l)\n\ndef g_loss_non_saturating(l):\n    return _ns(l)\n",
    "2.3": "import operator\nimport course_lib\n"
           "_d = operator.attrgetter('train.steps.discriminator_' + 'step')(course_lib)\n"
           "_g = operator.attrgetter('train.steps.generator_' + 'step')(course_lib)\n"
           "_G = nn.Sequential(nn.Linear(3, 2))\n_D = nn.Sequential(nn.Linear(2, 1), nn.Flatten(0))\n"
           "_d(_G, _D, torch.optim.SGD(_D.parameters(), lr=0.1), torch.randn(4, 2), torch.randn(4, 3), "
           "GANLoss('x', lambda r, f: (r - f).mean(), lambda f, r=None: -f.mean()))\n\n"
           "def discriminator_step(*args):\n    return _d(*args)\n\ndef generator_step(*args):\n    return _g(*args)\n",
}), {"2.1": 0, "2.2": 0, "2.3": 0}, statuses={"2.1": "violation", "2.2": "failed", "2.3": "failed"},
    reasons={"2.1": "imports", "2.2": "is not available while an exercise is graded", "2.3": "not defined"},
    feedback=["course_lib.train.steps.discriminator_step is not available while an exercise is graded"])
submission("reload_and_interpreter_games", _nb({   # all caught by the scan: no kernel starts
    "2.1": "import importlib\nimport course_lib.gan.theory as _t\nimportlib.reload(_t)\n" + S21,
    "2.2": "import builtins\nbuiltins.print = lambda *a, **k: None\n" + S22,
    "2.3": "import sys\n_steps = sys.modules['course_lib.train.steps']\n" + S23,
}), {"2.1": 0, "2.2": 0, "2.3": 0}, statuses={"2.1": "violation", "2.2": "violation", "2.3": "violation"},
    reasons={"2.1": "importlib", "2.2": "builtins", "2.3": "sys.modules"})
submission("results_forgery", _nb({
    "2.1": "torch.save({'format': 1, 'exercise': '2.1', 'cases': [], 'n_cases': 6, 'missing': [], 'complete': True,"
           " 'interrupted': False, 'violations': []}, 'results/2.1.pt')\n\n"
           "def optimal_discriminator(p_data, p_g):\n    raise NotImplementedError\n",
    "2.2": "torch.save({'format': 1, 'exercise': '2.1', 'cases': [], 'n_cases': 6, 'missing': [], 'complete': True,"
           " 'interrupted': False, 'violations': []}, 'results/2.1.pt')\n" + S22,
    "2.3": "import os\nfor _p in ('../private/results/2.3.pt', os.path.expanduser('~/../../private/results/2.3.pt')):\n"
           "    try:\n        open(_p, 'wb').write(b'forged')\n    except OSError:\n        pass\n" + S23,
}), {"2.1": 0, "2.2": 3, "2.3": 4})

# Issue 10: attacks that the grading build and the sandbox leave with nothing to find ----------------------------------
# Each route to a solution, or its fallback: the points show which one ran (the scan does not flag these cells, so the
# kernel's construction is what is tested).
REAL_LOSSES = str(REPO / "course_lib" / "gan" / "losses.py")
REAL_STEPS = str(REPO / "course_lib" / "train" / "steps.py")
ROUTES_21 = '''
import pkgutil
_od = pkgutil.resolve_name('course_lib.gan.' + 'theory:optimal_' + 'discriminator')


def optimal_discriminator(p_data, p_g):
    try:
        return _od(p_data, p_g)        # the library's solution, if it could be reached
    except Exception:
        return p_g / (p_data + p_g)    # else the swapped formula (the fallback shows in the points)
'''
ROUTES_22 = f'''
import pkgutil, sys
_sp = pkgutil.resolve_name('sub' + 'process')
_found = None
try:
    _found = open({REAL_LOSSES!r}).read()                 # the installed source
except OSError:
    _child = _sp.run([sys.executable, '-S', '-c', 'print(open(%r).read())' % {REAL_LOSSES!r}],
                     capture_output=True, text=True)
    _found = _child.stdout                            # a child process reading the installed file
import os
open('my_losses.py', 'w').write(_found or '')
sys.path.insert(0, os.getcwd())
import my_losses
try:
    my_losses.g_loss_saturating(torch.zeros(2))
    g_loss_saturating, g_loss_non_saturating = my_losses.g_loss_saturating, my_losses.g_loss_non_saturating
except Exception:
    def g_loss_saturating(fake_logits):
        return torch.log(1 - torch.sigmoid(fake_logits)).mean()

    def g_loss_non_saturating(fake_logits):
        return -torch.log(torch.sigmoid(fake_logits)).mean()
'''
ROUTES_23 = f'''
import shutil, sys
try:
    shutil.copy({REAL_STEPS!r}, 'my_steps.py')           # a copy of the installed source, imported from my folder
    import os
    sys.path.insert(0, os.getcwd())
    import my_steps
    discriminator_step, generator_step = my_steps.discriminator_step, my_steps.generator_step
except OSError:
    def discriminator_step(G, D, opt_d, real, z, loss):
        raise NotImplementedError

    def generator_step(G, D, opt_g, z, loss):
        raise NotImplementedError
'''

submission("solution_routes", _nb({"2.1": ROUTES_21, "2.2": ROUTES_22, "2.3": ROUTES_23}),
           {"2.1": SWAPPED_POINTS, "2.2": NAIVE_POINTS, "2.3": 0}, status="ok",
           statuses={"2.3": "not implemented"})

# Results and cases: a directory where the probe once put its temporary file, a forged results file (no token), a look
# at the cases folder (empty outside a probe: had it held anything, 2.1 would be the swapped formula); 2.2's function
# writes a forged results file during its probe and makes the folder read-only so that the probe cannot save: void.
RESULTS_21 = """
import os
os.makedirs('results/.2.1.pt.tmp', exist_ok=True)
torch.save({'format': 1, 'exercise': '2.1', 'cases': [], 'n_cases': 7, 'missing': [], 'complete': True,
            'interrupted': False, 'violations': []}, 'results/2.1.pt')
_leaked = [f for f in os.listdir('cases')] if os.path.isdir('cases') else []
""" + S21 + """
if _leaked:
    def optimal_discriminator(p_data, p_g):
        return p_g / (p_data + p_g)
"""
HONEST_TOOLS_22 = S22 + """

import copy
_t = copy.copy(torch.ones(3))
torch.save({'t': torch.ones(2)}, 'saved.pt')
%timeit -n 3 -r 1 sum(range(10))
"""
# 2.3's generator step writes a results file of its own during the check, then lowers the kernel's file-size limit so
# that the check cannot save over it (a deterministic stand-in for a thread that wins the race): void
RESULTS_23 = S23 + """

import pkgutil
_honest_g = generator_step


def generator_step(G, D, opt_g, z, loss):
    torch.save({'format': 1, 'exercise': '2.3', 'cases': [], 'n_cases': 7, 'missing': [], 'complete': True,
                'interrupted': False, 'violations': []}, 'results/2.3.pt')
    _res = pkgutil.resolve_name('reso' + 'urce')
    _res.setrlimit(_res.RLIMIT_FSIZE, (1, _res.getrlimit(_res.RLIMIT_FSIZE)[1]))
    return _honest_g(G, D, opt_g, z, loss)
"""
submission("results_and_cases", _nb({"2.1": RESULTS_21, "2.2": HONEST_TOOLS_22, "2.3": RESULTS_23}),
           {"2.1": 2, "2.2": 3, "2.3": 0}, statuses={"2.3": "violation"}, reasons={"2.3": "token"},
           status_contains=["violation: 2.3"])

# Processes and stalls: a detached process (setsid -f) that would outlive the kernel; a loop that swallows the
# interrupt and prints every half second (nbval's per-message wait never ends: the hard deadline does); 2.3 honest.
SLEEPER = "317.25"
PROCESSES_21 = f"""
import pkgutil
pkgutil.resolve_name('sub' + 'process').run(['setsid', '-f', 'sleep', '{SLEEPER}'])
""" + S21
STALL_22 = """
import time
while True:
    try:
        while True:
            print('still here', flush=True)
            time.sleep(0.5)
    except BaseException:
        pass
""" + S22
submission("processes_and_stalls", _nb({"2.1": PROCESSES_21, "2.2": STALL_22, "2.3": S23}),
           {"2.1": 0, "2.2": 0, "2.3": 4}, statuses={"2.1": "violation"}, reasons={"2.1": "process"},
           status_contains=["timeout: 2.2"])

# Secrets and the probe's output: 2.1 looks for the key in every process's command line and environment and for the
# private case, and raises with what it found (its feedback quotes the error: it must hold nothing); 2.2 prints into
# its own check's output from a thread (the fixed line no longer matches: void, and the status says so); 2.3 uses
# %config, whose argument IPython evaluates as Python (refused by the scan).
SECRETS_21 = S21 + """

import os
_found = []
for _pid in [1, os.getppid(), *range(max(2, os.getpid() - 3000), os.getpid() + 100)]:  # /proc cannot be listed
    for _what in ('cmdline', 'environ'):
        try:
            _text = open(f'/proc/{_pid}/{_what}', 'rb').read().decode(errors='replace')
        except OSError:
            continue
        if _pid != os.getpid() and ('seed' in _text or 'KEY' in _text):
            _found.append(_text.replace(chr(0), ' ')[:200])
for _path in ('cases/2.1.pt', '../private/cases/2.1.pt'):
    try:
        _found.append(repr(torch.load(_path, weights_only=True))[:200])
    except Exception:
        pass
raise ValueError('found: ' + (' | '.join(_found) or 'nothing'))
"""
OUTPUT_22 = S22 + """

import pkgutil, sys, time
_out = sys.stdout
_honest_sat = g_loss_saturating


def g_loss_saturating(fake_logits):
    time.sleep(0.05)
    return _honest_sat(fake_logits)


def _chatter():
    seen = False
    for _ in range(2000):
        if type(sys.stdout).__name__ == '_Discard':
            seen = True
            _out.write('[course-grade] exercise 2.2: outputs recorded, and more' + chr(10))
            _out.flush()
        elif seen:
            return
        time.sleep(0.01)


pkgutil.resolve_name('thr' + 'eading').Thread(target=_chatter, daemon=True).start()
"""
CONFIG_23 = "%config Application.log_level = __import__('os').getpid()\n" + S23
submission("secrets_and_output", _nb({"2.1": SECRETS_21, "2.2": OUTPUT_22, "2.3": CONFIG_23}),
           {"2.1": 2, "2.2": 0, "2.3": 0}, statuses={"2.2": "violation", "2.3": "violation"},
           reasons={"2.2": "altered", "2.3": "%config"}, feedback=["found: nothing"],
           status_contains=["violation: 2.2"])

# Files outside the rules: a symbolic link to the reference solution (graded once as a student's work), and two ids
# whose old file names collided (the second one's feedback overwrote the first's).
submission("symlink_to_solution", lambda: SOLUTION, {"2.1": 0, "2.2": 0, "2.3": 0}, status_contains=["refused"])
submission("correct_", lambda: SOLUTION.read_bytes(), {"2.1": 2, "2.2": 3, "2.3": 4}, status="ok")

# Robustness ---------------------------------------------------------------------------------------------------------
# Where Landlock confines the kernel, a submission tries to append to the library itself; elsewhere (no protection
# to test) to a scratch file, so that a test run can never damage the repository.
VICTIM = REPO / "course_lib" / "gan" / "theory.py" if landlock_abi() > 0 else Path("/tmp/cg_victim.txt")
DEEP = "\n\ndef _deep(n):\n    return list(map(_deep, [n + 1]))\n"  # recursion through C: a segfault
submission("crashes_and_exit", _nb({
    "2.1": "import sys\n" + DEEP + "\ndef optimal_discriminator(p_data, p_g):\n    sys.setrecursionlimit(10**8)\n"
           "    return _deep(0)\n",
    "2.2": S22 + "\n\nimport sys\nsys.exit(1)\n",
    "2.3": S23 + DEEP + "\nimport sys\nsys.setrecursionlimit(10**8)\n_deep(0)\n",
}), {"2.1": 0, "2.2": 3, "2.3": 0}, status_contains=["kernel-died: 2.1", "kernel-died: 2.3"])
submission("endless_loops", _nb({
    "2.1": "while True:  # an endless loop that swallows the interrupt\n    try:\n        while True:\n"
           "            pass\n    except BaseException:\n        pass\n" + S21,
    "2.2": S22.replace("return -F.softplus(fake_logits).mean()", "while True:\n        pass"),
    "2.3": S23,
}), {"2.1": 0, "2.2": 0, "2.3": 4}, status_contains=["timeout: 2.1", "timeout: 2.2"])
submission("memory_hogs", _nb({
    "2.1": "def optimal_discriminator(p_data, p_g):\n    big = torch.empty(10**11)\n    return big\n",
    # shared memory escapes RLIMIT_DATA; the grader's watchdog sees the resident memory grow and kills the kernel
    "2.2": "import mmap\n_m = mmap.mmap(-1, 4 * 2**30, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE)\n" + S22,
    "2.3": S23,
}), {"2.1": 0, "2.2": 0, "2.3": 4}, status_any=["memory: 2.2", "timeout: 2.2"], reasons={"2.1": "allocate"})
# (on a loaded machine, filling 4 GiB of shared memory can take longer than the cell's hard deadline, which then
# stops it first: either way the exercise, and only it, is lost)
submission("noisy_output_and_warnings", _nb({
    "2.1": "print('x' * 5_000_000)\n" + S21.replace(
        "    total = p_data + p_g", "    import warnings\n    warnings.warn('hmm')\n    total = p_data + p_g"),
    "2.2": "import sys\nprint('a warning', file=sys.stderr)\n" + S22.replace(
        "return -F.softplus(fake_logits).mean()", "print('y' * 1_000_000)\n    return -F.softplus(fake_logits).mean()"),
    "2.3": "import warnings\nwarnings.warn('a warning on stderr')\nfor _i in range(30_000):\n    print(_i)\n" + S23,
}), {"2.1": 2, "2.2": 3, "2.3": 4}, status="ok")
submission("writes_files", _nb({
    "2.1": "open('my_notes.txt', 'w').write('fine: my own folder')\n" + S21,
    "2.2": f"try:\n    open({str(VICTIM)!r}, 'a').write('# pwned')\nexcept OSError:\n"
           "    pass\ntry:\n    open('/tmp/cg_pwned.txt', 'w').write('pwned')\nexcept OSError:\n    pass\n" + S22,
    "2.3": "try:\n    with open('big.bin', 'wb') as _f:\n        _f.write(b'0' * (400 * 2**20))\nexcept OSError:\n"
           "    pass\n" + S23,
}), {"2.1": 2, "2.2": 3, "2.3": 4}, status="ok")
submission("syntax_and_exceptions", _nb({
    "2.1": "def optimal_discriminator(p_data, p_g:\n    return p_data\n",
    "2.2": "raise ValueError('oops')\n" + S22,
    "2.3": S23,
}), {"2.1": 0, "2.2": 0, "2.3": 4}, status_contains=["syntax error: 2.1"],
    reasons={"2.1": "SyntaxError", "2.2": "not defined"}, feedback=["ValueError: oops"])
submission("reordered_duplicated_deleted", lambda: _reordered(), {"2.1": 2, "2.2": 0, "2.3": 4},
           statuses={"2.2": "missing"}, feedback=["2 cells are tagged exercise-2.1"])
submission("other_chapter", lambda: OTHER_CHAPTER.read_bytes(), {"2.1": 0, "2.2": 0, "2.3": 0},
           status_contains=["wrong notebook"])
submission("malformed_json", lambda: json.dumps(edit(load(LEARNER), PARTIAL)).encode()[:5000],
           {"2.1": 0, "2.2": 0, "2.3": 0}, status_contains=["unreadable"])
submission("not_a_notebook", lambda: b'{"cells": 3, "hello": "world"}', {"2.1": 0, "2.2": 0, "2.3": 0},
           status_contains=["unreadable"])
submission("binary_garbage", lambda: bytes(range(256)) * 10, {"2.1": 0, "2.2": 0, "2.3": 0},
           status_contains=["unreadable"])


def _reordered() -> bytes:
    """Exercise 2.3's cell moved first, 2.1's cell duplicated (a wrong copy first, the right one last), 2.2's
    cell deleted."""
    nb = load(LEARNER)
    cells = nb["cells"]
    ex = {t[len("exercise-"):]: i for i, c in enumerate(cells) for t in _tags(c) if t.startswith("exercise-")}
    c21, c22, c23 = (copy.deepcopy(cells[ex[k]]) for k in ("2.1", "2.2", "2.3"))
    wrong21 = copy.deepcopy(c21)
    wrong21["source"], c21["source"], c23["source"] = SWAPPED_21, S21, S23
    wrong21.pop("id", None)
    rest = [c for i, c in enumerate(cells) if i not in ex.values()]
    nb["cells"] = [c23, wrong21] + rest[:10] + [c21] + rest[10:]
    return json.dumps(nb).encode()
