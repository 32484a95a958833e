import time
import warnings

import pytest
from mmengine.runner import Runner

from helpers import ToyDataset, ToyModel


def test_finite_loss_hook_stops_at_the_first_nan_naming_it(tmp_path):
    runner = Runner(
        model=ToyModel(nan_at=3), work_dir=str(tmp_path), experiment_name=f'nan_{time.time()}',
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
