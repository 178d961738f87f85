"""Recorded outputs on disk: what a probe in the learner's kernel saves, and what the grader accepts back.

A record (see :mod:`course_lib.exercises.core`) is plain data plus two markers,
:class:`~course_lib.exercises.core.Opaque` and :class:`~course_lib.exercises.core.Raised`. :func:`encode` turns the
markers into small dicts so that the whole payload is made of types ``torch.load(weights_only=True)`` accepts
(tensors, numbers, strings, ``None``, lists, tuples and string-keyed dicts); :func:`decode` (run in the grader)
rebuilds the markers and refuses anything else:

- a tensor must be exactly a dense ``torch.Tensor``: a ``Parameter`` or any other class comes back as
  :class:`Opaque`, so no object of the learner's can reach a comparison (``weights_only`` already refuses to
  unpickle classes it does not know);
- nesting is bounded (depth 32), strings are cut at 4,000 characters, and decoding all the records of one file
  visits at most :data:`MAX_DECODE_NODES` parts in at most ten seconds (shared references would otherwise make a
  tiny file unfold into billions of nodes);
- a file larger than the limit given to :func:`load_payload` is not loaded at all.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from course_lib.exercises.core import Opaque, Raised

__all__ = ["encode", "decode", "load_payload", "Budget", "MAX_RECORD_ELEMENTS", "MAX_DECODE_NODES", "RecordError"]

MAX_RECORD_ELEMENTS = 5_000_000  # a tensor with more elements is recorded by its shape only
MAX_DECODE_NODES = 200_000   # parts of all the records of one results file
MAX_DECODE_SECONDS = 10.0
_MAX_DEPTH = 32
_MAX_STR = 4_000


class RecordError(ValueError):
    """A results file that is not a well-formed payload."""


def encode(x: Any, depth: int = 0) -> Any:
    """A record as ``weights_only``-loadable data (markers become ``{"__opaque__": ...}``/``{"__raised__": ...}``)."""
    if depth > _MAX_DEPTH:
        return {"__opaque__": "a structure nested too deeply"}
    t = type(x)
    if t is torch.Tensor:
        if x.layout != torch.strided:
            return {"__opaque__": f"Tensor with layout {x.layout}"}
        if x.numel() > MAX_RECORD_ELEMENTS:
            return {"__opaque__": f"Tensor of shape {tuple(x.shape)} (too large to record)"}
        return x.detach().to("cpu").contiguous().clone()
    if t is Opaque:
        return {"__opaque__": str(x.type_name)[:_MAX_STR]}
    if t is Raised:
        return {"__raised__": str(x.type_name)[:200], "message": str(x.message)[:_MAX_STR],
                "not_implemented": bool(x.not_implemented)}
    if t in (bool, int, float) or x is None:
        return x
    if t is str:
        return x[:_MAX_STR]
    if t in (list, tuple):
        return [encode(v, depth + 1) for v in x]
    if t is dict and all(type(k) is str for k in x):
        return {k[:_MAX_STR]: encode(v, depth + 1) for k, v in x.items()}
    return {"__opaque__": t.__name__}


class Budget:
    """What decoding the records of one results file may cost: nodes visited (a payload with shared references
    would otherwise unfold into exponentially many), and seconds."""

    def __init__(self, nodes: int = MAX_DECODE_NODES, seconds: float = MAX_DECODE_SECONDS) -> None:
        self.nodes = nodes
        self.deadline = time.monotonic() + seconds

    def spend(self) -> None:
        self.nodes -= 1
        if self.nodes < 0:
            raise RecordError(f"the record has more than {MAX_DECODE_NODES:,} parts")
        if self.nodes % 4096 == 0 and time.monotonic() > self.deadline:
            raise RecordError("decoding the record took too long")


def decode(x: Any, depth: int = 0, budget: Budget | None = None) -> Any:
    """The record :func:`encode` made, with markers rebuilt; :class:`RecordError` for anything unexpected.

    ``budget`` (shared by every record of a file) bounds the nodes visited and the time spent."""
    if budget is None:
        budget = Budget()
    budget.spend()
    if depth > _MAX_DEPTH:
        raise RecordError("the record is nested too deeply")
    t = type(x)
    if t is torch.Tensor:
        if x.layout != torch.strided:
            return Opaque(f"Tensor with layout {x.layout}")
        return x.to("cpu")
    if isinstance(x, torch.Tensor):  # a Parameter (weights_only refuses other classes): not a plain result
        return Opaque(type(x).__name__)
    if t in (bool, int, float) or x is None:
        return x
    if t is str:
        return x[:_MAX_STR]
    if t in (list, tuple):
        return [decode(v, depth + 1, budget) for v in x]
    if t is dict:
        if not all(type(k) is str for k in x):
            raise RecordError("a dict in the record has a key that is not a string")
        if "__opaque__" in x:
            return Opaque(str(x["__opaque__"])[:_MAX_STR])
        if "__raised__" in x:
            return Raised(str(x["__raised__"])[:200], str(x.get("message", ""))[:_MAX_STR],
                          bool(x.get("not_implemented", False)))
        return {k[:_MAX_STR]: decode(v, depth + 1, budget) for k, v in x.items()}
    raise RecordError(f"the record holds a {t.__name__}")


def load_payload(path: Path, max_bytes: int) -> dict[str, Any]:
    """Load a probe's results file with ``torch.load(weights_only=True)`` and check its frame (not the records)."""
    size = path.stat().st_size
    if size > max_bytes:
        raise RecordError(f"the results file is {size / 2**20:.0f} MiB, over the limit of {max_bytes / 2**20:.0f} MiB")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or forged file
        raise RecordError(f"the results file cannot be read ({type(err).__name__}: {err})") from err
    if type(payload) is not dict or payload.get("format") != 1 or type(payload.get("cases")) is not list:
        raise RecordError("the results file is not a payload of this grader")
    for key in ("violations", "missing"):
        if type(payload.get(key, [])) is not list:
            raise RecordError(f"the results file's {key!r} is not a list")
    return payload

