"""Smoke tests generated from the model registry (timm-style): every registered model is built from its
``example_kwargs``, run forward on its ``example_input`` and checked for shape, finiteness and a working backward."""

from __future__ import annotations

import pytest
import torch

from course_lib.registry import create_model, get_entry, list_models

MODEL_NAMES = list_models()


def test_registry_is_not_empty():
    assert {"mlp_generator", "mlp_discriminator"} <= set(MODEL_NAMES)


def _build(name: str) -> tuple[torch.nn.Module, object]:
    entry = get_entry(name)
    assert entry.example_input is not None, f"{name}: register_model(..., example_input=...) is missing."
    assert entry.expected_shape is not None, f"{name}: register_model(..., expected_shape=...) is missing."
    torch.manual_seed(0)
    return create_model(name, **entry.example_kwargs), entry


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_forward_backward_train_mode(name):
    model, entry = _build(name)
    model.train()
    x = entry.example_input(model, 3)
    out = model(*x) if isinstance(x, tuple) else model(x)  # conditional models: (z, y) or (x, y)
    assert isinstance(out, torch.Tensor), f"{name}: forward returned {type(out).__name__}, not a Tensor."
    assert tuple(out.shape) == tuple(entry.expected_shape(model, 3))
    assert torch.isfinite(out).all(), f"{name}: non-finite output."
    out.float().square().mean().backward()
    grads = [(n, p.grad) for n, p in model.named_parameters() if p.requires_grad]
    assert grads, f"{name}: no trainable parameters."
    assert any(g is not None and g.abs().sum() > 0 for _, g in grads), f"{name}: backward produced no gradient."
    for n, g in grads:
        assert g is None or torch.isfinite(g).all(), f"{name}: non-finite gradient in {n}."


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_forward_eval_mode_batch_of_one(name):
    model, entry = _build(name)
    model.eval()
    x = entry.example_input(model, 1)
    with torch.no_grad():
        out1, out2 = (model(*x), model(*x)) if isinstance(x, tuple) else (model(x), model(x))
    assert tuple(out1.shape) == tuple(entry.expected_shape(model, 1))
    assert torch.isfinite(out1).all()
    assert torch.equal(out1, out2), f"{name}: eval-mode forward is not deterministic."


@pytest.mark.parametrize("name", list_models(kind="generator"))
def test_generators_expose_latent(name):
    model, _ = _build(name)
    assert isinstance(model.z_dim, int) and model.z_dim > 0
    z = model.sample_z(2, generator=torch.Generator().manual_seed(0))
    assert z.shape[0] == 2 and z.shape[1] == model.z_dim
