from .se_plugin import PLUGIN_POSITIONS, SEPlugin
from .squeeze_excitation import GATES, SQUEEZE_OPS, GlobalPool, SqueezeExcitation, check_se_options, set_fused_backward

__all__ = ['SqueezeExcitation', 'SEPlugin', 'PLUGIN_POSITIONS', 'GlobalPool', 'GATES', 'SQUEEZE_OPS',
           'check_se_options', 'set_fused_backward']
