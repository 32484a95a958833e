"""Build every registered se_plugins backbone and print its parameters and output shapes.

    python tools/misc/backbone_table.py [--size 224]
"""
import argparse

import torch

import se_plugins  # noqa: F401
from se_plugins.registry import MODELS
from se_plugins.utils import run_cli


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, default=224, help='input height and width')
    args = parser.parse_args()

    print(f'{"backbone":<12} {"depth":>5} {"params (M)":>10}  output shapes of stages 1-4, '
          f'input 1x3x{args.size}x{args.size}')
    for name, cls in sorted(MODELS.module_dict.items()):
        for depth in sorted(getattr(cls, 'arch_settings', ())):
            model = MODELS.build(dict(type=name, depth=depth, out_indices=(0, 1, 2, 3))).eval()
            with torch.no_grad():
                outs = model(torch.randn(1, 3, args.size, args.size))
            params = sum(p.numel() for p in model.parameters()) / 1e6
            shapes = '  '.join('x'.join(map(str, o.shape[1:])) for o in outs)
            print(f'{name:<12} {depth:>5} {params:>10.3f}  {shapes}')


if __name__ == '__main__':
    run_cli(main)
