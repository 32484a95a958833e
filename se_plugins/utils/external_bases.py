"""How mmengine resolves a config's `_base_ = 'package::folder/file.py'`, for se_plugins and faster.

mmengine resolves such a base only for the packages in its ``MODULE2PACKAGE`` table; with se_plugins in it,
``se_plugins::faster_rcnn/...`` reads se_plugins/.mim/configs/ (a copy of configs/ in a wheel, a link to it in a
clone). The value is the module, not the distribution (se-plugins-openmmlab): mmengine then finds the folder by
import, as it does for the onedl fork's mmdet and mmpretrain.

Before it looks for a base file, mmengine reads the package's model index and every metafile it lists, on every
`package::` base of every config it loads: over a hundred YAML files for mmdet, of which no `_base_/` file is in
any, 0.28 s for each base, 1-2 s of each tool's start (a detector config has four such bases). An installed
package's metafiles do not change while a process runs, so each is read once; a file whose modification time or
size changed since (a clone's own metafiles, rewritten by tools/misc/model_zoo.py) is read again.
"""
import os
from typing import Any, Callable, Dict, Tuple

import mmengine.config.utils as config_utils

_FileKey = Tuple[str, int, int]


class _MetafileReader:
    """mmengine's ``load`` for metafiles, reading each file once for as long as it is unchanged.

    Args:
        read: The reader it stands in for (``mmengine.fileio.load``).
    """

    def __init__(self, read: Callable[..., Any]) -> None:
        self.read = read
        self.contents: Dict[_FileKey, Any] = {}

    def __call__(self, file: Any, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs or not isinstance(file, str):
            return self.read(file, *args, **kwargs)
        try:
            status = os.stat(file)
        except OSError:  # mmengine's own error for a missing file
            return self.read(file)
        key = (file, status.st_mtime_ns, status.st_size)
        if key not in self.contents:
            self.contents[key] = self.read(file)
        return self.contents[key]  # read, not changed, by mmengine (it takes each model's 'Config')


def register_external_bases() -> None:
    """Lets configs inherit ours as ``se_plugins::...`` and reads each package's metafiles once a process."""
    config_utils.MODULE2PACKAGE.setdefault('se_plugins', 'se_plugins')
    if not isinstance(config_utils.load, _MetafileReader):
        config_utils.load = _MetafileReader(config_utils.load)
