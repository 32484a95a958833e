"""docs/own_data.md, run as written: its configs are written into a project folder outside the repository and
its commands typed there, one after the other, in a fresh shell that activated an environment with the wheel
installed non-editable (conftest's ``installed``), with the network unreachable and timm's ImageNet weights (random
ones) where the Hugging Face hub caches them, all but the block the page marks ``# on GPUs``."""
import json
import os
import os.path as osp
import re
import subprocess
from typing import Dict, List, Tuple

import pytest
from mmpretrain.datasets import ImageNet

from se_plugins.datasets import make_class_folders

from helpers import OFFLINE, REPO, HubCaches, run_command_line

pytestmark = pytest.mark.slow

PAGE = osp.join(REPO, 'docs', 'own_data.md')
IMAGENET_CLASSES = set(ImageNet.METAINFO['classes'])


def sections() -> Dict[str, List[Tuple[str, str]]]:
    """The page's ``##`` sections, each as its code blocks ``(language, text)`` in order."""
    found = {}
    for section in re.split(r'^## ', open(PAGE).read(), flags=re.M)[1:]:
        title = section.splitlines()[0]
        found[title] = re.findall(r'```(\w+)\n(.*?)```', section, re.S)
    return found


def run_section(title: str, project, python: str, caches: HubCaches) -> List[subprocess.CompletedProcess]:
    """Write the section's config files into ``project`` and run its commands there, as a user who activated
    the environment of ``python`` in a fresh shell on a machine whose network is unreachable (a network
    namespace of its own) and whose hub caches are ``caches``; return each command's result, stopping at a
    failure."""
    blocks = next(blocks for name, blocks in sections().items() if name.startswith(title))
    shell = {'PATH': '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', 'HOME': os.environ.get('HOME', '/root'),
             'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS', '2'), 'HF_HOME': caches.hf_home,
             'TORCH_HOME': caches.torch_home}
    activate = f'source {osp.join(osp.dirname(python), "activate")}'
    results = []
    for language, text in blocks:
        if language == 'python':
            name = text.splitlines()[0].lstrip('# ').strip()
            (project / name).write_text(text)
            continue
        if language != 'bash' or text.startswith('# on GPUs'):  # the page says the tests cannot run those
            continue
        for command in text.splitlines():
            result = subprocess.run([*OFFLINE, 'bash', '-c', f'{activate} && {command}'], cwd=project, env=shell,
                                    capture_output=True, text=True, timeout=900)
            results.append(result)
            assert result.returncode == 0, f'{command}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}'
    return results


def metric_of_mim_test(results: List[subprocess.CompletedProcess], name: str) -> float:
    """The last value of metric ``name`` that the section's ``mim test`` command printed."""
    tested = next(result for result in results if 'mim test' in result.args[-1])
    values = re.findall(rf'{re.escape(name)}: ([\d.]+)', tested.stdout + tested.stderr)
    assert values, (name, tested.stdout[-2000:], tested.stderr[-2000:])
    return float(values[-1])


def local_scalars(work_dir, name: str) -> list:
    """The values of scalar ``name`` that a run's LocalVisBackend wrote (the training run's ``scalars.json``)."""
    scalars, = (path for path in work_dir.glob('*/vis_data/scalars.json') if '"loss"' in path.read_text())
    return [record[name] for record in map(json.loads, scalars.read_text().splitlines()) if name in record]


