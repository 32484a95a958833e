"""Small datasets in the real on-disk formats, for tests and the CPU demo (nothing is downloaded).

- COCO detection, with COCO 2017's file names: ``annotations/instances_{train,val}2017.json`` and
  ``{train,val}2017/*.jpg``, with
  shapes (squares, circles, triangles) on textured backgrounds as the objects.
- ImageNet (mmpretrain's layout): ``train/<wnid>/*.JPEG``, ``val/*.JPEG``, ``meta/{train,val}.txt``.
- Places365 (the official layout): ``categories_places365.txt``, ``places365_train_standard.txt``,
  ``places365_val.txt``, ``data_256/`` and ``val_256/``.
- One's own images: ``{train,val}/<class>/*.jpg``, with the lists ``{train,val}.txt`` and ``classes.txt``.

Classification images of one class share a colour and stripe pattern, so a model can learn them.
"""
import json
import os
import os.path as osp
from typing import Sequence

import cv2
import numpy as np

from .places365 import CATEGORY_PATHS

DETECTION_CLASSES = ('square', 'circle', 'triangle')


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    base = rng.integers(60, 190, size=3)
    noise = rng.normal(0, 12, size=(size, size, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _draw_object(image: np.ndarray, label: int, box: Sequence[int], rng: np.random.Generator) -> None:
    x1, y1, x2, y2 = box
    colour = np.zeros(3, int)
    colour[label] = 220  # one dominant channel per class, jittered
    colour = tuple(int(c) for c in np.clip(colour + rng.integers(0, 60, size=3), 0, 255))
    if label == 0:
        cv2.rectangle(image, (x1, y1), (x2 - 1, y2 - 1), colour, thickness=-1)
    elif label == 1:
        cv2.ellipse(image, (((x1 + x2) / 2, (y1 + y2) / 2), (x2 - x1, y2 - y1), 0), colour, thickness=-1)
    else:
        points = np.array([[(x1 + x2) // 2, y1], [x1, y2 - 1], [x2 - 1, y2 - 1]], np.int32)
        cv2.fillPoly(image, [points], colour)


def make_coco_detection(out_dir: str,
                        num_train: int = 64,
                        num_val: int = 16,
                        image_size: int = 128,
                        max_objects: int = 3,
                        seed: int = 0) -> str:
    """Write a COCO-format detection set; return ``out_dir``.

    Args:
        out_dir: The dataset folder to create.
        num_train: Training images.
        num_val: Validation images.
        image_size: Height and width of every image.
        max_objects: Each image holds 1 to ``max_objects`` non-overlapping objects.
        seed: Random seed: the same arguments give the same files.
    """
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    categories = [dict(id=i + 1, name=name, supercategory='shape') for i, name in enumerate(DETECTION_CLASSES)]
    for split, count in (('train2017', num_train), ('val2017', num_val)):
        os.makedirs(osp.join(out_dir, split), exist_ok=True)
        images, annotations = [], []
        for image_id in range(1, count + 1):
            image = _background(rng, image_size)
            boxes = []
            for _ in range(int(rng.integers(1, max_objects + 1))):
                for _attempt in range(20):
                    side = int(rng.integers(image_size // 5, image_size // 2))
                    x1, y1 = (int(v) for v in rng.integers(0, image_size - side, size=2))
                    box = (x1, y1, x1 + side, y1 + side)
                    if all(box[2] <= b[0] or b[2] <= box[0] or box[3] <= b[1] or b[3] <= box[1] for b in boxes):
                        boxes.append(box)
                        break
            for box in boxes:
                label = int(rng.integers(0, len(DETECTION_CLASSES)))
                _draw_object(image, label, box, rng)
                x1, y1, x2, y2 = box
                annotations.append(dict(id=len(annotations) + 1, image_id=image_id, category_id=label + 1,
                                        bbox=[x1, y1, x2 - x1, y2 - y1], area=(x2 - x1) * (y2 - y1),
                                        iscrowd=0))
            file_name = f'{image_id:06d}.jpg'
            cv2.imwrite(osp.join(out_dir, split, file_name), image)
            images.append(dict(id=image_id, file_name=file_name, width=image_size, height=image_size))
        with open(osp.join(out_dir, 'annotations', f'instances_{split}.json'), 'w') as f:
            json.dump(dict(images=images, annotations=annotations, categories=categories), f)
    return out_dir


def _class_image(rng: np.random.Generator, label: int, size: int) -> np.ndarray:
    """An image whose colour and stripe frequency depend on its class."""
    hue = (label * 47) % 180
    hsv = np.full((size, size, 3), (hue, 200, 200), np.uint8)
    image = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR).astype(np.float32)
    stripes = np.sin(np.arange(size) * (1 + label % 5) * np.pi / size)[None, :, None]
    image = image * (0.75 + 0.25 * stripes) + rng.normal(0, 10, size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def _write_split(rng: np.random.Generator, image_dir: str, list_file: str, entries, image_size: int) -> None:
    """Write one image per ``(name, label)`` under ``image_dir``, and the list ``name label``."""
    for name, label in entries:
        path = osp.join(image_dir, name.lstrip('/'))
        os.makedirs(osp.dirname(path), exist_ok=True)
        cv2.imwrite(path, _class_image(rng, label, image_size))
    os.makedirs(osp.dirname(list_file), exist_ok=True)
    with open(list_file, 'w') as f:
        f.write(''.join(f'{name} {label}\n' for name, label in entries))


def make_imagenet(out_dir: str,
                  num_classes: int = 4,
                  train_per_class: int = 8,
                  val_per_class: int = 2,
                  image_size: int = 64,
                  seed: int = 0) -> str:
    """Write an ImageNet-format set in mmpretrain's layout; return ``out_dir``.

    Args:
        out_dir: The dataset folder to create (the ImageNet configs read ``data/imagenet``).
        num_classes: Classes (labels 0 .. num_classes - 1, folders ``n00000000`` ...).
        train_per_class: Training images per class, under ``train/<wnid>/``.
        val_per_class: Validation images per class, in ``val/`` (labels in ``meta/val.txt``).
        image_size: Height and width of every image (ImageNet's vary; mmpretrain resizes them).
        seed: Random seed: the same arguments give the same files.
    """
    rng = np.random.default_rng(seed)
    train = [(f'n{label:08d}/n{label:08d}_{i}.JPEG', label)
             for label in range(num_classes) for i in range(train_per_class)]
    val = [(f'ILSVRC2012_val_{label * val_per_class + i + 1:08d}.JPEG', label)
           for label in range(num_classes) for i in range(val_per_class)]
    _write_split(rng, osp.join(out_dir, 'train'), osp.join(out_dir, 'meta', 'train.txt'), train, image_size)
    _write_split(rng, osp.join(out_dir, 'val'), osp.join(out_dir, 'meta', 'val.txt'), val, image_size)
    return out_dir


def make_places365(out_dir: str,
                   num_classes: int = 4,
                   train_per_class: int = 8,
                   val_per_class: int = 2,
                   image_size: int = 64,
                   seed: int = 0) -> str:
    """Write a Places365-format set (the official layout, first ``num_classes`` classes); return ``out_dir``.

    Args:
        out_dir: The dataset folder to create (the Places365 configs read ``data/places365``).
        num_classes: How many of the 365 classes get images.
        train_per_class: Training images per class, under ``data_256/<category path>/``.
        val_per_class: Validation images per class, in ``val_256/`` (labels in ``places365_val.txt``).
        image_size: Height and width of every image (the real release: 256).
        seed: Random seed: the same arguments give the same files.
    """
    rng = np.random.default_rng(seed)
    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, 'categories_places365.txt'), 'w') as f:
        f.write(''.join(f'{path} {i}\n' for i, path in enumerate(CATEGORY_PATHS)))
    train = [(f'{CATEGORY_PATHS[label]}/{i + 1:08d}.jpg', label)
             for label in range(num_classes) for i in range(train_per_class)]
    val = [(f'Places365_val_{label * val_per_class + i + 1:08d}.jpg', label)
           for label in range(num_classes) for i in range(val_per_class)]
    _write_split(rng, osp.join(out_dir, 'data_256'), osp.join(out_dir, 'places365_train_standard.txt'), train,
                 image_size)
    _write_split(rng, osp.join(out_dir, 'val_256'), osp.join(out_dir, 'places365_val.txt'), val, image_size)
    return out_dir


def make_class_folders(out_dir: str,
                       classes: Sequence[str] = ('daisy', 'rose', 'tulip'),
                       train_per_class: int = 8,
                       val_per_class: int = 4,
                       image_size: int = 64,
                       seed: int = 0) -> str:
    """Write a set of one's own images as users keep them; return ``out_dir``. Both layouts that
    mmpretrain's ``CustomDataset`` reads: ``{train,val}/<class>/<n>.jpg`` (a folder of class folders), and
    the lists ``{train,val}.txt`` (``<class>/<n>.jpg <label>``) with ``classes.txt`` (a class a line).

    Args:
        out_dir: The dataset folder to create.
        classes: The class names, in label order.
        train_per_class: Training images per class, under ``train/<class>/``.
        val_per_class: Validation images per class, under ``val/<class>/``.
        image_size: Height and width of every image.
        seed: Random seed: the same arguments give the same files.
    """
    rng = np.random.default_rng(seed)
    for split, count in (('train', train_per_class), ('val', val_per_class)):
        entries = [(f'{name}/{i + 1:04d}.jpg', label) for label, name in enumerate(classes) for i in range(count)]
        _write_split(rng, osp.join(out_dir, split), osp.join(out_dir, f'{split}.txt'), entries, image_size)
    with open(osp.join(out_dir, 'classes.txt'), 'w') as f:
        f.write(''.join(f'{name}\n' for name in classes))
    return out_dir
