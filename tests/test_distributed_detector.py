"""fit_detector under DistributedDataParallel (Appendix B) on CPU: gloo, two processes on the loopback interface.

Each multi-process test starts two ranks of this very file's ``_worker`` (``python -c``) with torchrun's environment
variables, bounded in time; the references are single-process ``fit_detector`` runs in this process on the same
model, data and loss. The model is a tiny convolutional detector without batch norm and the targets are a list of
per-image dicts with a varying number of boxes, as a detector's are.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from distributed_ranks import assert_ranks_ok, spawn_ranks
import torch
from torch import nn

from course_lib.detection.train import (
    InMemoryBatches,
    _shard_batch,
    fit_detector,
    load_detector_checkpoint,
    warmup_cosine_scheduler,
)
from course_lib.train import latest_checkpoint
from course_lib.train.distributed import DistributedContext

ROOT = Path(__file__).resolve().parents[1]
RUN_TIMEOUT_S = 40  # a hang fails the test instead of blocking the suite
GLOBAL_BATCH = 8  # images per step, all ranks together
STEPS = 6
HALF = 3  # the interrupted run stops here (mid-epoch: 5 batches per pass)

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")


# ----------------------------------------------------------------------------------------------------------------------
# The model, data and loss: shared by the ranks (which import this file) and the in-process references
# ----------------------------------------------------------------------------------------------------------------------
class TinyDetector(nn.Module):
    """(N, 3, 8, 8) -> (N, 5, 4, 4): per cell an objectness logit and a box (cx, cy, w, h); no batch norm."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1),
                                  nn.ReLU())
        self.head = nn.Conv2d(8, 5, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def detection_loss(pred: torch.Tensor, targets: list[dict[str, torch.Tensor]]) -> torch.Tensor:
    """Mean over images of: BCE objectness over the grid (1 at the cells holding a box centre) + squared error of
    the box at those cells. Per image, so that half the batch on each of 2 ranks averages to the whole batch."""
    if len(targets) != pred.shape[0]:
        raise AssertionError(f"{pred.shape[0]} predictions but {len(targets)} targets")
    s = pred.shape[-1]
    losses = []
    for p, t in zip(pred, targets):
        boxes = t["boxes"]
        cells = (boxes[:, :2] * s).long().clamp(0, s - 1)  # (k, 2): column, row of each centre
        obj = torch.zeros(s, s, dtype=p.dtype)
        obj[cells[:, 1], cells[:, 0]] = 1.0
        bce = nn.functional.binary_cross_entropy_with_logits(p[0], obj)
        box = (p[1:, cells[:, 1], cells[:, 0]].T - boxes).square().sum(1).mean()
        losses.append(bce + box)
    return torch.stack(losses).mean()


def make_data() -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    gen = torch.Generator().manual_seed(11)
    images = torch.randn(40, 3, 8, 8, generator=gen)
    targets = []
    for i in range(40):
        k = 1 + i % 3  # 1 to 3 boxes per image
        targets.append({"boxes": torch.rand(k, 4, generator=gen), "labels": torch.randint(0, 3, (k,), generator=gen)})
    return images, targets


def make_run(batch_size: int = GLOBAL_BATCH):
    torch.manual_seed(0)
    model = TinyDetector()
    images, targets = make_data()
    batches = InMemoryBatches(images, targets, batch_size=batch_size, seed=4)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = warmup_cosine_scheduler(opt, total_steps=STEPS, warmup_steps=2)
    return model, batches, opt, sched


class FirstHalf:
    """The global batches of ``batches``, each cut to its first half (what rank 0 of 2 trains on)."""

    def __init__(self, batches: InMemoryBatches) -> None:
        self.batches = batches

    def __iter__(self):
        for images, targets in self.batches:
            h = images.shape[0] // 2
            yield images[:h], targets[:h]


def _worker(out_dir: str, ckpt_dir: str, steps: int, resume: bool, crash_at: int, nan_at: int = 0) -> None:
    """One rank (run by the spawned processes): train, then save this rank's weights and history."""
    from course_lib.train.distributed import init_distributed

    ctx = init_distributed(backend="gloo", timeout_s=20, device="cpu")
    model, batches, opt, sched = make_run()

    def loss_fn(pred, targets):
        if crash_at and ctx.rank == 1 and fit_calls[0] == crash_at:
            raise RuntimeError("simulated crash of rank 1")
        if nan_at and ctx.rank == 1 and fit_calls[0] == nan_at:
            return torch.tensor(float("nan"))  # rank 1 alone: both ranks must stop, neither may hang
        fit_calls[0] += 1
        seen.append([t["boxes"][0, 0].item() for t in targets])  # which images this rank trained on
        return detection_loss(pred, targets)

    fit_calls, seen = [1], []
    history = fit_detector(model, batches, loss_fn, steps, opt, scheduler=sched, log_every=1, progress=True,
                           checkpoint_dir=ckpt_dir, checkpoint_every=HALF, keep_last=10, resume=resume,
                           distributed=ctx)
    torch.save({"model": model.state_dict(), "history": history, "seen": seen},
               Path(out_dir) / f"rank{ctx.rank}.pt")
    ctx.close()


# ----------------------------------------------------------------------------------------------------------------------
# Spawning the ranks
# ----------------------------------------------------------------------------------------------------------------------
def run_ranks(out_dir: Path, ckpt_dir: Path, steps: int = STEPS, resume: bool = False, crash_at: int = 0,
              nan_at: int = 0, world: int = 2, timeout: float = RUN_TIMEOUT_S) -> list[subprocess.CompletedProcess]:
    """Start ``world`` ranks on the loopback interface; fail the test if they are not done within ``timeout``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    code = (f"import sys; sys.path.insert(0, {str(ROOT / 'tests')!r}); import test_distributed_detector as t; "
            f"t._worker({str(out_dir)!r}, {str(ckpt_dir)!r}, {steps}, {resume}, {crash_at}, {nan_at})")
    return spawn_ranks(lambda rank: ["-c", code], world, timeout)


_ok = assert_ranks_ok


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()  # the plain model's keys: no "module." prefix of the DDP wrapper
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[subprocess.CompletedProcess]]:
    """An uninterrupted 2-rank run of STEPS steps, checkpoints at HALF and STEPS."""
    base = tmp_path_factory.mktemp("ddp_detector")
    results = run_ranks(base / "out", base / "ckpt")
    _ok(results)
    return base, results


def _reference(loader_factory=lambda b: b, batch_size: int = GLOBAL_BATCH):
    model, batches, opt, sched = make_run(batch_size)
    history = fit_detector(model, loader_factory(batches), detection_loss, STEPS, opt, scheduler=sched, log_every=1,
                           progress=False)
    return model, history


# ----------------------------------------------------------------------------------------------------------------------
# Two ranks
# ----------------------------------------------------------------------------------------------------------------------
def test_two_ranks_with_half_the_batch_match_one_process_with_the_whole_batch(full_run):
    base, results = full_run
    rank0 = torch.load(base / "out" / "rank0.pt", weights_only=True)
    rank1 = torch.load(base / "out" / "rank1.pt", weights_only=True)
    assert _max_diff(rank0["model"], rank1["model"]) == 0.0  # the same averaged gradients on both ranks

    # each rank trained on its own half of every global batch, rank 0 on the first
    _, batches, _, _ = make_run()
    global_batches = []
    while len(global_batches) < STEPS:
        global_batches += [[t["boxes"][0, 0].item() for t in targets] for _, targets in batches]
    h = GLOBAL_BATCH // 2
    assert rank0["seen"] == [b[:h] for b in global_batches[:STEPS]]
    assert rank1["seen"] == [b[h:] for b in global_batches[:STEPS]]

    whole, whole_history = _reference()
    assert _max_diff(rank0["model"], whole.state_dict()) < 1e-5
    # the logged loss is the mean over ranks, i.e. the whole batch's loss (a mean over images)
    assert rank0["history"]["step"] == whole_history["step"] == list(range(1, STEPS + 1))
    assert rank0["history"]["loss"] == pytest.approx(whole_history["loss"], rel=1e-5, abs=1e-6)
    assert rank1["history"]["loss"] == rank0["history"]["loss"]

    # the check can fail: one process on rank 0's half of every batch ends elsewhere (no averaging with rank 1)
    half, half_history = _reference(FirstHalf)
    assert _max_diff(rank0["model"], half.state_dict()) > 1e-3
    assert half_history["loss"] != pytest.approx(whole_history["loss"], rel=1e-5, abs=1e-6)

    # rank 0 alone writes checkpoints and prints the progress bar
    assert sorted(p.name for p in (base / "ckpt").iterdir()) == [f"ckpt_{HALF:08d}.pt", f"ckpt_{STEPS:08d}.pt"]
    assert "training" in results[0].stderr and "training" not in results[1].stderr
    state = load_detector_checkpoint(base / "ckpt" / f"ckpt_{STEPS:08d}.pt")
    assert _max_diff(state["model"], rank0["model"]) == 0.0
    assert len(state["ranks"]) == 2  # every rank's generator states


def test_a_rank0_checkpoint_resumes_on_two_ranks_like_the_uninterrupted_run(full_run, tmp_path):
    base, _ = full_run
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    shutil.copy(base / "ckpt" / f"ckpt_{HALF:08d}.pt", ckpt)  # as if the run had stopped after step HALF
    results = run_ranks(tmp_path / "out", ckpt, resume=True)
    _ok(results)
    assert f"Resumed from {ckpt / f'ckpt_{HALF:08d}.pt'} at step {HALF}." in results[0].stdout
    assert "Resumed" not in results[1].stdout
    resumed = torch.load(tmp_path / "out" / "rank0.pt", weights_only=True)
    uninterrupted = torch.load(base / "out" / "rank0.pt", weights_only=True)
    assert _max_diff(resumed["model"], uninterrupted["model"]) == 0.0  # bit for bit on CPU
    for key in ("step", "loss"):  # ("seconds" are timings)
        assert resumed["history"][key] == uninterrupted["history"][key]
    assert latest_checkpoint(ckpt).name == f"ckpt_{STEPS:08d}.pt"

    # and it can fail: resuming from the other checkpoint's weights does not give the same end
    model, batches, opt, sched = make_run()
    fit_detector(model, batches, detection_loss, HALF, opt, scheduler=sched, progress=False)
    assert _max_diff(model.state_dict(), uninterrupted["model"]) > 1e-3


def test_a_crashed_rank_raises_rank_failure_error_on_the_other(tmp_path):
    start = time.monotonic()
    rank0, rank1 = run_ranks(tmp_path / "out", tmp_path / "ckpt", steps=50, crash_at=4, timeout=35)
    assert rank1.returncode != 0 and "simulated crash of rank 1" in rank1.stderr
    assert rank0.returncode != 0
    assert "RankFailureError: rank 0 of 2: a collective operation failed during step 4" in rank0.stderr, \
        rank0.stderr[-2000:]
    assert time.monotonic() - start < 35
    assert latest_checkpoint(tmp_path / "ckpt").name == f"ckpt_{HALF:08d}.pt"  # nothing written after the crash


def test_a_nan_loss_on_one_rank_stops_every_rank_with_floating_point_error(tmp_path):
    start = time.monotonic()
    results = run_ranks(tmp_path / "out", tmp_path / "ckpt", steps=50, nan_at=2, timeout=35)
    for rank, res in enumerate(results):
        assert res.returncode != 0
        assert "FloatingPointError: the loss is" in res.stderr and "at step 2" in res.stderr, res.stderr[-2000:]
        assert "RankFailureError" not in res.stderr  # the ranks agreed, nobody waited for a missing all-reduce
    assert time.monotonic() - start < 35
    assert latest_checkpoint(tmp_path / "ckpt") is None


# ----------------------------------------------------------------------------------------------------------------------
# In-process: a single-rank context, slicing, validation
# ----------------------------------------------------------------------------------------------------------------------
def _ctx(rank: int = 0, world: int = 1) -> DistributedContext:
    return DistributedContext(rank=rank, world_size=world, local_rank=rank, device=torch.device("cpu"),
                              backend="gloo")


def test_a_single_rank_context_trains_exactly_like_no_context(tmp_path):
    plain, plain_history = _reference()
    model, batches, opt, sched = make_run()
    history = fit_detector(model, batches, detection_loss, STEPS, opt, scheduler=sched, log_every=1, progress=False,
                           checkpoint_dir=tmp_path, distributed=_ctx())
    assert _max_diff(model.state_dict(), plain.state_dict()) == 0.0
    assert history["loss"] == plain_history["loss"]
    assert len(load_detector_checkpoint(latest_checkpoint(tmp_path))["ranks"]) == 1


def test_shard_batch_slices_images_and_the_targets_list_by_rank():
    images = torch.arange(6.0).reshape(6, 1)
    targets = [{"i": i} for i in range(6)]
    for rank, expected in ((0, [0, 1, 2]), (1, [3, 4, 5])):
        x, t = _shard_batch(_ctx(rank, 2), images, targets)
        assert x.reshape(-1).tolist() == expected and [d["i"] for d in t] == expected
    x, t = _shard_batch(_ctx(2, 3), images, torch.arange(6))
    assert x.reshape(-1).tolist() == [4.0, 5.0] and t.tolist() == [4, 5]
    with pytest.raises(ValueError, match="split evenly"):
        _shard_batch(_ctx(0, 4), images, targets)
    with pytest.raises(ValueError, match="one entry per image"):
        _shard_batch(_ctx(0, 2), images, targets[:4])
    with pytest.raises(ValueError, match="one entry per image"):
        _shard_batch(_ctx(0, 2), images, {"boxes": images})


def test_bad_distributed_arguments():
    model, batches, opt, _ = make_run()
    with pytest.raises(TypeError, match="DistributedContext"):
        fit_detector(model, batches, detection_loss, 1, opt, progress=False, distributed="gloo")
    from torch.utils.data import DataLoader, TensorDataset
    from torch.utils.data.distributed import DistributedSampler

    data = TensorDataset(torch.randn(8, 3, 8, 8))
    loader = DataLoader(data, batch_size=4, sampler=DistributedSampler(data, num_replicas=2, rank=0))
    with pytest.raises(ValueError, match="DistributedSampler"):
        fit_detector(model, loader, detection_loss, 1, opt, progress=False, distributed=_ctx())
