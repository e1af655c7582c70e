"""What a pretrained latent space is worth: Table-1 metrics, smoothness, predictive power.

* :func:`reconstruction_metrics` — held-out cells decoded from their posterior
  means: whole cell exactly right, operations right, edges right;
* :func:`prior_validity` — decode ``z`` drawn per node from ``N(mean, std)`` of
  the training posteriors (the authors' protocol): the share of valid cells
  and the share of distinct architectures among them;
* :func:`edit_distance_pairs` — latent L2 distance against graph edit distance;
* :func:`predictive_power` — a regressor fitted on a few hundred encoded cells
  predicts the rest (RMSE, Pearson r, Kendall τ).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy import stats

from lib.arch2vec.config import Arch2VecConfig
from lib.arch2vec.train import Pretrained, embed_tensors
from lib.cell import INPUT, OUTPUT, Cell, wl_hash
from lib.latent.decode import decode_cells, edge_matrix, node_labels
from lib.latent.predictors import GaussianProcess, GINPredictor
from lib.spaces import SearchSpace
from lib.spaces.darts import SECOND_INPUT


def _keys(space: SearchSpace, cells: list[Cell | None]) -> list[str | None]:
    return [None if c is None else space.key(c) for c in cells]


@torch.no_grad()
def reconstruction_metrics(pre: Pretrained, ops: torch.Tensor, adj: torch.Tensor, batch_size: int = 4096) -> dict:
    """Reconstruction of cells from their posterior means (eval mode, no dropout).

    Returns:
        Percentages: ``reconstruction`` (the decoded cell is the same
        architecture as the input, by :meth:`SearchSpace.key`),
        ``ops_accuracy`` (argmax label right, over the real nodes),
        ``operation_node_accuracy`` (the same over the nodes that carry an
        operation, leaving out the input and output nodes, which are easy) and
        ``adj_accuracy`` (upper-triangle entries right, among real nodes),
        plus ``num_cells``.
    """
    model = pre.model.eval()
    space = pre.space
    device = next(model.parameters()).device
    is_operation = torch.from_numpy(np.append(operation_labels(space), False))  # index -1 (padding): not an operation
    exact = ops_ok = num_nodes = adj_ok = num_pairs = op_ok = num_op = 0
    for i in range(0, len(ops), batch_size):
        o, a = ops[i : i + batch_size].to(device), adj[i : i + batch_size].to(device)
        mu, _ = model.encoder(o, a)
        ops_prob, adj_prob = model.decoder(mu)
        target = node_labels(o, threshold=0.5).cpu()
        labels, edges = node_labels(ops_prob).cpu(), edge_matrix(adj_prob).cpu()
        real = target >= 0
        ops_ok += ((labels == target) & real).sum().item()
        num_nodes += real.sum().item()
        operation = is_operation[target]
        op_ok += ((labels == target) & operation).sum().item()
        num_op += operation.sum().item()
        pair = (real.unsqueeze(-1) & real.unsqueeze(-2)).triu(1)
        adj_ok += ((edges == edge_matrix(a).cpu()) & pair).sum().item()
        num_pairs += pair.sum().item()
        decoded = _keys(space, decode_cells(space, labels, edges))
        truth = _keys(space, decode_cells(space, target, edge_matrix(a).cpu()))
        exact += sum(d is not None and d == t for d, t in zip(decoded, truth))
    n = len(ops)
    return {"reconstruction": 100 * exact / n, "ops_accuracy": 100 * ops_ok / num_nodes,
            "operation_node_accuracy": 100 * op_ok / num_op if num_op else float("nan"),
            "adj_accuracy": 100 * adj_ok / num_pairs, "num_cells": n}  # fmt: skip


@torch.no_grad()
def prior_validity(
    pre: Pretrained, train_ops: torch.Tensor, train_adj: torch.Tensor, num_samples: int = 10_000, seed: int = 0
) -> dict:
    """Validity and uniqueness of cells decoded from latent samples.

    Following the authors, ``z`` is drawn per node position and dimension from
    ``N(mean, std)`` of the posterior means of the training cells. Two pairs
    of figures come back (see :func:`decoded_sample_stats`): the strict ones
    of this study and the authors' protocol, which the paper's Table 1 uses.

    Returns:
        ``validity``, ``unique_architectures``, ``validity_authors``,
        ``uniqueness_authors`` (percent) and ``num_samples``.
    """
    model = pre.model.eval()
    device = next(model.parameters()).device
    mus = []
    for i in range(0, len(train_ops), 4096):
        mu, _ = model.encoder(train_ops[i : i + 4096].to(device), train_adj[i : i + 4096].to(device))
        mus.append(mu.cpu())
    mu = torch.cat(mus)
    mean, std = mu.mean(0), mu.std(0)
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn((num_samples, *mean.shape), generator=generator) * std + mean
    ops_prob, adj_prob = model.decoder(z.to(device))
    return {**decoded_sample_stats(pre.space, node_labels(ops_prob).cpu(), edge_matrix(adj_prob).cpu()),
            "num_samples": num_samples}  # fmt: skip


def decoded_sample_stats(space: SearchSpace, labels: torch.Tensor, edges: torch.Tensor) -> dict:
    """Validity and uniqueness of decoded samples, strictly and as the authors count them.

    * ``validity``: % of samples that decode to a cell of the space (dead
      nodes pruned, then :meth:`SearchSpace.validate`);
      ``unique_architectures``: % of distinct architectures (the space's key)
      among those.
    * ``validity_authors``: % of samples that pass the authors' check
      (:func:`authors_valid`; laxer than ours on NB201 and DARTS);
      ``uniqueness_authors``: % of distinct *decoded graphs* among those,
      hashed as decoded (every node row, before pruning; isomorphic drawings
      count once), so two samples that differ only in a dead node or a
      spurious edge count twice.

    Args:
        space: The space the samples must belong to.
        labels: ``(B, N)`` decoded node labels.
        edges: ``(B, N, N)`` decoded 0/1 upper-triangular adjacency.

    Returns:
        The four percentages; a uniqueness is NaN without a valid sample.
    """
    cells = decode_cells(space, labels, edges)
    valid = [i for i, c in enumerate(cells) if c is not None]
    lax = np.flatnonzero(authors_valid(space, labels, edges, decoded=cells))
    keys = {space.key(cells[i]) for i in valid}
    graphs = {wl_hash(edges[i].numpy(), labels[i].tolist()) for i in lax}
    n = len(cells)
    return {"validity": 100 * len(valid) / n,
            "unique_architectures": 100 * len(keys) / len(valid) if valid else float("nan"),
            "validity_authors": 100 * len(lax) / n,
            "uniqueness_authors": 100 * len(graphs) / len(lax) if len(lax) else float("nan")}  # fmt: skip


def operation_labels(space: SearchSpace) -> np.ndarray:
    """``(V,)`` boolean: which vocabulary entries are operations (not an input, DARTS' second input or the output)."""
    return np.array([v in space.operations and v != SECOND_INPUT for v in space.vocabulary])


def authors_valid(
    space: SearchSpace, labels: torch.Tensor, edges: torch.Tensor, decoded: list[Cell | None] | None = None
) -> np.ndarray:
    """The validity check of the authors' pretraining scripts, per decoded sample.

    * NB201 (``is_valid_nasbench201``): the first node is the input, the last
      the output, and nodes 2 … N-2 carry operations. Edges are not checked,
      and neither is node 1 (the loop of their check starts at 2).
    * DARTS (``is_valid_darts``): the two inputs and the output in place,
      operations in between, and each operation node of intermediate node
      ``k`` reads at least one node before its block (no check that it reads
      exactly one input or both operation nodes of an intermediate node).
    * Other spaces: the authors used NAS-Bench-101's own check, which is ours
      (:func:`decode_cells`), and NAS-Bench-Graph is not in the paper.

    Args:
        space, labels, edges: As for :func:`decode_cells`.
        decoded: The result of :func:`decode_cells` for these samples, when
            already computed (the spaces that use our check reuse it).

    Returns:
        ``(B,)`` boolean array.
    """
    lab, adj = labels.cpu().numpy(), edges.cpu().numpy()
    vocab = space.vocabulary
    first, last = vocab.index(INPUT), vocab.index(OUTPUT)
    operation = operation_labels(space)
    if space.name == "nb201":
        return (lab[:, 0] == first) & (lab[:, -1] == last) & operation[lab[:, 2:-1]].all(axis=1)
    if space.name == "darts":
        ok = (lab[:, 0] == first) & (lab[:, 1] == vocab.index(SECOND_INPUT)) & (lab[:, -1] == last)
        ok &= operation[lab[:, 2:-1]].all(axis=1)
        for node in range(2, lab.shape[1] - 1):
            block_start = 2 + 2 * ((node - 2) // 2)
            ok &= adj[:, :block_start, node].any(axis=1)
        return ok
    cells = decode_cells(space, labels, edges) if decoded is None else decoded
    return np.array([c is not None for c in cells], dtype=bool)


def uniqueness_ceiling(space_size: int, draws: int) -> float:
    """Expected % of distinct items among ``draws`` uniform draws (with replacement) from ``space_size`` items.

    The uniqueness a perfectly uniform sampler of valid cells would reach:
    ``M (1 - (1 - 1/M)^k) / k``. With 10,000 draws from NB201's 15,625 cells it
    is 74 %, so a uniqueness far above that needs samples outside the space.
    """
    if space_size < 1 or draws < 1:
        raise ValueError(f"space_size and draws must be positive, got {space_size} and {draws}")
    return float(100 * space_size * -np.expm1(draws * np.log1p(-1 / space_size)) / draws) if space_size > 1 else 100 / draws


def edit_distance(labels_a: np.ndarray, edges_a: np.ndarray, labels_b: np.ndarray, edges_b: np.ndarray) -> np.ndarray:
    """Graph edit distance in the padded encoding: differing node labels plus differing edges.

    Works on batches: ``labels`` ``(..., N)``, ``edges`` ``(..., N, N)`` upper triangular.
    """
    return (labels_a != labels_b).sum(-1) + (edges_a != edges_b).sum((-1, -2))


def edit_distance_pairs(
    embeddings: np.ndarray, ops: torch.Tensor, adj: torch.Tensor, num_pairs: int, rng: np.random.Generator
) -> pd.DataFrame:
    """Random pairs of cells with their edit distance and latent L2 distance (the paper's smoothness check).

    Half of the pairs are an anchor and a random other cell, half an anchor
    and a cell sharing most of its structure (one to three changes), so that
    small edit distances are represented.

    Returns:
        Columns ``edit_distance`` and ``l2``.
    """
    labels = node_labels(ops, threshold=0.5).numpy()
    edges = edge_matrix(adj).numpy()
    n = len(labels)
    a = rng.integers(n, size=num_pairs)
    b = rng.integers(n, size=num_pairs)
    ged = edit_distance(labels[a], edges[a], labels[b], edges[b])
    l2 = np.linalg.norm(embeddings[a] - embeddings[b], axis=1)
    frame = pd.DataFrame({"edit_distance": ged, "l2": l2})
    near = _near_pairs(labels, edges, embeddings, num_pairs // 2, rng)
    return pd.concat([frame, near], ignore_index=True)


def _near_pairs(labels, edges, embeddings, num_pairs, rng) -> pd.DataFrame:
    """For anchors, the cells at edit distance ≤ 3 among a random candidate block."""
    n = len(labels)
    rows = []
    block = min(n, 2048)
    while sum(len(r) for r in rows) < num_pairs:
        anchor = int(rng.integers(n))
        cand = rng.choice(n, size=block, replace=False)
        ged = edit_distance(labels[anchor], edges[anchor], labels[cand], edges[cand])
        close = cand[(ged > 0) & (ged <= 3)]
        if len(close) == 0:
            continue
        close = close[: max(1, num_pairs // 50)]
        d = edit_distance(labels[anchor], edges[anchor], labels[close], edges[close])
        l2 = np.linalg.norm(embeddings[close] - embeddings[anchor], axis=1)
        rows.append(pd.DataFrame({"edit_distance": d, "l2": l2}))
    return pd.concat(rows, ignore_index=True).iloc[:num_pairs]


def regression_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """RMSE, Pearson r and Kendall τ of predictions."""
    return {"rmse": float(np.sqrt(np.mean((y_true - y_pred) ** 2))),
            "pearson": float(stats.pearsonr(y_true, y_pred)[0]),
            "kendall_tau": float(stats.kendalltau(y_true, y_pred)[0])}  # fmt: skip


def fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, seed: int = 0) -> np.ndarray:
    """Gaussian-process regression (:class:`~lib.latent.predictors.GaussianProcess`): the predicted means."""
    return GaussianProcess(seed=seed).fit(x_train, y_train).predict(x_test)[0]


def supervised_embeddings(
    config: Arch2VecConfig,
    ops: torch.Tensor,
    adj: torch.Tensor,
    train_idx: np.ndarray,
    y_train: np.ndarray,
    *,
    epochs: int = 200,
    lr: float = 1e-3,
    seed: int = 0,
) -> np.ndarray:
    """Embeddings from the same GIN encoder trained supervised (mean-pooled ``mu`` → linear → accuracy).

    The baseline of the "predictive power" comparison: same architecture,
    trained on the labelled cells only instead of on every cell without
    labels (one :class:`~lib.latent.predictors.GINPredictor` member).
    """
    predictor = GINPredictor(num_members=1, hidden_dim=config.hidden_dim, latent_dim=config.latent_dim,
                             num_layers=config.num_layers, layer=config.encoder, epochs=epochs, lr=lr, seed=seed)
    index = torch.as_tensor(train_idx)
    return predictor.fit((ops[index], adj[index]), y_train).embed((ops, adj))


def predictive_power(
    features: dict[str, np.ndarray], y: np.ndarray, train_idx: np.ndarray, test_idx: np.ndarray, seed: int = 0
) -> pd.DataFrame:
    """Fits the same regressor on each encoding's training rows and scores it on the test rows.

    Args:
        features: ``{encoding name: (num_cells, dim) array}``.
        y: Accuracy of every cell.
        train_idx, test_idx: Row indices.

    Returns:
        One row per encoding with ``rmse``, ``pearson`` and ``kendall_tau``.
    """
    rows = []
    for name, x in features.items():
        pred = fit_predict(x[train_idx], y[train_idx], x[test_idx], seed=seed)
        rows.append({"encoding": name, **regression_scores(y[test_idx], pred)})
    return pd.DataFrame(rows)


def embeddings_of(pre: Pretrained, ops: torch.Tensor, adj: torch.Tensor) -> np.ndarray:
    """Embeddings of dense tensors (alias of :func:`lib.arch2vec.train.embed_tensors`)."""
    return embed_tensors(pre.model, ops, adj)


def table1_row(
    pre: Pretrained, ops: torch.Tensor, adj: torch.Tensor, num_samples: int = 10_000, space_size: int | None = None
) -> dict:
    """The paper's Table-1 numbers of one model: held-out reconstruction, validity and uniqueness.

    Args:
        pre: The pretrained model.
        ops, adj: Every pretraining cell (the model's split picks the held-out ones).
        num_samples: Latent samples for validity and uniqueness.
        space_size: Number of distinct cells of the space, for ``uniqueness_ceiling``
            (:func:`uniqueness_ceiling` of the valid samples); ``None`` means
            ``len(ops)``, right when the model was pretrained on the whole space.
    """
    from lib.arch2vec.train import split_indices

    train_idx, test_idx = split_indices(len(ops), pre.config)
    held_out = test_idx if len(test_idx) else train_idx
    rec = reconstruction_metrics(pre, ops[torch.as_tensor(held_out)], adj[torch.as_tensor(held_out)])
    val = prior_validity(pre, ops[torch.as_tensor(train_idx)], adj[torch.as_tensor(train_idx)], num_samples, pre.config.seed)
    valid_draws = round(val["validity"] * num_samples / 100)
    ceiling = uniqueness_ceiling(space_size or len(ops), valid_draws) if valid_draws else float("nan")
    return {"model": pre.config.label, "space": pre.config.space, **rec, **val, "uniqueness_ceiling": ceiling}


def summarize_pairs(pairs: pd.DataFrame, max_distance: int | None = None) -> pd.DataFrame:
    """Mean and standard deviation of the L2 distance at each edit distance."""
    frame = pairs if max_distance is None else pairs[pairs["edit_distance"] <= max_distance]
    return frame.groupby("edit_distance")["l2"].agg(["mean", "std", "count"]).reset_index()
