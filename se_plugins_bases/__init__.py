"""``_base_ = 'se_plugins::...'`` in any Python of an environment where se_plugins is installed.

mmengine resolves a config's ``package::folder/file.py`` base only for the packages named in its table
``mmengine.config.utils.MODULE2PACKAGE``, and reads it while parsing ``_base_``, before a config's
``custom_imports`` run: a config inheriting ours failed in every launcher that had not imported se_plugins
first (mmpretrain's and mmdet's tools, mim, ``Config.fromfile`` in a notebook).

The file ``se_plugins_bases.pth``, installed beside this package (wheel or editable install; ``pip uninstall``
removes both), imports it when the interpreter starts. It imports nothing: it puts :class:`AddToMMEngineTable`
on ``sys.meta_path``, which lets every import pass but that of ``mmengine.config.utils``, and adds
``se_plugins`` to the table as soon as that module has run. mmengine then finds the configs by importing
nothing either: ``se_plugins/.mim/configs/`` (a copy in a wheel, a link to ``configs/`` in a clone).
"""
import sys

TABLE_MODULE = 'mmengine.config.utils'
PACKAGE = 'se_plugins'


class AddToMMEngineTable:
    """A meta path finder that adds se_plugins to mmengine's ``MODULE2PACKAGE`` when mmengine defines it.

    For any other module it answers None at once (the next finder finds it). For ``mmengine.config.utils`` it
    takes the spec the other finders give and wraps its loader's ``exec_module``, so that the table gets
    ``se_plugins`` right after the module's code ran, before anything can read it.
    """

    def __init__(self) -> None:
        self.finding = False

    def find_spec(self, name: str, path=None, target=None):
        if name != TABLE_MODULE or self.finding:
            return None
        from importlib.util import find_spec  # only when mmengine is imported

        self.finding = True
        try:
            spec = find_spec(name)
        finally:
            self.finding = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, 'exec_module'):
            return spec
        run_module = spec.loader.exec_module

        def run_and_add(module) -> None:
            run_module(module)
            table = getattr(module, 'MODULE2PACKAGE', None)
            if isinstance(table, dict):
                table.setdefault(PACKAGE, PACKAGE)

        spec.loader.exec_module = run_and_add
        return spec


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once); if mmengine's table exists already, add to it."""
    loaded = sys.modules.get(TABLE_MODULE)
    if loaded is not None and isinstance(getattr(loaded, 'MODULE2PACKAGE', None), dict):
        loaded.MODULE2PACKAGE.setdefault(PACKAGE, PACKAGE)
    if not any(isinstance(finder, AddToMMEngineTable) for finder in sys.meta_path):
        sys.meta_path.insert(0, AddToMMEngineTable())
