#!/usr/bin/env bash
# plan under mpirun -np 1, 2, 3: scenarios spread over rank groups (3 ranks, 2
# scenarios: groups {0,2} and {1}); every scenario's alignment and quotas are
# bit-identical to the single-rank run.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
for np in 1 2 3; do
  cat >"$W/s$np.ini" <<INI
[plan]
out = $W/np$np
[data]
generate = yes
n = 6000
k = 6
features = 4
seed = 21
[scenario a]
centers = fixed
tol_workload = 10%
tol_potential = 10%
[scenario b]
centers = fixed
tol_workload = 20%
tol_potential = 20%
alpha = 5
[quota]
target = 1e6
INI
  mpirun --oversubscribe -np "$np" "$T" plan "$W/s$np.ini" -q --threads 1 >"$W/log$np" 2>&1 || {
    cat "$W/log$np"; exit 1; }
done
for np in 2 3; do
  for s in a b; do
    for d in /alignment/territory /quotas/quota /accounts/lat; do
      h5diff "$W/np1/$s.h5" "$W/np$np/$s.h5" "$d" "$d" || {
        echo "FAIL: $s $d differs between -np 1 and -np $np"; exit 1; }
    done
  done
  cmp "$W/np1/comparison.csv" "$W/np$np/comparison.csv" >/dev/null 2>&1 ||
    diff <(cut -d, -f1-10 "$W/np1/comparison.csv") <(cut -d, -f1-10 "$W/np$np/comparison.csv") ||
    { echo "FAIL: comparison differs for -np $np"; exit 1; }
done
echo "plan_mpi: ok"
