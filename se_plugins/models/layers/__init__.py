from .squeeze_excitation import GATES, SQUEEZE_OPS, GlobalPool, SqueezeExcitation, check_choice

__all__ = ['SqueezeExcitation', 'GlobalPool', 'GATES', 'SQUEEZE_OPS', 'check_choice']
