# SENet-154 (the ILSVRC 2017 winning architecture), the paper's recipe.
_base_ = './se-resnet50_8xb128-paper_in1k.py'

model = dict(backbone=dict(type='se_plugins.SENet154', depth=152))
