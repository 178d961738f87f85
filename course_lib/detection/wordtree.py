"""YOLO9000's WordTree (Redmon & Farhadi 2017, Section 4 "Stronger"): a label hierarchy, the hierarchical softmax,
and the joint training rule on detection and classification images.

A WordTree is a tree of labels. Each node :math:`k` has a conditional probability given its parent,
:math:`P(k \\mid \\text{parent}(k))`, and the siblings of one parent share one softmax (Section 4 of the paper).
The absolute probability of a node is the product of the conditionals along the path from the root,

.. math::
    P(k) = \\prod_{j \\in \\text{path}(k)} P(j \\mid \\text{parent}(j)),

with :math:`P(\\text{root}) = 1` (in detection the root's probability is the objectness of the box). Training on a
label :math:`k` pushes up every node of its path, each in its own sibling softmax:
:math:`-\\sum_{j \\in \\text{path}(k)} \\log P(j \\mid \\text{parent}(j))`; a label high in the tree (an image
known only as "a dog") trains only the top of the path, which is how the tree merges data sets labelled at
different granularities.

The joint training rule (Section 4 of the paper): a detection image backpropagates the whole loss, its class loss
only at and above the label's level of the tree (which the path loss does); a classification image, which has no box,
backpropagates only the class loss, at the box that predicts the highest probability for its class. Darknet's
``region`` layer does the same: the best box maximises :math:`\\sigma(t_o) \\, P(\\text{label})`.

Course-sized tree: :func:`digit_wordtree`, the ten digits grouped by shape under three parents.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["WordTree", "digit_wordtree", "DIGIT_GROUPS", "yolo9000_loss"]


class WordTree:
    """A label tree with sibling groups, stored as index tensors (everything vectorized over the batch).

    Args:
        parents: ``parents[k]`` is the parent of node ``k``, or ``-1`` for the children of the (implicit) root.
            Parents come before their children (``parents[k] < k``).
        names: one name per node.

    Attributes:
        group: ``(n,)`` int64, the sibling group of each node (the children of one parent form a group).
        depth: ``(n,)`` int64, 1 for the children of the root.
        ancestors: ``(n, n)`` bool, ``ancestors[k, j]``: ``j`` is on the path from the root to ``k`` (``k``
            included).
    """

    def __init__(self, parents: Sequence[int], names: Sequence[str]) -> None:
        parents = [int(p) for p in parents]
        if len(parents) == 0 or len(names) != len(parents):
            raise ValueError(f"parents and names must be non-empty and of equal length, got {len(parents)} and "
                             f"{len(names)}.")
        for k, p in enumerate(parents):
            if not -1 <= p < k:
                raise ValueError(f"node {k} ({names[k]!r}) has parent {p}: parents must come before their children "
                                 "(-1 = the root).")
        self.parents = torch.tensor(parents, dtype=torch.long)
        self.names = list(names)
        self.n = len(parents)
        keys = sorted(set(parents))  # one group per distinct parent
        self.group = torch.tensor([keys.index(p) for p in parents], dtype=torch.long)
        self.n_groups = len(keys)
        self.group_parent = torch.tensor(keys, dtype=torch.long)  # (G,) the parent of each group (-1: root)
        depth = []
        for p in parents:
            depth.append(1 if p < 0 else depth[p] + 1)
        self.depth = torch.tensor(depth, dtype=torch.long)
        anc = torch.zeros(self.n, self.n, dtype=torch.bool)
        for k, p in enumerate(parents):
            if p >= 0:
                anc[k] = anc[p]
            anc[k, k] = True
        self.ancestors = anc
        self.children_group = torch.full((self.n + 1,), -1, dtype=torch.long)  # index p + 1 -> group of p's children
        for g, p in enumerate(keys):
            self.children_group[p + 1] = g

    def __len__(self) -> int:
        return self.n

    def path(self, node: int) -> list[int]:
        """The nodes from the top of the tree down to ``node`` (included)."""
        self._check_node(node)
        out = []
        while node >= 0:
            out.append(node)
            node = int(self.parents[node])
        return out[::-1]

    def _check_node(self, node: object) -> None:
        if isinstance(node, bool) or not isinstance(node, int) or not 0 <= node < self.n:
            raise ValueError(f"node must be an int in [0, {self.n}), got {node!r}.")

    def _check_logits(self, logits: object) -> Tensor:
        if not isinstance(logits, Tensor) or not logits.is_floating_point():
            raise TypeError("logits must be a floating-point torch.Tensor.")
        if logits.ndim == 0 or logits.shape[-1] != self.n:
            raise ValueError(f"logits must have shape (..., {self.n}) (one per node), got {tuple(logits.shape)}.")
        return logits

    def log_conditional(self, logits: Tensor) -> Tensor:
        """``(..., n) -> (..., n)``: :math:`\\log P(k \\mid \\text{parent}(k))`, a log-softmax over each sibling
        group (one segment-softmax for all groups: group-wise max, exp, group-wise sum)."""
        logits = self._check_logits(logits)
        group = self.group.to(logits.device)
        flat = logits.reshape(-1, self.n)  # (B, n)
        B = flat.shape[0]
        idx = group.expand(B, self.n)
        gmax = flat.new_full((B, self.n_groups), -torch.inf).scatter_reduce(1, idx, flat, "amax")
        shifted = flat - gmax.gather(1, idx).detach()  # stable: subtract each group's max
        gsum = flat.new_zeros(B, self.n_groups).scatter_add(1, idx, shifted.exp())
        return (shifted - gsum.gather(1, idx).log()).view(logits.shape)

    def conditional(self, logits: Tensor) -> Tensor:
        """:math:`P(k \\mid \\text{parent}(k))`: the hierarchical softmax, ``(..., n)`` (each group sums to 1)."""
        return self.log_conditional(logits).exp()

    def absolute(self, conditional: Tensor) -> Tensor:
        """:math:`P(k) = \\prod_{j \\in \\text{path}(k)} P(j \\mid \\text{parent}(j))`, ``(..., n)``, computed level
        by level (a loop over the depth, never over nodes)."""
        cond = self._check_logits(conditional)
        out = cond.clone()
        parents = self.parents.to(cond.device)
        for d in range(2, int(self.depth.max()) + 1):
            nodes = (self.depth == d).nonzero()[:, 0].to(cond.device)
            out[..., nodes] = cond[..., nodes] * out[..., parents[nodes]]
        return out

    def loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        """``(B, n), (B,) -> (B,)``: :math:`-\\sum_{j \\in \\text{path}(\\text{label})} \\log P(j \\mid
        \\text{parent}(j))`, the cross-entropy of every sibling softmax on the label's path (none below it)."""
        logits = self._check_logits(logits)
        if not isinstance(labels, Tensor) or labels.is_floating_point() or labels.shape != logits.shape[:-1]:
            raise ValueError(f"labels must be an integer tensor of shape {tuple(logits.shape[:-1])}.")
        if labels.numel() and bool(((labels < 0) | (labels >= self.n)).any()):
            raise ValueError(f"labels must be node indices in [0, {self.n}).")
        on_path = self.ancestors.to(logits.device)[labels]  # (..., n)
        return -(self.log_conditional(logits) * on_path).sum(-1)

    def predict(self, conditional: Tensor, threshold: float = 0.5) -> tuple[Tensor, Tensor]:
        """Walk down from the root, each time to the most probable child, while the path's probability stays above
        ``threshold`` (YOLO9000's rule at test time: down the tree along the highest-confidence path until the
        probability falls below a threshold).

        Args:
            conditional: ``(B, n)`` from :meth:`conditional`.

        Returns:
            ``node`` ``(B,)`` int64, the deepest node reached (``-1`` if even the first split is below the
            threshold), and its absolute probability ``(B,)`` (1.0 for ``-1``).
        """
        cond = self._check_logits(conditional)
        if cond.ndim != 2:
            raise ValueError(f"conditional must be (B, {self.n}), got {tuple(cond.shape)}.")
        B = cond.shape[0]
        node = torch.full((B,), -1, dtype=torch.long, device=cond.device)
        prob = cond.new_ones(B)
        group = self.group.to(cond.device)
        children_group = self.children_group.to(cond.device)
        for _ in range(int(self.depth.max())):
            g = children_group[node + 1]  # (B,) the group of the current node's children (-1: a leaf)
            member = group[None, :] == g[:, None]  # (B, n)
            scores = torch.where(member, cond, torch.full_like(cond, -1.0))
            best_p, best = scores.max(dim=1)
            step = (g >= 0) & (prob * best_p > threshold)
            node = torch.where(step, best, node)
            prob = torch.where(step, prob * best_p, prob)
        return node, prob


