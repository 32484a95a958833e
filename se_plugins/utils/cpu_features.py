"""What this machine's CPU can do that the project's choices depend on, found here and nowhere else.

bf16 arithmetic is fast only on CPUs with bf16 units: AVX512-BF16's dot products, AMX's tiles. Elsewhere oneDNN
emulates it, slower than fp32. torch reports the units through ``torch.cpu._is_avx512_bf16_supported`` and
``torch.cpu._is_amx_tile_supported``: private names, used in this module only (docs/development.md lists it;
tests/test_utils/test_cpu_features.py fails when torch renames them or they disagree with the kernel's CPU flags).
"""
from typing import List

import torch

from .errors import InputError


def bf16_units() -> List[str]:
    """The bf16 units of this CPU that torch (oneDNN) uses: ``'AMX'``, ``'AVX512-BF16'``, or none."""
    units = []
    if torch.cpu._is_amx_tile_supported():
        units.append('AMX')
    if torch.cpu._is_avx512_bf16_supported():
        units.append('AVX512-BF16')
    return units


def require_bf16_units(what: str) -> List[str]:
    """This CPU's bf16 units, or one :class:`InputError` saying that ``what`` needs them and what the CPU has."""
    units = bf16_units()
    if not units:
        raise InputError(f'{what}: this CPU has no bf16 units (AVX512-BF16 or AMX; torch reports '
                         f'{torch.backends.cpu.get_cpu_capability()}), so bf16 would run slower than fp32 here: '
                         'train in fp32 (without --amp), or on a GPU or a CPU with bf16 units')
    return units
