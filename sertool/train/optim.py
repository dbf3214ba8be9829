"""Optimisers by name (``optim.name`` in YAML).

Each entry is called as ``(param_groups, lr=…, betas=…, weight_decay=…)``: Adam (every paper's
choice but one) and AdamW (ssl_mtl.txt Table 1).

Example:
    >>> import torch
    >>> opt = OPTIMIZERS.build("adamw", None, [torch.nn.Parameter(torch.zeros(2))], lr=1e-5, betas=(0.9, 0.999),
    ...                        weight_decay=0.01)
    >>> type(opt).__name__, opt.defaults["lr"]
    ('AdamW', 1e-05)
"""

from __future__ import annotations

import torch

from sertool.registry import Registry

OPTIMIZERS: Registry[type[torch.optim.Optimizer]] = Registry("optimiser")
OPTIMIZERS.add("adam", torch.optim.Adam)
OPTIMIZERS.add("adamw", torch.optim.AdamW)
