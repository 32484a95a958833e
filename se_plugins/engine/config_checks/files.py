"""A config file and its ``_base_`` files, by path or ``package::``: each exists and parses, or one line names the
file (or the line) at fault, and the closest config that exists."""
import ast
import difflib
import glob
import os.path as osp
from typing import List

from mmengine.config import Config
from mmengine.config.utils import MODULE2PACKAGE
from mmengine.utils import get_installed_path, is_installed

from se_plugins.utils import InputError, MissingInputError


def _bases(tree: ast.Module) -> List[str]:
    """The ``_base_`` entries a config file assigns (a string or a list of them)."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == '_base_' for t in node.targets):
            values = node.value.elts if isinstance(node.value, (ast.List, ast.Tuple)) else [node.value]
            return [v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    return []


def _closest_config(base: str, resolved: str, config: str) -> str:
    """``; did you mean '...'?`` with the existing config closest to ``base`` (which resolved to ``resolved``
    from ``config``), written as ``base`` is (``pkg::...``, an absolute or a relative path), or nothing."""
    if '::' in base:
        package, relative = base.split('::', 1)
        root = resolved[:-len(relative)] if resolved.endswith(relative) else osp.dirname(resolved)
    else:
        root = osp.dirname(resolved)
        while root and not osp.isdir(root):
            root = osp.dirname(root)
        relative = osp.relpath(resolved, root)
    candidates = [osp.relpath(p, root) for p in glob.glob(osp.join(root, '**', '*.py'), recursive=True)][:5000]
    close = difflib.get_close_matches(relative, candidates, n=1, cutoff=0.6)
    if not close:
        return ''
    if '::' in base:
        return f"; did you mean '{package}::{close[0]}'?"
    found = osp.join(root, close[0])
    return f"; did you mean '{found if osp.isabs(base) else osp.relpath(found, osp.dirname(osp.abspath(config)))}'?"


def _base_path(base: str, path: str) -> str:
    """Where ``_base_ = base`` in config ``path`` points: next to ``path``, or in a package's configs
    (``pkg::folder/file.py``: its ``.mim/configs`` in a wheel, ``configs`` in a clone), as mmengine reads it."""
    if '::' not in base:
        return osp.abspath(osp.join(osp.dirname(path), base))
    package, relative = base.split('::', 1)
    if package not in MODULE2PACKAGE:  # the table mmengine reads such bases by (se_plugins_bases adds us to it)
        raise ValueError(f'mmengine reads package:: bases of {sorted(MODULE2PACKAGE)} only')
    package = MODULE2PACKAGE[package]
    if not is_installed(package):
        raise ModuleNotFoundError(f'{package} is not installed')
    root = get_installed_path(package)
    configs = osp.join(root, '.mim', 'configs')
    return osp.join(configs if osp.isdir(configs) else osp.join(root, 'configs'), relative)


def read_config(path: str) -> Config:
    """``Config.fromfile(path)``, with one :class:`InputError` where mmengine would end in a traceback: a
    config file (or one of its ``_base_`` files, by path or ``pkg::``) that does not exist, naming the closest
    config that does, or a syntax error, naming the file and line."""
    _check_config_file(path, [])
    return Config.fromfile(path)


def _check_config_file(path: str, chain: List[str]) -> None:
    if not osp.isfile(path):
        raise MissingInputError(f'config file {path} does not exist')
    with open(path, encoding='utf-8') as f:
        source = f.read()
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as error:
        raise InputError(f'{path}:{error.lineno}: syntax error in the config: {error.msg}') from None
    for base in _bases(tree):
        try:
            resolved = _base_path(base, path)
        except (ModuleNotFoundError, ValueError) as error:
            raise InputError(f"{path}: _base_ '{base}': {error}") from None
        if not osp.isfile(resolved):
            raise MissingInputError(f"{path}: _base_ '{base}' does not exist ({resolved})"
                                    + _closest_config(base, resolved, path))
        if osp.abspath(resolved) not in chain:
            _check_config_file(resolved, chain + [osp.abspath(path)])
