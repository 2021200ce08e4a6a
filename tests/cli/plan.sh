#!/usr/bin/env bash
# tqplan plan end to end: a small scenario file with a feasible and an infeasible
# scenario; comparison table, per-scenario files, a CSV mapped with `map =` and aligned on
# its clusters, INI errors with file and line.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# 3,000 accounts in three towns, three reps; account a0 is huge and locked to T0, so
# the "tight" scenario is infeasible (T1, T2 cannot reach their workload) before solving.
/usr/bin/python3 - "$W" <<'PY'
import random, sys
w = sys.argv[1]
random.seed(5)
towns = [(40.0, -75.0), (41.0, -74.0), (40.5, -76.0)]
with open(f"{w}/acc.csv", "w") as f:
    f.write("id,lat,lon,workload,value,prev_territory,locked\n")
    for i in range(3000):
        t = i % 3
        lat, lon = towns[t]
        wl = 100000 if i == 0 else round(random.uniform(1, 20), 3)
        f.write(f"a{i},{lat + random.gauss(0, .1):.5f},{lon + random.gauss(0, .1):.5f},{wl},"
                f"{round(random.uniform(100, 1000), 2)},T{t},{1 if i == 0 else 0}\n")
with open(f"{w}/terr.csv", "w") as f:
    f.write("id,home_lat,home_lon\n")
    for t, (lat, lon) in enumerate(towns):
        f.write(f"T{t},{lat},{lon}\n")
PY
cat >"$W/s.ini" <<INI
[plan]
out = $W/out
[data]
accounts = $W/acc.csv
territories = $W/terr.csv
[scenario loose]
centers = fixed
balance = potential
tol_potential = 20%
[scenario tight]
centers = fixed
tol_workload = 5%
tol_potential = 5%
[quota]
target = 1e6
[report]
enabled = yes
INI
set +e
"$T" plan "$W/s.ini" --json >"$W/plan.json" 2>"$W/plan.err"; rc=$?
set -e
[ $rc = 0 ] || { cat "$W/plan.err"; fail "plan exit $rc"; }
grep -q "infeasible" "$W/plan.err" || fail "infeasible scenario is reported"
/usr/bin/python3 - "$W" <<'PY'
import csv, json, sys
w = sys.argv[1]
j = json.load(open(f"{w}/plan.json"))
s = {x["scenario"]: x for x in j["scenarios"]}
assert s["loose"]["status"] == "ok" and s["tight"]["status"] == "infeasible", s
assert 0.8 - 1e-9 <= s["loose"]["min_potential"] and s["loose"]["max_potential"] <= 1.2 + 1e-9, s["loose"]
rows = list(csv.DictReader(open(f"{w}/out/comparison.csv")))
assert [r["scenario"] for r in rows] == ["loose", "tight"]
assert rows[0]["status"] == "ok" and rows[1]["status"] == "infeasible"
q = list(csv.DictReader(open(f"{w}/out/loose/spm_territories.csv")))
assert len(q) == 3 and abs(sum(float(x["quota"]) for x in q) - 1e6) < 1e-6
a = {r["account_id"]: r for r in csv.DictReader(open(f"{w}/out/loose/spm_assignments.csv"))}
assert len(a) == 3000 and a["a0"]["territory_id"] == "T0" and a["a0"]["locked"] == "1"
PY
[ -s "$W/out/loose/report.html" ] || fail "report of the feasible scenario"
[ ! -e "$W/out/tight/report.html" ] || fail "no report for an infeasible scenario"
grep -q "T1" "$W/plan.err" || fail "the infeasible territory is named"
# a CRM export with its own column names and no territories: map = a list of --map
# (one size column as workload and value), clusters as territories; label words
# (positive = a list), missing-value words (missing = a list), other columns features
awk -F, 'NR == 1 {print "key,latitude,longitude,size,stage,rev"; next}
  {print $1 "," $2 "," $3 "," $5 "," (NR % 3 == 0 ? "Won" : NR % 3 == 1 ? "Lost" : "NA") "," \
   (NR % 5 == 0 ? "" : NR % 7 == 0 ? "n/a" : NR)}' "$W/acc.csv" >"$W/crm.csv"
