"""MADAug's policy h, the curriculum, exploit and the bi-level explore step (papers/madaug.md Sec. 2, Sec. 7).

As in the official ``main_higher.py`` / ``adaptive_augmentor.py`` (JackHck/MADAug, read at HEAD):

- Policy h: one ``nn.Linear(feature_dim, 2K)``, K = 17 ops; ``a = h(f(x))``, magnitudes ``m = sigmoid(a[:K])``,
  op probabilities ``p = softmax(a[K:] / T)`` (T = temperature in exploit, T = 1 in explore). The task model is in
  eval mode for its feature forward ``f`` and sees un-normalised [0, 1] images (Sec. 5 defect 9, kept).
- Curriculum: ``split_rate(e) = min(tanh(e / 40) + 0.01, 1)``; the first ``int(split * B)`` images of a batch get
  the policy's augmentation (the official code uses the nominal batch size, defect 8; we use the actual B).
- Exploit: k_ops ops per image drawn without replacement from p (``torch.multinomial``), applied in turn, each at
  its magnitude perturbed as ``perturb_param`` does: ``m -/+ U(0, delta)`` (each sign with p = 1/2), clipped to
  [0, 1]. Cutout(16) and normalisation are the caller's.
- Explore: every image through every op, the straight-through estimator ``ste`` (d t / d m = 1), the caller's
  after-transforms (``post``: normalisation), a pixel-space mix ``x~_i = sum_k p_ik t_ik``, the label-smoothed CE
  (eps = 0.1) of the task model on it, one differentiable SGD-momentum step ``w' = w - lr (mu b + g + wd w)`` (the
  torch.optim.SGD update with its state, as ``higher.innerloop_ctx(model, optimizer)`` does), and the validation
  loss at w' back to h: ``min_h L_val(w'(h))``, exact second order via ``torch.func.functional_call``.

Choices the official code fixes that we keep: the validation loss is the same label-smoothed CE (``criterion``);
the policy's feature forward uses the differentiable weights, so d L_tr / d w includes the path through the
policy's input features; the whole explore step runs with BN in eval mode (running statistics untouched).
Choices left open: gradient clipping of the inner step is omitted (``clip_grad_norm_`` on higher's fast weights
sees no ``.grad`` and does nothing); ``bn="train"`` (the spec's ablation) uses batch statistics on cloned buffers,
so the model's running statistics stay unchanged as well; exploit applies every op to the whole augmented slice and
selects with ``torch.where`` (no host sync, K x the op cost); ``scale`` shrinks the epoch constant 40 for short
budgets (e.g. scale = 0.25 gives the spec's quick threshold of 10).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

from .ops import OP_NAMES, apply_chosen, apply_op, ste

BN_MODES = ("eval", "train")


class Policy(nn.Module):
    """h: features (B, D) -> (magnitudes (B, K), probabilities (B, K)) (Sec. 2 "Policy output")."""

    def __init__(self, feature_dim: int, *, n_ops: int = len(OP_NAMES)):
        super().__init__()
        if feature_dim < 1 or n_ops < 1:
            raise ValueError(f"feature_dim={feature_dim}, n_ops={n_ops}: both must be >= 1")
        self.n_ops = n_ops
        self.linear = nn.Linear(feature_dim, 2 * n_ops)

    def forward(self, features: torch.Tensor, temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        _check_positive("temperature", temperature)
        mag, logits = _wide(self.linear(features)).split(self.n_ops, dim=1)
        return torch.sigmoid(mag), torch.softmax(logits / temperature, dim=-1)


def _wide(t: torch.Tensor) -> torch.Tensor:
    """At least fp32 (bf16 under autocast -> fp32; float64 kept)."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


def _check_positive(name: str, v: float) -> None:
    if not v > 0:
        raise ValueError(f"{name}={v!r} must be > 0")


def split_rate(epoch: float, *, threshold: float = 40.0, scale: float = 1.0) -> float:
    """``min(tanh(epoch / (threshold * scale)) + 0.01, 1)`` (main_higher.py; Sec. 2 "Curriculum"): 0.01 at 0,
    tanh(1) + 0.01 = 0.7716 at 40, 1.0 from epoch 106 on. ``scale`` < 1 shrinks the constant for short budgets."""
    _check_positive("threshold", threshold)
    _check_positive("scale", scale)
    if epoch < 0:
        raise ValueError(f"epoch={epoch!r} must be >= 0")
    return min(math.tanh(epoch / (threshold * scale)) + 0.01, 1.0)


