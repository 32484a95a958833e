"""Plot training curves (losses, learning rate, metrics) from mmengine's json log as a PNG.

    python tools/analysis_tools/plot_curves.py WORK_DIR_OR_LOG [--keys loss lr accuracy/top1] [--out FILE]

WORK_DIR_OR_LOG is a run's work dir (its newest ``<timestamp>/vis_data/scalars.json`` is read) or
the json log itself. Default output: ``curves.png`` beside the log.
"""
import argparse
import os.path as osp

from se_plugins.analysis.curves import curve_figure, find_log, read_scalars
from se_plugins.utils import run_cli


def main() -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('log', help='a work dir or its json log')
    parser.add_argument('--keys', nargs='+', help='the scalars to plot (default: all losses, lr and metrics)')
    parser.add_argument('--out', help='the PNG file (default: curves.png beside the log)')
    args = parser.parse_args()
    import matplotlib.pyplot as plt

    log = find_log(args.log)
    train, val = read_scalars(log)
    figure = curve_figure(train, val, args.keys, title=log)
    out = args.out or osp.join(osp.dirname(log), 'curves.png')
    figure.savefig(out, dpi=100)
    plt.close(figure)
    print(f'wrote {out}')
    return out


if __name__ == '__main__':
    run_cli(main)
