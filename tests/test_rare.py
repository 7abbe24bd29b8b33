"""Rare behaviours: planted rare sentences are found (hand-made embeddings, and the real
offline embedder on real text), the entropy comparison and outputs, and the refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from entropy_lens.errors import UserError
from entropy_lens.analyses.rare import rare, rare_from_sentences
from entropy_lens.outputs import write_rare
from rollout_factory import make_row, make_table, words_to_tokens


def sentences(texts, entropy, prompt_ids=None, sample_ids=None) -> pd.DataFrame:
    n = len(texts)
    return pd.DataFrame({
        "prompt_id": prompt_ids if prompt_ids is not None else ["p0"] * n,
        "sample_id": sample_ids if sample_ids is not None else [i // 5 for i in range(n)],
        "sentence": texts, "mean_entropy": np.asarray(entropy, dtype=np.float64),
    })


def around(direction: int, n: int, dim: int, seed: int, spread: float = 0.05) -> np.ndarray:
    """n unit vectors close to the axis ``direction``."""
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32) * spread
    x[:, direction] += 1.0
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def planted():
    """50 base sentences near axis 0; 45 ordinary RL sentences near axis 0 (entropy ~0.5)
    and 5 planted ones near axis 1 (entropy ~1.5), scattered through the table."""
    base = sentences([f"base {i}" for i in range(50)], np.full(50, 0.4))
    planted_rows = np.array([3, 11, 24, 37, 48])
    rng = np.random.default_rng(0)
    entropy = rng.uniform(0.3, 0.7, 50)
    entropy[planted_rows] = rng.uniform(1.3, 1.7, 5)
    texts = [f"ordinary {i}" for i in range(50)]
    rl_emb = around(0, 50, 16, seed=2)
    for j, r in enumerate(planted_rows):
        texts[r] = f"planted {j}"
        rl_emb[r] = around(1, 1, 16, seed=10 + j)[0]
    rl = sentences(texts, entropy)
    return base, rl, around(0, 50, 16, seed=1), rl_emb, planted_rows


def test_planted_rare_sentences_are_found_and_compared(planted):
    base, rl, base_emb, rl_emb, planted_rows = planted
    result = rare_from_sentences(base, rl, base_emb, rl_emb, k=5, quantile=0.9, n_boot=300)
    table = result.sentences
    assert len(table) == 50
    assert set(table.loc[table["rare"], "sentence"]) == {f"planted {j}" for j in range(5)}
    assert list(table["rank"]) == list(range(1, 51)) and table["distance"].is_monotonic_decreasing
    # distance = mean (1 - cos) over the 5 nearest base sentences, checked by brute force
    sims = rl_emb.astype(np.float64) @ base_emb.astype(np.float64).T
    expected = 1 - np.sort(sims, axis=1)[:, ::-1][:, :5].mean(axis=1)
    got = table.set_index("sentence")["distance"].reindex(rl["sentence"]).to_numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)
    first = table.iloc[0]
    nearest = int(np.argmax(sims[rl.index[rl["sentence"] == first["sentence"]][0]]))
    assert first["neighbor_1"] == f"base {nearest}" and "neighbor_3_similarity" in table and "neighbor_4" not in table
    row = result.summary.iloc[0]
    assert row["group"] == "rare" and row["n"] == 5 and row["other_n"] == 45 and row["k"] == 5
    assert row["diff"] > 0.7 and 0 < row["diff_ci_low"] <= row["diff"] <= row["diff_ci_high"]
    assert row["p_value"] < 1e-3 and row["effect_size"] == 1.0 and row["spearman_rho"] > 0
    assert table.loc[table["rare"], "distance"].min() >= row["threshold"] > table.loc[~table["rare"], "distance"].max()


def test_ties_at_the_threshold_are_all_rare(planted):
    base, rl, base_emb, _, _ = planted
    same = np.repeat(around(2, 1, 16, seed=3), len(rl), axis=0)  # every RL sentence equally far
    result = rare_from_sentences(base, rl, base_emb, same, k=3, n_boot=50)
    assert result.sentences["rare"].all() and result.summary.iloc[0]["rare_share"] == 1.0


def test_same_prompt_restricts_the_neighbours_to_the_prompt():
    base = sentences([f"a{i}" for i in range(6)] + [f"b{i}" for i in range(6)], np.zeros(12),
                     prompt_ids=["pa"] * 6 + ["pb"] * 6)
    base_emb = np.concatenate([around(0, 6, 8, seed=1), around(1, 6, 8, seed=2)])
    rl = sentences(["like b, asked in pa", "like a, in pa"], [1.0, 0.5], prompt_ids=["pa", "pa"], sample_ids=[0, 0])
    rl_emb = np.concatenate([around(1, 1, 8, seed=3), around(0, 1, 8, seed=4)])
    pooled = rare_from_sentences(base, rl, base_emb, rl_emb, k=3, n_boot=50)
    own = rare_from_sentences(base, rl, base_emb, rl_emb, k=3, n_boot=50, same_prompt=True)
    first = own.sentences.iloc[0]
    assert first["sentence"] == "like b, asked in pa" and first["neighbor_1"].startswith("a")
    assert pooled.sentences.set_index("sentence").loc["like b, asked in pa", "neighbor_1"].startswith("b")
    assert first["distance"] > 0.5 > pooled.sentences["distance"].max()
    assert bool(own.summary.iloc[0]["same_prompt"])
    with pytest.raises(UserError, match="prompt 'pz' has 0 base sentences"):
        rare_from_sentences(base, sentences(["x"], [1.0], prompt_ids=["pz"]), base_emb, rl_emb[:1], k=3,
                            same_prompt=True)


@pytest.mark.parametrize("kwargs,message", [
    ({"k": 0}, "k must be a whole number >= 1"),
    ({"k": 2.5}, "k must be a whole number >= 1"),
    ({"quantile": 1.0}, "quantile must be strictly between 0 and 1"),
    ({"quantile": 0}, "quantile must be strictly between 0 and 1"),
    ({"quantile": float("nan")}, "quantile must be strictly between 0 and 1"),
    ({"k": 51}, "the base side has 50 sentences, fewer than k=51"),
])
def test_bad_options_are_one_line_user_errors(planted, kwargs, message):
    base, rl, base_emb, rl_emb, _ = planted
    with pytest.raises(UserError, match=message) as error:
        rare_from_sentences(base, rl, base_emb, rl_emb, **kwargs)
    assert "\n" not in str(error.value) and error.value.fix


def test_empty_rl_side_is_a_user_error(planted):
    base, rl, base_emb, rl_emb, _ = planted
    with pytest.raises(UserError, match="the RL side has no sentences"):
        rare_from_sentences(base, rl.iloc[:0], base_emb, rl_emb[:0])


def _rollouts(responses: list[str], prompt: str, entropy: float) -> pd.DataFrame:
    return make_table([make_row(words_to_tokens(text, {}, default=entropy), prompt_id=prompt, sample_id=i)
                       for i, text in enumerate(responses)])


def test_fewer_base_sentences_than_k_is_refused_before_embedding():
    base = _rollouts(["One plus one is two. So the answer is 2."], "p0", 0.3)
    rl = _rollouts(["One plus one is two."], "p0", 0.3)

    class NoEmbedder:
        def encode(self, *_, **__):
            raise AssertionError("embedded although the base side is too small")

    with pytest.raises(UserError, match="the base side has 2 sentences, fewer than k=5"):
        rare(base, rl, k=5, embedder=NoEmbedder())


# -- the real offline embedder ---------------------------------------------------------------

@pytest.fixture(scope="module")
def minilm():
    from entropy_lens.analyses.embed import load_embedder

    return load_embedder()


def test_real_embedder_loads_offline_and_gives_unit_vectors(minilm):
    from entropy_lens.analyses.embed import embed

    texts = ["Let me check the sum.", "So 3 + 4 = 7.", "Let me check the sum.", ""]
    vectors = embed(minilm, texts)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(vectors[0], vectors[2])  # deduplicated, copied back
    assert embed(minilm, []).shape == (0, 384)


def test_missing_embedder_path_is_a_user_error():
    from entropy_lens.analyses.embed import load_embedder

    with pytest.raises(UserError, match="embedder path ./no/such/model does not exist"):
        load_embedder("./no/such/model")
    table = _rollouts(["One plus one is two. Two plus two is four. So the answer is 4."] * 2, "p0", 0.3)
    with pytest.raises(UserError, match="embedder path ./no/such/model does not exist"):
        rare(table, table, k=3, embedder="./no/such/model")


ADDITION = [
    "First, we add {a} and {b}.", "So {a} + {b} = {c}.", "The answer is {c}.", "Adding the ones digits gives {c}.",
    "Therefore the total is {c}.",
]
UNRELATED = [
    "The Eiffel Tower was completed in Paris in 1889.",
    "Photosynthesis turns sunlight into chemical energy in green leaves.",
    "My favourite football team won the championship last night.",
    "Medieval castles were often surrounded by a deep moat.",
]


def test_real_text_unrelated_sentences_come_out_rare(minilm, tmp_path):
    # 40 base sentences about addition; 36 RL sentences about addition and 4 about
    # unrelated topics (higher entropy), one in each of four responses
    base = _rollouts([" ".join(t.format(a=a, b=a + 2, c=2 * a + 2) for t in ADDITION) for a in range(3, 11)], "p0", 0.3)
    responses = []
    for i, a in enumerate(range(20, 29)):
        texts = [t.format(a=a, b=a + 1, c=2 * a + 1) for t in ADDITION[:4]]
        if i < 4:
            texts[1 + i % 3] = UNRELATED[i]
        responses.append(texts)
    rl = make_table([make_row([tok for j, text in enumerate(texts)
                               for tok in words_to_tokens(text + " ", {}, default=1.5 if text in UNRELATED else 0.3)],
                              prompt_id="p0", sample_id=i) for i, texts in enumerate(responses)])
    result = rare(base, rl, k=5, quantile=0.9, embedder=minilm, n_boot=200)
    table = result.sentences
    assert result.summary.iloc[0]["base_sentences"] == 40 and len(table) == 36
    assert set(table.loc[table["rare"], "sentence"]) == set(UNRELATED[:4])
    assert result.summary.iloc[0]["diff"] > 1.0 and result.embedder.startswith("all-MiniLM-L6-v2")
    paths = write_rare(result, tmp_path / "out")
    assert [p.name for p in paths] == ["rare.csv", "rare_summary.csv", "rare.png", "rare.svg"]
    written = pd.read_csv(paths[0])
    assert list(written.columns[:8]) == ["prompt_id", "sample_id", "sentence", "mean_entropy", "distance", "rare",
                                         "rank", "start"]
    assert written["rare"].sum() == 4 and set(written["sentence"][:4]) == set(UNRELATED[:4])
    assert {"threshold", "k", "quantile", "p_value", "diff_ci_low", "skipped"} <= set(pd.read_csv(paths[1]).columns)
    assert paths[2].stat().st_size > 20_000
