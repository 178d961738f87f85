"""DCGAN training throughput: the course's ``AdversarialTrainer`` against a plain fp32 eager loop, same model, one run.

Both train the paper's 64 x 64 DCGAN (``DCGANGenerator``/``DCGANDiscriminator``, z = 100, base 64, 3 channels) with
the non-saturating loss, Adam (lr 2e-4, betas (0.5, 0.999)) and one discriminator step per generator step, on a
tensor of images already on the device (random values in [-1, 1]: throughput does not depend on the pixels, and the
benchmark must run offline). Reported: images per second, where one step consumes ``batch`` real images.

- **plain**: the loop a tutorial writes: float32, NCHW, ``torch.optim.Adam`` with its default implementation,
  ``BCEWithLogitsLoss``, no cuDNN autotuning, no per-step host synchronisation other than what PyTorch does.
- **trainer**: ``AdversarialTrainer`` with its defaults for the device (on CUDA: bf16 autocast (fp16 + GradScaler
  where bf16 is missing), fused Adam, cuDNN benchmark mode, and ``channels_last`` when asked), including its own
  per-step work (the non-finite loss guard, the history every ``log_every`` steps).

The two alternate, ``--repeats`` times each after a warm-up, and the table gives the median of each and the ratio of
medians (the machine is shared and noisy).

    python benchmarks/bench_dcgan.py                              # CPU: small batch, few steps; CUDA if visible
    python benchmarks/bench_dcgan.py --device cuda --batch 128 --steps 50 --channels-last
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import time

import torch
from torch import nn

from course_lib.gan.dcgan import DCGANDiscriminator, DCGANGenerator
from course_lib.train import AdversarialTrainer, TrainerConfig

LR, BETAS, Z_DIM = 2e-4, (0.5, 0.999), 100


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class PlainLoop:
    """The reference: a float32 eager DCGAN loop as written in most tutorials."""

    def __init__(self, G: nn.Module, D: nn.Module, data: torch.Tensor, batch: int) -> None:
        self.G, self.D, self.data, self.batch = G, D, data, batch
        self.opt_g = torch.optim.Adam(G.parameters(), lr=LR, betas=BETAS)
        self.opt_d = torch.optim.Adam(D.parameters(), lr=LR, betas=BETAS)
        self.bce = nn.BCEWithLogitsLoss()
        device = data.device
        self.ones = torch.ones(batch, device=device)
        self.zeros = torch.zeros(batch, device=device)

    def run(self, steps: int) -> None:
        device, n = self.data.device, self.data.shape[0]
        for _ in range(steps):
            real = self.data[torch.randint(0, n, (self.batch,), device=device)]
            z = torch.randn(self.batch, Z_DIM, device=device)
            fake = self.G(z).detach()
            d_loss = self.bce(self.D(real).view(-1), self.ones) + self.bce(self.D(fake).view(-1), self.zeros)
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
            z = torch.randn(self.batch, Z_DIM, device=device)
            g_loss = self.bce(self.D(self.G(z)).view(-1), self.ones)
            self.opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            self.opt_g.step()


def _models(device: torch.device, size: int, base: int) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    G = DCGANGenerator(z_dim=Z_DIM, image_size=size, channels=3, base=base).to(device)
    D = DCGANDiscriminator(image_size=size, channels=3, base=base).to(device)
    return G, D


def bench(device: torch.device, batch: int, steps: int, warmup: int, repeats: int, size: int, base: int,
          channels_last: bool, n_images: int) -> dict[str, list[float]]:
    """Images per second of each contender, one entry per repeat."""
    gen = torch.Generator().manual_seed(0)
    data = (torch.rand(n_images, 3, size, size, generator=gen) * 2 - 1).to(device)
    G, D = _models(device, size, base)
    plain = PlainLoop(copy.deepcopy(G), copy.deepcopy(D), data, batch)
    cfg = TrainerConfig(steps=max(warmup, 1), batch_size=batch, z_dim=Z_DIM, loss="non_saturating", lr_g=LR, lr_d=LR,
                        betas=BETAS, channels_last=channels_last, sample_every=0, log_every=10, progress=False)
    trainer = AdversarialTrainer(copy.deepcopy(G), copy.deepcopy(D), data, cfg, device=device)

    torch.backends.cudnn.benchmark = False
    plain.run(warmup)
    if warmup:
        trainer.fit(warmup)                   # turns cuDNN benchmark mode on for the trainer's runs
    rates: dict[str, list[float]] = {"plain fp32 eager": [], "AdversarialTrainer": []}
    done = warmup
    for _ in range(repeats):
        torch.backends.cudnn.benchmark = False
        _sync(device)
        t0 = time.perf_counter()
        plain.run(steps)
        _sync(device)
        rates["plain fp32 eager"].append(batch * steps / (time.perf_counter() - t0))

        done += steps
        _sync(device)
        t0 = time.perf_counter()
        trainer.fit(done)
        _sync(device)
        rates["AdversarialTrainer"].append(batch * steps / (time.perf_counter() - t0))
    return rates


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if visible, and cpu)")
    p.add_argument("--batch", type=int, default=None, help="batch size (default: 128 on CUDA, 16 on CPU)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per repeat (default: 50 CUDA, 3 CPU)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 10 CUDA, 1 CPU)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--size", type=int, default=64, choices=(32, 64), help="image side (64: the paper's)")
    p.add_argument("--base", type=int, default=64, help="feature maps of the last hidden layer (64: the paper's)")
    p.add_argument("--channels-last", action="store_true", help="the trainer uses NHWC (CUDA)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [args.device] if args.device else (["cuda"] if torch.cuda.is_available() else []) + ["cpu"]
    print(f"DCGAN throughput, {args.size}x{args.size}, base {args.base}; torch {torch.__version__}, "
          f"{platform.machine()}, {torch.get_num_threads()} CPU thread(s)")
    for name in devices:
        device = torch.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise SystemExit("--device cuda: no CUDA device is visible")
        cuda = device.type == "cuda"
        batch = args.batch or (128 if cuda else 16)
        steps = args.steps or (50 if cuda else 3)
        warmup = args.warmup if args.warmup is not None else (10 if cuda else 1)
        label = torch.cuda.get_device_name(device) if cuda else "CPU"
        rates = bench(device, batch, steps, warmup, args.repeats, args.size, args.base, args.channels_last,
                      n_images=max(4 * batch, 512))
        print(f"\n{label}: batch {batch}, {steps} steps x {args.repeats} repeats (after {warmup} warm-up steps)")
        print(f"{'contender':<22}{'median img/s':>14}{'min':>10}{'max':>10}")
        medians = {}
        for who, values in rates.items():
            medians[who] = statistics.median(values)
            print(f"{who:<22}{medians[who]:>14.1f}{min(values):>10.1f}{max(values):>10.1f}")
        print(f"ratio trainer / plain (medians): {medians['AdversarialTrainer'] / medians['plain fp32 eager']:.2f}x")


if __name__ == "__main__":
    main()
