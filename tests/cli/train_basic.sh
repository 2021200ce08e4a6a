#!/usr/bin/env bash
# train/score end to end: metrics in --json, /model and /accounts/score written,
# deterministic mode bit-identical for 1 and 2 threads and for in-memory vs streamed
# (out-of-core) reads, model JSON -> score reproduces train's scores exactly, rows
# labelled -1 scored, fast mode and Adam run.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

"$T" train --help | grep -q -- "--model-out" || fail "train --help"
"$T" score --help | grep -q -- "--model" || fail "score --help"

"$T" generate -n 60000 -k 5 --features 8 --seed 3 -o "$W/a.h5" -q
cp "$W/a.h5" "$W/b.h5"
cp "$W/a.h5" "$W/c.h5"
"$T" train "$W/a.h5" --threads 1 --model-out "$W/m1.json" --json >"$W/t1.json"
"$T" train "$W/b.h5" --threads 2 --model-out "$W/m2.json" -q
"$T" train "$W/c.h5" --threads 2 --stream 7000 --model-out "$W/m3.json" -q
# a stream larger than the file reads it whole (it once allocated the rows asked for)
cp "$W/a.h5" "$W/d.h5"
"$T" train "$W/d.h5" --threads 2 --stream 2147483648 --model-out "$W/m4.json" -q ||
  fail "--stream beyond the rows"
cmp -s "$W/m3.json" "$W/m4.json" || fail "--stream 2147483648 differs from --stream 7000"
"$T" train "$W/a.h5" >"$W/summary.txt"
grep -Eq "^train: .* AUC 0\.[0-9]+ .*validation rows" "$W/summary.txt" || { cat "$W/summary.txt"; fail "summary line"; }

$PY - "$W" <<'PY'
import json, sys, h5py, numpy as np
w = sys.argv[1]
t = json.load(open(f"{w}/t1.json"))
m = t["metrics"]
assert t["command"] == "train" and t["d"] == 8, t
assert m["split"] == "validation" and m["rows"] > 5000, m
assert 0.75 < m["auc"] < 1.0, m          # the generator's propensity is learnable
assert 0 < m["logloss"] < 0.69 and 0 < m["brier"] < 0.25, m
assert len(m["calibration"]) == 10 and sum(b["rows"] for b in m["calibration"]) == m["rows"]
assert m["lift_top_decile"] > 1.5, m
assert t["history"] and t["time"]["train"] >= 0 and t["examples_per_second"] > 0
m1, m2, m3 = (json.load(open(f"{w}/m{i}.json")) for i in (1, 2, 3))
for k in ("weights", "bias", "mean", "std"):
    assert m1[k] == m2[k], f"{k} differs between 1 and 2 threads"
    assert m1[k] == m3[k], f"{k} differs between in-memory and streamed reads"
assert m1["format"] == "tqplan-logistic-model" and m1["d"] == 8 and len(m1["feature_names"]) == 8
assert m1["hyperparameters"]["mode"] == "deterministic" and "auc" in m1["metrics"]
s = [h5py.File(f"{w}/{x}.h5", "r")["accounts/score"][:] for x in "abc"]
assert np.array_equal(s[0], s[1]) and np.array_equal(s[0], s[2])
f = h5py.File(f"{w}/a.h5", "r")
lab = f["accounts/label"][:]
assert (lab == -1).sum() > 0 and np.all((s[0] > 0) & (s[0] < 1)), "unlabelled rows scored"
g = f["model"]
assert g["weights"].shape == (8,) and np.allclose(g["weights"][:], m1["weights"])
assert g["calibration"].shape == (10, 3) and g["calibration"][:, 0].sum() == t["metrics"]["rows"]
assert g.attrs["command"] in (b"train", "train") and "parameters" in g.attrs
PY

# score with the saved model reproduces train's scores bit for bit
cp "$W/a.h5" "$W/s.h5"
$PY -c "import h5py,sys; f=h5py.File(sys.argv[1],'a'); del f['accounts/score']" "$W/s.h5"
"$T" score "$W/s.h5" --model "$W/m1.json" --json >"$W/score.json"
"$T" score "$W/s.h5" --model "$W/m1.json" --stream 5000 -q
$PY - "$W" <<'PY'
import json, sys, h5py, numpy as np
w = sys.argv[1]
a = h5py.File(f"{w}/a.h5", "r")["accounts/score"][:]
s = h5py.File(f"{w}/s.h5", "r")["accounts/score"][:]
assert np.array_equal(a, s), "score differs from train's scores"
j = json.load(open(f"{w}/score.json"))
assert j["rows"] == 60000 and j["metrics_labelled"]["auc"] > 0.75, j
PY

# fast mode and Adam train and give a similar validation AUC
for opt in "--mode fast" "--optimizer adam --lr 0.01" "--class-weight balanced --l1 1e-4"; do
  "$T" train "$W/b.h5" $opt --json >"$W/o.json"
  $PY - "$W/o.json" "$W/t1.json" <<'PY'
import json, sys
a, b = (json.load(open(p))["metrics"]["auc"] for p in sys.argv[1:3])
assert abs(a - b) < 0.01, (a, b)
PY
done
echo "train_basic: ok"
