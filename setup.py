"""se_plugins: Squeeze-and-Excitation networks as an OpenMMLab plugin suite.

The distribution is ``se-plugins-openmmlab``; the package it installs is ``se_plugins``. The names
differ on purpose: mim (onedl-mim 0.5.1) finds a package's folder from the first file that pip's
RECORD lists, and pip sorts RECORD, so a distribution named like its package (``se_plugins``) has
its ``se_plugins-<version>.dist-info/`` listed before ``se_plugins/`` and mim looks for configs and
tools in the wrong folder. ``se_plugins_openmmlab-<version>.dist-info`` sorts after ``se_plugins/``, and so
do the start-up file ``se_plugins_bases.pth`` and the package it imports, ``se_plugins_bases`` (a package, not a
module, whose compiled file would be listed first, as ``__pycache__/se_plugins_bases.*.pyc``).
"""
import os.path as osp

from setuptools import Command, find_packages, setup
from setuptools.command.build import build

DISTRIBUTION = 'se-plugins-openmmlab'
# Read by Python at start-up from site-packages: `_base_ = 'se_plugins::...'` in any launcher (se_plugins_bases.py).
STARTUP_FILE = 'se_plugins_bases.pth'


class build_pth(Command):
    """Puts se_plugins_bases.pth at the top of site-packages, where Python reads .pth files.

    A wheel's root is site-packages: the file goes to ``build_lib``, which becomes the wheel's root. An editable
    install (PEP 660) builds a wheel of links, whose root is where ``install`` puts libraries; pip's RECORD lists
    the file either way, so that ``pip uninstall`` removes it.
    """

    description = 'add se_plugins_bases.pth to the top of site-packages'
    user_options: list = []

    def initialize_options(self) -> None:
        self.build_lib = None
        self.editable_mode = False

    def finalize_options(self) -> None:
        self.set_undefined_options('build_py', ('build_lib', 'build_lib'))

    def run(self) -> None:
        target = self.get_finalized_command('install').install_lib if self.editable_mode else self.build_lib
        self.mkpath(target)
        self.copy_file(STARTUP_FILE, osp.join(target, STARTUP_FILE))

    def get_outputs(self) -> list:
        return [] if self.editable_mode else [osp.join(self.build_lib, STARTUP_FILE)]

    def get_output_mapping(self) -> dict:
        return {}


class build_with_pth(build):
    """setuptools' ``build``, with :class:`build_pth` among its steps (wheels and editable installs run them)."""

    sub_commands = build.sub_commands + [('build_pth', None)]


def read_version() -> str:
    namespace: dict = {}
    with open(osp.join(osp.dirname(__file__), 'se_plugins', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


setup(
    name=DISTRIBUTION,
    version=read_version(),
    description='Squeeze-and-Excitation backbones, configs and tools for mmpretrain and mmdet',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.10',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    cmdclass={'build': build_with_pth, 'build_pth': build_pth},
    # What mim and mmengine read from an installed package, as mmdet and mmpretrain ship it:
    # se_plugins/.mim/{configs,tools,model-index.yml}. In the repository these are links to the
    # top-level folders (an editable install serves them in place); a wheel or an sdist holds copies.
    package_data={'se_plugins': ['.mim/model-index.yml', '.mim/configs/**/*.py', '.mim/configs/**/*.yml',
                                 '.mim/configs/**/*.md', '.mim/tools/**/*.py', '.mim/tools/**/*.sh',
                                 'datasets/*.txt', 'model-index.json']},
    exclude_package_data={'se_plugins': ['**/__pycache__/*']},
    # The OpenMMLab libraries are not listed here: they ship under two distribution names (upstream
    # `mmengine`/`mmdet`/`mmpretrain` and the maintained `onedl-*` fork, same import names), and mmcv needs
    # compiled ops that pip cannot resolve from the registry on current torch. Pick one with an extra, or
    # use tools/setup_env.sh, which installs the tested stack.
    install_requires=['torch>=2.0', 'numpy', 'matplotlib', 'safetensors'],
    extras_require={
        'onedl': ['onedl-mmengine>=0.10.12', 'onedl-mmdetection>=3.5.1', 'onedl-mmpretrain>=1.3.6',
                  'pycocotools', 'onedl-mim>=0.5.1'],
        'upstream': ['mmengine>=0.10.7', 'mmdet>=3.3.0', 'mmpretrain>=1.2.0', 'pycocotools', 'openmim'],
        'deploy': ['onnx', 'onnxscript', 'onnxruntime', 'openvino'],
        'tests': ['pytest', 'timm>=1.0', 'pretrainedmodels'],
        # timm:// and pretrainedmodels:// weights (se_plugins.weights) need their library to name the files
        'weights': ['timm>=1.0', 'huggingface_hub', 'pretrainedmodels'],
        # configs/_base_/trackers/: TensorBoard, and MLflow with its local database
        'trackers': ['tensorboard', 'mlflow-skinny', 'sqlalchemy', 'alembic'],
    },
    zip_safe=False,
)
