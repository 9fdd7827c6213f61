"""Evaluation of frozen embeddings: the unsupervised graph-classification protocol (SVM) and
a linear probe for node embeddings."""
from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor

C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)


def _numpy(embeddings: Tensor | np.ndarray, labels: Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = embeddings.detach().cpu().numpy() if isinstance(embeddings, Tensor) else np.asarray(embeddings)
    y = labels.detach().cpu().numpy() if isinstance(labels, Tensor) else np.asarray(labels)
    y = y.reshape(-1)
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"embeddings must be [N, D] with one label per row, got {x.shape} and {y.shape[0]} labels")
    if not np.isfinite(x).all():
        raise ValueError("embeddings hold NaN or inf values")
    return x, y


def svm_accuracy(
    embeddings: Tensor | np.ndarray,
    labels: Tensor | np.ndarray,
    seed: int = 0,
    folds: int = 10,
    inner_folds: int = 5,
    c_grid: tuple[float, ...] = C_GRID,
) -> tuple[float, list[float]]:
    """Mean test accuracy of an RBF SVM over stratified ``folds``-fold cross-validation, and
    the accuracy of each fold.

    In each fold, ``C`` is chosen from ``c_grid`` by an inner ``inner_folds``-fold grid search
    on the training folds alone, so the selection never sees the test fold (the protocol of
    InfoGraph and GraphCL).
    """
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import SVC

    x, y = _numpy(embeddings, labels)
    smallest = np.unique(y, return_counts=True)[1].min()
    if smallest < folds:
        raise ValueError(f"the smallest class has {smallest} graphs, fewer than the {folds} folds")
    accuracies = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(x, y):
        search = GridSearchCV(SVC(), {"C": list(c_grid)}, cv=inner_folds, scoring="accuracy")
        search.fit(x[train], y[train])
        accuracies.append(float((search.predict(x[test]) == y[test]).mean()))
    return float(np.mean(accuracies)), accuracies


def linear_probe_accuracy(
    embeddings: Tensor | np.ndarray, labels: Tensor | np.ndarray, train_mask: Tensor, test_mask: Tensor
) -> float:
    """Test accuracy of a logistic regression fit on the training nodes' frozen embeddings."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x, y = _numpy(embeddings, labels)
    train, test = torch.as_tensor(train_mask).cpu().numpy(), torch.as_tensor(test_mask).cpu().numpy()
    scaler = StandardScaler().fit(x[train])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = LogisticRegression(max_iter=2000).fit(scaler.transform(x[train]), y[train])
    return float((clf.predict(scaler.transform(x[test])) == y[test]).mean())
