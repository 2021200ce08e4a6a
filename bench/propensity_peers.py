"""bench/propensity_peers.py: the peers of bench/propensity, on numpy arrays.

LIBLINEAR is called two ways: the liblinear-tools binaries (`liblinear-train -s 0`,
`liblinear-predict -b 1`) on svmlight files written here, which times parsing plus
training; and the same shared library (liblinear.so.4, Debian liblinear4 2.3.0) through
ctypes, which times train() alone. The ctypes structs follow linear.h of 2.3.0; the
bench checks that both ways give the same AUC on the sets where both run.
"""
import ctypes
import os
import subprocess
import tempfile
import time

import numpy as np
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.preprocessing import StandardScaler


class FeatureNode(ctypes.Structure):
    _fields_ = [("index", ctypes.c_int), ("value", ctypes.c_double)]


class Problem(ctypes.Structure):
    _fields_ = [("l", ctypes.c_int), ("n", ctypes.c_int),
                ("y", ctypes.POINTER(ctypes.c_double)),
                ("x", ctypes.POINTER(ctypes.POINTER(FeatureNode))),
                ("bias", ctypes.c_double)]


class Parameter(ctypes.Structure):
    _fields_ = [("solver_type", ctypes.c_int), ("eps", ctypes.c_double),
                ("C", ctypes.c_double), ("nr_weight", ctypes.c_int),
                ("weight_label", ctypes.POINTER(ctypes.c_int)),
                ("weight", ctypes.POINTER(ctypes.c_double)), ("p", ctypes.c_double),
                ("init_sol", ctypes.POINTER(ctypes.c_double))]


_lib = None


def _liblinear():
    global _lib
    if _lib is None:
        _lib = ctypes.CDLL("liblinear.so.4")
        _lib.train.restype = ctypes.c_void_p
        _lib.train.argtypes = [ctypes.POINTER(Problem), ctypes.POINTER(Parameter)]
        _lib.get_decfun_coef.restype = ctypes.c_double
        _lib.get_decfun_coef.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        _lib.get_decfun_bias.restype = ctypes.c_double
        _lib.get_decfun_bias.argtypes = [ctypes.c_void_p, ctypes.c_int]
        _lib.get_labels.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
        _lib.free_and_destroy_model.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
        quiet = ctypes.CFUNCTYPE(None, ctypes.c_char_p)(lambda s: None)
        _lib._quiet = quiet   # keep a reference
        _lib.set_print_string_function(quiet)
    return _lib


def liblinear_ctypes(Xtr, ytr, Xte, C=1.0, eps=0.01):
    """LIBLINEAR -s 0 -B 1 through the shared library. Returns (seconds of train(),
    test probabilities)."""
    lib = _liblinear()
    n, d = Xtr.shape
    # dense rows as feature_node arrays: d features + bias node + terminator
    node_t = np.dtype([("index", np.int32), ("value", np.float64)], align=True)  # as in C: 16 bytes
    nodes = np.zeros((n, d + 2), dtype=node_t)
    nodes["index"][:, :d] = np.arange(1, d + 1, dtype=np.int32)
    nodes["value"][:, :d] = Xtr
    nodes["index"][:, d] = d + 1          # bias feature (problem.bias = 1)
    nodes["value"][:, d] = 1.0
    nodes["index"][:, d + 1] = -1
    base = nodes.ctypes.data
    stride = nodes.strides[0]
    ptrs = (ctypes.POINTER(FeatureNode) * n)()
    addr = np.arange(n, dtype=np.uint64) * np.uint64(stride) + np.uint64(base)
    ctypes.memmove(ptrs, addr.ctypes.data, n * 8)
    y = np.ascontiguousarray(ytr, dtype=np.float64)
    prob = Problem(n, d + 1, y.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), ptrs, 1.0)
    param = Parameter(0, eps, C, 0, None, None, 0.1, None)
    t = time.perf_counter()
    model = lib.train(ctypes.byref(prob), ctypes.byref(param))
    secs = time.perf_counter() - t
    labels = (ctypes.c_int * 2)()
    lib.get_labels(model, labels)
    w = np.array([lib.get_decfun_coef(model, j + 1, 0) for j in range(d)])
    b = lib.get_decfun_bias(model, 0)
    m = ctypes.c_void_p(model)
    lib.free_and_destroy_model(ctypes.byref(m))
    z = Xte.astype(np.float64) @ w + b
    # decision values are for labels[0]
    p = 1.0 / (1.0 + np.exp(-z))
    if labels[0] != 1:
        p = 1.0 - p
    del nodes
    return secs, p


def write_svmlight(path, X, y):
    d = X.shape[1]
    idx = np.arange(1, d + 1)
    with open(path, "w") as f:
        for i in range(X.shape[0]):
            row = X[i]
            nz = row != 0
            f.write(("+1" if y[i] else "-1") + " " +
                    " ".join(f"{j}:{v:.9g}" for j, v in zip(idx[nz], row[nz])) + "\n")


def liblinear_cli(Xtr, ytr, Xte, yte, workdir):
    """liblinear-train -s 0 -B 1 and liblinear-predict -b 1 on svmlight files.
    Returns (wall seconds of liblinear-train, test probabilities)."""
    tr = os.path.join(workdir, "train.svm")
    te = os.path.join(workdir, "test.svm")
    mo = os.path.join(workdir, "model.txt")
    out = os.path.join(workdir, "pred.txt")
    write_svmlight(tr, Xtr, ytr)
    write_svmlight(te, Xte, yte)
    t = time.perf_counter()
    subprocess.run(["liblinear-train", "-s", "0", "-B", "1", "-q", tr, mo], check=True)
    secs = time.perf_counter() - t
    subprocess.run(["liblinear-predict", "-b", "1", "-q", te, mo, out], check=True,
                   stdout=subprocess.DEVNULL)
    with open(out) as f:
        head = f.readline().split()          # "labels 1 -1"
        col = head[1:].index("1")
        p = np.array([float(line.split()[1 + col]) for line in f])
    return secs, p


def sgd_peer(Xtr, ytr, Xte, yte, target, max_epochs=20):
    """SGDClassifier(loss="log_loss"), one partial_fit per epoch on standardised data;
    time to the first epoch whose test AUC reaches target (None if never)."""
    t0 = time.perf_counter()
    sc = StandardScaler().fit(Xtr)
    A, B = sc.transform(Xtr), sc.transform(Xte)
    t_scale = time.perf_counter() - t0
    clf = SGDClassifier(loss="log_loss", random_state=0)
    spent, hit, p = t_scale, None, None
    for ep in range(max_epochs):
        t = time.perf_counter()
        clf.partial_fit(A, ytr, classes=np.array([0, 1]))
        spent += time.perf_counter() - t
        p = clf.predict_proba(B)[:, 1]
        if hit is None and roc_auc_score(yte, p) >= target:
            hit = (spent, ep + 1)
            break
    return hit, spent, ep + 1, p


def logreg_peer(Xtr, ytr, Xte):
    t = time.perf_counter()
    sc = StandardScaler().fit(Xtr)
    clf = LogisticRegression(max_iter=1000).fit(sc.transform(Xtr), ytr)
    secs = time.perf_counter() - t
    return secs, clf.predict_proba(sc.transform(Xte))[:, 1]


def scores(y, p):
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return roc_auc_score(y, p), log_loss(y, p)


def tmpdir():
    return tempfile.mkdtemp(prefix="tq-prop-")
