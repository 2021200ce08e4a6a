#!/usr/bin/env bash
# train/score bad input: clear error, exit 1, the dataset left unchanged (no /model, no
# partial group): no labelled rows, one class, NaN feature (row and column named),
# label out of range, d mismatch between model and data (both d named), bad model JSON,
# bad options.
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

"$T" generate -n 20000 -k 3 --features 4 --seed 5 -o "$W/g.h5" -q

cp "$W/g.h5" "$W/x.h5"; edit "$W/x.h5" "f['accounts/label'][:] = -1"
expect_rc 1 "no labelled training rows" "$T" train "$W/x.h5"
cp "$W/g.h5" "$W/x.h5"; edit "$W/x.h5" "l = f['accounts/label']; v = l[:]; v[v == 0] = 1; l[:] = v"
expect_rc 1 "only one class" "$T" train "$W/x.h5"
cp "$W/g.h5" "$W/x.h5"; edit "$W/x.h5" "x = f['accounts/features']; r = x[1233]; r[2] = np.nan; x[1233] = r"
expect_rc 1 "row 1234, feature column 3: value nan" "$T" train "$W/x.h5"
$PY -c "import h5py, sys; f = h5py.File(sys.argv[1], 'r'); assert 'model' not in f and 'score' not in f['accounts']" "$W/x.h5" \
  || fail "failed train left output behind"
cp "$W/g.h5" "$W/x.h5"; edit "$W/x.h5" "l = f['accounts/label']; v = l[:]; v[9] = 3; l[:] = v"
expect_rc 1 "row 10, column label: value 3" "$T" train "$W/x.h5"

# d mismatch between model and data
"$T" train "$W/g.h5" --model-out "$W/m4.json" -q
"$T" generate -n 5000 --features 6 -o "$W/d6.h5" -q
expect_rc 1 "feature 'x4' .* is not among the 4 features of the model" "$T" score "$W/d6.h5" --model "$W/m4.json"
echo '{"format": "tqplan-logistic-model", "version": 1, "d": 4}' >"$W/bad.json"
expect_rc 1 "bias|weights" "$T" score "$W/g.h5" --model "$W/bad.json"
echo '{"weights": [1, 2' >"$W/bad.json"
expect_rc 1 "not valid JSON" "$T" score "$W/g.h5" --model "$W/bad.json"
expect_rc 1 "cannot open" "$T" score "$W/g.h5" --model "$W/none.json"
expect_rc 1 "needs --model" "$T" score "$W/g.h5"

# options
expect_rc 1 "deterministic or fast" "$T" train "$W/g.h5" --mode turbo
expect_rc 1 "out of range" "$T" train "$W/g.h5" --val 0.95
expect_rc 1 "not a number" "$T" train "$W/g.h5" --lr abc
expect_rc 1 "needs a dataset" "$T" train
"$T" generate -n 1000 --features 0 -o "$W/d0.h5" -q
expect_rc 1 "no feature columns" "$T" train "$W/d0.h5"
# a model file that cannot be made: exit 3, the path and the reason; /model not written
"$T" generate -n 1000 --features 2 --seed 4 -o "$W/m.h5" -q
expect_rc 3 "$W/no/such/m.json: cannot create: No such file or directory" \
  "$T" train "$W/m.h5" --model-out "$W/no/such/m.json"
$PY -c "import h5py, sys; sys.exit('model' in h5py.File(sys.argv[1], 'r'))" "$W/m.h5" ||
  fail "a failed train wrote /model"
echo "train_bad: ok"
