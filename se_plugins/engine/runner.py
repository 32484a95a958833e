"""The tools' Runner, and running it so that a run that fails before its first iteration leaves nothing."""
import inspect
import logging
import os
import os.path as osp
import shutil
from typing import Callable, Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import DATASETS, VISUALIZERS
from mmengine.runner import Runner

from se_plugins.datasets.image_checks import GuardedImages, NamedImageErrorsMixin
from se_plugins.registry import RUNNERS

from .checkpoint_fit import require_checkpoint_fit
from .config_checks import check_config
from .preemption import as_our_loop
from .workers import quiet_workers, rebuild_loader


class _CPUEnvironmentLabels(logging.Filter):
    """mmengine logs a run's world size as ``GPU number``; on a machine without CUDA it counts CPU processes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and '\n    GPU number: ' in record.msg:
            record.msg = record.msg.replace('\n    GPU number: ', '\n    CPU processes (no GPU): ')
        return True


@RUNNERS.register_module()
class SERunner(Runner):
    """mmengine's Runner with what se_plugins guarantees: our configs name it (``runner_type``), so that any
    launcher that builds a Runner from them (ours, mmpretrain's and mmdet's tools, mim, ``RUNNERS.build``) has it.

    Beside mmengine's: training loops that resume mid-epoch exactly (:func:`~se_plugins.engine.preemption.as_our_loop`),
    checkpoints checked to fit before they load, DataLoader workers that survive stop signals, datasets that name or
    skip their bad images, a visualizer of its own per run, and a logged environment that says CPU where there is
    no GPU."""

    def build_train_loop(self, loop):
        """mmengine's, with our loops in place of its two (:func:`~se_plugins.engine.preemption.as_our_loop`)."""
        return super().build_train_loop(as_our_loop(loop) if isinstance(loop, dict) else loop)

    def build_visualizer(self, visualizer=None):
        """mmengine's, except that a run never takes over the visualizer of an earlier run in the process.

        mmdet's configs name their visualizer ``'visualizer'``, and mmengine hands a second Runner of a
        process (the Python API, a notebook, an in-process test) the first one's instance of that name, with
        the first run's folder: the second run's config dump, scalars and pictures would land there (or fail
        once that folder is gone). Such a run's visualizer is named after the run instead.
        """
        if isinstance(visualizer, dict) and 'name' in visualizer:
            kind = visualizer.get('type', 'Visualizer')
            if not inspect.isclass(kind):
                with VISUALIZERS.switch_scope_and_registry(None) as registry:  # the run's default scope
                    kind = registry.get(kind)
            name, count = visualizer['name'], 0
            while kind is not None and kind.check_instance_created(name):
                count += 1
                name = self.experiment_name if count == 1 else f'{self.experiment_name}_{count}'
            visualizer = dict(visualizer, name=name)
        return super().build_visualizer(visualizer)

    def train(self):
        """mmengine's; a ``load_from`` checkpoint may leave the head out (fine-tuning); one resumed from must fit
        entirely (:func:`~se_plugins.engine.checkpoint.require_checkpoint_fit`)."""
        self._fine_tuning = True
        try:
            return super().train()
        finally:
            self._fine_tuning = False

    def load_checkpoint(self, filename: str, *args, **kwargs):
        """mmengine's, after checking that the checkpoint fits the model: entirely to test, validate or
        predict; its backbone at least to fine-tune, with one line saying what was loaded."""
        fine_tune = getattr(self, '_fine_tuning', False)
        said = require_checkpoint_fit(self.model, filename, 'load_from' if fine_tune else 'checkpoint', fine_tune)
        if fine_tune:
            self.logger.info(said)
        return super().load_checkpoint(filename, *args, **kwargs)

    def resume(self, filename: str, *args, **kwargs):
        """mmengine's, after checking that the checkpoint fits the model entirely."""
        require_checkpoint_fit(self.model, filename, '--resume')
        return super().resume(filename, *args, **kwargs)

    @staticmethod
    def build_dataloader(dataloader, seed: Optional[int] = None, diff_rank_seed: bool = False):
        """mmengine's, with workers that survive the stop signals a job's processes receive and iterators that
        leave the global random state alone (:func:`~se_plugins.engine.workers.quiet_workers`), and a dataset
        that names its bad images or skips up to ``max_bad_images`` of them, whatever its type (ours do that
        themselves; any other is wrapped in :class:`~se_plugins.datasets.GuardedImages`)."""
        max_bad_images = None
        if isinstance(dataloader, dict) and isinstance(dataloader.get('dataset'), dict):
            dataset = dataloader['dataset']
            if not _names_its_bad_images(dataset):
                dataset = dict(dataset)
                max_bad_images = dataset.pop('max_bad_images', 0)
                dataloader = dict(dataloader, dataset=dataset)
        loader = Runner.build_dataloader(dataloader, seed=seed, diff_rank_seed=diff_rank_seed)
        if max_bad_images is not None and not isinstance(loader.dataset, NamedImageErrorsMixin):
            loader = rebuild_loader(loader, dataset=GuardedImages(loader.dataset, max_bad_images))
        return quiet_workers(loader, seed)

    def build_logger(self, *args, **kwargs):
        logger = super().build_logger(*args, **kwargs)
        if not torch.cuda.is_available() and not any(isinstance(f, _CPUEnvironmentLabels) for f in logger.filters):
            logger.addFilter(_CPUEnvironmentLabels())
        return logger


