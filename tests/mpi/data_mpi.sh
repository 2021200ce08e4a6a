#!/usr/bin/env bash
# Data layer under MPI: every rank reads only its hyperslab through parallel HDF5
# (MPI-IO driver), results are gathered in rank order; -np 4 leaves one rank without rows.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
for np in 1 2 4; do
  echo "== mpirun -np $np test_data"
  mpirun --oversubscribe -np "$np" "$TQ_BUILD/test_data" >"mpi_data_$np.log" 2>&1 || {
    cat "mpi_data_$np.log"; exit 1; }
  grep -c PASSED "mpi_data_$np.log" | grep -qx "$np" || { cat "mpi_data_$np.log"; exit 1; }
done
echo "data_mpi: ok"
