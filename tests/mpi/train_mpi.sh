#!/usr/bin/env bash
# train under mpirun -np 1/2/4: deterministic mode gives bit-identical models and scores
# for any rank count (and equal to the plain serial run); -np 4 on 60,000 rows leaves
# ranks with few blocks. Fast mode runs under MPI too.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

"$T" generate -n 60000 -k 4 --features 6 --seed 9 -o "$W/g.h5" -q
cp "$W/g.h5" "$W/serial.h5"
"$T" train "$W/serial.h5" --threads 2 --model-out "$W/serial.json" -q
for np in 1 2 4; do
  cp "$W/g.h5" "$W/np$np.h5"
  mpirun --oversubscribe -np "$np" "$T" train "$W/np$np.h5" --threads 1 \
    --model-out "$W/np$np.json" --json >"$W/np$np.out" 2>"$W/np$np.err" || {
    cat "$W/np$np.err"; fail "mpirun -np $np train"; }
done
cp "$W/g.h5" "$W/fast.h5"
mpirun --oversubscribe -np 2 "$T" train "$W/fast.h5" --mode fast --json >"$W/fast.out" 2>&1 || {
  cat "$W/fast.out"; fail "fast mode under MPI"; }
# score under MPI reproduces the serial scores
mpirun --oversubscribe -np 4 "$T" score "$W/np4.h5" --model "$W/serial.json" -q || fail "mpirun score"
$PY - "$W" <<'PY'
import json, sys, h5py, numpy as np
w = sys.argv[1]
ref = json.load(open(f"{w}/serial.json"))
s0 = h5py.File(f"{w}/serial.h5", "r")["accounts/score"][:]
for np_ in (1, 2, 4):
    m = json.load(open(f"{w}/np{np_}.json"))
    for k in ("weights", "bias", "mean", "std"):
        assert m[k] == ref[k], f"-np {np_}: {k} differs from the serial model"
    s = h5py.File(f"{w}/np{np_}.h5", "r")["accounts/score"][:]
    assert np.array_equal(s, s0), f"-np {np_}: scores differ"
    out = json.loads(open(f"{w}/np{np_}.out").read().strip().splitlines()[-1])
    assert out["ranks"] == np_ and out["metrics"]["auc"] > 0.7, out
print("models and scores bit-identical for -np 1/2/4")
PY
echo "train_mpi: ok"
