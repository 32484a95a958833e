from .se_bninception import SEBNInception
from .se_inception_resnet_v2 import SEInceptionResNetV2
from .se_mobilenet_v1 import SEMobileNetV1
from .se_options import SEOptionsMixin, se_block
from .se_resnet import SE_PLACEMENTS, SEBasicBlock, SEBottleneck, SEResNet
from .se_resnext import SENet154, SENet154Bottleneck, SEResNeXt, SEResNeXtBottleneck
from .se_shufflenet_v1 import SEShuffleNetV1, SEShuffleUnit
from .se_vgg import SEVGG
from .staged import SEConcat, StagedSEBackbone

__all__ = [
    'SE_PLACEMENTS', 'SEBasicBlock', 'SEBottleneck', 'SEResNet', 'SEResNeXtBottleneck', 'SEResNeXt',
    'SENet154Bottleneck', 'SENet154', 'SEVGG', 'SEBNInception', 'SEInceptionResNetV2', 'SEMobileNetV1',
    'SEShuffleNetV1', 'SEShuffleUnit', 'SEOptionsMixin', 'se_block', 'StagedSEBackbone', 'SEConcat'
]
