"""A registry of models (timm-style): every registered model gets a smoke test for free.

    @register_model("mlp_generator", kind="generator")
    class MLPGenerator(nn.Module): ...

    G = create_model("mlp_generator", z_dim=64, out_shape=(2,))

Each entry records an example of keyword arguments (``example_kwargs``) and an input-making function so that the
generated smoke tests can build the model and run a forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

__all__ = ["ModelEntry", "register_model", "create_model", "list_models", "get_entry"]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    cls: Callable[..., torch.nn.Module]
    kind: str  # "generator", "discriminator", "detector", ...
    example_kwargs: dict[str, Any] = field(default_factory=dict)
    # builds an example input batch for the smoke test: (model, batch_size) -> Tensor
    example_input: Callable[[torch.nn.Module, int], torch.Tensor] | None = None
    # the expected output shape for that input: (model, batch_size) -> tuple
    expected_shape: Callable[[torch.nn.Module, int], tuple[int, ...]] | None = None


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    *,
    kind: str,
    example_kwargs: dict[str, Any] | None = None,
    example_input: Callable[[torch.nn.Module, int], torch.Tensor] | None = None,
    expected_shape: Callable[[torch.nn.Module, int], tuple[int, ...]] | None = None,
):
    """Class decorator that registers a model under ``name``."""

    def decorator(cls):
        if name in _REGISTRY and _REGISTRY[name].cls is not cls:
            raise ValueError(f"model name {name!r} is already registered by {_REGISTRY[name].cls.__qualname__}.")
        _REGISTRY[name] = ModelEntry(name, cls, kind, dict(example_kwargs or {}), example_input, expected_shape)
        return cls

    return decorator


def get_entry(name: str) -> ModelEntry:
    _import_all()
    if name not in _REGISTRY:
        raise KeyError(f"no model named {name!r}; registered: {', '.join(sorted(_REGISTRY)) or '(none)'}.")
    return _REGISTRY[name]


def create_model(name: str, **kwargs) -> torch.nn.Module:
    """Build the registered model ``name`` with ``kwargs``."""
    return get_entry(name).cls(**kwargs)


def list_models(kind: str | None = None) -> list[str]:
    """Names of the registered models, optionally only those of one ``kind``."""
    _import_all()
    return sorted(n for n, e in _REGISTRY.items() if kind is None or e.kind == kind)


def _import_all() -> None:
    """Import the modules that register models (no import-time side effects elsewhere)."""
    import importlib

    for module in ("course_lib.gan.models", "course_lib.gan.dcgan", "course_lib.gan.progan", "course_lib.gan.stylegan",
                   "course_lib.gan.lapgan", "course_lib.gan.conditional", "course_lib.gan.acgan",
                   "course_lib.gan.infogan", "course_lib.gan.semi_supervised", "course_lib.gan.aae", "course_lib.gan.cogan",
                   "course_lib.gan.clustergan", "course_lib.gan.icgan", "course_lib.gan.sagan", "course_lib.gan.biggan",
                   "course_lib.gan.bigan", "course_lib.gan.unet_gan", "course_lib.gan.self_modulation",
                   "course_lib.detection.yolo_v1",
                   "course_lib.detection.yolo_v2", "course_lib.detection.yolo_v3", "course_lib.detection.yolo_v4_tiny",
                   "course_lib.translation.pix2pix", "course_lib.translation.cyclegan",
                   "course_lib.translation.stargan", "course_lib.translation.pixelda",
                   "course_lib.translation.unpaired_family", "course_lib.restoration.srresnet",
                   "course_lib.restoration.srgan", "course_lib.restoration.esrgan", "course_lib.restoration.inpainting",
                   "course_lib.restoration.cam"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:  # a module not written yet
            if err.name != module:
                raise
