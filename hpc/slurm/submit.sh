#!/bin/bash
# Submit the participant level as a SLURM job array over the participants file
# (hpc/slurm/participant.sh), then the group level (hpc/slurm/group.sh) to start
# only if every array task succeeded, and to be cancelled if one failed.
#
#   hpc/slurm/submit.sh            all lines of the participants file
#   hpc/slurm/submit.sh 3,17       only array indices 3 and 17 (lines of the file),
#                                  e.g. after fixing what made them fail
#
# Run it in the folder where the logs/ folder should go (the jobs start there,
# and a relative REGIONSERIES_PARTICIPANTS is read from there). Prints
# "<array job id> <group job id>". The jobs read their settings from your
# environment: see participant.sh and group.sh for the REGIONSERIES_* variables.
# Resources, as sbatch options split on spaces:
#   REGIONSERIES_PARTICIPANT_SBATCH  [--cpus-per-task=2 --mem=1G --time=00:30:00]
#   REGIONSERIES_GROUP_SBATCH        [--cpus-per-task=2 --mem=1G --time=01:00:00]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
participants=${REGIONSERIES_PARTICIPANTS:-participants.txt}
: "${REGIONSERIES_BIDS_DIR:?set REGIONSERIES_BIDS_DIR to the fMRIPrep derivatives}"
: "${REGIONSERIES_OUTPUT_DIR:?set REGIONSERIES_OUTPUT_DIR to the output folder}"
read -r -a participant_resources <<< "${REGIONSERIES_PARTICIPANT_SBATCH:---cpus-per-task=2 --mem=1G --time=00:30:00}"
read -r -a group_resources <<< "${REGIONSERIES_GROUP_SBATCH:---cpus-per-task=2 --mem=1G --time=01:00:00}"

if [ ! -s "${participants}" ]; then
    echo "submit.sh: no participants file ${participants} (one label per line)" >&2
    exit 66
fi
indices=${1:-1-$(wc -l < "${participants}")}

mkdir -p logs "${REGIONSERIES_OUTPUT_DIR}"
array_id=$(sbatch --parsable --array="${indices}" "${participant_resources[@]}" "${here}/participant.sh")
array_id=${array_id%%;*}
group_id=$(sbatch --parsable --dependency=afterok:"${array_id}" --kill-on-invalid-dep=yes \
    "${group_resources[@]}" "${here}/group.sh")
echo "${array_id} ${group_id%%;*}"
