from .gates import GATES, Gate
from .se_plugin import PLUGIN_POSITIONS, SEPlugin
from .squeeze_excitation import (SQUEEZE_OPS, GlobalPool, SqueezeExcitation, check_se_options, set_fused_backward,
                                 squeezing_through_reads_less)

__all__ = ['SqueezeExcitation', 'SEPlugin', 'PLUGIN_POSITIONS', 'GlobalPool', 'GATES', 'Gate', 'SQUEEZE_OPS',
           'check_se_options', 'set_fused_backward', 'squeezing_through_reads_less']
