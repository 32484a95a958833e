from .se_resnet import SE_PLACEMENTS, SEBasicBlock, SEBottleneck, SEResNet
from .se_resnext import SENet154, SENet154Bottleneck, SEResNeXt, SEResNeXtBottleneck

__all__ = [
    'SE_PLACEMENTS', 'SEBasicBlock', 'SEBottleneck', 'SEResNet', 'SEResNeXtBottleneck', 'SEResNeXt',
    'SENet154Bottleneck', 'SENet154'
]
