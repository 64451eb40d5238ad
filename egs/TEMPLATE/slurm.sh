#!/usr/bin/env bash
# The training stage of a recipe across SLURM nodes: one torchrun per node (srun), NGPU processes each,
# rendezvous at the first node. A preempted or timed-out job gets SIGTERM two minutes early: laura
# writes a checkpoint and exits 143, and the requeued job resumes from it (the recipe passes resume=true).
#
# usage (what `run.sh --launcher slurm` does): sbatch --wait --nodes N egs/TEMPLATE/slurm.sh NGPU CONFIG key=value ...
#SBATCH --job-name=laura-train
#SBATCH --ntasks-per-node=1
#SBATCH --signal=B:TERM@120
#SBATCH --requeue
#SBATCH --output=slurm-%j.out
set -euo pipefail
ngpu=$1; shift
head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}
# `exec srun` so the TERM sbatch sends reaches every torchrun, and through it every rank.
exec srun --kill-on-bad-exit=1 "${BIN:-.venv/bin}/torchrun" --nnodes "$SLURM_NNODES" --nproc_per_node "$((ngpu > 0 ? ngpu : 1))" \
  --rdzv_backend c10d --rdzv_endpoint "$head:${MASTER_PORT:-29500}" --rdzv_id "$SLURM_JOB_ID" \
  -m laura_core train "$@"
