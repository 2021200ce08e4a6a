#!/usr/bin/env bash
# cluster under mpirun -np 1/2/4 (--oversubscribe): /clusters bit-identical to the serial
# run for k-means++ (workload weights), k-means|| (both with the default kd-tree
# filtering) and bounded passes only (value weights), 1 thread per rank; and the real
# world cities (population weights).
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

"$T" generate -n 50000 -k 3 --features 2 --country all --seed 4 -o "$W/g.h5" -q
# real points too: the world cities of ../shared/data, weighted by population
SRC=${TQ_SRC:?}/../shared/data/world_cities.csv
[ -f "$SRC" ] || SRC=/work/shared/data/world_cities.csv
names="pp par bo"
if [ -f "$SRC" ]; then
  awk -F, '!seen[$1]++' "$SRC" >"$W/wc.csv"
  "$T" import "$W/wc.csv" --ignore-unknown --map value=population -o "$W/wc.h5" -q 2>/dev/null
  names="$names wc"
fi
for cfg in "pp:-k 60 --weights workload --tol 0 --iters 40" "par:-k 30 --init kmeans-par --seed 9" \
           "bo:-k 200 --algo bounds-only --weights value --iters 25" "wc:-k 300 --weights value"; do
  name=${cfg%%:*}; args=${cfg#*:}
  src="$W/g.h5"
  if [ "$name" = wc ]; then [ -f "$W/wc.h5" ] || continue; src="$W/wc.h5"; fi
  cp "$src" "$W/$name-serial.h5"
  "$T" cluster "$W/$name-serial.h5" $args --threads 2 -q || fail "serial $name"
  for np in 1 2 4; do
    cp "$src" "$W/$name-np$np.h5"
    mpirun --oversubscribe -np "$np" "$T" cluster "$W/$name-np$np.h5" $args --threads 1 --json \
      >"$W/$name-np$np.out" 2>"$W/$name-np$np.err" || { cat "$W/$name-np$np.err"; fail "mpirun -np $np $name"; }
  done
done
$PY - "$W" $names <<'PY'
import json, sys, h5py, numpy as np
w = sys.argv[1]
for name in sys.argv[2:]:
    ref = h5py.File(f"{w}/{name}-serial.h5", "r")["clusters"]
    for np_ in (1, 2, 4):
        g = h5py.File(f"{w}/{name}-np{np_}.h5", "r")["clusters"]
        for ds in ("label", "centers", "centers_xyz", "count", "weight"):
            assert np.array_equal(ref[ds][:], g[ds][:]), f"{name} -np {np_}: {ds} differs"
        for a in ("inertia_km2", "iterations"):
            assert ref.attrs[a] == g.attrs[a], f"{name} -np {np_}: {a} differs"
        if name == "bo":  # the kd-tree (default) is per rank: its evaluation count is not
            assert ref.attrs["distance_computations"] == g.attrs["distance_computations"]
        out = json.loads(open(f"{w}/{name}-np{np_}.out").read().strip().splitlines()[-1])
        assert out["ranks"] == np_, out["ranks"]
print("clusters bit-identical for serial and mpirun -np 1/2/4:", " ".join(sys.argv[2:]))
PY
