#!/usr/bin/env bash
# Real data: the 3,067 contiguous-US counties of ../shared/data (r-cran-maps, GPL-2) as
# bricks, labour force as workload and unemployed (labour force x unemployment %) as
# value. The whole batch without a territories file: import (K = 0), cluster, align
# (centers from the clusters; at 30 territories one county is above every window,
# exit 2 naming it; at 15 with ±10% potential it fits), quota, report. Then the scale path
# against the exact ILP on single states (proven optima): the bound never above the
# optimum, the scale path's alignment never cheaper, and --exact never dearer; a state
# where no alignment exists is reported as proven.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
SRC=${TQ_SRC:?}/../shared/data/us_counties.csv
[ -f "$SRC" ] || SRC=/work/shared/data/us_counties.csv
[ -f "$SRC" ] || { echo "skip: us_counties.csv not found"; exit 0; }

# one size column as both workload and value (--map twice: only that pair is allowed)
"$T" import "$SRC" --map id=fips --map workload=pop --map value=pop --ignore-unknown \
    -o "$W/pop.h5" -q || fail "--map workload=pop --map value=pop"
$PY - "$SRC" "$W/pop.h5" <<'PY'
import csv, sys, h5py, numpy as np
pop = np.array([float(r["pop"]) for r in csv.DictReader(open(sys.argv[1]))], np.float32)
a = h5py.File(sys.argv[2], "r")["accounts"]
assert np.array_equal(a["workload"][:], pop) and np.array_equal(a["value"][:], pop)
PY
set +e
"$T" import "$SRC" --map id=fips --map workload=pop --map f_pop=pop --ignore-unknown \
    -o "$W/bad.h5" 2>"$W/err"; rc=$?
set -e
[ "$rc" = 1 ] && grep -q "may be mapped twice only as workload and value" "$W/err" ||
    fail "--map of one column to workload and a feature: exit $rc"
[ -e "$W/bad.h5" ] && fail "output written despite a bad --map"

$PY - "$SRC" "$W/us.csv" <<'PY'
import csv, sys
w = csv.writer(open(sys.argv[2], "w", newline=""), lineterminator="\n")
w.writerow(["id", "lat", "lon", "workload", "value", "state"])
for r in csv.DictReader(open(sys.argv[1], encoding="utf-8")):
    w.writerow([r["fips"], r["lat"], r["lon"], r["pop"],
                round(float(r["pop"]) * float(r["unemp"]) / 100), r["polyname"].split(",")[0]])
PY
"$T" import "$W/us.csv" --ignore-unknown -o "$W/us.h5" --json >"$W/imp.json"
# 30 territories: Los Angeles County alone has more unemployed than a territory may
"$T" cluster "$W/us.h5" -k 30 --weights workload -q
set +e
"$T" align "$W/us.h5" 2>"$W/err"; rc=$?
set -e
[ "$rc" = 2 ] || fail "an account above every window: exit $rc"
grep -q "infeasible: metric potential: account 6037 (/accounts row 176) alone has potential 625325"     "$W/err" || { cat "$W/err"; fail "the account no territory can take is not named"; }
"$T" cluster "$W/us.h5" -k 15 --weights workload -q
"$T" align "$W/us.h5" --tol-potential 10% --json >"$W/al.json" 2>"$W/err" ||
    { cat "$W/err"; fail "align without /territories"; }
# no prev_territory: a frontier has nothing to trade; it says so instead of n equal rows
cp "$W/us.h5" "$W/fr.h5"
"$T" align "$W/fr.h5" --tol-potential 10% --frontier 3 -q 2>"$W/err" || fail "--frontier"
grep -q "no trade-off to show" "$W/err" || { cat "$W/err"; fail "frontier without last year"; }
# nor does a disruption budget: it says so
cp "$W/us.h5" "$W/mm.h5"
"$T" align "$W/mm.h5" --tol-potential 10% --max-moved 5% -q 2>"$W/err" || fail "--max-moved"
grep -q "max-moved: no account has a prev_territory" "$W/err" ||
  { cat "$W/err"; fail "budget without last year"; }
"$T" quota "$W/us.h5" --target 1e9 -q || fail "quota"
"$T" report "$W/us.h5" -o "$W/rep" -q || fail "report"
$PY - "$W" <<'PY'
import csv, json, sys, h5py, numpy as np
w = sys.argv[1]
assert json.load(open(f"{w}/imp.json"))["k"] == 0
j = json.load(open(f"{w}/al.json"))
f = h5py.File(f"{w}/us.h5", "r"); a = f["accounts"]
t = f["alignment/territory"][:]
K = 15
assert j["k"] == K and j["parameters"]["centers"] == "kmeans" and t.min() >= 0 and t.max() < K, j
for col, tol in (("workload", 0.02), ("value", 0.10)):
    x = a[col][:].astype(np.float64)
    load = np.bincount(t, weights=x, minlength=K) / (x.sum() / K)
    assert load.min() >= 1 - tol - 1e-9 and load.max() <= 1 + tol + 1e-9, (col, load)
