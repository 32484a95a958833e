"""se_plugins: Squeeze-and-Excitation networks as an OpenMMLab plugin suite."""
import os.path as osp

from setuptools import find_packages, setup


def read_version() -> str:
    namespace: dict = {}
    with open(osp.join(osp.dirname(__file__), 'se_plugins', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


setup(
    name='se_plugins',
    version=read_version(),
    description='Squeeze-and-Excitation backbones, configs and tools for mmpretrain and mmdet',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.10',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    include_package_data=True,
    package_data={'se_plugins': ['.mim/configs/**/*.py', '.mim/model-index.yml', 'datasets/*.txt']},
    # The OpenMMLab libraries are not listed here: they ship under two distribution names (upstream
    # `mmengine`/`mmdet`/`mmpretrain` and the maintained `onedl-*` fork, same import names), and mmcv needs
    # compiled ops that pip cannot resolve from the registry on current torch. Pick one with an extra, or
    # use tools/setup_env.sh, which installs the tested stack.
    install_requires=['torch>=2.0', 'numpy', 'matplotlib'],
    extras_require={
        'onedl': ['onedl-mmengine>=0.10.12', 'onedl-mmdetection>=3.5.1', 'onedl-mmpretrain>=1.3.6',
                  'pycocotools'],
        'upstream': ['mmengine>=0.10.7', 'mmdet>=3.3.0', 'mmpretrain>=1.2.0', 'pycocotools'],
        'tests': ['pytest', 'timm>=1.0', 'pretrainedmodels'],
    },
    zip_safe=False,
)
