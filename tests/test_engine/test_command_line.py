"""se_plugins.engine.command_line: reading a config as the tools' command line shapes it."""
import torch.distributed as dist

from se_plugins.engine import load_config

from helpers import PLACES_CONFIG


def test_reading_a_config_for_a_distributed_launcher_starts_and_changes_nothing(tmp_path):
    """Not even outside torchrun: the tools start the process group themselves (setup_cpu_distributed)."""
    (tmp_path / 'data').mkdir()
    cfg = load_config(PLACES_CONFIG, str(tmp_path / 'work'), {'train_cfg.max_epochs': 2}, launcher='pytorch',
                      data_root=str(tmp_path / 'data'))
    assert not dist.is_initialized()
    assert cfg.launcher == 'pytorch' and cfg.get('model_wrapper_cfg') is None
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'  # as the config says
    assert cfg.train_cfg.max_epochs == 2 and cfg.work_dir == str(tmp_path / 'work')
    assert cfg.train_dataloader.dataset.data_root.rstrip('/') == str(tmp_path / 'data')
    assert not (tmp_path / 'work').exists()
