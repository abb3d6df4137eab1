"""Time to accuracy on full MNIST: minutes of training, so opt-in with ``pytest -m tta``.

Skipped (with that hint) in every run that does not ask for the ``tta`` marker.
"""

import pytest

from xbench import cli
from xbench.schema import read_results

pytestmark = pytest.mark.tta


@pytest.fixture(autouse=True)
def _opt_in(request):
    expr = request.config.getoption("markexpr") or ""
    if "tta" not in expr or "not tta" in expr:
        pytest.skip("long time-to-accuracy run: opt in with pytest -m tta")


def _tta(tmp_path, *argv) -> dict:
    out = tmp_path / "t.json"
    assert cli.main(["tta", *map(str, argv), "--repeats", "1", "--quiet", "--json", str(out)]) == 0
    (rec,) = read_results(out)["records"]
    return rec


@pytest.mark.parametrize("framework", ["keras", "torch"])
def test_seed_recipe_reaches_98_percent_within_5_epochs(framework, full_mnist_path, tmp_path):
    rec = _tta(tmp_path, "--framework", framework, "--target", 0.98, "--max-epochs", 5, "--data", full_mnist_path)
    assert rec["data_kind"] == "full" and rec["batch_size"] == 32 and rec["learning_rate"] == 1e-3
    assert rec["reached"] and rec["status"] == "ok" and rec["epochs_to_target"] <= 5
    assert rec["stability"] == "stable"


def test_99_percent_is_beyond_this_cnn(full_mnist_path, tmp_path):
    rec = _tta(tmp_path, "--framework", "torch", "--target", 0.99, "--max-epochs", 4, "--data", full_mnist_path)
    assert rec["reached"] is False and rec["status"] == "skipped"
    assert 0.975 < rec["best_accuracy"] < 0.99
    assert len(rec["runs"][0]["curve"]) == 4  # every epoch evaluated, none hidden
