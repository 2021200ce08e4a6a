# Sourced first by every script test (tests/cli, tests/mpi), which CTest runs with
# TQ_BIN, TQ_SRC and TQ_BUILD set: strict mode, Open MPI allowed to run as root, the
# binary under test ($T), Debian's python with h5py ($PY), a scratch folder ($W)
# removed on exit (also TMPDIR, for Open MPI), and fail() for a named failure.
set -euo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
T=${TQ_BIN:?}
PY=/usr/bin/python3
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
# Open MPI's session directory goes under TMPDIR: one per test, since two mpiruns that
# CTest starts at once can race to create the shared /tmp/ompi.<host>.<uid> ("mkdir ...
# File exists", orte_init failed: mpi.train_mpi beside mpi.plan_mpi, 2026-12-07)
export TMPDIR="$W"
fail() { echo "FAIL: $*" >&2; exit 1; }
