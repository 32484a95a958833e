"""Training curves from mmengine's json logs (``<work_dir>/<timestamp>/vis_data/scalars.json``).

Each line of the log is one json object: training lines carry ``iter`` and ``lr`` with the loss
terms; validation lines carry the metrics with ``step``, the epoch (or iteration) they were
measured at.
"""
import glob
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from se_plugins.utils import InputError, MissingInputError

Series = Dict[str, Tuple[List[float], List[float]]]
_BOOKKEEPING = {'epoch', 'iter', 'step', 'time', 'data_time', 'memory', 'eta'}


def find_log(path: str) -> str:
    """The json log of a work dir (the newest run's), or ``path`` itself if it is a file."""
    if osp.isfile(path):
        return path
    logs = sorted(glob.glob(osp.join(path, '*', 'vis_data', 'scalars.json')))
    if not logs:
        raise MissingInputError(f'{path} is neither a json log nor a work dir with */vis_data/scalars.json')
    return logs[-1]


def read_scalars(path: str) -> Tuple[Series, Series]:
    """Read a json log into series: ``key -> (x values, y values)``.

    Returns:
        The training series (x: iteration) and the validation series (x: the log's ``step``).
    """
    if not osp.isfile(path):
        raise MissingInputError(f'log {path} does not exist')
    train: Series = {}
    val: Series = {}
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise InputError(f'{path}:{lineno}: not a json line ({error.msg})') from None
            is_train = 'lr' in record and 'iter' in record
            x = record['iter'] if is_train else record.get('step')
            if x is None:
                raise InputError(f'{path}:{lineno}: a log line needs "iter" (training) or "step" (validation)')
            for key, value in record.items():
                if key not in _BOOKKEEPING and isinstance(value, (int, float)):
                    xs, ys = (train if is_train else val).setdefault(key, ([], []))
                    xs.append(x)
                    ys.append(float(value))
    if not train and not val:
        raise InputError(f'{path} holds no scalars')
    return train, val


def curve_figure(train: Series, val: Series, keys: Optional[Sequence[str]] = None, title: str = ''):
    """One panel per key: the loss terms and the learning rate against iterations, the metrics
    against their validation step.

    Args:
        train: The training series of :func:`read_scalars`.
        val: Its validation series.
        keys: The keys to draw; by default every loss term, ``lr`` and every metric.
        title: The figure's title.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    available = list(train) + [k for k in val if k not in train]
    keys = list(keys) if keys else available
    unknown = [k for k in keys if k not in available]
    if unknown:
        raise InputError(f'keys {unknown} are not in the log; it has {available}')
    figure, axes = plt.subplots(len(keys), 1, figsize=(7, 2.2 * len(keys)), squeeze=False)
    for axis, key in zip(axes[:, 0], keys):
        is_train = key in train
        xs, ys = (train if is_train else val)[key]
        axis.plot(xs, ys, marker='' if is_train else 'o', linewidth=1, label=key)
        axis.set_ylabel(key, fontsize=8)
        axis.set_xlabel('iteration' if is_train else 'validation step (epoch)', fontsize=8)
        axis.grid(alpha=0.3)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure
