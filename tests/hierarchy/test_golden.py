"""``hierarchy.json`` of three small zoo models per backend, against golden files, so that any change to
tagging shows up in review as a diff. To accept a deliberate change, regenerate and review::

    UPDATE_GOLDEN=1 pytest tests/hierarchy/test_golden.py

The exports are reproducible byte for byte for given library versions; the golden files record the
versions they were made with, and a run with other versions says so instead of comparing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import transformers

from modelexport import run_export

GOLDEN = Path(__file__).parents[1] / "golden" / "hierarchy"
MODELS = [
    ("bert", "text-classification"),
    ("vit", "image-classification"),
    ("squeezebert", "text-classification"),  # each layer's forward called directly
]
VERSIONS = {"torch": torch.__version__, "transformers": transformers.__version__}


@pytest.mark.parametrize("backend", ["torchscript", "dynamo"])
@pytest.mark.parametrize(("model", "task"), MODELS)
def test_hierarchy_json_matches_the_golden_file(zoo_dir, tmp_path, model, task, backend):
    out, _ = run_export(str(zoo_dir(model, task)), tmp_path / "out", task=task, exporter=backend)
    produced = {"versions": VERSIONS, "hierarchy": json.loads((out / "hierarchy.json").read_text())}
    golden = GOLDEN / f"{model}-{task}-{backend}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(json.dumps(produced, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    expected = json.loads(golden.read_text(encoding="utf-8"))
    assert expected["versions"] == VERSIONS, (
        f"{golden.name} was made with {expected['versions']}; regenerate it (see the module docstring)"
    )
    assert produced["hierarchy"] == expected["hierarchy"], f"{golden.name} differs; see the module docstring"
