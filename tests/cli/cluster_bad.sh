#!/usr/bin/env bash
# cluster bad input: clear error, exit 1, no /clusters left behind: K < 1, K > N, missing
# -k, all-zero weights, NaN and out-of-range coordinates in the file (row and column
# named), bad options and centers files, --fixed without home bases.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
expect_rc() {  # expected-rc stderr-pattern command...
  local want=$1 pat=$2; shift 2
  set +e; "$@" >"$W/out" 2>"$W/err"; local rc=$?; set -e
  [ "$rc" = "$want" ] || { cat "$W/out" "$W/err"; fail "exit $rc, want $want: $*"; }
  grep -Eq "$pat" "$W/err" || { cat "$W/err"; fail "stderr lacks '$pat': $*"; }
}
edit() {  # file python-statement (f = the h5py file)
  $PY -c "import h5py, numpy as np, sys; f = h5py.File(sys.argv[1], 'a'); $2" "$1"
}
noclusters() {
  $PY -c "import h5py, sys; f = h5py.File(sys.argv[1], 'r'); assert not any(k.startswith('clusters') for k in f), list(f)" "$1" \
    || fail "failed cluster left /clusters behind in $1"
}

"$T" generate -n 5000 -k 0 --features 2 --seed 2 -o "$W/g.h5" -q

expect_rc 1 "out of range" "$T" cluster "$W/g.h5" -k 0
expect_rc 1 "out of range" "$T" cluster "$W/g.h5" -k -3
expect_rc 1 "k = 5001 is larger than the number of accounts \(5000\)" "$T" cluster "$W/g.h5" -k 5001
expect_rc 1 "needs -k" "$T" cluster "$W/g.h5"
expect_rc 1 "not an integer" "$T" cluster "$W/g.h5" -k abc
expect_rc 1 "not kmeans\+\+ or kmeans-par" "$T" cluster "$W/g.h5" -k 3 --init random
expect_rc 1 "not none, workload or value" "$T" cluster "$W/g.h5" -k 3 --weights people
expect_rc 1 "cannot open" "$T" cluster "$W/g.h5" --init-centers "$W/none.csv"
printf 'lat,lon\n10,20\n10,x\n' >"$W/bad.csv"
expect_rc 1 "line 3" "$T" cluster "$W/g.h5" --init-centers "$W/bad.csv"
expect_rc 1 "no home bases|territories" "$T" cluster "$W/g.h5" --fixed
expect_rc 1 "cannot|No such|not" "$T" cluster "$W/missing.h5" -k 3
noclusters "$W/g.h5"

cp "$W/g.h5" "$W/z.h5"; edit "$W/z.h5" "f['accounts/workload'][:] = 0"
expect_rc 1 "every account has workload 0" "$T" cluster "$W/z.h5" -k 3 --weights workload
noclusters "$W/z.h5"
"$T" cluster "$W/z.h5" -k 3 -q || fail "zero workload must not matter with --weights none"

cp "$W/g.h5" "$W/n.h5"; edit "$W/n.h5" "v = f['accounts/lat']; a = v[:]; a[1233] = np.nan; v[:] = a"
expect_rc 1 "row 1234, column lat: value nan" "$T" cluster "$W/n.h5" -k 3
noclusters "$W/n.h5"
cp "$W/g.h5" "$W/o.h5"; edit "$W/o.h5" "v = f['accounts/lon']; a = v[:]; a[4999] = 200.5; v[:] = a"
expect_rc 1 "row 5000, column lon: value 200.5" "$T" cluster "$W/o.h5" -k 3
cp "$W/g.h5" "$W/v.h5"; edit "$W/v.h5" "v = f['accounts/value']; a = v[:]; a[7] = -1; v[:] = a"
expect_rc 1 "row 8, column value: value -1" "$T" cluster "$W/v.h5" -k 3 --weights value
# a dataset edited or written by other means: named, exit 1, before anything is read
cp "$W/g.h5" "$W/m.h5"; edit "$W/m.h5" "del f['accounts/workload']"
expect_rc 1 "/accounts/workload is missing" "$T" cluster "$W/m.h5" -k 3 --weights workload
cp "$W/g.h5" "$W/s.h5"; edit "$W/s.h5" "a = f['accounts/lon'][:]; del f['accounts/lon']; f['accounts/lon'] = a[:-2]"
expect_rc 1 "/accounts/lon has 4998 rows, /accounts/lat has 5000" "$T" cluster "$W/s.h5" -k 3
cp "$W/g.h5" "$W/w.h5"; edit "$W/w.h5" "a = f['accounts/lon'][:]; del f['accounts/lon']; f['accounts/lon'] = np.stack([a, a, a], 1)"
expect_rc 1 "/accounts/lon has 3 values a row, not 1" "$T" cluster "$W/w.h5" -k 3
cp "$W/g.h5" "$W/t.h5"; edit "$W/t.h5" "a = f['accounts/lat'][:]; del f['accounts/lat']; f['accounts/lat'] = a.astype('S12')"
expect_rc 1 "/accounts/lat does not hold numbers" "$T" cluster "$W/t.h5" -k 3
"$T" cluster --help | grep -q "usage: tqplan cluster" || fail "--help"
echo "cluster bad input: all refused with exit 1"
