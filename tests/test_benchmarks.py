"""Smoke tests of the benchmark scripts at toy sizes: they must keep running as the library changes. The speeds
themselves are measured by running the scripts (see their docstrings), never asserted here."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_dcgan_runs_both_contenders(capsys):
    bench = _load("bench_dcgan")
    rates = bench.bench(torch.device("cpu"), batch=4, steps=1, warmup=1, repeats=2, size=32, base=8,
                        channels_last=False, n_images=16)
    assert set(rates) == {"plain fp32 eager", "AdversarialTrainer"}
    assert all(len(v) == 2 and all(math.isfinite(r) and r > 0 for r in v) for v in rates.values())
    bench.main(["--device", "cpu", "--batch", "4", "--steps", "1", "--warmup", "0", "--repeats", "1",
                "--size", "32", "--base", "8"])
    assert "ratio trainer / plain (medians)" in capsys.readouterr().out


def test_plain_loop_trains_both_networks():
    bench = _load("bench_dcgan")
    G, D = bench._models(torch.device("cpu"), 32, 8)
    before = [p.detach().clone() for p in (*G.parameters(), *D.parameters())]
    loop = bench.PlainLoop(G, D, torch.rand(8, 3, 32, 32) * 2 - 1, batch=4)
    loop.run(1)
    after = list((*G.parameters(), *D.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(before, after))
