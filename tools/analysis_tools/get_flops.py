"""Parameters and FLOPs: the paper's complexity table, or one config's model.

    python tools/analysis_tools/get_flops.py                       # the paper's table, recounted
    python tools/analysis_tools/get_flops.py CONFIG [--shape 224]  # one config's model

GFLOPs are multiply-adds of one forward pass, counted as the paper counts them (convolutions and
fully connected layers) with mmengine's FlopAnalyzer; what the paper leaves out (BN, global
pooling, the SE's squeeze and scale) is printed beside it. A detector's count is its backbone's. In the
table, Inception-ResNet-v2 is counted at 299x299, the size the paper trains it at, whatever --shape says.
"""
import argparse

from mmengine.config import Config

import se_plugins  # noqa: F401
from se_plugins.analysis import PAPER_TABLE, build_counted_model, measure, paper_table
from se_plugins.utils import run_cli


def main() -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', nargs='?', help='a config; without it, the paper\'s table')
    parser.add_argument('--shape', type=int, nargs='+', default=[224], help='input height [width]')
    args = parser.parse_args()
    height, width = (args.shape * 2)[:2]
    if args.config is None:
        text = paper_table(PAPER_TABLE, (1, 3, height, width))
    else:
        _, counted, what = build_counted_model(Config.fromfile(args.config))
        cost = measure(counted, (1, 3, height, width))
        text = (f'{args.config} ({what}), input {height}x{width}\n'
                f'params: {cost.params / 1e6:.3f} M\n'
                f'GFLOPs (conv + fc, as the paper counts): {cost.paper_flops / 1e9:.3f}\n'
                f'not in that count: BN {cost.norm_flops / 1e9:.3f} G, global pooling '
                f'{cost.pool_flops / 1e9:.4f} G, SE squeeze + scale {cost.se_elementwise_flops / 1e9:.4f} G')
    print(text)
    return text


if __name__ == '__main__':
    run_cli(main)