class _Part(nn.Module):
    """Calls ``model.f`` / ``model.g`` / ``model`` so torch.func.functional_call can reach the parts."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.m = model

    def forward(self, x: torch.Tensor, part: str = "forward") -> torch.Tensor:
        return self.m(x) if part == "forward" else getattr(self.m, part)(x)


def policy_features(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """``model.f(images)`` in eval mode without gradient (exploit's feature forward); restores the mode."""
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model.f(images)
    finally:
        model.train(was)


def sample_ops(probs: torch.Tensor, k_ops: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, k_ops) distinct op indices per image, drawn without replacement from ``probs`` (B, K)."""
    if not 1 <= k_ops <= probs.shape[-1]:
        raise ValueError(f"k_ops={k_ops!r} must be in 1..{probs.shape[-1]}")
    return torch.multinomial(probs.float(), k_ops, replacement=False, generator=generator)


def jitter(magnitudes: torch.Tensor, delta: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """``perturb_param``: m - U(0, delta) or m + U(0, delta), each with p = 1/2, clipped to [0, 1]."""
    if not 0 <= delta <= 1:
        raise ValueError(f"delta={delta!r} must be in [0, 1]")
    dev = generator.device if generator is not None else magnitudes.device
    u = torch.rand((2, *magnitudes.shape), generator=generator, device=dev).to(magnitudes)
    sign = torch.where(u[0] < 0.5, -1.0, 1.0)
    return (magnitudes + sign * u[1] * delta).clamp(0.0, 1.0)


def exploit(images: torch.Tensor, features: torch.Tensor, policy: Policy, *, k_ops: int = 2, delta: float = 0.3,
            split: float = 1.0, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """The policy's augmentation of the first ``int(split * B)`` images (Sec. 2 "Exploit"); the rest unchanged.

    ``features`` (B, D) are the task model's ``f`` of ``images`` (``policy_features``). Returns a new tensor."""
    if not 0 <= split <= 1:
        raise ValueError(f"split={split!r} must be in [0, 1]")
    if features.dim() != 2 or len(features) != len(images):
        raise ValueError(f"features must be (B={len(images)}, D), got shape {tuple(features.shape)}")
    n = int(split * len(images))
    out = images.clone()
    if n == 0:
        return out
    with torch.no_grad():
        mag, probs = policy(features[:n], temperature)
        choice = sample_ops(probs, k_ops, generator)                           # (n, k_ops)
        levels = jitter(mag.gather(1, choice), delta, generator)               # (n, k_ops)
        x = images[:n]
        for j in range(k_ops):
            x = apply_chosen(x, choice[:, j], levels[:, j], n_ops=policy.n_ops, generator=generator)
        out[:n] = x
    return out


def mix_ops(images: torch.Tensor, magnitudes: torch.Tensor, probs: torch.Tensor, *,
            post: Callable[[torch.Tensor], torch.Tensor] | None = None,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """``x~_i = sum_k p_ik ste(post(op_k(x_i; m_ik)), m_ik)`` (Sec. 2 "Explore"): forward = the p-mix of the
    augmented images, d x~_i / d m_ik = p_ik per pixel and channel, d x~_i / d p_ik = t_ik."""
    ts = []
    for k, name in enumerate(OP_NAMES[:probs.shape[1]]):
        t = apply_op(name, images, magnitudes[:, k].detach(), generator=generator)
        ts.append(ste(post(t) if post is not None else t, magnitudes[:, k]))
    return torch.einsum("bk,bk...->b...", probs.to(ts[0].dtype), torch.stack(ts, dim=1))


def sgd_step(params: dict, grads: dict, optimizer: torch.optim.SGD, names: dict) -> dict:
    """torch.optim.SGD's update (dampening 0, no Nesterov), differentiable: ``d = g + wd w``; ``b' = mu b + d``
    (b' = d when the optimiser has no momentum buffer yet); ``w' = w - lr b'``. ``names`` maps id(param) -> name."""
    out = dict(params)
    for group in optimizer.param_groups:
        if group.get("nesterov") or group.get("dampening", 0) != 0 or group.get("maximize"):
            raise ValueError("task optimiser: nesterov, dampening and maximize are not supported; use plain SGD")
        lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
        for p in group["params"]:
            name = names.get(id(p))
            if name is None or grads.get(name) is None:
                continue
            w = params[name]
            d = grads[name] + wd * w if wd else grads[name]
            buf = optimizer.state.get(p, {}).get("momentum_buffer")
            if mu:
                d = d if buf is None else mu * buf + d
            out[name] = w - lr * d
    return out


def unrolled_loss(images: torch.Tensor, targets: torch.Tensor, val_images: torch.Tensor, val_targets: torch.Tensor,
                  *, model: nn.Module, policy: Policy, task_optimizer: torch.optim.SGD,
                  post: Callable[[torch.Tensor], torch.Tensor] | None = None, smoothing: float = 0.1,
                  bn: str = "eval", mix: Callable | None = None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """``L_val(w'(h))`` with its graph to the policy (Sec. 2 "Explore + bi-level"); see ``explore``."""
    if bn not in BN_MODES:
        raise ValueError(f"bn={bn!r}; valid: {', '.join(BN_MODES)}")
    if not 0 <= smoothing < 1:
        raise ValueError(f"smoothing={smoothing!r} must be in [0, 1)")
    if not isinstance(task_optimizer, torch.optim.SGD):
        raise ValueError(f"task_optimizer must be torch.optim.SGD, got {type(task_optimizer).__name__}")
    wrapper = _Part(model)
    params = {n: p for n, p in wrapper.named_parameters()}
    names = {id(p): n for n, p in params.items()}
    buffers = {n: (b.clone() if bn == "train" else b) for n, b in wrapper.named_buffers()}
    was = model.training
    model.train(bn == "train")
    try:
        def call(p, x, part):
            return functional_call(wrapper, {**p, **buffers}, (x, part))

        mag, probs = policy(call(params, images, "f"), 1.0)
        mixed = mix(images, mag, probs) if mix is not None else mix_ops(images, mag, probs, post=post,
                                                                        generator=generator)
        loss = F.cross_entropy(_wide(call(params, mixed.to(images.dtype), "forward")), targets,
                               label_smoothing=smoothing)
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=True, allow_unused=True)
        fast = sgd_step(params, dict(zip(params, grads)), task_optimizer, names)
        return F.cross_entropy(_wide(call(fast, val_images, "forward")), val_targets, label_smoothing=smoothing)
    finally:
        model.train(was)


def explore(images: torch.Tensor, targets: torch.Tensor, val_images: torch.Tensor, val_targets: torch.Tensor, *,
            model: nn.Module, policy: Policy, task_optimizer: torch.optim.SGD,
            policy_optimizer: torch.optim.Optimizer | None = None, **kwargs) -> dict[str, torch.Tensor]:
    """One bi-level step (Sec. 2 "Explore + bi-level"): the hypergradient d L_val(w'(h)) / d h, by name.

    ``images`` are un-normalised [0, 1] training images (the policy's input), ``val_images`` the clean validation
    images as the task model sees them (normalised by the caller); ``post`` (the caller's normalisation) is applied
    to each augmented image before the STE. With ``policy_optimizer`` (Adam in the paper) the gradient is also
    written to the policy's ``.grad`` and a step taken. ``mix(images, m, p)`` replaces ``mix_ops`` (tests); other
    keywords (``post``, ``smoothing``, ``bn``, ``generator``) go to ``unrolled_loss``. The model's parameters,
    buffers (running statistics) and mode are unchanged; its ``.grad`` are not touched.
    """
    val = unrolled_loss(images, targets, val_images, val_targets, model=model, policy=policy,
                        task_optimizer=task_optimizer, **kwargs)
    named = list(policy.named_parameters())
    hyper = torch.autograd.grad(val, [p for _, p in named], allow_unused=True)
    out = {n: (g if g is not None else torch.zeros_like(p)) for (n, p), g in zip(named, hyper)}
    if policy_optimizer is not None:
        policy_optimizer.zero_grad()
        for n, p in named:
            p.grad = out[n].detach().clone()
        policy_optimizer.step()
    return out
