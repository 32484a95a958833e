"""The role of excitation (Hu et al., Sec. 7.2 and Fig. 6/7): the SE gates of chosen blocks, per class.

Block names follow the paper: ``SE_<stage>_<block>`` is the SE module of the ``block``-th residual
block (from 1) of stage ``stage`` (2-5, the paper's conv2_x ... conv5_x, mmpretrain's
``layer1`` ... ``layer4``). The gates are the outputs of eq. (3), ``s`` in [0, 1] per channel,
recorded with a forward hook on each SE module's ``gate``.
"""
import os.path as osp
import re
from typing import TYPE_CHECKING, Dict, Iterable, List, Sequence, Tuple

import torch
import torch.nn as nn

from se_plugins.models.layers import SqueezeExcitation
from se_plugins.utils import InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PAPER_BLOCKS = ('SE_2_3', 'SE_3_4', 'SE_4_6', 'SE_5_1', 'SE_5_2', 'SE_5_3')
_BLOCK_NAME = re.compile(r'^SE_(\d)_(\d+)$')


def se_module(backbone: nn.Module, block: str) -> nn.Module:
    """The SE module ``SE_<stage>_<block>`` of an SE-ResNet/SE-ResNeXt backbone."""
    match = _BLOCK_NAME.match(block)
    if match is None:
        raise InputError(f'block {block!r} is not a name like SE_5_2 (stage 2-5, block from 1)')
    stage, index = int(match.group(1)), int(match.group(2))
    layers = getattr(backbone, 'res_layers', None)
    if layers is None or not 2 <= stage <= len(layers) + 1:
        raise InputError(f'block {block!r}: the backbone has stages 2-{len(layers or ()) + 1}')
    layer = getattr(backbone, layers[stage - 2])
    if not 1 <= index <= len(layer):
        raise InputError(f'block {block!r}: stage {stage} has blocks 1-{len(layer)}')
    se = getattr(layer[index - 1], 'se', None)
    if not isinstance(se, SqueezeExcitation):  # a block without SE has none, or nn.Identity
        raise InputError(f'block {block!r} has no SE module')
    return se


@torch.no_grad()
def record_excitations(model: nn.Module, batches: Iterable[Tuple[torch.Tensor, torch.Tensor]],
                       blocks: Sequence[str] = PAPER_BLOCKS) -> Dict[str, Dict[int, torch.Tensor]]:
    """Run ``model`` over ``batches`` and collect the gates of ``blocks`` per class.

    Args:
        model: An mmpretrain classifier (``model.backbone`` is searched for the blocks) or a backbone.
        batches: ``(inputs, labels)`` pairs: preprocessed images ``(N, 3, H, W)`` and class indices ``(N,)``.
        blocks: Block names, e.g. the paper's :data:`PAPER_BLOCKS`.

    Returns:
        For each block, for each class index seen, the gates of its images, ``(images, channels)``.
    """
    backbone = getattr(model, 'backbone', model)
    recorded: Dict[str, List[torch.Tensor]] = {block: [] for block in blocks}
    handles = []
    for block in blocks:
        gate = se_module(backbone, block).gate
        handles.append(gate.register_forward_hook(
            lambda module, inputs, output, block=block: recorded[block].append(output.flatten(1).float().cpu())))
    labels = []
    model.eval()
    try:
        for inputs, batch_labels in batches:
            model(inputs)
            labels.append(batch_labels.cpu())
    finally:
        for handle in handles:
            handle.remove()
    if not labels:
        raise InputError('no images to record the excitations of')
    labels = torch.cat(labels)
    result = {}
    for block, outputs in recorded.items():
        gates = torch.cat(outputs)
        result[block] = {int(c): gates[labels == c] for c in labels.unique()}
    return result


def excitation_figures(excitations: Dict[str, Dict[int, torch.Tensor]], class_names: Sequence[str],
                       classes: Sequence[int]) -> Dict[str, 'Figure']:
    """The paper's two figures, one panel per block:

    - ``excitation_per_channel``: the mean gate of each channel for each class in ``classes`` and
      over all classes (the paper's Fig. 6);
    - ``excitation_mean_std``: each channel's mean gate over the images of each class in
      ``classes``, with a band of one standard deviation (Fig. 7).

    Args:
        excitations: What :func:`record_excitations` returned.
        class_names: The dataset's class names, indexed by class.
        classes: The classes to draw, by index.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    missing = [c for c in classes if any(c not in per_class for per_class in excitations.values())]
    if missing:
        raise InputError(f'no images of class {[class_names[c] for c in missing]} were recorded')
    blocks = list(excitations)
    figures = {}
    for figure_name, draw in (('excitation_per_channel', _draw_means), ('excitation_mean_std', _draw_mean_std)):
        figure, axes = plt.subplots(len(blocks), 1, figsize=(8, 2.2 * len(blocks)), squeeze=False)
        for axis, block in zip(axes[:, 0], blocks):
            draw(axis, excitations[block], class_names, classes)
            axis.set_title(block, fontsize=9)
            axis.set_ylabel('activation', fontsize=8)
            axis.set_ylim(0, 1.05)
        axes[-1, 0].set_xlabel('channel index')
        axes[0, 0].legend(fontsize=7, loc='upper right', ncol=len(classes) + 1)
        figure.tight_layout()
        figures[figure_name] = figure
    return figures


def save_figures(figures: Dict[str, 'Figure'], out_dir: str) -> Dict[str, str]:
    """Save each figure as ``<out_dir>/<name>.png``, close it, and return the files by name."""
    import matplotlib.pyplot as plt

    files = {}
    for name, figure in figures.items():
        files[name] = osp.join(out_dir, f'{name}.png')
        figure.savefig(files[name], dpi=100)
        plt.close(figure)
    return files


def _draw_means(axis, per_class, class_names, classes) -> None:
    for c in classes:
        axis.plot(per_class[c].mean(0).numpy(), linewidth=0.8, label=class_names[c])
    everything = torch.cat(list(per_class.values()))
    axis.plot(everything.mean(0).numpy(), linewidth=0.8, color='black', linestyle='--', label='all')


def _draw_mean_std(axis, per_class, class_names, classes) -> None:
    for c in classes:
        mean, std = per_class[c].mean(0), per_class[c].std(0, unbiased=False)
        channels = torch.arange(len(mean)).numpy()
        line, = axis.plot(channels, mean.numpy(), linewidth=0.8, label=class_names[c])
        axis.fill_between(channels, (mean - std).numpy(), (mean + std).numpy(), alpha=0.25,
                          color=line.get_color(), linewidth=0)
