#!/usr/bin/env bash
# align under mpirun -np 1/2/4 (--oversubscribe): /alignment bit-identical to the serial
# run (territory, loads, cost, bound), with a disruption penalty and budget.
set -euo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
T=${TQ_BIN:?}
PY=/usr/bin/python3
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$T" generate -n 40000 -k 16 --features 2 --seed 8 -o "$W/g.h5" -q
args="--alpha 0.3 --tol-workload 3% --tol-potential 4%"
cp "$W/g.h5" "$W/serial.h5"
"$T" align "$W/serial.h5" $args --threads 2 -q || fail "serial"
for np in 1 2 4; do
  cp "$W/g.h5" "$W/np$np.h5"
  mpirun --oversubscribe -np "$np" "$T" align "$W/np$np.h5" $args --threads 1 --json \
    >"$W/np$np.out" 2>"$W/np$np.err" || { cat "$W/np$np.err"; fail "mpirun -np $np"; }
  h5diff "$W/serial.h5" "$W/np$np.h5" /alignment/territory >/dev/null || fail "-np $np: territory differs"
done
$PY - "$W" <<'PY'
import json, sys, h5py, numpy as np
w = sys.argv[1]
ref = h5py.File(f"{w}/serial.h5", "r")["alignment"]
for np_ in (1, 2, 4):
    g = h5py.File(f"{w}/np{np_}.h5", "r")["alignment"]
    for ds in ("territory", "workload", "potential", "count", "center", "radius_km"):
        assert np.array_equal(ref[ds][:], g[ds][:]), f"-np {np_}: {ds} differs"
    for a in ("cost", "bound", "gap", "rounds"):
        assert ref.attrs[a] == g.attrs[a], f"-np {np_}: {a} differs"
    out = json.loads(open(f"{w}/np{np_}.out").read().strip().splitlines()[-1])
    assert out["ranks"] == np_, out["ranks"]
print("alignment bit-identical for serial and mpirun -np 1/2/4")
PY
