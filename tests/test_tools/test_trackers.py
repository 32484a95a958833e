"""Trackers of a run: TensorBoard switched on in the config, MLflow by tools/train.py --tracker; a real training
run, its loss, learning rate and metric read back with each tracker's own reader and compared with the run's
local record (scalars.json)."""
import glob
import json
import os.path as osp

import pytest

from se_plugins.datasets import make_places365

from helpers import PLACES_CONFIG, run_command_line, train_options

pytestmark = pytest.mark.slow


def local_record(work_dir) -> dict:
    """Each scalar's values, in order, as the run's LocalVisBackend wrote them."""
    scalars, = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    record: dict = {}
    for line in open(scalars):
        for name, value in json.loads(line).items():
            if name in ('loss', 'lr', 'accuracy/top1'):
                record.setdefault(name, []).append(value)
    return record


def tensorboard_record(work_dir) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events, = glob.glob(osp.join(work_dir, '*', 'vis_data', 'events.out.tfevents.*'))
    accumulator = EventAccumulator(events)
    accumulator.Reload()
    return {name: [event.value for event in accumulator.Scalars(name)] for name in ('loss', 'lr', 'accuracy/top1')}


def mlflow_record(project) -> dict:
    from mlflow.tracking import MlflowClient
    client = MlflowClient(f'sqlite:///{project}/mlflow.db')
    run, = client.search_runs([client.get_experiment_by_name('Default').experiment_id])
    history = {name: client.get_metric_history(run.info.run_id, name) for name in ('loss', 'lr', 'accuracy/top1')}
    return {name: [metric.value for metric in sorted(metrics, key=lambda metric: metric.step)]
            for name, metrics in history.items()}


def test_trackers_record_the_loss_learning_rate_and_metric_of_a_run(tmp_path, monkeypatch):
    places = make_places365(str(tmp_path / 'places'), num_classes=2, train_per_class=4, val_per_class=2,
                            image_size=32)
    project = tmp_path / 'project'
    project.mkdir()
    monkeypatch.chdir(project)  # MLflow's database goes to the folder the run starts from
    config = project / 'mine.py'
    config.write_text(f"_base_ = {PLACES_CONFIG!r}\n"
                      "visualizer = dict(vis_backends=[dict(type='LocalVisBackend'), "
                      "dict(type='TensorboardVisBackend')])\n")
    work_dir = project / 'work'
    options = train_options(places, epochs=2, **{'train_cfg.val_interval': 1})
    assert run_command_line('train.py', str(config), '--work-dir', str(work_dir), '--tracker', 'mlflow', *options) == 0
    expected = local_record(work_dir)
    assert len(expected['loss']) == 4 and len(expected['accuracy/top1']) == 2  # 2 epochs of 2 iterations
    for tracker, read in (('tensorboard', tensorboard_record(work_dir)), ('mlflow', mlflow_record(project))):
        for name, values in expected.items():
            assert read[name] == pytest.approx(values, rel=1e-6), (tracker, name)
