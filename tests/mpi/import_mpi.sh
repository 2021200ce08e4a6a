#!/usr/bin/env bash
# tqplan import under mpirun: rank 0 imports, the other ranks share its exit status;
# the file is byte-identical to a serial import, and a bad file exits 1 on every rank
# with the error printed once.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
D=${TQ_SRC:?}/tests/data
args=("$D/accounts_good.csv" --territories "$D/territories_good.csv" --ignore-unknown -q)
"$T" import "${args[@]}" -o "$W/serial.h5" 2>/dev/null
for np in 1 2; do
  mpirun --oversubscribe -np "$np" "$T" import "${args[@]}" -o "$W/mpi$np.h5" 2>/dev/null
  cmp "$W/serial.h5" "$W/mpi$np.h5" || fail "mpirun -np $np import differs from serial"
  set +e
  mpirun --oversubscribe -np "$np" "$T" import "$D/bad_lat.csv" -o "$W/bad.h5" >"$W/out" 2>&1
  rc=$?
  set -e
  [ "$rc" != 0 ] || fail "-np $np: bad file accepted"
  [ "$(grep -c "bad_lat.csv:2:lat: value outside" "$W/out")" = 1 ] || { cat "$W/out"; fail "-np $np: error not printed once"; }
  [ -e "$W/bad.h5" ] && fail "-np $np: output written"
done
ls "$W" | grep -q tmp && fail "temporary file left behind"
echo "import_mpi: ok"
