"""Side-by-side speed and memory of models in one process: interleaved rounds, medians, ratios.

Timing one model after another lets the machine's state (other load, frequency, caches) drift
between them; here every round times each model once, in turn, so drift hits all of them alike,
and ratios of medians are what we report. Memory is the bytes of the tensors autograd saves for
the backward pass of one training step (the activations, what ``with_cp`` trades for time),
counted with ``torch.autograd.graph.saved_tensors_hooks``: exact and independent of the allocator.
"""
import contextlib
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List

import torch
import torch.nn as nn


@dataclass
class Timing:
    """Seconds of each round of one model in one setting."""
    seconds: List[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def step_function(model: nn.Module, mode: str, batch: int, size: int, dtype: torch.dtype,
                  channels_last: bool) -> Callable[[], None]:
    """One inference forward (``mode='infer'``) or one training step (``'train'``: forward,
    cross-entropy on random labels, backward) of a classifier ``model`` returning logits."""
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    images = torch.randn(batch, 3, size, size).to(memory_format=memory_format)
    autocast = (torch.autocast('cpu', dtype=dtype) if dtype != torch.float32 else contextlib.nullcontext())
    if mode == 'infer':
        model.eval()

        def infer() -> None:
            with torch.inference_mode(), autocast:
                model(images)
        return infer
    model.train()
    labels = torch.randint(0, 10, (batch, ))

    def train() -> None:
        with autocast:
            loss = nn.functional.cross_entropy(model(images).float(), labels)
        loss.backward()
        model.zero_grad(set_to_none=True)
    return train


def interleaved(functions: Dict[str, Callable[[], None]], rounds: int, warmup: int = 1) -> Dict[str, Timing]:
    """Time each function once per round, in turn, after ``warmup`` untimed calls each."""
    for function in functions.values():
        for _ in range(warmup):
            function()
    timings = {name: Timing() for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            timings[name].seconds.append(time.perf_counter() - start)
    return timings


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
