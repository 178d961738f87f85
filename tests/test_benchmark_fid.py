"""Smoke test of benchmarks/bench_fid.py at toy sizes (the speeds are measured by running the script, never
asserted here; see tests/test_benchmarks.py for the other benchmarks)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_fid.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_fid", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_fid_runs_both_contenders_and_they_agree(capsys):
    bench = _load()
    rows = bench.bench([8, 16], torch.device("cpu"), repeats=1)
    assert [r["D"] for r in rows] == [8, 16]
    for r in rows:
        assert r["ours_s"] > 0 and r["scipy_s"] > 0 and math.isfinite(r["ratio"])
        assert r["rel_diff"] < 1e-8
    bench.main(["--dims", "8", "--repeats", "1", "--threads", "1"])
    out = capsys.readouterr().out
    assert "SciPy / ours" in out and "| 8 |" in out
