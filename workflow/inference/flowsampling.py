"""Push fixed base draws through a trained flow for many x at once.

``fixed_noise_sampler(net)`` returns a function ``(x_std (B, F), z (S, D)) -> theta (B, S, D)``.

For sbi's default MAF (nflows ``MaskedAffineAutoregressiveTransform`` blocks without residual
blocks or batch norm) a specialised inverse is used; it computes exactly what nflows'
``Flow._sample`` computes, but

* the context term ``act(W_c x + b_c)`` of every MADE is computed once per x, not once per
  (x, draw, autoregressive pass);
* the first autoregressive pass of every block starts from zeros, so it depends on x only
  and is computed once per x;
* tanh is evaluated as ``2 sigmoid(2u) - 1`` (the same function; torch's CPU tanh is several
  times slower than its sigmoid).

Every other estimator uses the library's own inverse (nflows) or ``transform.inv`` (zuko).
The specialised path is checked against nflows in the tests (agreement to float32 precision).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Sampler = Callable[[Tensor, Tensor], Tensor]


def fast_tanh(u: Tensor) -> Tensor:
    """tanh(u) computed as 2 * sigmoid(2u) - 1."""
    return torch.sigmoid(u * 2.0).mul_(2.0).sub_(1.0)


def _act(fn: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    return fast_tanh if getattr(fn, "__name__", "") == "tanh" else fn


def _is_plain_maf_block(t: torch.nn.Module) -> bool:
    from nflows.transforms.autoregressive import MaskedAffineAutoregressiveTransform
    from nflows.transforms.made import MaskedFeedforwardBlock

    if type(t) is not MaskedAffineAutoregressiveTransform:
        return False
    made = t.autoregressive_net
    return (
        not made.use_residual_blocks
        and made.context_layer is not None
        and all(type(b) is MaskedFeedforwardBlock and b.batch_norm is None for b in made.blocks)
    )


class _MAFBlockInverse:
    """Inverse of one MaskedAffineAutoregressiveTransform with the context hoisted."""

    def __init__(self, t: torch.nn.Module) -> None:
        made = t.autoregressive_net
        self.features = t.features
        self.eps = t._epsilon
        self.act = _act(made.activation)
        self.w0 = made.initial_layer.weight * made.initial_layer.mask
        self.b0 = made.initial_layer.bias
        self.ctx = made.context_layer
        self.blocks = [(b.linear.weight * b.linear.mask, b.linear.bias, _act(b.activation)) for b in made.blocks]
        self.wf = made.final_layer.weight * made.final_layer.mask
        self.bf = made.final_layer.bias

    def _tail(self, h: Tensor) -> tuple[Tensor, Tensor]:
        for w, b, act in self.blocks:
            h = act(torch.nn.functional.linear(h, w, b))
        p = torch.nn.functional.linear(h, self.wf, self.bf)
        p = p.view(*p.shape[:-1], self.features, 2)
        scale = torch.nn.functional.softplus(p[..., 0]) + self.eps
        return scale, p[..., 1]

    def __call__(self, z: Tensor, context: Tensor) -> Tensor:
        """z: (B, S, D) block outputs; context: (B, C) embedded x. Returns the block inputs."""
        c = self.act(self.ctx(context))[:, None, :]  # (B, 1, H)
        scale, shift = self._tail(self.act(self.b0 + c))  # first pass: inputs are zeros
        y = (z - shift) / scale
        for _ in range(self.features - 1):
            h = self.act(torch.nn.functional.linear(y, self.w0, self.b0) + c)
            scale, shift = self._tail(h)
            y = (z - shift) / scale
        return y


def fixed_noise_sampler(net: torch.nn.Module, fast: bool = True) -> Sampler:
    """Return ``sample(x_std, z) -> theta (B, S, D)`` for an sbi flow estimator.

    Args:
        net: sbi ``NFlowsFlow`` or ``ZukoFlow`` with a standard-normal base distribution.
        fast: use the specialised MAF inverse where it applies.
    """
    inner = getattr(net, "net", None)
    if inner is not None and hasattr(inner, "_transform") and hasattr(inner, "_distribution"):
        if type(inner._distribution).__name__ != "StandardNormal":
            raise TypeError(f"base distribution {type(inner._distribution).__name__} is not StandardNormal")
        transforms = list(inner._transform._transforms)
        plan = [(_MAFBlockInverse(t) if fast and _is_plain_maf_block(t) else t) for t in transforms]

        def sample_nflows(x_std: Tensor, z: Tensor) -> Tensor:
            b, (s, d) = x_std.shape[0], z.shape
            ctx = inner._embedding_net(x_std)
            y = z.expand(b, s, d)
            for step in reversed(plan):
                if isinstance(step, _MAFBlockInverse):
                    y = step(y, ctx)
                else:
                    flat = y.reshape(b * s, d)
                    flat, _ = step.inverse(flat, context=ctx.repeat_interleave(s, dim=0))
                    y = flat.reshape(b, s, d)
            return y

        return sample_nflows

    if type(net).__name__ == "ZukoFlow":

        def sample_zuko(x_std: Tensor, z: Tensor) -> Tensor:
            b, (s, d) = x_std.shape[0], z.shape
            dists = net.net(net._embedding_net(x_std))  # batch shape (B,)
            return dists.transform.inv(z[:, None, :].expand(s, b, d)).transpose(0, 1)

        return sample_zuko
    raise TypeError(f"cannot fix the base draws of {type(net).__name__}; use a flow estimator")


def reference_sampler(net: torch.nn.Module) -> Sampler:
    """The library's own inverse for nflows flows (no specialisation), for checks."""
    return fixed_noise_sampler(net, fast=False)
