#!/usr/bin/env bash
# align under mpirun -np 1/2/4 (--oversubscribe): /alignment bit-identical to the serial
# run (territory, loads, cost, bound), with a disruption penalty and with a tight budget;
# an account no territory can take is named alike.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

"$T" generate -n 40000 -k 16 --features 2 --seed 8 -o "$W/g.h5" -q
# a small instance: its repair runs from several starts and keeps the cheapest
"$T" generate -n 3000 -k 60 --features 2 --seed 4 -o "$W/s.h5" -q
# a budget the greedy repair does not meet: the repair's moved-value pair MIPs (rank 0)
# and then the penalised solves (collective) on every rank alike
"$T" generate -n 1000 -k 20 --features 2 --seed 6 -o "$W/b.h5" -q
# the coarse case: value x 0.5 in the west to x 1.5 in the east, so that balancing both
# metrics needs territories beyond the 8 nearest: the group-to-territory LP adds arcs
# (K = 24 > 2 x 8 candidates, else every territory is a candidate and no LP runs)
"$T" generate -n 40000 -k 24 --features 2 --seed 8 -o "$W/d.h5" -q
$PY - "$W/d.h5" <<'PY'
import sys, h5py
a = h5py.File(sys.argv[1], "r+")["accounts"]
lon = a["lon"][:]
v = a["value"][:]
a["value"][:] = (v * (0.5 + (lon - lon.min()) / (lon.max() - lon.min()))).astype(v.dtype)
PY
# second case: the coarse level (every 8th global row first) and its transport arcs must
# not depend on ranks
# iterate: the same instance, centers moved after each solve; from the second solve on
# the prices start from the last solve's (warm_starts)
# frontier: the same instance, two budgets, each solve warm from the one before
for case in plain coarse iterate frontier small budget; do
  args="--alpha 0.3 --tol-workload 3% --tol-potential 4%"
  [ "$case" = coarse ] && args="$args --coarse 200"
  [ "$case" = iterate ] && args="--coarse 200 --centers iterate"
  [ "$case" = frontier ] && args="--coarse 200 --frontier 2"
  [ "$case" = budget ] && args="--max-moved 8%"
  src="$W/g.h5"
  case $case in coarse | iterate | frontier) src="$W/d.h5" ;; esac
  [ "$case" = small ] && src="$W/s.h5"
  [ "$case" = budget ] && src="$W/b.h5"
  cp "$src" "$W/serial.h5"
  "$T" align "$W/serial.h5" $args --threads 2 --json -q >"$W/serial.out" || fail "$case: serial"
  for np in 1 2 4; do
    cp "$src" "$W/np$np.h5"
    mpirun --oversubscribe -np "$np" "$T" align "$W/np$np.h5" $args --threads 1 --json \
      >"$W/np$np.out" 2>"$W/np$np.err" || { cat "$W/np$np.err"; fail "$case: mpirun -np $np"; }
    h5diff "$W/serial.h5" "$W/np$np.h5" /alignment/territory >/dev/null ||
      fail "$case: -np $np: territory differs"
  done
  $PY - "$W" "$case" <<'PY'
import json, sys, h5py, numpy as np
w, case = sys.argv[1], sys.argv[2]
ref = h5py.File(f"{w}/serial.h5", "r")["alignment"]
ser = json.loads(open(f"{w}/serial.out").read().strip().splitlines()[-1])
for np_ in (1, 2, 4):
    g = h5py.File(f"{w}/np{np_}.h5", "r")["alignment"]
    for ds in ("territory", "workload", "potential", "count", "center", "radius_km"):
        assert np.array_equal(ref[ds][:], g[ds][:]), f"{case}: -np {np_}: {ds} differs"
    if case == "frontier":  # the budgets' solves, each warm from the one before
        assert np.array_equal(ref["frontier"][:], g["frontier"][:]), f"-np {np_}: frontier differs"
    for a in ("cost", "bound", "gap", "rounds"):
        assert ref.attrs[a] == g.attrs[a], f"{case}: -np {np_}: {a} differs"
    out = json.loads(open(f"{w}/np{np_}.out").read().strip().splitlines()[-1])
    assert out["ranks"] == np_, out["ranks"]
    assert out["coarse_stride"] == (8 if case in ("coarse", "iterate", "frontier") else 1), \
        out["coarse_stride"]
    for key in ("transport_arcs", "warm_starts", "center_rounds", "moved_share_value_min"):
        assert out[key] == ser[key], (case, np_, key, out[key], ser[key])
if case == "coarse":
    assert ser["transport_arcs"] > 0, "coarse: no transport arcs"
    print(f"coarse: {ser['transport_arcs']} transport arcs, the same on every rank count")
if case == "frontier":
    assert [f["feasible"] for f in ser["frontier"]] == [True, True], ser["frontier"]
if case == "iterate":
    assert ser["warm_starts"] > 0, "iterate: no warm start"
    print(f"iterate: {ser['warm_starts']} warm starts in {ser['center_rounds']} moves")
print(f"{case}: alignment bit-identical for serial and mpirun -np 1/2/4")
PY
done

# two accounts no territory can take, far apart (rows 30001 and 9001 of 40,000): every
# rank count names the first (row 9001) and exits 2
cp "$W/g.h5" "$W/big.h5"
$PY - "$W/big.h5" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r+")
v = f["accounts/workload"]
tot = float(v[:].astype("float64").sum())
v[30000] = tot / 8
v[9000] = tot / 10
PY
for np in 1 2 4; do
  set +e
  mpirun --oversubscribe -np "$np" "$T" align "$W/big.h5" --threads 1 -q 2>"$W/big$np.err"; rc=$?
  set -e
  [ "$rc" = 2 ] || { cat "$W/big$np.err"; fail "oversized account: -np $np exit $rc"; }
  grep -q "infeasible: metric workload: account .* (/accounts row 9001) alone has workload" \
    "$W/big$np.err" || { cat "$W/big$np.err"; fail "oversized account: -np $np message"; }
done
echo "oversized account: named alike under mpirun -np 1/2/4"

# a budget under the least share that can move (last year's loads are out of the
# potential windows on d.h5): refused before any pricing, with the same words and numbers
# on every rank count
set +e
"$T" align "$W/d.h5" --tol-potential 4% --max-moved 1% -q 2>"$W/mv.err"; rc=$?
set -e
[ "$rc" = 2 ] || { cat "$W/mv.err"; fail "budget under the least: serial exit $rc"; }
grep -q "infeasible: --max-moved, territory .*: the disruption budget .* is below what any"   "$W/mv.err" || { cat "$W/mv.err"; fail "budget under the least: message"; }
for np in 1 2 4; do
  set +e
  mpirun --oversubscribe -np "$np" "$T" align "$W/d.h5" --tol-potential 4% --max-moved 1% \
    --threads 1 -q 2>"$W/mv$np.err"; rc=$?
  set -e
  [ "$rc" = 2 ] || { cat "$W/mv$np.err"; fail "budget under the least: -np $np exit $rc"; }
  # (mpirun adds its own lines about the exit status)
  cmp -s <(grep "^tqplan: error:" "$W/mv.err") <(grep "^tqplan: error:" "$W/mv$np.err") ||
    { cat "$W/mv$np.err"; fail "budget under the least: -np $np message differs"; }
done
echo "budget under the least share: refused alike under mpirun -np 1/2/4"
