# The documented entry point: Faster R-CNN, SE-ResNet-50 FPN, COCO 1x.
_base_ = './faster_rcnn/faster-rcnn_se-r50_fpn_1x_coco.py'
