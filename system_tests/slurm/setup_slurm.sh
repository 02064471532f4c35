#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for `make slurm-test`.
#
# Installs Debian's slurm-wlm and munge (and podman and runc, which the container
# variant of the tests runs inside the jobs) when they are missing, writes
# /etc/slurm/slurm.conf for this one node, starts munged, slurmctld and slurmd
# directly (no systemd needed) and waits until the node is idle. Run as root.
#
# Idempotent: a second run with the daemons up and the same configuration changes
# nothing and takes about a second. The daemons are left running; their logs are in
# /var/log/slurm/. To stop them: kill "$(cat /run/slurm/slurmd.pid)"
# "$(cat /run/slurm/slurmctld.pid)" "$(cat /run/munge/munged.pid)".
#
# Known to work in a sandbox without cgroup delegation: process tracking by
# /proc (proctrack/linuxproc) and no task plugin (task/none). The node and the
# controller are addressed by 127.0.0.1, so the host name needs no DNS entry.
set -euo pipefail

if [ "$(id -u)" != "0" ]; then
    echo "setup_slurm.sh: run as root (it installs packages and starts the SLURM daemons)" >&2
    exit 77
fi

conf=/etc/slurm/slurm.conf
marker="# Written by regionseries system_tests/slurm/setup_slurm.sh"
wait_seconds=60

log() { echo "setup_slurm: $*"; }

# ---------------------------------------------------------------------------
# Packages
missing=()
for command_and_package in slurmctld:slurm-wlm slurmd:slurm-wlm sbatch:slurm-client \
        munged:munge podman:podman runc:runc; do
    command=${command_and_package%%:*}
    package=${command_and_package#*:}
    if ! command -v "${command}" >/dev/null 2>&1 && [ ! -x "/usr/sbin/${command}" ]; then
        missing+=("${package}")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    # slurm-wlm pulls slurmctld, slurmd and the client commands.
    packages=$(printf '%s\n' "${missing[@]}" | sed 's/^slurm-client$/slurm-wlm/' | sort -u | tr '\n' ' ')
    log "installing ${packages}"
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${packages} >/dev/null
fi

# ---------------------------------------------------------------------------
# munge: the key comes with the package; make one if it is missing.
if [ ! -s /etc/munge/munge.key ]; then
    log "creating /etc/munge/munge.key"
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
fi
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "starting munged"
    install -d -o munge -g munge -m 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.1
    done
    munge -n | unmunge >/dev/null
fi

# ---------------------------------------------------------------------------
# slurm.conf for this node: CPUs, sockets and memory as slurmd detects them.
node=$(hostname -s)
node_hardware=$(/usr/sbin/slurmd -C | sed -n 's/^NodeName=[^ ]* //p' | head -n 1)
if [ -z "${node_hardware}" ]; then
    echo "setup_slurm.sh: 'slurmd -C' did not describe this node" >&2
    exit 1
fi
new_conf=$(cat <<EOF
${marker}; rewritten when it differs.
ClusterName=regionseries-test
SlurmctldHost=${node}(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
MessageTimeout=10
InactiveLimit=0
KillWait=5
MinJobAge=600
Waittime=0
NodeName=${node} NodeAddr=127.0.0.1 ${node_hardware} State=UNKNOWN
PartitionName=debug Nodes=${node} Default=YES MaxTime=INFINITE State=UP
EOF
)

if [ -e "${conf}" ] && ! grep -qF "${marker}" "${conf}"; then
    echo "setup_slurm.sh: ${conf} exists and was not written by this script; not touching it" >&2
    exit 1
fi

pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

restart=0
if [ ! -e "${conf}" ] || [ "$(cat "${conf}")" != "${new_conf}" ]; then
    log "writing ${conf}"
    install -d /etc/slurm
    printf '%s\n' "${new_conf}" > "${conf}"
    restart=1
fi

install -d -o slurm -g slurm /var/spool/slurmctld /var/log/slurm /run/slurm
install -d /var/spool/slurmd

stop_daemon() {  # pid file
    if pid_alive "$1"; then
        local pid
        pid=$(cat "$1")
        kill "${pid}"
        for _ in $(seq 100); do kill -0 "${pid}" 2>/dev/null || return 0; sleep 0.1; done
        echo "setup_slurm.sh: process ${pid} (from $1) did not stop" >&2
        exit 1
    fi
}
if [ "${restart}" = 1 ]; then
    stop_daemon /run/slurm/slurmd.pid
    stop_daemon /run/slurm/slurmctld.pid
fi

if ! pid_alive /run/slurm/slurmctld.pid; then
    log "starting slurmctld"
    /usr/sbin/slurmctld
fi
if ! pid_alive /run/slurm/slurmd.pid; then
    log "starting slurmd"
    /usr/sbin/slurmd
fi

# ---------------------------------------------------------------------------
# Wait until the node accepts jobs; resume it if an earlier run left it down.
state=""
for _ in $(seq $((wait_seconds * 5))); do
    state=$(sinfo --noheader --nodes="${node}" --format=%T 2>/dev/null | head -n 1 || true)
    case "${state}" in
        idle|mixed|allocated|completing) break ;;
        down*|drain*|fail*)
            scontrol update NodeName="${node}" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 0.2
done
case "${state}" in
    idle|mixed|allocated|completing) ;;
    *)
        echo "setup_slurm.sh: node ${node} is '${state:-unknown}' after ${wait_seconds} s;" \
             "see /var/log/slurm/slurmctld.log and slurmd.log" >&2
        exit 1 ;;
esac
log "node ${node} is ${state} ($(sinfo --noheader --format='%c CPUs, %m MB' | head -n 1))"