cat >"$W/m.ini" <<INI
[plan]
out = $W/mout
[data]
accounts = $W/crm.csv
map = id=key, lat=latitude ,lon=longitude, workload=size, value=size, label=stage
positive = Won
missing = NA, n/a
rest = f
[cluster]
k = 3
[scenario s]
tol_workload = 5%
tol_potential = 5%
INI
"$T" plan "$W/m.ini" --json >"$W/m.json" 2>"$W/m.err" || { cat "$W/m.err"; fail "plan with map"; }
$PY - "$W" <<'PY'
import json, sys, h5py, numpy as np
w = sys.argv[1]
a = h5py.File(f"{w}/mout/base.h5", "r")["accounts"]
assert np.array_equal(a["workload"][:], a["value"][:]) and a["workload"][1] != 1
line = np.arange(2, len(a["label"]) + 2)   # the CSV line of each row
assert np.array_equal(a["label"][:], np.where(line % 3 == 0, 1, np.where(line % 3 == 1, 0, -1)))
rev = a["features"][:].reshape(len(line), -1)[:, 0]
known = (line % 5 != 0) & (line % 7 != 0)
assert (rev[known] == line[known]).all()
assert np.allclose(rev[~known], line[known].mean(), rtol=1e-6), (rev[~known][:3], line[known].mean())
j = json.load(open(f"{w}/m.json"))
assert [r["status"] for r in j["scenarios"]] == ["ok"], j
PY
# [score]: last year's model scores the base dataset (before cluster and align)
"$T" generate -n 4000 -k 4 --features 4 --seed 9 -o "$W/g.h5" -q
cp "$W/g.h5" "$W/g_train.h5"   # g.h5 itself stays without scores
"$T" train "$W/g_train.h5" --model-out "$W/last.json" -q
cat >"$W/sc.ini" <<INI
[plan]
out = $W/scout
[data]
dataset = $W/g.h5
[score]
model = $W/last.json
[scenario s]
tol_workload = 20%
tol_potential = 20%
INI
"$T" plan "$W/sc.ini" -q || fail "plan with [score]"
$PY - "$W" <<'PY'
import sys, h5py, numpy as np
w = sys.argv[1]
assert "score" not in h5py.File(f"{w}/g.h5", "r")["accounts"]
a = h5py.File(f"{w}/g_train.h5", "r")["accounts/score"][:]   # train's own scores
b = h5py.File(f"{w}/scout/base.h5", "r")["accounts/score"][:]
assert np.allclose(a, b, rtol=1e-5, atol=1e-7), np.abs(a - b).max()
PY
# INI errors name file and line
printf '[data]\ngenerate = yes\n[bogus]\nx = 1\n' >"$W/bad.ini"
set +e
"$T" plan "$W/bad.ini" 2>"$W/err"; rc=$?
set -e
[ $rc = 1 ] || fail "unknown section: exit $rc"
grep -q "bad.ini:3: unknown section \[bogus\]" "$W/err" || { cat "$W/err"; fail "unknown section message"; }
printf '[data]\ngenerate = yes\nthis is not ini\n' >"$W/bad2.ini"
set +e
"$T" plan "$W/bad2.ini" 2>"$W/err"; rc=$?
set -e
[ $rc = 1 ] || fail "syntax error: exit $rc"
grep -q "bad2.ini:3:" "$W/err" || { cat "$W/err"; fail "syntax error line"; }
# every key is checked before anything runs: a typo in a late section, a switch
# without yes/no, a key a dataset copy does not take; nothing is made
ini_refused() {  # name message ini-text
  printf "$3" >"$W/$1.ini"
  set +e; "$T" plan "$W/$1.ini" --out "$W/o_$1" 2>"$W/err"; local rc=$?; set -e
  [ $rc = 1 ] || fail "$1: exit $rc"
  grep -q "$2" "$W/err" || { cat "$W/err"; fail "$1: message"; }
  [ ! -e "$W/o_$1" ] || fail "$1: output made before the keys were checked"
}
G='[data]\ngenerate = yes\nn = 300\nk = 3\n[scenario a]\ntol_workload = 10%%\n'
ini_refused typo "typo.ini:10: \[report\] has no key 'effective_form' (its keys: enabled, effective_from" \
  "$G[quota]\ntarget = 1e6\n[report]\neffective_form = 2027-01-01\n"
ini_refused cl "cl.ini:9: \[cluster\] has no key 'centers'" "$G[cluster]\nk = 3\ncenters = fixed\n"
ini_refused sw "sw.ini:8: \[scenario b\] exact is a switch: yes or no, not 'maybe'" \
  "$G[scenario b]\nexact = maybe\n"
ini_refused ds "ds.ini:3: \[data\] has no key 'n' (it takes no other keys)" \
  "[data]\ndataset = x.h5\nn = 3\n[scenario a]\nexact = yes\n"
ini_refused ev "ev.ini:7: \[scenario a\] write_lp has no value" "${G}write_lp =\n"
printf "[plan]\nout =\n$G" >"$W/eo.ini"
set +e; "$T" plan "$W/eo.ini" 2>"$W/err"; rc=$?; set -e
[ $rc = 1 ] || fail "empty out: exit $rc"
grep -q "eo.ini: the output directory (\[plan\] out or --out) is empty" "$W/err" ||
  { cat "$W/err"; fail "empty out: message"; }
# values that read like switches are values: seed = 1, pair_passes = 0, k = 1
printf '[data]\ngenerate = yes\nn = 300\nk = 1\nseed = 1\n[scenario a]\npair_passes = 0\ntol_workload = 10%%\n' >"$W/v.ini"
"$T" plan "$W/v.ini" --out "$W/o_v" >"$W/v.out" 2>&1 || { cat "$W/v.out"; fail "plan with values 1 and 0"; }
grep -q -- "generate --n 300 --k 1 --seed 1 " "$W/v.out" || { cat "$W/v.out"; fail "k = 1, seed = 1 passed as values"; }
grep -q -- "align .* --pair-passes 0 " "$W/v.out" || { cat "$W/v.out"; fail "pair_passes = 0 passed"; }
echo "plan: ok"
