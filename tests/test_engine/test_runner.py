"""se_plugins.engine.runner: the tools' Runner."""
import os.path as osp
import time

from se_plugins.engine.runner import SERunner

from helpers import ToyDataset, ToyModel


def runner_with_named_visualizer(work_dir: str, name: str) -> SERunner:
    """A Runner whose config names its visualizer ``name``, as mmdet's default_runtime.py names it 'visualizer'
    (in mmdet's scope)."""
    return SERunner(model=ToyModel(), work_dir=work_dir, experiment_name=f'run_{time.time()}',
                    train_dataloader=dict(dataset=ToyDataset(), sampler=dict(type='DefaultSampler', shuffle=False),
                                          batch_size=2, num_workers=0),
                    optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)), train_cfg=dict(max_epochs=1),
                    visualizer=dict(type='DetLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')],
                                    name=name), default_scope='mmdet')


def test_a_second_run_in_the_process_writes_to_its_own_folder(tmp_path):
    """mmengine would give the second Runner the first one's 'visualizer' and its folder."""
    name = f'visualizer_{time.time()}'  # not taken by an earlier run of this process, as 'visualizer' may be
    first = runner_with_named_visualizer(str(tmp_path / 'first'), name)
    second = runner_with_named_visualizer(str(tmp_path / 'second'), name)
    assert first.visualizer is not second.visualizer
    for runner in (first, second):
        runner.visualizer.add_scalars({'loss': 1.0}, step=1)
        assert osp.isfile(osp.join(runner.log_dir, 'vis_data', 'scalars.json')), runner.log_dir
    assert first.visualizer.instance_name == name  # the first run keeps the config's name
