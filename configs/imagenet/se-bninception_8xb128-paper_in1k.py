# SE-BN-Inception on ImageNet with the paper's recipe (see se-resnet50_8xb128-paper_in1k.py): SE on the
# output of every Inception module.
_base_ = './se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(_delete_=True, type='se_plugins.SEBNInception'), head=dict(in_channels=1024))
