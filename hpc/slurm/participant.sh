#!/bin/bash
#SBATCH --job-name=regionseries-participant
#SBATCH --output=logs/participant-%A_%a.out
#
# regionseries participant level, one SLURM array task per participant: task i
# processes the participant on line i of the participants file. All tasks write
# into the same output folder (safe: dataset-level files are written atomically),
# each into its own work folder, and share one cache folder. See docs/hpc.md;
# hpc/slurm/submit.sh submits this array and then hpc/slurm/group.sh.
#
# Settings, from the environment (sbatch passes your environment to the job):
#   REGIONSERIES_BIDS_DIR       the fMRIPrep derivatives (required)
#   REGIONSERIES_OUTPUT_DIR     the output folder shared by all jobs (required)
#   REGIONSERIES_PARTICIPANTS   file with one participant label per line
#                               [participants.txt, in the folder sbatch ran in]
#   REGIONSERIES_WORK_ROOT      parent of the per-participant work folders
#                               [/scratch/$USER/regionseries-work]
#   REGIONSERIES_CACHE_DIR      the cache folder shared by all jobs (the app's own
#                               variable, same meaning) [/scratch/$USER/regionseries-cache]
#   REGIONSERIES_ARGS           participant-level options, split on spaces (set but
#                               empty: none) [--atlas Schaefer2018:desc-400Parcels7Networks
#                               --strategy simple scrubbing]
#   REGIONSERIES_ENGINE         native (regionseries on PATH), apptainer, podman or docker [native]
#   REGIONSERIES_IMAGE          the .sif file (apptainer) or the image name (podman, docker)
#   REGIONSERIES_ATLAS_DIR      a folder of your own atlas files, mounted read-only at
#                               /atlas in a container (--atlas-file Name=/atlas/...) [none]
#   REGIONSERIES_CONTAINER_USER uid:gid the app runs as under podman or docker [$(id -u):$(id -g)]
#   REGIONSERIES_CONTAINER_OPTIONS  more options of `apptainer/podman/docker run`, split
#                               on spaces, e.g. --env=OPENBLAS_CORETYPE=Haswell [none]
# --nprocs is the number of CPUs of the task (sbatch --cpus-per-task, default 1).
#
# Exercised on every CI run (make slurm-test, one-node SLURM): native and podman.
# The apptainer branch is written for clusters but not run there (no Apptainer
# package on that machine).
set -euo pipefail

user=${USER:-$(id -un)}
bids_dir=${REGIONSERIES_BIDS_DIR:?set REGIONSERIES_BIDS_DIR to the fMRIPrep derivatives}
output_dir=${REGIONSERIES_OUTPUT_DIR:?set REGIONSERIES_OUTPUT_DIR to the output folder}
participants=${REGIONSERIES_PARTICIPANTS:-participants.txt}
work_root=${REGIONSERIES_WORK_ROOT:-/scratch/${user}/regionseries-work}
cache_dir=${REGIONSERIES_CACHE_DIR:-/scratch/${user}/regionseries-cache}
read -r -a options <<< "${REGIONSERIES_ARGS---atlas Schaefer2018:desc-400Parcels7Networks --strategy simple scrubbing}"
engine=${REGIONSERIES_ENGINE:-native}
atlas_dir=${REGIONSERIES_ATLAS_DIR:-}
container_user=${REGIONSERIES_CONTAINER_USER:-$(id -u):$(id -g)}
read -r -a container_options <<< "${REGIONSERIES_CONTAINER_OPTIONS:-}"

task=${SLURM_ARRAY_TASK_ID:?run as an array job: sbatch --array=1-N participant.sh}
label=$(sed -n "${task}{s/[[:space:]]//g;p}" "${participants}")
label=${label#sub-}
if [ -z "${label}" ]; then
    echo "participant.sh: no participant on line ${task} of ${participants}" >&2
    exit 64
fi
work_dir="${work_root}/sub-${label}"
mkdir -p "${output_dir}" "${work_dir}" "${cache_dir}"
# Container engines want absolute paths for their mounts.
bids_dir=$(realpath "${bids_dir}")
output_dir=$(realpath "${output_dir}")
work_dir=$(realpath "${work_dir}")
cache_dir=$(realpath "${cache_dir}")
[ -z "${atlas_dir}" ] || atlas_dir=$(realpath "${atlas_dir}")

# The app's view of the folders, and the command that starts it.
case "${engine}" in
    native)
        data=${bids_dir} out=${output_dir} work=${work_dir} cache=${cache_dir}
        launcher=(regionseries) ;;
    podman|docker)
        data=/data out=/out work=/work cache=/cache
        launcher=("${engine}" run --rm --read-only --tmpfs /tmp --network none -u "${container_user}"
                  -v "${bids_dir}:/data:ro" -v "${output_dir}:/out"
                  -v "${work_dir}:/work" -v "${cache_dir}:/cache")
        [ -z "${atlas_dir}" ] || launcher+=(-v "${atlas_dir}:/atlas:ro")
        launcher+=("${container_options[@]}" "${REGIONSERIES_IMAGE:?set REGIONSERIES_IMAGE to the image name}") ;;
    apptainer)
        data=/data out=/out work=/work cache=/cache
        launcher=(apptainer run --cleanenv
                  -B "${bids_dir}:/data:ro" -B "${output_dir}:/out"
                  -B "${work_dir}:/work" -B "${cache_dir}:/cache")
        [ -z "${atlas_dir}" ] || launcher+=(-B "${atlas_dir}:/atlas:ro")
        launcher+=("${container_options[@]}" "${REGIONSERIES_IMAGE:?set REGIONSERIES_IMAGE to the .sif file}") ;;
    *)
        echo "participant.sh: REGIONSERIES_ENGINE must be native, apptainer, podman or docker, not '${engine}'" >&2
        exit 64 ;;
esac

echo "participant.sh: sub-${label} (task ${task} of job ${SLURM_ARRAY_JOB_ID:-?}) with ${engine}, user ${user}"
exec "${launcher[@]}" "${data}" "${out}" participant --participant-label "${label}" \
    "${options[@]}" --work-dir "${work}" --cache-dir "${cache}" --nprocs "${SLURM_CPUS_PER_TASK:-1}"
