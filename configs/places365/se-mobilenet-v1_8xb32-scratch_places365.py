# SE-MobileNet (v1, width 1.0) on Places365-Standard from scratch, with the SE-ResNet-50 recipe of
# se-resnet50_8xb32-scratch_places365.py.
_base_ = './se-resnet50_8xb32-scratch_places365.py'

model = dict(backbone=dict(_delete_=True, type='se_plugins.SEMobileNetV1'), head=dict(in_channels=1024))
