"""fit_detector (course_lib.detection.train): exact resume, Ctrl-C, the schedule, the resumable batches."""

from __future__ import annotations

import math
import os
import signal

import pytest
import torch
from torch import nn

from course_lib.detection.train import (
    InMemoryBatches,
    fit_detector,
    load_detector_checkpoint,
    warmup_cosine_factor,
    warmup_cosine_scheduler,
)
from course_lib.detection.yolo_v1 import fit_detector as fit_from_v1
from course_lib.train import latest_checkpoint


def _setup(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))  # dropout: global RNG
    gen = torch.Generator().manual_seed(123)
    x = torch.randn(40, 4, generator=gen)
    y = torch.randn(40, 2, generator=gen)
    batches = InMemoryBatches(x, y, batch_size=6, seed=7)  # 6 batches per pass: resumes cross epochs
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = warmup_cosine_scheduler(opt, total_steps=20, warmup_steps=3)
    return model, batches, opt, sched


def _loss(pred, target):
    return (pred - target).square().mean()


def test_the_v1_import_is_the_same_function():
    assert fit_from_v1 is fit_detector


def test_resume_is_exact(tmp_path):
    model_a, batches, opt, sched = _setup()
    hist_a = fit_detector(model_a, batches, _loss, 20, opt, scheduler=sched, log_every=1, progress=False)

    model_b, batches, opt, sched = _setup()
    fit_detector(model_b, batches, _loss, 9, opt, scheduler=sched, log_every=1, progress=False,
                 checkpoint_dir=tmp_path, checkpoint_every=4)
    assert latest_checkpoint(tmp_path).name == "ckpt_00000009.pt"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt_00000008.pt", "ckpt_00000009.pt"]  # keep_last=2

    model_c, batches, opt, sched = _setup(seed=99)  # other initial weights: all comes from the checkpoint
    torch.manual_seed(5)  # and another global RNG state
    hist_c = fit_detector(model_c, batches, _loss, 20, opt, scheduler=sched, log_every=1, progress=False,
                          checkpoint_dir=tmp_path, resume=True)
    for pa, pc in zip(model_a.parameters(), model_c.parameters()):
        assert torch.equal(pa, pc)
    assert hist_c["step"] == hist_a["step"] and hist_c["loss"] == hist_a["loss"]
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-2 * warmup_cosine_factor(20, 20, 3))
    state = load_detector_checkpoint(latest_checkpoint(tmp_path))
    assert state["step"] == 20


def test_interrupt_saves_prints_and_resumes_exactly(tmp_path, capsys):
    model_a, batches, opt, sched = _setup()
    fit_detector(model_a, batches, _loss, 14, opt, scheduler=sched, progress=False)

    model_b, batches, opt, sched = _setup()
    calls = {"n": 0}

    def interrupting_loss(pred, target):
        calls["n"] += 1
        if calls["n"] == 5:  # Ctrl-C during step 5: the step finishes, then the loop stops
            os.kill(os.getpid(), signal.SIGINT)
        return _loss(pred, target)

    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when the suite runs in the background (nohup, CI)
    hist = fit_detector(model_b, batches, interrupting_loss, 14, opt, scheduler=sched, progress=False,
                        checkpoint_dir=tmp_path)
    out = capsys.readouterr().out
    assert "interrupted after step 5/14" in out and "resume=True" in out
    assert hist["step"][-1] == 5 and calls["n"] == 5
    assert latest_checkpoint(tmp_path).name == "ckpt_00000005.pt"
    assert signal.getsignal(signal.SIGINT) == before  # the caller's handler is restored

    model_c, batches, opt, sched = _setup(seed=1)
    fit_detector(model_c, batches, _loss, 14, opt, scheduler=sched, progress=False, checkpoint_dir=tmp_path,
                 resume=True)
    for pa, pc in zip(model_a.parameters(), model_c.parameters()):
        assert torch.equal(pa, pc)


def test_interrupt_without_checkpoint_dir_keeps_the_weights(capsys):
    model, batches, opt, _ = _setup()

    def interrupting_loss(pred, target):
        os.kill(os.getpid(), signal.SIGINT)
        return _loss(pred, target)

    hist = fit_detector(model, batches, interrupting_loss, 10, opt, progress=False)
    assert hist["step"] == [1] and "nothing was saved" in capsys.readouterr().out


