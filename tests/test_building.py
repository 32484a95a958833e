"""se_plugins/building.py: building without drawing initial values."""
import torch

from se_plugins.analysis import measure
from se_plugins.building import build_classifier, without_initialisation

BACKBONE = dict(type='se_plugins.SEResNet', depth=18)


def test_a_model_built_without_initialisation_draws_nothing_and_counts_the_same():
    """No initialiser draws from torch's generator inside (they all would), the keys, shapes, parameters and
    FLOPs are those of the initialised model, and initialisers draw again afterwards."""
    state = torch.get_rng_state()
    with without_initialisation():
        undrawn = build_classifier(BACKBONE, in_channels=512)
    assert torch.equal(state, torch.get_rng_state())
    drawn = build_classifier(BACKBONE, in_channels=512)
    assert not torch.equal(state, torch.get_rng_state())
    assert {k: v.shape for k, v in undrawn.state_dict().items()} == {k: v.shape for k, v in drawn.state_dict().items()}
    assert measure(undrawn, (1, 3, 64, 64)) == measure(drawn, (1, 3, 64, 64))
