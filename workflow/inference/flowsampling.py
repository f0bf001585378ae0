"""Push fixed base draws through a trained flow for many x at once.

``fixed_noise_sampler(net)`` returns a function ``(x_std (B, F), z (S, D)) -> theta (B, S, D)``.

For sbi's MAF (nflows ``MaskedAffineAutoregressiveTransform`` blocks without residual
blocks or batch norm) a specialised inverse is used; it computes exactly what nflows'
``Flow._sample`` computes, but

* the context term ``act(W_c x + b_c)`` of every MADE is computed once per x, not once per
  (x, draw, autoregressive pass);
* the first autoregressive pass of every block starts from zeros, so it depends on x only
  and is computed once per x;
* tanh is evaluated as ``2 sigmoid(2u) - 1`` (the same function; torch's CPU tanh is several
  times slower than its sigmoid).

For sbi's neural spline flow (nflows ``PiecewiseRationalQuadraticCouplingTransform`` blocks
whose conditioner is a ``ResidualNet`` without batch norm or dropout) the conditioner's
context terms are hoisted the same way: the context columns of its first layer and every
residual block's gate ``sigmoid(W_g x + b_g)`` (nflows' GLU) are computed once per x; the
spline itself is nflows' own (``_coupling_transform_inverse``). The flow's ``LULinear`` layers
are inverted by one matrix product with the inverse weight computed once, which is what
nflows itself does in evaluation mode with its cache on (``Linear.inverse``), in place of two
triangular solves per call.

Every other estimator uses the library's own inverse (nflows) or ``transform.inv`` (zuko).
The specialised paths are checked against nflows in the tests (agreement to float32 precision).
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


def _is_plain_nsf_block(t: torch.nn.Module) -> bool:
    from nflows.nn.nets.resnet import ResidualBlock, ResidualNet
    from nflows.transforms.coupling import PiecewiseRationalQuadraticCouplingTransform

    if type(t) is not PiecewiseRationalQuadraticCouplingTransform or t.unconditional_transform is not None:
        return False
    net = t.transform_net
    return (
        type(net) is ResidualNet
        and net.context_features is not None
        and all(
            type(b) is ResidualBlock and not b.use_batch_norm and b.dropout.p == 0 and hasattr(b, "context_layer")
            for b in net.blocks
        )
    )


class _NSFBlockInverse:
    """Inverse of one PiecewiseRationalQuadraticCouplingTransform with the conditioner's context hoisted."""

    def __init__(self, t: torch.nn.Module) -> None:
        net = t.transform_net
        self.t = t
        self.identity = t.identity_features
        self.transformed = t.transform_features
        n_in = len(self.identity)
        self.w_in = net.initial_layer.weight[:, :n_in]
        self.w_ctx = net.initial_layer.weight[:, n_in:]
        self.b0 = net.initial_layer.bias
        self.blocks = [(b.activation, b.linear_layers[0], b.linear_layers[1], b.context_layer) for b in net.blocks]
        self.final = net.final_layer

    def __call__(self, y: Tensor, context: Tensor) -> Tensor:
        """y: (B, S, D) block outputs; context: (B, C) embedded x. Returns the block inputs."""
        b, s, d = y.shape
        fn = torch.nn.functional
        kept = y[..., self.identity]
        h = fn.linear(kept, self.w_in) + fn.linear(context, self.w_ctx, self.b0)[:, None, :]
        for act, first, second, gate in self.blocks:  # nflows ResidualBlock: h + second(act(first(act(h)))) * gate
            h = h + second(act(first(act(h)))) * torch.sigmoid(gate(context))[:, None, :]
        params = self.final(h).reshape(b * s, -1)
        moved, _ = self.t._coupling_transform_inverse(y[..., self.transformed].reshape(b * s, -1), params)
        out = torch.empty_like(y)
        out[..., self.identity] = kept
        out[..., self.transformed] = moved.reshape(b, s, -1)
        return out


class _LUInverse:
    """Inverse of an nflows LULinear: ``(y - bias) @ W^-1.T`` with W^-1 computed once (nflows' cached path)."""

    def __init__(self, t: torch.nn.Module) -> None:
        self.w_inv = t.weight_inverse().detach()
        self.bias = t.bias.detach()

    def __call__(self, y: Tensor, context: Tensor) -> Tensor:  # noqa: ARG002 (no context)
        return torch.nn.functional.linear(y - self.bias, self.w_inv)


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


def _specialised(t: torch.nn.Module) -> torch.nn.Module | _MAFBlockInverse | _NSFBlockInverse | _LUInverse:
    from nflows.transforms.lu import LULinear

    if type(t) is LULinear:
        return _LUInverse(t)
    if _is_plain_maf_block(t):
        return _MAFBlockInverse(t)
    if _is_plain_nsf_block(t):
        return _NSFBlockInverse(t)
    return t


def fixed_noise_sampler(net: torch.nn.Module, fast: bool = True) -> Sampler:
    """Return ``sample(x_std, z) -> theta (B, S, D)`` for an sbi flow estimator.

    Args:
        net: sbi ``NFlowsFlow`` or ``ZukoFlow`` with a standard-normal base distribution.
        fast: use the specialised MAF and NSF inverses where they apply.
    """
    inner = getattr(net, "net", None)
    if inner is not None and hasattr(inner, "_transform") and hasattr(inner, "_distribution"):
        if type(inner._distribution).__name__ != "StandardNormal":
            raise TypeError(f"base distribution {type(inner._distribution).__name__} is not StandardNormal")
        transforms = list(inner._transform._transforms)
        plan = [_specialised(t) if fast else t for t in transforms]

        def sample_nflows(x_std: Tensor, z: Tensor) -> Tensor:
            b, (s, d) = x_std.shape[0], z.shape
            ctx = inner._embedding_net(x_std)
            y = z.expand(b, s, d)
            for step in reversed(plan):
                if isinstance(step, (_MAFBlockInverse, _NSFBlockInverse, _LUInverse)):
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