def test_resume_without_a_checkpoint_starts_fresh_and_warns_for_a_plain_loader(tmp_path):
    model, batches, opt, _ = _setup()
    hist = fit_detector(model, batches, _loss, 3, opt, progress=False, checkpoint_dir=tmp_path / "new", resume=True)
    assert hist["step"][-1] == 3
    hist = fit_detector(model, batches, _loss, 3, opt, progress=False, resume=True)  # no dir: nothing to resume
    assert hist["step"][-1] == 3
    plain = [(torch.randn(6, 4), torch.randn(6, 2)) for _ in range(3)]  # a list: no state_dict
    fit_detector(model, plain, _loss, 4, opt, progress=False, checkpoint_dir=tmp_path / "plain")
    with pytest.warns(UserWarning, match="not bit for bit"):
        hist = fit_detector(model, plain, _loss, 6, opt, progress=False, checkpoint_dir=tmp_path / "plain",
                            resume=True)
    assert hist["step"][-1] == 6
    with pytest.warns(UserWarning, match="already holds checkpoints"):
        fit_detector(model, plain, _loss, 1, opt, progress=False, checkpoint_dir=tmp_path / "plain")


def test_resume_into_another_model_is_a_clear_error(tmp_path):
    model, batches, opt, _ = _setup()
    fit_detector(model, batches, _loss, 2, opt, progress=False, checkpoint_dir=tmp_path)
    other = nn.Linear(4, 2)
    with pytest.raises(ValueError, match="does not fit this model"):
        fit_detector(other, batches, _loss, 4, torch.optim.SGD(other.parameters(), lr=0.1), progress=False,
                     checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(FileNotFoundError):
        fit_detector(model, batches, _loss, 4, opt, progress=False, resume=tmp_path / "missing.pt")


def test_bad_arguments():
    model, batches, opt, _ = _setup()
    with pytest.raises(ValueError):
        fit_detector(model, batches, _loss, 0, opt, progress=False)
    with pytest.raises(TypeError):
        fit_detector(model, batches, _loss, 2, "adam", progress=False)
    with pytest.raises(ValueError):
        fit_detector(model, batches, _loss, 2, opt, progress=False, checkpoint_every=0)
    with pytest.raises(TypeError):
        fit_detector(model, batches, _loss, 2, opt, progress=False, scheduler=object())
    with pytest.raises(TypeError):
        fit_detector(model, batches, _loss, 2, opt, progress=False, resume=3)


def test_in_memory_batches_pass_and_state():
    x = torch.arange(10.0)[:, None]
    batches = InMemoryBatches(x, [{"i": i} for i in range(10)], batch_size=3, seed=0)
    first = list(batches)
    assert len(first) == 3 and all(b[0].shape == (3, 1) for b in first)
    assert [t["i"] for t in first[0][1]] == first[0][0].flatten().long().tolist()  # targets follow the images
    it = iter(batches)
    next(it)
    state = batches.state_dict()
    rest = [b[0] for b in it]
    batches.load_state_dict(state)
    assert all(torch.equal(a, b[0]) for a, b in zip(rest, batches))
    with pytest.raises(ValueError):
        InMemoryBatches(x, list(range(9)), 3)
    with pytest.raises(ValueError):
        InMemoryBatches(x, list(range(10)), 11)


def test_warmup_cosine_factor():
    assert warmup_cosine_factor(0, 100, 10) == pytest.approx(0.1)
    assert warmup_cosine_factor(9, 100, 10) == pytest.approx(1.0)
    assert warmup_cosine_factor(10, 100, 10) == pytest.approx(1.0)
    assert warmup_cosine_factor(55, 100, 10) == pytest.approx(0.5)
    assert warmup_cosine_factor(100, 100, 10, min_factor=0.1) == pytest.approx(0.1)
    assert warmup_cosine_factor(4, 100, 10, warmup_power=4) == pytest.approx(0.5**4)
    assert warmup_cosine_factor(30, 40, 0) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.75)))
    with pytest.raises(ValueError):
        warmup_cosine_factor(0, 10, 10)
    with pytest.raises(ValueError):
        warmup_cosine_factor(0, 10, 2, min_factor=2.0)
