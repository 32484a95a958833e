from .squeeze_excitation import GATES, SQUEEZE_OPS, SqueezeExcitation, check_choice

__all__ = ['SqueezeExcitation', 'GATES', 'SQUEEZE_OPS', 'check_choice']
