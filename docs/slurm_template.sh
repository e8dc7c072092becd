#!/bin/bash
# Slurm array job template for `mtenvs benchmark --slurm-template docs/slurm_template.sh`.
# {{array}} becomes 0-(runs-1)%workers, {{command}} the lines that run this array task's command;
# {{job_name}} and {{log_dir}} are filled in too. Adapt the partition and resources to your cluster.
#SBATCH --job-name={{job_name}}
#SBATCH --array={{array}}
#SBATCH --output={{log_dir}}/slurm-%A_%a.log
#SBATCH --cpus-per-task=4
#SBATCH --mem=16G
#SBATCH --time=24:00:00
set -euo pipefail
{{command}}
