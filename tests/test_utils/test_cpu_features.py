"""The one place that reads which bf16 units the CPU has: torch's private names exist, and what they say is what
the kernel reports (/proc/cpuinfo's flags)."""
import torch

from se_plugins.utils.cpu_features import bf16_units


def kernel_flags() -> set:
    with open('/proc/cpuinfo') as f:
        return set(next(line for line in f if line.startswith('flags')).split(':', 1)[1].split())


def test_torch_still_reports_the_bf16_units_by_these_names():
    # if torch renames them, this fails here rather than in every run that chooses a precision
    assert callable(torch.cpu._is_avx512_bf16_supported) and callable(torch.cpu._is_amx_tile_supported)


def test_the_units_found_are_the_kernels_cpu_flags():
    flags = kernel_flags()
    expected = [unit for unit, flag in (('AMX', 'amx_tile'), ('AVX512-BF16', 'avx512_bf16')) if flag in flags]
    assert bf16_units() == expected