def tensorboard_scalars(work_dir, name: str) -> list:
    """The values of scalar ``name`` as TensorBoard reads them from the run's event file."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events, = work_dir.glob('*/vis_data/events.out.tfevents.*')
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    return [event.value for event in accumulator.Scalars(name)]


def last_metrics(work_dir) -> dict:
    """The metrics of the last evaluation a run logged (its ``vis_data/scalars.json``)."""
    lines = [json.loads(line) for path in sorted(work_dir.glob('*/vis_data/scalars.json'))
             for line in open(path)]
    return [line for line in lines if 'step' in line and 'lr' not in line][-1]


class TestClassifyYourOwnImages:
    """The page's first section; a class, so that its runs and the second section's go to two workers."""

    @pytest.mark.first
    def test_the_classification_recipe_runs_as_written_and_beats_chance(self, installed, tmp_path, hub_caches):
        project = tmp_path / 'my_project'
        project.mkdir()
        hub_caches.place_timm_weights('seresnet50.a1_in1k')
        results = run_section('Classify your own images', project, installed[0], hub_caches)
        classes = sorted(p.name for p in (project / 'data' / 'flowers' / 'train').iterdir())
        assert classes == ['daisy', 'rose', 'tulip']
        trained = next(result for result in results if 'mim train' in result.args[-1])
        assert re.search(r'load_from timm://seresnet50\.a1_in1k: loaded 382 of 384 tensors; skipped: head\.fc',
                         trained.stdout + trained.stderr)
        # the ImageNet model by name, with its cached public weights, predicted the validation folder
        seen = json.loads((project / 'work_dirs' / 'imagenet_view' / 'predictions.json').read_text())['predictions']
        assert len(seen) == 6 and all(len(p['topk']) == 5 and p['topk'][0]['name'] in IMAGENET_CLASSES for p in seen)
        # the test's predictions fed mmpretrain's confusion_matrix; they were drawn; TensorBoard has the run
        flowers = project / 'work_dirs' / 'flowers'
        assert (flowers / 'predictions.pkl').is_file() and (flowers / 'confusion.png').stat().st_size > 10_000
        assert len(list((flowers / 'drawn').iterdir())) == 6
        assert tensorboard_scalars(flowers, 'loss') == pytest.approx(local_scalars(flowers, 'loss'), rel=1e-6)
        accuracy = metric_of_mim_test(results, 'accuracy/top1')
        assert accuracy > 100 / len(classes), accuracy  # chance: one in three
        for run in ('flowers', 'flowers_list'):
            metrics = last_metrics(project / 'work_dirs' / run)
            print(run, metrics)
            assert metrics['accuracy/top1'] > 100 / len(classes), (run, metrics)

    @pytest.mark.parametrize('change, message', [
        ('model = dict(head=dict(num_classes=3))', 'model = dict(head=dict(num_classes=2))'),
    ])
    def test_a_count_that_does_not_match_stops_with_the_line_the_page_shows(self, tmp_path, change, message,
                                                                            monkeypatch, capfd, hub_caches):
        """The page's error line, produced by its own config with the head's count changed, before anything is
        written (tools/train.py's command line, run in this process)."""
        blocks = sections()[next(t for t in sections() if t.startswith('Classify your own images'))]
        config = next(text for language, text in blocks if language == 'python' and text.startswith('# flowers.py'))
        expected = next(text for language, text in blocks if language == 'text' and text.startswith('error:'))
        project = tmp_path / 'my_project'
        project.mkdir()
        (project / 'flowers.py').write_text(config.replace(change, message).replace(
            'data_preprocessor = dict(num_classes=3)', 'data_preprocessor = dict(num_classes=2)'))
        make_class_folders(str(project / 'data' / 'flowers'), train_per_class=1, val_per_class=1)
        hub_caches.place_timm_weights('seresnet50.a1_in1k')  # fetched before the counts are compared
        monkeypatch.chdir(project)
        capfd.readouterr()
        assert run_command_line('train.py', 'flowers.py', '--data-root', 'data/flowers') == 1
        assert capfd.readouterr().err.strip().splitlines()[-1] == expected.strip()
        assert not (project / 'work_dirs').exists()


# A detector that has learned nothing scores about 0 on the generated shapes: 0.001 for this recipe trained
# with lr 0. Its 4 epochs on 32 images scored 0.155 with the page's seed and 0.199, 0.208 with seeds 1 and 2
# (2026-12-07); on the page's earlier 64 images 0.11 with the seed, 0.13 and 0.2-0.3 without one, and 0.049
# with the seed in a clean-clone CI run of 2026-12-05 (CPU training is not bit-reproducible across machines
# and thread schedules): the bar is 20 times what the untrained detector scores.
MIN_BBOX_MAP = 0.02


class TestDetectObjectsInYourOwnCocoDataset:
    """The page's second section."""

    @pytest.mark.first
    def test_the_detection_recipe_runs_as_written_and_beats_chance(self, installed, tmp_path, hub_caches):
        project = tmp_path / 'my_project'
        project.mkdir()
        results = run_section('Detect objects in your own COCO-format dataset', project, installed[0], hub_caches)
        assert (project / 'shapes.py').is_file()  # the GPU recipe, which the CPU one repeats on the demo's config
        bbox_map = metric_of_mim_test(results, 'coco/bbox_mAP')
        assert bbox_map > MIN_BBOX_MAP, bbox_map
