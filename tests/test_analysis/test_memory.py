import torch
import torch.nn as nn

from se_plugins.analysis.memory import saved_activation_bytes


def test_saved_bytes_count_each_saved_storage_once_without_parameters():
    linear = nn.Linear(100, 50)
    x = torch.randn(8, 100)

    def step():
        hidden = linear(x)  # saves x (8 x 100) and the weight (a parameter: not counted)
        hidden.exp().sum().backward()  # exp saves its output (8 x 50)
    assert saved_activation_bytes(linear, step) == 4 * (8 * 100 + 8 * 50)
