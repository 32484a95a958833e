from .image_checks import GuardedImages, NamedImageErrorsMixin, image_problem
from .image_list import ImageList, ImageListMixin, read_image_list
from .imagenet import ImageNet
from .places365 import Places365
from .synthetic import DETECTION_CLASSES, make_class_folders, make_coco_detection, make_imagenet, make_places365

__all__ = [
    'GuardedImages', 'NamedImageErrorsMixin', 'image_problem', 'ImageList', 'ImageListMixin', 'read_image_list',
    'ImageNet', 'Places365', 'DETECTION_CLASSES',
    'make_class_folders', 'make_coco_detection', 'make_imagenet', 'make_places365'
]


def __getattr__(name: str):
    # se_plugins.datasets.CocoDataset needs mmdet: imported when it is first used, not with the package
    if name == 'CocoDataset':
        from .coco import CocoDataset
        return CocoDataset
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
