#!/usr/bin/env bash
# Real data: the world cities table of ../shared/data (SimpleMaps World Cities Basic,
# CC BY 4.0) imported as accounts. Its extra columns are skipped (--ignore-unknown),
# population becomes value (--map), and one id that the file holds twice is first
# reported (exit 1, both lines named), then the second copy is dropped and the
# import is compared value by value with Python's csv module.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
SRC=${TQ_SRC:?}/../shared/data/world_cities.csv
[ -f "$SRC" ] || SRC=/work/shared/data/world_cities.csv
[ -f "$SRC" ] || { echo "skip: world_cities.csv not found"; exit 0; }

set +e
"$T" import "$SRC" --ignore-unknown --map value=population -o "$W/wc.h5" 2>"$W/err"; rc=$?
set -e
[ "$rc" = 1 ] || fail "duplicate id not reported (exit $rc)"
grep -q "world_cities.csv:15403:id: duplicate id, first on line 7565 (value '1484009408')" \
  "$W/err" || { cat "$W/err"; fail "duplicate message"; }
[ -e "$W/wc.h5" ] && fail "output written despite errors"

# keep the first row of each id (ids are the first, never quoted, column)
awk -F, '!seen[$1]++' "$SRC" >"$W/wc.csv"
"$T" import "$W/wc.csv" --ignore-unknown --map value=population --json -o "$W/wc.h5" \
  >"$W/out.json" 2>"$W/err"
grep -q "blank value fields read as 1" "$W/err" || fail "blank population warning"
/usr/bin/python3 - "$W/wc.csv" "$W/wc.h5" "$W/out.json" <<'PY'
import csv, json, sys
import h5py
import numpy as np
rows = list(csv.DictReader(open(sys.argv[1], encoding="utf-8")))
j = json.load(open(sys.argv[3]))
assert j["n"] == len(rows) == 44690 and j["ignored_columns"] == 4 and j["k"] == 0, j
a = h5py.File(sys.argv[2], "r")["accounts"]
assert [x.decode() for x in a["id"][:]] == [r["id"] for r in rows]
assert np.array_equal(a["lat"][:], np.array([float(r["lat"]) for r in rows]))
assert np.array_equal(a["lon"][:], np.array([float(r["lon"]) for r in rows]))
pop = np.array([float(r["population"]) if r["population"] else 1.0 for r in rows], np.float32)
assert np.array_equal(a["value"][:], pop)
assert (a["workload"][:] == 1).all() and (a["prev_territory"][:] == -1).all()
print("world cities:", len(rows), "rows match")
PY
echo ok
