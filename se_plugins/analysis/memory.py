"""What autograd keeps for a training step's backward pass."""
from typing import Callable, Dict

import torch
import torch.nn as nn


def saved_activation_bytes(model: nn.Module, function: Callable[[], None]) -> int:
    """Bytes of memory autograd keeps for the backward pass while ``function`` (a training step of
    ``model``) runs: each saved storage once, the model's parameters not counted."""
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: Dict[int, int] = {}

    def pack(tensor: torch.Tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        function()
    return sum(storages.values())
