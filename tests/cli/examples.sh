#!/usr/bin/env bash
# The example CSVs in inputs/ (documented in docs/formats.md) go through the whole
# batch: import, train, align, quota, report.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
S=${TQ_SRC:?}
"$T" import "$S/inputs/example_accounts.csv" --territories "$S/inputs/example_territories.csv" \
  --ignore-unknown -o "$W/ex.h5" -q
"$T" train "$W/ex.h5" --epochs 20 -q
"$T" align "$W/ex.h5" --tol-workload 10% --tol-potential 20% -q
"$T" quota "$W/ex.h5" --target 5e6 --unit 1000 -q
"$T" report "$W/ex.h5" -o "$W/rep" -q
/usr/bin/python3 - "$W" <<'PY'
import csv, sys
w = sys.argv[1]
a = list(csv.DictReader(open(f"{w}/rep/spm_assignments.csv")))
t = list(csv.DictReader(open(f"{w}/rep/spm_territories.csv")))
assert len(a) == 60 and {x["territory_id"] for x in a} == {"NORTH", "EAST", "SOUTH", "WEST"}
locked = {x["account_id"]: x for x in a if x["locked"] == "1"}
assert set(locked) == {"DE-1003", "DE-1017"}
assert all(x["territory_id"] == x["previous_territory_id"] for x in locked.values())
assert sum(float(x["quota"]) for x in t) == 5e6
PY
echo "examples: ok"
