"""What a class a config names takes: its arguments (through the ``**kwargs`` it passes on to its bases), the ones
a config must give, and the first problem with the arguments a config gives it."""
import ast
import difflib
import inspect
import textwrap
from typing import Callable, Dict, List, Optional, Sequence, Set

import torch
from mmengine.registry import PARAM_SCHEDULERS, TASK_UTILS, TRANSFORMS, Registry

from se_plugins.utils import StopRun, input_error_message, number_problem


def _parameters(cls: type) -> Optional[Dict[str, inspect.Parameter]]:
    """The keyword parameters ``cls(...)`` takes: its ``__init__``'s, and, while an ``__init__`` takes
    ``**kwargs``, those of the next class up its MRO (where such classes pass them on). The nearest
    declaration of a name wins: a subclass that gives a base's required argument a default makes it
    optional. ``None`` if a signature cannot be read."""
    found: Dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        if klass in (torch.nn.Module, object):
            return found
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        try:
            parameters = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            return None
        for parameter in parameters:
            if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY) and parameter.name != 'self':
                found.setdefault(parameter.name, parameter)
        if not any(p.kind == p.VAR_KEYWORD for p in parameters):
            return found
    return found


def accepted_arguments(cls: type) -> Optional[Set[str]]:
    """The keyword arguments ``cls(...)`` takes (see :func:`_parameters`); ``None`` if unknown."""
    parameters = _parameters(cls)
    return None if parameters is None else set(parameters)


def _argument_problem(key: str, cls: Callable, config: dict, parameters: Dict[str, inspect.Parameter],
                      given: Sequence[str] = (), required: Optional[Sequence[str]] = None) -> Optional[str]:
    """The first thing wrong with the arguments ``config`` gives ``cls``: one it does not take (with the
    closest name it does), a number out of range or a string where a number belongs
    (:func:`~se_plugins.utils.number_problem`), or a required one missing. ``given``: what the builder
    passes itself; ``required``: what a config must give a function (a class's: :func:`_required`)."""
    for name, value in config.items():
        if name in ('type', '_scope_') or name in given:
            continue
        if name not in parameters:
            close = difflib.get_close_matches(name, sorted(parameters), n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f'its arguments are {sorted(parameters)}'
            return f"{key}: {cls.__name__} has no argument '{name}'; {hint}"
        problem = number_problem(name, value, parameters[name].default, parameters[name].annotation)
        if problem:
            return f'{key}.{name} {problem}'
    for name in _required(cls) if required is None else required:
        if name not in config and name not in given:
            return f"{key}: {cls.__name__} needs the argument '{name}', which is missing"
    return None


def _base_call(init) -> Optional[ast.Call]:
    """The call of the base's ``__init__`` in ``init``'s source (``super().__init__(...)`` or
    ``Base.__init__(self, ...)``), if it can be read."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    except (OSError, TypeError, SyntaxError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == '__init__':
            return node
    return None


def _required(cls: type) -> List[str]:
    """The arguments a config must give ``cls``: those its ``__init__`` requires, and, while it passes
    ``**kwargs`` on, those its bases require that it does not give them itself (by name, or by position:
    ``SEPlugin`` passes its ``in_channels`` as ``SqueezeExcitation``'s ``channels``; mmengine's
    ``LRSchedulerMixin`` passes ``'lr'`` as the scheduler's ``param_name``)."""
    required: List[str] = []
    declared: Set[str] = set()
    passed: Set[str] = set()
    by_position = 0
    for klass in cls.__mro__:
        if klass in (torch.nn.Module, object):
            break
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        try:
            parameters = list(inspect.signature(init).parameters.values())[1:]  # without self
        except (TypeError, ValueError):
            break
        positional = [p.name for p in parameters if p.kind == p.POSITIONAL_OR_KEYWORD][:by_position]
        for parameter in parameters:
            if parameter.kind not in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
                continue
            if (parameter.default is parameter.empty and parameter.name not in declared | passed
                    and parameter.name not in positional):
                required.append(parameter.name)
            declared.add(parameter.name)
        call = _base_call(init) if any(p.kind == p.VAR_KEYWORD for p in parameters) else None
        if call is None:
            break
        explicit_self = isinstance(call.func.value, ast.Name)  # Base.__init__(self, ...)
        by_position = sum(not isinstance(a, ast.Starred) for a in call.args) - explicit_self
        passed |= {keyword.arg for keyword in call.keywords if keyword.arg}
    return required


def _unknown_type_problem(key: str, type_name: str, scoped: Registry) -> str:
    """The type ``scoped`` (the registry of the scope a part is built in) does not have: where it is
    registered instead (a part of a config inherited with ``se_plugins::`` is built in our scope, where
    mmpretrain's ``CustomDataset`` is ``mmpretrain.CustomDataset``), or the closest name it has."""
    name = type_name.split('.')[-1]
    root = scoped.root
    elsewhere = sorted(scope for scope, child in root.children.items() if name in child.module_dict)
    if name in root.module_dict:
        elsewhere.insert(0, root.scope)
    if elsewhere:
        hint = f"it is {elsewhere[0]}'s: write type='{elsewhere[0]}.{name}'"
    else:
        names = set(scoped.module_dict) | set(root.module_dict)
        close = difflib.get_close_matches(name, sorted(names), n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else 'is the module that registers it imported?'
    return f"{key}.type: '{type_name}' is not a {scoped.name} of scope '{scoped.scope}'; {hint}"


def _check_built(key: str, config: dict, registry: Registry, scope: str, default: Optional[str] = None,
                 given: Sequence[str] = ()) -> Optional[str]:
    """What is wrong with the arguments ``config`` gives the class ``registry`` builds from it."""
    type_name = config.get('type', default)
    if not isinstance(type_name, str):
        return None
    with registry.switch_scope_and_registry(config.get('_scope_', scope)) as scoped:
        cls = scoped.get(type_name)
    if cls is None:
        return _unknown_type_problem(key, type_name, scoped)
    if not isinstance(cls, type):
        return None  # a function
    parameters = _parameters(cls)
    if parameters is None:
        return None
    return _argument_problem(key, cls, config, parameters, given)


def _dry_build_problem(key: str, config: dict, registry: Registry, scope: str) -> Optional[str]:
    """What the constructor of a part with no side effects says about its values (a transform, an
    assigner, a scheduler on a stand-in optimizer, a data preprocessor): ``RandomFlip`` without ``prob``,
    ``milestones`` that are not a list, a ``mean`` without its ``std``. Other parts are not built here."""
    if registry not in (TRANSFORMS, TASK_UTILS, PARAM_SCHEDULERS) and not key.endswith('data_preprocessor'):
        return None
    if registry is PARAM_SCHEDULERS:
        config = dict(config, optimizer=torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1))
    try:
        with registry.switch_scope_and_registry(config.get('_scope_', scope)) as scoped:
            scoped.build(config)
    except StopRun as error:
        return f'{key}: {input_error_message(error)}'
    except (TypeError, ValueError, AssertionError, KeyError, AttributeError) as error:
        return f"{key}: {config.get('type')}: {error or type(error).__name__}"
    return None


# The registry that builds a part, by the key that holds it; a part's own parts use its registry unless
# their key is here. With what the builder passes itself (the plugin's in_channels, a backend's save_dir).
