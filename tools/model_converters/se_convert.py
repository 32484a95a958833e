"""Convert SE weights, or a plain peer's into its SE network, from timm, pretrainedmodels or mmpretrain.

    python tools/model_converters/se_convert.py SRC DST --from {timm,pretrainedmodels,mmpretrain} [--arch NAME]

The output loads with mmpretrain's ``load_from`` and, for mmdet, with
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``. Its ``meta`` holds the
``backbone_cfg`` that reproduces the source and the normalisation the weights expect.
"""
import argparse
import json

from se_plugins.converters import SOURCE_ARCHS, SOURCES, convert_checkpoint
from se_plugins.utils import run_cli


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='source checkpoint (a state dict, or one under state_dict/model)')
    parser.add_argument('dst', help='where to write the se_plugins checkpoint')
    parser.add_argument('--from', dest='source', required=True, choices=SOURCES)
    parser.add_argument('--arch', help='the source architecture; inferred from the keys if omitted. '
                        + '; '.join(f'{s}: {", ".join(a)}' for s, a in SOURCE_ARCHS.items()))
    args = parser.parse_args()
    meta = convert_checkpoint(args.src, args.dst, args.source, args.arch)
    print(f'wrote {args.dst}: {args.source} {meta["arch"]}, {meta["num_classes"]} classes')
    if meta.get('initialised'):
        print(f'{len(meta["initialised"])} SE tensors are not in the source: freshly initialised')
    print('backbone_cfg =', json.dumps(meta['backbone_cfg']))
    print('data_preprocessor =', json.dumps(meta['data_preprocessor']))
    return meta


if __name__ == '__main__':
    run_cli(main)
