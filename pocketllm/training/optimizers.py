"""The optimizers: AdamW for everything (the classic recipe), or Muon for the blocks' matrices.

AdamW scales each weight's step by its own gradient history.  Muon (Jordan et al., 2024, the
optimizer of the modded-nanogpt speedrun) treats a weight *matrix* as one thing: it keeps a
momentum of the gradient and replaces it by the nearest orthogonal matrix (all singular values
set to about 1, computed by a few Newton–Schulz iterations), so that every direction of the
matrix learns at the same speed instead of the few largest ones.  It suits the 2-D weights
inside the transformer blocks; embeddings, the output head, norms' scales and biases are not
"matrices that map a vector to a vector" in the same way and stay with AdamW.

`make_optimizer` returns one object with the torch optimizer's interface (param_groups, step,
zero_grad, state_dict, load_state_dict), whatever it holds inside.  Each param group carries its
own peak learning rate as "peak_lr": the schedule scales it (Muon's rate is about 20 times AdamW's).
"""
from __future__ import annotations

import torch

from ..errors import PocketLLMError

OPTIMIZERS = ("adamw", "muon")
ADAM_BETAS = (0.9, 0.95)
MUON_MOMENTUM = 0.95
# The quintic Newton–Schulz coefficients of Muon's reference implementation (K. Jordan, 2024): chosen
# to push every singular value into roughly [0.7, 1.2] in five steps, not to converge exactly to 1.
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5


def ns_dtype(device: torch.device) -> torch.dtype:
    """bf16 where its matmuls are fast (a GPU, a CPU with AVX512-BF16 or AMX): 3× faster on this
    machine's CPU, with the same singular values to 0.01 — the iteration only needs them near 1."""
    if device.type == "cuda":
        return torch.bfloat16
    from .hardware import cpu_has_fast_bf16
    return torch.bfloat16 if device.type == "cpu" and cpu_has_fast_bf16() else torch.float32


def orthogonalize(g: torch.Tensor, steps: int = NS_STEPS, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The matrix nearest to `g` with all singular values about 1 (same shape), by Newton–Schulz."""
    a, b, c = NS_COEFFICIENTS
    dtype = dtype or ns_dtype(g.device)
    x = (g.float() / (g.float().norm() + 1e-7)).to(dtype)  # singular values now at most 1: it converges
    wide = x.shape[0] <= x.shape[1]
    if not wide:
        x = x.T  # iterate on the smaller Gram matrix (rows × rows)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return (x if wide else x.T).to(g.dtype)


class Muon(torch.optim.Optimizer):
    """Momentum, then orthogonalize, for 2-D weights: p ← p·(1 − lr·wd) − lr·√max(1, rows/cols)·O(m)."""

    def __init__(self, params, lr: float = 0.02, momentum: float = MUON_MOMENTUM, weight_decay: float = 0.0,
                 nesterov: bool = True):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov))
        self._ns_dtypes: dict = {}  # device -> the dtype Newton–Schulz runs in there (looked up once)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum" not in state:
                    state["momentum"] = torch.zeros_like(p)
                buf = state["momentum"]
                buf.mul_(group["momentum"]).add_(p.grad)
                g = p.grad.add(buf, alpha=group["momentum"]) if group["nesterov"] else buf
                # A tall matrix's orthogonal update has a smaller RMS; scale it back (Muon's rule).
                scale = max(1.0, p.shape[0] / p.shape[1]) ** 0.5
                if group["weight_decay"]:
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(orthogonalize(g, dtype=self._dtype(p.device)), alpha=-group["lr"] * scale)

    def _dtype(self, device) -> torch.dtype:
        if device not in self._ns_dtypes:
            self._ns_dtypes[device] = ns_dtype(device)
        return self._ns_dtypes[device]


class Optimizers:
    """Several torch optimizers stepped as one (Muon for the matrices, AdamW for the rest)."""

    def __init__(self, **parts: torch.optim.Optimizer):
        self.parts = parts

    @property
    def param_groups(self) -> list[dict]:
        return [g for opt in self.parts.values() for g in opt.param_groups]

    def step(self):
        for opt in self.parts.values():
            opt.step()

    def zero_grad(self, set_to_none: bool = True):
        for opt in self.parts.values():
            opt.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return {"optimizers": {name: opt.state_dict() for name, opt in self.parts.items()}}

    def load_state_dict(self, state: dict):
        saved = state.get("optimizers") if isinstance(state, dict) else None
        if not isinstance(saved, dict) or set(saved) != set(self.parts):
            raise PocketLLMError("The saved training state is for another optimizer ({saved}), not {this}. "
                                 "Continue with the run's own --optimizer, or start a new run with --init_from.",
                                 code="train.optimizer_differs", saved=_kind_of_state(state),
                                 this="+".join(self.parts))
        for name, opt in self.parts.items():
            opt.load_state_dict(saved[name])


def _kind_of_state(state) -> str:
    if isinstance(state, dict) and isinstance(state.get("optimizers"), dict):
        return "+".join(state["optimizers"])
    return "adamw"


def _adamw(groups: list[dict], lr: float, device: torch.device) -> torch.optim.AdamW:
    params = [p for g in groups for p in g["params"]]
    # The fused kernel updates each tensor in one pass; on a CPU it is several times
    # faster than the default multi-tensor path (which makes a dozen passes).
    if device.type in ("cuda", "cpu") and all(p.dtype == torch.float32 for p in params):
        try:
            return torch.optim.AdamW(groups, lr=lr, betas=ADAM_BETAS, eps=1e-8, fused=True)
        except (RuntimeError, TypeError):
            pass  # an older PyTorch without it on this device
    return torch.optim.AdamW(groups, lr=lr, betas=ADAM_BETAS, eps=1e-8)


def make_optimizer(model, lr: float, weight_decay: float, device: torch.device, kind: str = "adamw",
                   muon_lr: float = 0.02):
    """AdamW (weight decay on matrices only, not on biases and norms' scales), or Muon for the 2-D weights
    inside the blocks with AdamW for the rest.  Every group carries its peak rate as "peak_lr"."""
    params = [p for p in model.parameters() if p.requires_grad]
    matrices = set()
    if kind == "muon":
        blocks = getattr(model, "blocks", None)
        matrices = {id(p) for p in (blocks.parameters() if blocks is not None else []) if p.requires_grad
                    and p.dim() == 2}
    elif kind != "adamw":
        raise PocketLLMError("--optimizer must be one of {choices} (got {value}).", code="train.bad_optimizer",
                             choices=", ".join(OPTIMIZERS), value=repr(kind))
    rest = [p for p in params if id(p) not in matrices]
    groups = [g for g in ({"params": [p for p in rest if p.dim() >= 2], "weight_decay": weight_decay,
                           "peak_lr": lr},
                          {"params": [p for p in rest if p.dim() < 2], "weight_decay": 0.0, "peak_lr": lr})
              if g["params"] or kind == "adamw"]
    adamw = _adamw(groups, lr, device)
    if kind == "adamw":
        return adamw
    muon = Muon([{"params": [p for p in params if id(p) in matrices], "peak_lr": muon_lr}], lr=muon_lr,
                weight_decay=weight_decay * lr / muon_lr if muon_lr else 0.0)  # the same decay per step as AdamW's
    return Optimizers(adamw=adamw, muon=muon)
