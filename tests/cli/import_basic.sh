#!/usr/bin/env bash
# End-to-end: tqplan import of the small CSVs in tests/data -- a good accounts file with
# territories (quoted commas and newlines, defaults, hashed categories), info on the
# result, --json, territories from indexes, usage errors and their exit codes.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
D=${TQ_SRC:?}/tests/data
expect_rc() {  # expected-rc command...
  local want=$1; shift
  set +e; "$@" >"$W/out" 2>"$W/err"; local rc=$?; set -e
  [ "$rc" = "$want" ] || { cat "$W/out" "$W/err"; fail "exit $rc, want $want: $*"; }
}

"$T" import --help | grep -q -- "--ignore-unknown" || fail "import --help"
"$T" --help | grep -q "import" || fail "--help lists import"

# good file: summary line, info counts, json metrics
expect_rc 0 "$T" import "$D/accounts_good.csv" --territories "$D/territories_good.csv" \
  --ignore-unknown -o "$W/good.h5"
grep -q "import: 6 accounts, 34 features (2 numeric, 1 categorical columns hashed), 3 territories" \
  "$W/out" || { cat "$W/out"; fail "summary line"; }
grep -q "1 blank value fields read as 1" "$W/err" || fail "blank value warning"
"$T" info "$W/good.h5" >"$W/info.txt"
grep -q "accounts: 6   territories: 3   features: 34" "$W/info.txt" || { cat "$W/info.txt"; fail "info"; }
grep -q "2 locked" "$W/info.txt" || fail "info locked"
grep -q "2 bought, 2 did not, 2 unknown" "$W/info.txt" || fail "info labels"

expect_rc 0 "$T" import "$D/accounts_good.csv" -t "$D/territories_good.csv" --ignore-unknown \
  --hash-slots 4 --json -o "$W/j.h5"
/usr/bin/python3 - "$W/out" "$W/j.h5" <<'PY'
import json, sys
import h5py
j = json.load(open(sys.argv[1]))
assert j["n"] == 6 and j["d"] == 6 and j["k"] == 3 and j["errors"] == 0, j
assert j["numeric_features"] == 2 and j["categorical_columns"] == 1, j
assert "scan" in j["time"] and "finish" in j["time"], j
f = h5py.File(sys.argv[2], "r")
a = f["accounts"]
ids = [x.decode() for x in a["id"][:]]
assert ids == ["A1", "A2", "A,3", "A4", "A5", "A6"], ids
assert list(a["prev_territory"][:]) == [0, 1, -1, 2, 1, -1]
assert list(a["label"][:]) == [1, 0, -1, -1, 0, 1]
assert a["features"].shape == (6, 6)
# one hashed slot per non-blank category, value +-1; row 3 has none
feats = a["features"][:]
for i, row in enumerate(feats):
    nz = [v for v in row[2:] if v != 0]
    assert (len(nz) == 0) if i == 2 else (len(nz) == 1 and abs(nz[0]) == 1), (i, row)
t = f["territories"]
assert [x.decode() for x in t["id"][:]] == ["North", "South", "East"]
assert list(t["capacity"][:]) == [1.5, 1.0, 2.0]
PY

# no territories file: territories 0..max(prev_territory); CRLF line ends
expect_rc 0 "$T" import "$D/accounts_crlf_index.csv" -o "$W/idx.h5" -q
"$T" info "$W/idx.h5" | grep -q "territories: 3" || fail "index territories"

# --map renames a column
expect_rc 0 "$T" import "$D/bad_missing_col.csv" --map lat=latitude -o "$W/map.h5" -q

# other separators: semicolon (a quoted id holding one) and tab
printf 'id;lat;lon;value\nA1;1.5;2;3\n"A;2";-1;-2;4\n' >"$W/semi.csv"
expect_rc 0 "$T" import "$W/semi.csv" --delimiter ';' -o "$W/semi.h5" -q
/usr/bin/python3 -c "
import h5py, sys
a = h5py.File(sys.argv[1])['accounts']
assert [x.decode() for x in a['id'][:]] == ['A1', 'A;2'] and list(a['value'][:]) == [3, 4]
" "$W/semi.h5"
printf 'id\tlat\tlon\nA1\t1\t2\n' >"$W/tab.csv"
expect_rc 0 "$T" import "$W/tab.csv" --delimiter tab -o "$W/tab.h5" -q
expect_rc 1 "$T" import "$W/tab.csv" -o "$W/tab2.h5"   # read as one column 'id\tlat\tlon'
grep -q "missing required column 'lat'" "$W/err" || fail "tab file without --delimiter"
expect_rc 1 "$T" import "$W/tab.csv" --delimiter ab -o "$W/x.h5"

# blank numbers over several rewrite chunks (65,536 rows): the column's mean, the same
# file (checksum) as with the mean written in the CSV
awk 'BEGIN {print "id,lat,lon,f_a,f_b"
  for (i = 0; i < 150001; i++) print "r" i ",0,0," (i % 7 == 3 ? "" : i % 1000) "," i % 13}' \
  >"$W/blank.csv"
"$T" import "$W/blank.csv" -o "$W/blank.h5" --json >"$W/blank.json" 2>"$W/err" ||
  { cat "$W/err"; fail "import with blank features"; }
grep -q "blank.csv:f_a: 21429 blank fields (14.3%) read as the column's mean" "$W/err" ||
  { cat "$W/err"; fail "imputation warning"; }
mean=$($PY -c "
import numpy as np
a = np.array([i % 1000 for i in range(150001) if i % 7 != 3], dtype=np.float64)
print('%.9g' % np.float32(a.sum() / len(a)))")
awk -F, -v m="$mean" 'BEGIN {OFS = ","} NR > 1 && $4 == "" {$4 = m} {print}' "$W/blank.csv" \
  >"$W/filled.csv"
"$T" import "$W/filled.csv" -o "$W/filled.h5" -q
a=$("$T" info "$W/blank.h5" --json | $PY -c "import json,sys; print(json.load(sys.stdin)['checksum'])")
b=$("$T" info "$W/filled.h5" --json | $PY -c "import json,sys; print(json.load(sys.stdin)['checksum'])")
[ "$a" = "$b" ] || fail "blank-imputed file differs from the file with the mean written in"
cmp <(h5dump -d /accounts/features "$W/blank.h5" | tail -n +4) \
  <(h5dump -d /accounts/features "$W/filled.h5" | tail -n +4) >/dev/null ||
  fail "imputed features differ"

# usage errors: exit 1, nothing written
expect_rc 1 "$T" import "$D/accounts_good.csv"
grep -q "output file" "$W/err" || fail "missing -o message"
expect_rc 1 "$T" import -o "$W/x.h5"
expect_rc 1 "$T" import "$D/accounts_good.csv" --max-errors 0 -o "$W/x.h5"
expect_rc 1 "$T" import "$D/accounts_good.csv" --map nonsense -o "$W/x.h5"
expect_rc 1 "$T" import "$D/accounts_good.csv" --bogus -o "$W/x.h5"
# a missing input is an I/O error (3)
expect_rc 3 "$T" import "$W/none.csv" -o "$W/x.h5"
grep -q "none.csv: cannot open" "$W/err" || fail "missing file message"
[ -e "$W/x.h5" ] && fail "output written on error"
ls "$W" | grep -q tmp && fail "temporary file left behind"
echo ok
