"""Data-parallel training (Appendix B) on CPU: gloo, two processes on the loopback interface.

Each multi-process test starts two ranks of ``python -m course_lib.train.launch CONFIG`` with torchrun's
environment variables (one through torchrun itself) and bounds them in time; the references are single-process
trainers built in this process from the same config file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from distributed_ranks import assert_ranks_ok, spawn_ranks
import torch
from torch import nn

from course_lib.train import AdversarialTrainer, TrainerConfig, latest_checkpoint
from course_lib.train.distributed import (
    CrossRankBatchNorm,
    DistributedContext,
    RankFailureError,
    attach,
    convert_batchnorm,
    init_distributed,
)
from course_lib.train.launch import build_from_spec, load_spec

ROOT = Path(__file__).resolve().parents[1]
RUN_TIMEOUT_S = 45  # a hang fails the test instead of blocking the suite

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")

# One config file drives the ranks and the references. B: each rank's batch; the reference uses 2 B.
CONFIG = '''
import torch
from torch import nn

B = 8
CASE = {case!r}
CKPT = {ckpt!r}


class Noise(nn.Module):
    def __init__(self, bn):
        super().__init__()
        self.z_dim = 3
        layers = [nn.Linear(3, 16, bias=not bn)] + ([nn.BatchNorm1d(16)] if bn else []) + [nn.Tanh(), nn.Linear(16, 2)]
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(z)


class R1Objective:
    """The non-saturating loss with an R1 penalty computed by the objective itself (through DDP's wrapper); the
    generator is a container, nn.ModuleDict({{"net": ...}}), which DDP cannot call: gradient hooks average it."""
    needs_noise = True

    def d_loss(self, G, D, batch, z):
        from course_lib.gan.penalties import r1_penalty
        with torch.no_grad():
            fake = G["net"](z)
        real_logits, fake_logits = D(batch).reshape(-1), D(fake).reshape(-1)
        loss = nn.functional.softplus(-real_logits).mean() + nn.functional.softplus(fake_logits).mean()
        pen = r1_penalty(D, batch)
        return loss + 5.0 * pen, {{"d_real": torch.sigmoid(real_logits).mean(), "r1": pen}}

    def g_loss(self, G, D, batch, z):
        return nn.functional.softplus(-D(G["net"](z)).reshape(-1)).mean(), {{}}

    def sample(self, G, z, batch=None):
        return G["net"](z)


def crash_on_rank1(trainer, step, logs):
    """Rank 1 dies at step 3 (an exception); the other rank must stop with a clear error, not hang."""
    import os
    if step == 3 and os.environ.get("RANK") == "1":
        raise RuntimeError("simulated crash of rank 1")


def stop_on_rank1(trainer, step, logs):
    """A callback's early stop on one rank only: every rank must stop after the same step."""
    import os
    if step == 6 and os.environ.get("RANK") == "1":
        trainer.stop_training = True


def FACTORY():
    torch.manual_seed(0)
    G = nn.ModuleDict({{"net": Noise(bn=True)}}) if CASE == "objective_bn" else Noise(bn=False)
    D = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
    data = torch.randn(256, 2, generator=torch.Generator().manual_seed(5)) * 0.5 + 1.0
    config = dict(batch_size=B, steps=4, lr_g=1e-2, lr_d=1e-2, log_every=1, sample_every=2, n_samples=8,
                  progress=False, checkpoint_dir=CKPT, seed=3, z_dim=3)
    out = dict(generator=G, discriminator=D, data=data, config=config)
    if CASE in ("plain", "resume"):
        config["penalty"] = "r1"  # a double backward in every discriminator update
    if CASE == "resume":
        from course_lib.train import LambdaCallback
        out["callbacks"] = [LambdaCallback(on_step_end=stop_on_rank1)]
    if CASE == "objective_bn":
        out["objective"] = R1Objective()
    if CASE == "crash":
        from course_lib.train import LambdaCallback
        out["callbacks"] = [LambdaCallback(on_step_end=crash_on_rank1)]
        config["steps"] = 50
    return out


DISTRIBUTED = {{"timeout_s": 20, "sync_batchnorm": CASE == "objective_bn"}}
'''


def _write_config(tmp_path: Path, case: str, ckpt: Path) -> Path:
    path = tmp_path / f"config_{case}.py"
    path.write_text(CONFIG.format(case=case, ckpt=str(ckpt)))
    return path


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def run_ranks(config: Path, *args: str, world: int = 2, timeout: float = RUN_TIMEOUT_S) -> list[subprocess.CompletedProcess]:
    """Start ``world`` ranks of the launcher with torchrun's variables on the loopback; wait at most ``timeout``."""
    return spawn_ranks(lambda rank: ["-m", "course_lib.train.launch", str(config), *args], world, timeout)


_ok = assert_ranks_ok


def reference(config: Path, steps: int, batch_factor: int = 2, **overrides) -> AdversarialTrainer:
    """The single-process run of the same config with ``batch_factor`` times the per-rank batch."""
    spec = load_spec(config)
    built = spec["factory"]()
    cfg = dict(built["config"], checkpoint_dir=None, steps=steps, **overrides)
    cfg["batch_size"] *= batch_factor
    trainer = AdversarialTrainer(built["generator"], built["discriminator"], built["data"], TrainerConfig(**cfg),
                                 objective=built.get("objective"))
    trainer.fit()
    return trainer


def _weights(state: dict) -> list[torch.Tensor]:
    return [v.float() for v in state.values()]


def assert_same_weights(ckpt_state: dict, trainer: AdversarialTrainer, atol: float = 2e-5) -> None:
    for key, net in (("generator", trainer.G), ("discriminator", trainer.D)):
        for (name, a), b in zip(ckpt_state[key].items(), net.state_dict().values()):
            torch.testing.assert_close(a.float(), b.float(), rtol=1e-4, atol=atol, msg=f"{key}.{name}")


def max_difference(ckpt_state: dict, trainer: AdversarialTrainer) -> float:
    return max((a.float() - b.float()).abs().max().item()
               for key, net in (("generator", trainer.G), ("discriminator", trainer.D))
               for a, b in zip(_weights(ckpt_state[key]), _weights(net.state_dict())))


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


# ----------------------------------------------------------------------------------------------------------------
# Two ranks = one process with the whole batch; resume on two ranks
# ----------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def first_half(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two ranks, 4 steps with an R1 penalty, started by torchrun itself; rank 0 writes the checkpoint."""
    tmp = tmp_path_factory.mktemp("ddp_plain")
    config = _write_config(tmp, "plain", tmp / "ckpt")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "course_lib.train.launch", str(config), "--summary", str(tmp / "summary.json")]
    res = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "[rank 0 of 2, gloo] step 4" in res.stdout  # rank 0 alone prints the summary line
    assert res.stdout.count("[rank") == 1
    return config, tmp


def test_two_ranks_with_half_the_batch_match_one_process_with_the_whole_batch(first_half):
    config, tmp = first_half
    state = _load(latest_checkpoint(tmp / "ckpt"))
    assert state["step"] == 4
    full = reference(config, steps=4)
    assert_same_weights(state, full)
    # the test can tell: the weights moved far more than the tolerance, and half the batch on one process differs
    init = load_spec(config)["factory"]()
    moved = max((a - b).abs().max().item() for a, b in zip(_weights(state["generator"]),
                                                           _weights(init["generator"].state_dict())))
    assert moved > 1e-2
    assert max_difference(state, reference(config, steps=4, batch_factor=1)) > 1e-3
    # logs are the mean over ranks, so they match the single process too; samples only from rank 0
    torch.testing.assert_close(torch.tensor(state["history"]["d_loss"]), torch.tensor(full.history["d_loss"]),
                               rtol=1e-4, atol=1e-5)
    assert [s for s, _ in state["samples"]] == [0, 2, 4]
    assert len(state["ranks"]) == 2  # every rank's global generator state


def test_rank0_checkpoint_resumes_on_two_ranks(first_half, tmp_path):
    """Resume the 4-step checkpoint on two ranks towards 8 steps; rank 1 alone asks to stop after step 6, and
    both ranks stop there (else rank 0 would wait in step 7's all-reduce)."""
    config, tmp = first_half
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tmp / "ckpt", ckpt)
    resumed_config = _write_config(tmp_path, "resume", ckpt)
    results = run_ranks(resumed_config, "--steps", "8", "--resume")
    _ok(results)
    assert "[rank 0 of 2, gloo] step 6" in results[0].stdout
    state = _load(latest_checkpoint(ckpt))
    assert state["step"] == 6
    assert_same_weights(state, reference(config, steps=6))  # = the uninterrupted run, to float rounding


def test_gradient_penalty_double_backward_under_ddp(first_half):
    """The first run's R1 (a double backward, from TrainerConfig.penalty, computed on the module under DDP): the
    weights matched above; the penalty itself is the one-process penalty of the whole batch at every step."""
    config, tmp = first_half
    state = _load(latest_checkpoint(tmp / "ckpt"))
    full = reference(config, steps=4)
    assert_same_weights(state, full)
    assert all(p > 0 for p in state["history"]["penalty"])
    torch.testing.assert_close(torch.tensor(state["history"]["penalty"]), torch.tensor(full.history["penalty"]),
                               rtol=1e-4, atol=1e-6)


def test_objective_with_penalty_and_cross_rank_batchnorm(tmp_path):
    """An objective (its own R1 through DDP's wrapper) and a generator held in an nn.ModuleDict (averaged by
    gradient hooks, not DDP) with batch norm converted to cross-rank batch norm: two ranks match one process with
    plain batch norm over the whole batch."""
    config = _write_config(tmp_path, "objective_bn", tmp_path / "ckpt")
    _ok(run_ranks(config))
    state = _load(latest_checkpoint(tmp_path / "ckpt"))
    full = reference(config, steps=4)
    assert_same_weights(state, full)  # includes the batch norm's running statistics
    assert "r1" in state["history"]
    torch.testing.assert_close(torch.tensor(state["history"]["r1"]), torch.tensor(full.history["r1"]),
                               rtol=1e-4, atol=1e-6)


def test_a_crashed_rank_stops_the_run_with_a_clear_error(tmp_path):
    config = _write_config(tmp_path, "crash", tmp_path / "ckpt")
    start = time.monotonic()
    rank0, rank1 = run_ranks(config, timeout=40)
    assert rank1.returncode != 0 and "simulated crash of rank 1" in rank1.stderr
    assert rank0.returncode != 0
    assert "RankFailureError: rank 0 of 2: a collective operation failed" in rank0.stderr, rank0.stderr[-2000:]
    assert "another rank has stopped" in rank0.stderr
    assert time.monotonic() - start < 40
    assert latest_checkpoint(tmp_path / "ckpt") is None  # no half-finished run was saved as if complete


# ----------------------------------------------------------------------------------------------------------------
# In-process: single-rank context, validation
# ----------------------------------------------------------------------------------------------------------------
def _single() -> DistributedContext:
    return DistributedContext(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"), backend="gloo")


def _small_trainer(**cfg) -> AdversarialTrainer:
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(3, 2))
    G.z_dim = 3
    D = nn.Sequential(nn.Linear(2, 1))
    config = TrainerConfig(**{"batch_size": 4, "steps": 2, "progress": False, "sample_every": 0, **cfg})
    return AdversarialTrainer(G, D, torch.randn(32, 2), config)


def test_single_rank_context_trains_like_a_plain_trainer(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    ctx = init_distributed()
    assert (ctx.rank, ctx.world_size, ctx.backend) == (0, 1, "gloo") and ctx.is_main
    a, b = _small_trainer(), _small_trainer()
    b.distribute(ctx)
    a.fit()
    b.fit()
    for p, q in zip(a.G.parameters(), b.G.parameters()):
        assert torch.equal(p, q)


def test_shard_and_seed():
    ctx = DistributedContext(rank=1, world_size=2, local_rank=1, device=torch.device("cpu"), backend="gloo")
    x = torch.arange(8)
    assert ctx.shard(x).tolist() == [4, 5, 6, 7]
    a, b = ctx.shard((x, x * 10))
    assert a.tolist() == [4, 5, 6, 7] and b.tolist() == [40, 50, 60, 70]
    with pytest.raises(ValueError, match="split evenly"):
        ctx.shard(torch.arange(7))
    with pytest.raises(TypeError):
        ctx.shard([1, 2])
    assert ctx.seed(10) == 11
    first = torch.rand(3)
    ctx.seed(10)
    assert torch.equal(first, torch.rand(3))
    with pytest.raises(ValueError):
        ctx.seed(-1)


def test_bad_settings_are_refused(monkeypatch):
    with pytest.raises(ValueError, match="timeout_s"):
        init_distributed(timeout_s=0)
    with pytest.raises(ValueError, match="backend"):
        init_distributed("mpi")
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "1")
    with pytest.raises(ValueError, match="inconsistent"):
        init_distributed("gloo")
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(ValueError, match="integer"):
        init_distributed("gloo")
    with pytest.raises(ValueError, match="nonfinite"):
        attach(_small_trainer(nonfinite="skip"), _single())
    with pytest.raises(TypeError, match="DistributedContext"):
        attach(_small_trainer(), object())
    two = DistributedContext(rank=0, world_size=2, local_rank=0, device=torch.device("cpu"), backend="gloo")
    with pytest.raises(ValueError, match="larger than the dataset"):
        attach(_small_trainer(batch_size=20), two)
    loader = torch.utils.data.DataLoader(torch.randn(32, 2), batch_size=4)
    G, D = nn.Linear(3, 2), nn.Linear(2, 1)
    G.z_dim = 3
    with pytest.raises(ValueError, match="DistributedSampler"):
        attach(AdversarialTrainer(G, D, loader, TrainerConfig(progress=False)), two)
    trained = _small_trainer()
    trained.fit()
    with pytest.raises(ValueError, match="before fit"):
        attach(trained, _single())


def test_rank_failure_error_names_rank_and_cause():
    err = RankFailureError(1, 4, "during step 7", 30.0, RuntimeError("Connection closed by peer"))
    text = str(err)
    assert "rank 1 of 4" in text and "during step 7" in text and "30 s" in text and "Connection closed" in text


def test_launch_spec_validation(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"variant": "lsgan", "factory": "x:y"}')
    with pytest.raises(ValueError, match="exactly one"):
        load_spec(bad)
    bad.write_text('{"variant": "lsgan", "colour": 1}')
    with pytest.raises(ValueError, match="unknown keys"):
        load_spec(bad)
    bad.write_text('{"variant": "lsgan", "distributed": {"buckets": 3}}')
    with pytest.raises(ValueError, match="distributed"):
        load_spec(bad)
    with pytest.raises(ValueError, match=".json or a .py"):
        (tmp_path / "c.yaml").write_text("x")
        load_spec(tmp_path / "c.yaml")
    with pytest.raises(FileNotFoundError):
        load_spec(tmp_path / "missing.json")
    good = tmp_path / "zoo.json"
    good.write_text('{"variant": "lsgan", "steps": 3, "config": {"batch_size": 16}}')
    trainer = build_from_spec(load_spec(good), _single())
    assert trainer.config.batch_size == 16 and trainer.dist is not None
    trainer.fit()
    assert trainer.step == 3


def test_cross_rank_batchnorm_is_batchnorm_on_one_process():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU())
    ref = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU())
    ref.load_state_dict(net.state_dict())
    weight = net[1].weight
    net = convert_batchnorm(net)
    assert isinstance(net[1], CrossRankBatchNorm) and net[1].weight is weight  # same Parameter: optimizers keep it
    x = torch.randn(4, 2, 6, 6)
    torch.testing.assert_close(net(x), ref(x))
    net.eval(), ref.eval()
    torch.testing.assert_close(net(x), ref(x))
    with pytest.raises(TypeError):
        convert_batchnorm("bn")


def test_a_distributed_sampler_gets_a_new_epoch_each_pass():
    from torch.utils.data.distributed import DistributedSampler

    data = torch.randn(16, 2)
    sampler = DistributedSampler(data, num_replicas=1, rank=0, shuffle=True, seed=0)
    loader = torch.utils.data.DataLoader(data, batch_size=8, sampler=sampler)
    G, D = nn.Linear(3, 2), nn.Linear(2, 1)
    G.z_dim = 3
    trainer = AdversarialTrainer(G, D, loader, TrainerConfig(steps=5, progress=False, sample_every=0))
    trainer.distribute(_single())
    trainer.fit()  # 5 steps of 2 batches per pass: passes 0, 1 and 2
    assert sampler.epoch == 2