assert 0 < j["bound"] <= j["cost"] and j["gap"] < 0.05, j
q = f["quotas/quota"][:]
assert len(q) == K and abs(q.sum() - 1e9) < 1e-3, q.sum()
rows = list(csv.DictReader(open(f"{w}/rep/spm_territories.csv")))
assert len(rows) == K and sum(int(r["accounts"]) for r in rows) == 3067
print("us counties: 3067 x 15, gap %.3f%%" % (100 * j["gap"]))
PY

# all counties, --exact with a 1 s limit: GLPK cannot finish; the scale path's alignment
# stands (or a cheaper one), never a dearer one
"$T" cluster "$W/us.h5" -k 8 -q
cp "$W/us.h5" "$W/ex8.h5"
"$T" align "$W/us.h5" --json >"$W/s8.json" || fail "counties x 8"
"$T" align "$W/ex8.h5" --exact --exact-seconds 1 --json >"$W/e8.json" ||
    fail "counties x 8 --exact at its limits"
$PY - "$W" <<'PY'
import json, sys
s, e = (json.load(open(f"{sys.argv[1]}/{n}.json")) for n in ("s8", "e8"))
assert not e["exact_optimal"] and e["parameters"]["exact_seconds"] == 1, e
assert e["cost"] <= s["cost"] * (1 + 1e-12) and e["bound"] >= s["bound"] * (1 - 1e-12), (s, e)
print("counties x 8: --exact at 1 s: cost %.6g (scale path %.6g)" % (e["cost"], s["cost"]))
PY

# state_h5 STATE K NAME: the counties of one state, imported and clustered into K as
# $W/NAME.h5
state_h5() {
    { head -1 "$W/us.csv"; grep ",$1\$" "$W/us.csv"; } >"$W/$3.csv"
    "$T" import "$W/$3.csv" --ignore-unknown -o "$W/$3.h5" -q
    "$T" cluster "$W/$3.h5" -k "$2" -q
}

# Montana's 56 counties in 6 territories at 5%: no alignment exists (CBC proves it too);
# the repair's MIP covered every county and territory, so the message says it is proven
state_h5 montana 6 mt
set +e
"$T" align "$W/mt.h5" --tol-workload 5% --tol-potential 5% 2>"$W/err"; rc=$?
set -e
[ "$rc" = 2 ] && grep -q "no alignment keeps every window (proven" "$W/err" ||
    { cat "$W/err"; fail "montana x 6: a proven infeasibility not said (exit $rc)"; }
# New York's 62 counties x 6 at 5%: no alignment exists either (CBC proves it in 2 s,
# GLPK not in 120 s); without a proof the message must not ask for more candidates
# when every territory already was one, and points to --write-lp
state_h5 "new york" 6 ny
set +e
"$T" align "$W/ny.h5" --tol-workload 5% --tol-potential 5% 2>"$W/err"; rc=$?
set -e
[ "$rc" = 2 ] && grep -q "every territory was a candidate for every account" "$W/err" &&
    grep -q -- "--write-lp FILE" "$W/err" && ! grep -q "more candidates" "$W/err" ||
    { cat "$W/err"; fail "new york x 6: the message (exit $rc)"; }

# single states: the scale path against the proven optimum (5% windows)
for sk in "south carolina:4" "north carolina:4" "iowa:4" "ohio:5" "kentucky:5"; do
    st=${sk%:*}; k=${sk#*:}
    state_h5 "$st" "$k" st
    cp "$W/st.h5" "$W/ex.h5"
    "$T" align "$W/st.h5" --tol-workload 5% --tol-potential 5% --json >"$W/sc.json" || fail "$st: align"
    "$T" align "$W/ex.h5" --tol-workload 5% --tol-potential 5% --exact --json >"$W/ex.json" ||
        fail "$st: align --exact"
    $PY - "$W" "$st" "$k" <<'PY'
import json, sys
w, st, k = sys.argv[1], sys.argv[2], sys.argv[3]
s, e = (json.load(open(f"{w}/{n}.json")) for n in ("sc", "ex"))
assert e["exact_optimal"] and e["bound"] == e["cost"], (st, e)
opt = e["cost"]
assert s["bound"] <= opt * (1 + 1e-9), (st, "bound above the optimum", s["bound"], opt)
assert s["cost"] >= opt * (1 - 1e-9), (st, "cheaper than the optimum", s["cost"], opt)
print("%s x %s: scale path %.4f%% above the optimum, its bound %.4f%% below"
      % (st, k, 100 * (s["cost"] / opt - 1), 100 * (1 - s["bound"] / opt)))
PY
done
echo ok
