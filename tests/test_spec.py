import pytest

from xbench.errors import UserError
from xbench.spec import ModelSpec, available_models, load_spec


def test_seed_cnn_is_the_article_model(seed_spec):
    assert [layer.type for layer in seed_spec.layers] == ["conv2d", "maxpool2d", "flatten", "dense"]
    assert seed_spec.input_shape == (28, 28, 1)
    assert [layer.out_shape for layer in seed_spec.layers] == [(26, 26, 32), (13, 13, 32), (5408,), (10,)]
    assert seed_spec.num_params == 54_410  # 3*3*1*32 + 32 + 5408*10 + 10
    assert seed_spec.num_classes == 10
    assert seed_spec.optimizer == {"name": "adam", "learning_rate": 0.001}


def test_models_folder_lists_seed_cnn():
    assert "seed_cnn" in available_models()


@pytest.mark.parametrize("bad, message", [
    ({"name": "x", "input_shape": [28, 28], "layers": [{"type": "flatten"}]}, "input_shape"),
    ({"name": "x", "input_shape": [28, 28, 1], "layers": [{"type": "conv3d"}]}, "unknown layer type"),
    ({"name": "x", "input_shape": [28, 28, 1], "layers": [{"type": "dense", "units": 3}]}, "flat input"),
    ({"name": "x", "input_shape": [4, 4, 1], "layers": [{"type": "conv2d", "filters": 2, "kernel_size": 5}]}, "too small"),
    ({"name": "x", "input_shape": [8, 8, 1], "layers": [{"type": "conv2d", "filters": 2}]}, "missing kernel_size"),
    ({"name": "x", "input_shape": [8, 8, 1], "layers": [{"type": "flatten"}, {"type": "dense", "units": 3, "activation": "softmax"},
                                                         {"type": "dense", "units": 2}]}, "softmax"),
    ({"name": "x", "input_shape": [8, 8, 1], "layers": []}, "empty"),
])
def test_bad_specs_are_one_clear_error(bad, message):
    with pytest.raises(UserError, match=message):
        ModelSpec.from_dict(bad)


def test_unknown_model_lists_valid_ones():
    with pytest.raises(UserError, match="valid: .*seed_cnn"):
        load_spec("resnet_9000")