def _names_its_bad_images(dataset: dict) -> bool:
    """Whether the dataset config builds one of our datasets, which take ``max_bad_images`` themselves."""
    with DATASETS.switch_scope_and_registry(dataset.get('_scope_')) as registry:
        cls = registry.get(dataset.get('type')) if isinstance(dataset.get('type'), str) else dataset.get('type')
    return isinstance(cls, type) and issubclass(cls, NamedImageErrorsMixin)


_runs_started = 0


def _name_the_run(cfg: Config) -> None:
    """Give a second and later run of this process an experiment name of its own.

    mmengine names a run's logger, message hub, default scope and visualizer after ``<config>_<timestamp>``, to
    the second, and hands a run an existing instance of its name: two runs started in one second (an in-process
    test that reruns a tool, the demo's training then test) shared the first one's, its default scope and log file
    (written after its work dir was gone) included.
    """
    global _runs_started
    _runs_started += 1
    if _runs_started > 1 and not cfg.get('experiment_name'):
        cfg.experiment_name = f'{osp.splitext(osp.basename(cfg.filename or "run"))[0]}_run{_runs_started}'


class _Progress(Hook):
    """Counts the iterations a run has done."""

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self.iterations = 0

    def after_train_iter(self, *args, **kwargs) -> None:
        self.iterations += 1

    after_val_iter = after_test_iter = after_train_iter


def run_leaving_nothing_on_early_failure(cfg: Config, splits: Sequence[str], run: Callable[[Runner], object]):
    """Check the arguments and paths of what the config builds for ``splits``, build the Runner and
    ``run(runner)``; if that fails before the first iteration, remove what the Runner wrote (its log
    folder, the config dump, a work dir it made).

    Args:
        cfg: The config.
        splits: The splits the tool uses (see :func:`~se_plugins.engine.config_checks.check_paths`).
        run: What to do with the Runner (``Runner.train``, ``Runner.test``).

    Returns:
        What ``run`` returns.
    """
    check_config(cfg, splits)
    _name_the_run(cfg)
    work_dir = osp.abspath(cfg.work_dir)
    created = work_dir  # the top-most folder the Runner will make, if work_dir does not exist yet
    while not osp.exists(osp.dirname(created)):
        created = osp.dirname(created)
    before = set(os.listdir(work_dir)) if osp.isdir(work_dir) else None
    progress = _Progress()
    try:
        runner = SERunner.from_cfg(cfg)
        runner.register_hook(progress)
        return run(runner)
    except BaseException:
        if not progress.iterations:
            if before is None:
                shutil.rmtree(created, ignore_errors=True)
            else:
                for entry in set(os.listdir(work_dir)) - before:
                    path = osp.join(work_dir, entry)
                    shutil.rmtree(path, ignore_errors=True) if osp.isdir(path) else os.remove(path)
        raise
