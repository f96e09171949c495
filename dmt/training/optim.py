"""The optimizer and gradient scaler of a run, from its spec."""

from __future__ import annotations

import torch


def _param_groups(model: torch.nn.Module, head_lr_mult: float) -> list[dict]:
    """Backbone and head as two groups; the original gives both the same lr (head_lr_mult 1)."""
    head = list(model.head_parameters()) if hasattr(model, "head_parameters") else []
    head_ids = {id(p) for p in head}
    backbone = [p for p in model.parameters() if id(p) not in head_ids]
    groups = [{"params": backbone, "lr_mult": 1.0}]
    if head:
        groups.append({"params": head, "lr_mult": head_lr_mult})
    return groups


def make_optimizer(model, spec) -> torch.optim.Optimizer:
    groups = _param_groups(model, spec.head_lr_mult)
    if spec.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay)
    return torch.optim.Adam(groups, lr=spec.lr, weight_decay=spec.weight_decay)


def make_scaler(spec, device) -> torch.amp.GradScaler:
    """Loss scaling for fp16 autocast only: bf16 and the CPU need none."""
    return torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and spec.amp
                                and not torch.cuda.is_bf16_supported())


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr * group["lr_mult"]


def optimize(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, loss: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
