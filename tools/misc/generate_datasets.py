"""Write a small dataset in a real format: COCO detection, ImageNet, Places365 or one's own images.

    python tools/misc/generate_datasets.py coco data/shapes_coco [--num-train 128 --num-val 32]
    python tools/misc/generate_datasets.py imagenet data/tiny_imagenet
    python tools/misc/generate_datasets.py places365 data/tiny_places365
    python tools/misc/generate_datasets.py folders data/my_images --classes daisy rose tulip
"""
import argparse

from se_plugins.datasets import make_class_folders, make_coco_detection, make_imagenet, make_places365
from se_plugins.utils import run_cli


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('kind', choices=['coco', 'imagenet', 'places365', 'folders'])
    parser.add_argument('out_dir')
    parser.add_argument('--num-train', type=int, help='images (coco) or images per class')
    parser.add_argument('--num-val', type=int, help='images (coco) or images per class')
    parser.add_argument('--num-classes', type=int, default=4, help='classes (imagenet, places365)')
    parser.add_argument('--classes', nargs='+', default=['daisy', 'rose', 'tulip'], help='class names (folders)')
    parser.add_argument('--image-size', type=int)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    sizes = {k: v for k, v in dict(image_size=args.image_size).items() if v is not None}
    if args.kind == 'coco':
        counts = {k: v for k, v in dict(num_train=args.num_train, num_val=args.num_val).items() if v}
        make_coco_detection(args.out_dir, seed=args.seed, **counts, **sizes)
    elif args.kind == 'folders':
        counts = {k: v for k, v in dict(train_per_class=args.num_train, val_per_class=args.num_val).items() if v}
        make_class_folders(args.out_dir, classes=args.classes, seed=args.seed, **counts, **sizes)
    else:
        counts = {k: v for k, v in dict(train_per_class=args.num_train, val_per_class=args.num_val).items() if v}
        make = make_imagenet if args.kind == 'imagenet' else make_places365
        make(args.out_dir, num_classes=args.num_classes, seed=args.seed, **counts, **sizes)
    print(f'wrote a {args.kind}-format dataset to {args.out_dir}')


if __name__ == '__main__':
    run_cli(main)
