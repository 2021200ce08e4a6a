#!/usr/bin/env bash
# Example Slurm batch job: the annual batch on 4 nodes, 1 rank per node, OpenMP inside.
#SBATCH --job-name=tqplan
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=32
#SBATCH --time=01:00:00
#SBATCH --output=tqplan-%j.log
set -euo pipefail
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
export OMP_PROC_BIND=close OMP_PLACES=cores
DATA=${DATA:-accounts.h5}       # on a parallel file system every node can read
T=${TQPLAN:-build/tqplan}
# Results are bit-identical whatever the node count (for one build on one kind of CPU).
# Build on, or for, the compute nodes: cmake -DTQ_ARCH=<oldest node's -march> (docs/cli.md).
srun "$T" cluster "$DATA" -k 1000 --json > cluster.json
srun "$T" align "$DATA" --centers kmeans --json > align.json
