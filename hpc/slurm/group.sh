#!/bin/bash
#SBATCH --job-name=regionseries-group
#SBATCH --output=logs/group-%j.out
#
# regionseries group level: reads only the output folder of the participant jobs
# (hpc/slurm/participant.sh). Submit it with
# --dependency=afterok:<array job> --kill-on-invalid-dep=yes, as hpc/slurm/submit.sh
# does, so that it starts only if every participant job succeeded and is cancelled
# (instead of waiting forever) if one failed. See docs/hpc.md.
#
# Settings, from the environment (the same as participant.sh where they overlap):
#   REGIONSERIES_BIDS_DIR       the fMRIPrep derivatives (required)
#   REGIONSERIES_OUTPUT_DIR     the output folder of the participant jobs (required)
#   REGIONSERIES_WORK_ROOT      its work folder is <this>/group [/scratch/$USER/regionseries-work]
#   REGIONSERIES_GROUP_ARGS     group-level options, split on spaces (set but empty:
#                               none) [--incremental]
#   REGIONSERIES_ENGINE         native (regionseries on PATH), apptainer, podman or docker [native]
#   REGIONSERIES_IMAGE          the .sif file (apptainer) or the image name (podman, docker)
#   REGIONSERIES_CONTAINER_USER uid:gid the app runs as under podman or docker [$(id -u):$(id -g)]
#   REGIONSERIES_CONTAINER_OPTIONS  more options of `apptainer/podman/docker run`, split
#                               on spaces, e.g. --env=OPENBLAS_CORETYPE=Haswell [none]
# --nprocs is the number of CPUs of the job (sbatch --cpus-per-task, default 1).
#
# Exercised on every CI run (make slurm-test, one-node SLURM): native and podman.
# The apptainer branch is written for clusters but not run there (no Apptainer
# package on that machine).
set -euo pipefail

user=${USER:-$(id -un)}
bids_dir=${REGIONSERIES_BIDS_DIR:?set REGIONSERIES_BIDS_DIR to the fMRIPrep derivatives}
output_dir=${REGIONSERIES_OUTPUT_DIR:?set REGIONSERIES_OUTPUT_DIR to the output folder}
work_root=${REGIONSERIES_WORK_ROOT:-/scratch/${user}/regionseries-work}
read -r -a options <<< "${REGIONSERIES_GROUP_ARGS---incremental}"
engine=${REGIONSERIES_ENGINE:-native}
container_user=${REGIONSERIES_CONTAINER_USER:-$(id -u):$(id -g)}
read -r -a container_options <<< "${REGIONSERIES_CONTAINER_OPTIONS:-}"

work_dir="${work_root}/group"
mkdir -p "${work_dir}"
# Container engines want absolute paths for their mounts.
bids_dir=$(realpath "${bids_dir}")
output_dir=$(realpath "${output_dir}")
work_dir=$(realpath "${work_dir}")

# The app's view of the folders, and the command that starts it.
case "${engine}" in
    native)
        data=${bids_dir} out=${output_dir} work=${work_dir}
        launcher=(regionseries) ;;
    podman|docker)
        data=/data out=/out work=/work
        launcher=("${engine}" run --rm --read-only --tmpfs /tmp --network none -u "${container_user}"
                  -v "${bids_dir}:/data:ro" -v "${output_dir}:/out" -v "${work_dir}:/work"
                  "${container_options[@]}" "${REGIONSERIES_IMAGE:?set REGIONSERIES_IMAGE to the image name}") ;;
    apptainer)
        data=/data out=/out work=/work
        launcher=(apptainer run --cleanenv
                  -B "${bids_dir}:/data:ro" -B "${output_dir}:/out" -B "${work_dir}:/work"
                  "${container_options[@]}" "${REGIONSERIES_IMAGE:?set REGIONSERIES_IMAGE to the .sif file}") ;;
    *)
        echo "group.sh: REGIONSERIES_ENGINE must be native, apptainer, podman or docker, not '${engine}'" >&2
        exit 64 ;;
esac

echo "group.sh: job ${SLURM_JOB_ID:-?} with ${engine}, user ${user}"
exec "${launcher[@]}" "${data}" "${out}" group "${options[@]}" \
    --work-dir "${work}" --nprocs "${SLURM_CPUS_PER_TASK:-1}"