#: The ten digits grouped by shape: (name of the parent, its digits).
DIGIT_GROUPS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("closed loop", (0, 6, 8, 9)),
    ("straight strokes", (1, 4, 7)),
    ("open curves", (2, 3, 5)),
)


def digit_wordtree() -> tuple[WordTree, Tensor]:
    """A two-level WordTree over the digits: three shape groups (:data:`DIGIT_GROUPS`) under the root, the digits
    under them. Returns the tree and ``digit_node`` ``(10,)``, the node of each digit (nodes 0-2 are the groups)."""
    parents, names = [-1] * len(DIGIT_GROUPS), [name for name, _ in DIGIT_GROUPS]
    digit_node = torch.empty(10, dtype=torch.long)
    for g, (_, digits) in enumerate(DIGIT_GROUPS):
        for d in digits:
            digit_node[d] = len(parents)
            parents.append(g)
            names.append(str(d))
    return WordTree(parents, names), digit_node


def yolo9000_loss(
    pred: Tensor,
    targets: Sequence[Mapping[str, Any]],
    anchors: Tensor,
    tree: WordTree,
    *,
    lambda_cls: float = 1.0,
    return_terms: bool = False,
    **loss_kwargs: Any,
) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
    """The joint training rule on a batch mixing detection and classification images.

    ``pred`` is ``(N, H, W, A, 5 + n)``: a YOLOv2 output whose class slots are the ``n`` WordTree nodes. Each target
    dict has ``"labels"`` (node indices) and ``"detection"`` (bool, default True):

    - **detection image** (``boxes`` given): every term of :func:`course_lib.detection.yolo_v2.yolo_v2_loss` but the
      class term, plus :meth:`WordTree.loss` of the responsible anchors (the label's path only);
    - **classification image** (``detection=False``; its first label is the image's class; no box): only
      :meth:`WordTree.loss` at the one anchor of the image with the highest :math:`\\sigma(t_o)\\, P(\\text{label})`
      (no coordinate, objectness or no-object term).

    Both class terms are summed and divided by ``N`` like the others. Returns the loss (and the terms, with
    ``"cls"`` the sum of both class losses, ``"cls_classification"`` the part from classification images).
    """
    from course_lib.detection.yolo_v2 import encode_batch, yolo_v2_loss

    if pred.ndim != 5 or pred.shape[-1] != 5 + tree.n:
        raise ValueError(f"pred must be (N, H, W, A, 5 + {tree.n}) for a tree of {tree.n} nodes, got "
                         f"{tuple(pred.shape)}.")
    if len(targets) != pred.shape[0]:
        raise ValueError(f"pred has {pred.shape[0]} images but targets {len(targets)}.")
    N, H, W, A, _ = pred.shape
    is_det = torch.tensor([bool(t.get("detection", True)) for t in targets], device=pred.device)
    zero = pred.new_zeros(())
    terms: dict[str, Tensor] = {}
    cls_det = zero
    if bool(is_det.any()):
        det_idx = is_det.nonzero()[:, 0]
        det_targets = [targets[i] for i in det_idx.tolist()]
        det_pred = pred[det_idx]
        _, det_terms = yolo_v2_loss(det_pred, det_targets, anchors, lambda_cls=0.0, return_terms=True, **loss_kwargs)
        k = det_pred.shape[0]
        terms = {key: value * k / N for key, value in det_terms.items() if key != "cls"}  # per image of the batch
        enc = encode_batch(det_targets, anchors.to(pred.device), (H, W), tree.n)
        obj = enc["obj"]  # (k, H, W, A)
        if bool(obj.any()):
            cls_det = tree.loss(det_pred[..., 5:][obj], enc["labels"][obj]).sum()
    cls_only = zero
    if bool((~is_det).any()):
        cls_idx = (~is_det).nonzero()[:, 0]
        labels = torch.stack([torch.as_tensor(targets[i]["labels"]).reshape(-1)[0] for i in cls_idx.tolist()])
        labels = labels.to(pred.device).long()
        logits = pred[cls_idx][..., 5:].reshape(len(cls_idx), H * W * A, tree.n)  # (m, K, n)
        with torch.no_grad():  # which box: the highest sigma(t_o) P(label)
            p_label = tree.absolute(tree.conditional(logits)).gather(
                2, labels.view(-1, 1, 1).expand(-1, H * W * A, 1))[..., 0]  # (m, K)
            score = torch.sigmoid(pred[cls_idx][..., 4]).reshape(len(cls_idx), -1) * p_label
            best = score.argmax(dim=1)  # (m,)
        chosen = logits[torch.arange(len(cls_idx), device=pred.device), best]  # (m, n)
        cls_only = tree.loss(chosen, labels).sum()
    for key in ("coord", "obj", "noobj", "prior"):
        terms.setdefault(key, zero)
    terms["cls"] = lambda_cls * (cls_det + cls_only) / N
    loss = sum(terms.values())
    terms["cls_classification"] = lambda_cls * cls_only / N
    return (loss, terms) if return_terms else loss
