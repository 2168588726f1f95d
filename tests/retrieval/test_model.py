import json

import pytest
import torch

from kdcvg.errors import RetrievalError
from kdcvg.retrieval.model import SarModel


def test_save_and_load_give_the_same_embeddings(trained, demo_inputs, tmp_path):
    _, model = trained
    folder = model.save_pretrained(tmp_path / "sar" / "model")
    meta = json.loads((folder / "config.json").read_text())
    assert meta["graph_version"] == demo_inputs.graph_version and meta["schema_version"] == 1
    assert [r["stage"] for r in meta["reports"]] == ["supervised", "ppo", "fusion"]
    loaded = SarModel.from_pretrained(folder)
    with torch.no_grad():
        a = model.encoder.eval()(demo_inputs.x, demo_inputs.edge_index)["clip"]
        b = loaded.encoder(demo_inputs.x, demo_inputs.edge_index)["clip"]
    assert torch.allclose(a, b)
    loaded.check_graph(demo_inputs)


def test_missing_model_says_to_train(tmp_path):
    with pytest.raises(RetrievalError) as e:
        SarModel.from_pretrained(tmp_path / "nothing")
    assert str(e.value) == (f"no trained SAR model in {tmp_path / 'nothing'}; "
                            "run `kdcvg sar train` first")


def test_stale_model_is_refused(trained, demo_inputs):
    _, model = trained
    stale = SarModel(model.config, model.encoder, model.graph_version, schema_version=0)
    with pytest.raises(RetrievalError, match="trained on graph schema v0, the graph is schema v1"):
        stale.check_graph(demo_inputs)
    narrow = dict(demo_inputs.x, clip=demo_inputs.x["clip"][:, :390])
    changed = type(demo_inputs)(**{**demo_inputs.__dict__, "x": narrow})
    with pytest.raises(RetrievalError, match="motion descriptors changed"):
        model.check_graph(changed)
