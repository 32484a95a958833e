import time
import warnings

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset


class ToyModel(BaseModel):
    """A loss that turns NaN at the third iteration."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)
        self.calls = 0

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(torch.stack(inputs))
        self.calls += 1
        scale = float('nan') if self.calls == 3 else 1.0
        return dict(loss_cls=out.pow(2).mean() * scale, loss_bbox=out.abs().mean())


class ToyDataset(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return dict(inputs=torch.full((2, ), float(index)))


def test_finite_loss_hook_stops_at_the_first_nan_naming_it(tmp_path):
    runner = Runner(
        model=ToyModel(), work_dir=str(tmp_path), experiment_name=f'nan_{time.time()}',
        train_dataloader=dict(dataset=ToyDataset(), sampler=dict(type='DefaultSampler', shuffle=False),
                              batch_size=2, num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)), train_cfg=dict(by_epoch=True, max_epochs=2),
        custom_hooks=[dict(type='se_plugins.FiniteLossHook')])
    with warnings.catch_warnings(record=True) as caught, \
            pytest.raises(FloatingPointError, match=r'iteration 3 \(epoch 1\): loss_cls is nan; all terms: '):
        warnings.simplefilter('always')
        runner.train()
    assert not [w for w in caught if 'se_plugins' in w.filename], [str(w.message) for w in caught]  # no noise of ours
    assert runner.iter == 2  # it stopped there, not at the end of the run
