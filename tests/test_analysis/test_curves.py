import glob
import os.path as osp
import time

import matplotlib.image
import pytest
from mmengine.evaluator import BaseMetric
from mmengine.runner import Runner

from se_plugins.analysis.curves import curve_figure, find_log, read_scalars
from se_plugins.utils import InputError, MissingInputError

from helpers import ToyDataset, ToyModel

TOOL = 'analysis_tools/plot_curves.py'


class ToyMetric(BaseMetric):
    default_prefix = 'toy'

    def process(self, data_batch, data_samples):
        self.results.extend(sample['score'] for sample in data_samples)

    def compute_metrics(self, results):
        return dict(mean_score=sum(results) / len(results))


@pytest.fixture(scope='module')
def work_dir(module_tmp_path):
    """A real mmengine run: 3 epochs of 4 iterations, validated every epoch, logged to json and TensorBoard."""
    work_dir = module_tmp_path / 'run'
    work_dir.mkdir()
    loader = dict(dataset=ToyDataset(), sampler=dict(type='DefaultSampler', shuffle=False), batch_size=2,
                  num_workers=0)
    Runner(model=ToyModel(), work_dir=str(work_dir), experiment_name=f'curves_{time.time()}',
           train_dataloader=loader, val_dataloader=loader, val_evaluator=[ToyMetric()], val_cfg=dict(),
           optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)), train_cfg=dict(by_epoch=True, max_epochs=3),
           param_scheduler=dict(type='MultiStepLR', milestones=[2], gamma=0.1),
           default_hooks=dict(logger=dict(type='LoggerHook', interval=1)),
           visualizer=dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend'),
                                                            dict(type='TensorboardVisBackend')])).train()
    return str(work_dir)


def test_tensorboard_is_a_visualiser_option(work_dir):
    """README's TensorBoard line: the scalars also go to a TensorBoard event file."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = glob.glob(osp.join(work_dir, '*', 'vis_data', 'events.out.tfevents.*'))
    assert len(events) == 1
    accumulator = EventAccumulator(events[0])
    accumulator.Reload()
    assert {'loss', 'lr', 'toy/mean_score'} <= set(accumulator.Tags()['scalars'])
    assert len(accumulator.Scalars('loss')) == 12


def test_read_scalars_of_a_real_log(work_dir):
    log = find_log(work_dir)
    train, val = read_scalars(log)
    assert {'loss', 'loss_cls', 'loss_reg', 'lr'} <= set(train)
    assert train['loss'][0] == list(range(1, 13))  # 12 iterations
    assert train['lr'][1][0] == pytest.approx(0.01) and train['lr'][1][-1] == pytest.approx(0.001)
    assert list(val) == ['toy/mean_score'] and val['toy/mean_score'][0] == [1, 2, 3]


def test_the_figure_has_a_panel_per_key(work_dir):
    train, val = read_scalars(find_log(work_dir))
    figure = curve_figure(train, val, ['loss_cls', 'lr', 'toy/mean_score'])
    assert [axis.get_ylabel() for axis in figure.axes] == ['loss_cls', 'lr', 'toy/mean_score']
    assert list(figure.axes[2].get_lines()[0].get_xdata()) == [1, 2, 3]
    with pytest.raises(InputError, match=r"keys \['loss_box'\] are not in the log; it has \["):
        curve_figure(train, val, ['loss_box'])


def test_the_tool_writes_the_png(work_dir, tmp_path, capsys, run_tool):
    out = run_tool(TOOL, work_dir, '--out', str(tmp_path / 'curves.png'))
    assert out == str(tmp_path / 'curves.png') and f'wrote {out}' in capsys.readouterr().out
    height, width = matplotlib.image.imread(out).shape[:2]
    assert width == 700 and height == 220 * 5  # loss, loss_cls, loss_reg, lr, toy/mean_score


def test_bad_logs_name_the_file_and_line(tmp_path):
    with pytest.raises(MissingInputError, match='neither a json log nor a work dir'):
        find_log(str(tmp_path))
    log = tmp_path / 'scalars.json'
    log.write_text('{"lr": 0.1, "iter": 1, "loss": 2.0}\n{"loss": \n')
    with pytest.raises(InputError, match=f'{log}:2: not a json line'):
        read_scalars(str(log))
