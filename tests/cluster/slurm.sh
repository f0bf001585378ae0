#!/usr/bin/env bash
# A real single-node SLURM cluster on this host, for the SLURM tests (tests/test_slurm.py).
#
#   tests/cluster/slurm.sh start    install slurm-wlm + munge if missing, configure, start, wait idle
#   tests/cluster/slurm.sh stop     cancel jobs, stop the daemons, remove all state
#   tests/cluster/slurm.sh status   exit 0 when the cluster is up and its node answers
#   tests/cluster/slurm.sh env      print the export line that points SLURM clients at it
#
# Everything lives in one state directory ($SLURM_TEST_DIR, default /tmp/snakemake-slurm-test):
# slurm.conf, the munge key and socket, the spool and state-save directories, pid and log files.
# /etc/slurm/slurm.conf is made a symlink to that slurm.conf, because the executor's job step
# strips SLURM_CONF from the environment of the `srun` it runs inside each job; the symlink is
# only made where no slurm.conf exists, and `stop` removes it again. munge runs on its own
# socket, so a system munged is left alone.
#
# The node is this host with its real CPU count and memory. No cgroups, no accounting daemon:
# proctrack/linuxproc, task/none, jobacct_gather/none, accounting_storage/none. Without slurmdbd
# `sacct` knows no jobs, so Snakemake must be run with `--slurm-status-command squeue`; MinJobAge
# is kept at 300 s so finished jobs stay visible to squeue long enough for that.
#
# Exit codes: 0 ok; 3 cannot run here (not root, which slurmd needs to start jobs, or SLURM is
# missing and there is no apt-get to install it): the tests skip; 4 installing failed; 5 the
# cluster did not come up (or /etc/slurm/slurm.conf belongs to another cluster); 2 usage.
# Safe to run again: `start` on a healthy cluster does nothing, `stop` on a stopped one too.
# Works without a terminal (CI=true, no stdin).

set -euo pipefail

# Brian2's standalone runs set LD_BIND_NOW=1 in their process, and a test session passes it on.
# With it, slurmctld's dlopen of prep/script fails (undefined symbol container_g_join), so the
# daemons must start without it.
unset LD_BIND_NOW

STATE_DIR="${SLURM_TEST_DIR:-/tmp/snakemake-slurm-test}"
CTLD_PORT="${SLURM_TEST_CTLD_PORT:-6817}"
SLURMD_PORT="${SLURM_TEST_SLURMD_PORT:-6818}"
PARTITION="${SLURM_TEST_PARTITION:-debug}"
START_TIMEOUT="${SLURM_TEST_START_TIMEOUT:-90}"
LOCK_FILE="${STATE_DIR}.lock"

CONF="$STATE_DIR/slurm.conf"
MUNGE_SOCKET="$STATE_DIR/munge/munge.socket"
MUNGE_KEY="$STATE_DIR/munge/munge.key"
MUNGE_PID="$STATE_DIR/munge/munged.pid"
CTLD_PID="$STATE_DIR/run/slurmctld.pid"
SLURMD_PID="$STATE_DIR/run/slurmd.pid"
SYSTEM_CONF=/etc/slurm/slurm.conf
MARKER="# Written by tests/cluster/slurm.sh"

export SLURM_CONF="$CONF"
export PATH="$PATH:/usr/sbin:/sbin"

log() { echo "[slurm.sh] $*" >&2; }

have_slurm() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
    && command -v munged >/dev/null && command -v squeue >/dev/null
}

install_slurm() {
  if [[ "$(id -u)" != 0 ]]; then
    log "SKIP: not root: slurmd must run as root to start jobs (and apt-get to install SLURM)"
    exit 3
  fi
  if have_slurm; then
    log "slurm-wlm and munge are installed (slurm $(slurm_version))"
    return 0
  fi
  if ! command -v apt-get >/dev/null; then
    log "SKIP: SLURM is not installed and apt-get is missing, so it cannot be installed"
    exit 3
  fi
  log "installing slurm-wlm and munge with apt-get (non-interactive)"
  # Keep the packages' init scripts from starting system daemons: this script runs its own.
  local policy_created=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    policy_created=1
  fi
  local rc=0
  {
    DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        slurm-wlm munge </dev/null
  } >&2 || rc=$?
  [[ $policy_created == 1 ]] && rm -f /usr/sbin/policy-rc.d
  if [[ $rc != 0 ]] || ! have_slurm; then
    log "ERROR: apt-get could not install slurm-wlm and munge (exit $rc)"
    exit 4
  fi
  log "installed slurm $(slurm_version)"
}

# Version from dpkg: `sbatch --version` would wait 60 s for a slurm.conf that is not written yet.
slurm_version() { dpkg-query -W -f='${Version}' slurmctld 2>/dev/null || slurmctld -V 2>/dev/null || echo '?'; }

pid_alive() { [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

node_name() { hostname -s 2>/dev/null || hostname; }

node_state() { sinfo -h -N -n "$(node_name)" -o '%t' 2>/dev/null | head -n1; }

is_up() {
  [[ -f "$CONF" && -L "$SYSTEM_CONF" ]] && pid_alive "$MUNGE_PID" && pid_alive "$CTLD_PID" && pid_alive "$SLURMD_PID" \
    && scontrol ping 2>/dev/null | grep -q UP \
    && [[ "$(node_state)" =~ ^(idle|mix|alloc|comp)$ ]]
}

write_conf() {
  local node cpus mem_mb
  node="$(node_name)"
  cpus="$(nproc)"
  # RealMemory a little below MemTotal, as slurmd -C would report it.
  mem_mb="$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.97}' /proc/meminfo)"
  cat >"$CONF" <<EOF
${MARKER}: a single-node test cluster. Not for production.
ClusterName=snakemake-test
SlurmctldHost=${node}(127.0.0.1)
SlurmctldPort=${CTLD_PORT}
SlurmdPort=${SLURMD_PORT}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=${MUNGE_SOCKET}
StateSaveLocation=${STATE_DIR}/state
SlurmdSpoolDir=${STATE_DIR}/spool
SlurmctldPidFile=${CTLD_PID}
SlurmdPidFile=${SLURMD_PID}
SlurmctldLogFile=${STATE_DIR}/log/slurmctld.log
SlurmdLogFile=${STATE_DIR}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups, no accounting daemon.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
# CPUs and memory are consumable, so --cpus-per-task and --mem are honoured.
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
# Trust the node line below rather than hardware probing (VMs, containers).
SlurmdParameters=config_overrides
ReturnToService=2
# Large arrays, as the campaign submits (the plugin reads MaxArraySize via scontrol).
MaxArraySize=100001
MaxJobCount=200000
# Finished jobs stay in squeue 300 s: the executor's squeue status queries need >= 120 s.
MinJobAge=300
# Short timeouts: a test cluster should fail fast.
SlurmctldTimeout=30
SlurmdTimeout=30
MessageTimeout=10
InactiveLimit=0
KillWait=5
Waittime=0
NodeName=${node} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem_mb} State=UNKNOWN
PartitionName=${PARTITION} Nodes=${node} Default=YES MaxTime=INFINITE State=UP
EOF
  log "wrote $CONF (node ${node}: CPUs=${cpus} RealMemory=${mem_mb} MB; partition ${PARTITION})"
}

# /etc/slurm/slurm.conf -> our slurm.conf, unless a slurm.conf of another cluster is there.
link_system_conf() {
  if [[ -L "$SYSTEM_CONF" && "$(readlink "$SYSTEM_CONF")" == "$CONF" ]]; then
    return 0
  fi
  if [[ -e "$SYSTEM_CONF" || -L "$SYSTEM_CONF" ]]; then
    if ! head -n1 "$SYSTEM_CONF" 2>/dev/null | grep -qF "$MARKER"; then
      log "ERROR: $SYSTEM_CONF exists and is not ours; not touching a real cluster's config"
      exit 5
    fi
    rm -f "$SYSTEM_CONF"
  fi
  mkdir -p "$(dirname "$SYSTEM_CONF")"
  ln -s "$CONF" "$SYSTEM_CONF"
  log "linked $SYSTEM_CONF -> $CONF"
}

unlink_system_conf() {
  if [[ -L "$SYSTEM_CONF" && "$(readlink "$SYSTEM_CONF")" == "$CONF" ]]; then
    rm -f "$SYSTEM_CONF"
    log "removed the link $SYSTEM_CONF"
  fi
}

kill_pidfile() {
  local name="$1" file="$2" pid i
  [[ -s "$file" ]] || return 0
  pid="$(cat "$file")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) did not stop, killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$file"
}

do_stop() {
  if [[ ! -d "$STATE_DIR" ]]; then
    unlink_system_conf
    log "not running (no $STATE_DIR)"
    return 0
  fi
  if [[ -f "$CONF" ]] && pid_alive "$CTLD_PID" && command -v scancel >/dev/null; then
    log "cancelling all jobs on the test cluster"
    timeout 20 scancel --full --signal=KILL --state=RUNNING --user="$(id -un)" 2>/dev/null || true
    timeout 20 scancel --user="$(id -un)" 2>/dev/null || true
    sleep 1
  fi
  kill_pidfile slurmd "$SLURMD_PID"
  kill_pidfile slurmctld "$CTLD_PID"
  kill_pidfile munged "$MUNGE_PID"
  unlink_system_conf
  log "removing $STATE_DIR"
  rm -rf "$STATE_DIR"
  log "stopped"
}

wait_for() {
  local what="$1" cmd="$2" t=0
  until eval "$cmd"; do
    if ((t >= START_TIMEOUT * 5)); then
      log "ERROR: timed out after ${START_TIMEOUT}s waiting for $what"
      return 1
    fi
    sleep 0.2
    t=$((t + 1))
  done
}

dump_logs() {
  local f
  for f in "$STATE_DIR"/log/*.log "$STATE_DIR"/munge/munged.log; do
    [[ -f "$f" ]] || continue
    log "---- last lines of $f"
    tail -n 30 "$f" >&2 || true
  done
}

do_start() {
  install_slurm
  if is_up; then
    log "already running: $(sinfo -h -o '%P %D %t %C' | tr '\n' ' ')"
    return 0
  fi
  if [[ -d "$STATE_DIR" ]]; then
    log "found a stale or half-started cluster in $STATE_DIR; tearing it down first"
    do_stop
  fi
  local port
  for port in "$CTLD_PORT" "$SLURMD_PORT"; do
    if port_busy "$port"; then
      log "ERROR: port $port is in use (another slurmctld/slurmd?). Set SLURM_TEST_CTLD_PORT / SLURM_TEST_SLURMD_PORT"
      exit 5
    fi
  done

  log "creating $STATE_DIR"
  mkdir -p "$STATE_DIR"/{state,spool,log,run,munge}
  chmod 0700 "$STATE_DIR/munge"
  chmod 0755 "$STATE_DIR"

  log "creating the munge key"
  dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
  chmod 0400 "$MUNGE_KEY"
  log "starting munged on $MUNGE_SOCKET"
  munged --force --key-file="$MUNGE_KEY" --socket="$MUNGE_SOCKET" --pid-file="$MUNGE_PID" \
    --log-file="$STATE_DIR/munge/munged.log" --seed-file="$STATE_DIR/munge/munged.seed" </dev/null 9>&-
  if ! wait_for munged "munge -n -S '$MUNGE_SOCKET' </dev/null 2>/dev/null | unmunge -S '$MUNGE_SOCKET' >/dev/null 2>&1"; then
    dump_logs
    exit 5
  fi

  write_conf
  link_system_conf

  log "starting slurmctld"
  slurmctld -f "$CONF" -i </dev/null 9>&-
  if ! wait_for slurmctld "scontrol ping 2>/dev/null | grep -q UP"; then
    dump_logs
    exit 5
  fi

  log "starting slurmd for node $(node_name)"
  slurmd -f "$CONF" -N "$(node_name)" </dev/null 9>&-
  if ! wait_for "the node to register" "[[ -n \"\$(node_state)\" && \"\$(node_state)\" != unk* ]]"; then
    dump_logs
    exit 5
  fi
  local state
  state="$(node_state)"
  if [[ ! "$state" =~ ^(idle|mix|alloc)$ ]]; then
    log "node is '$state'; resuming it"
    scontrol update NodeName="$(node_name)" State=RESUME 2>/dev/null || true
  fi
  if ! wait_for "the node to be idle" "[[ \"\$(node_state)\" == idle ]]"; then
    sinfo -N -l >&2 || true
    scontrol show node "$(node_name)" >&2 || true
    dump_logs
    exit 5
  fi
  log "up: $(sinfo -h -o 'partition=%P nodes=%D state=%t cpus(A/I/O/T)=%C' | tr '\n' ' ')"
  log "clients find it through $SYSTEM_CONF (or SLURM_CONF=$CONF)"
}

main() {
  local cmd="${1:-}"
  case "$cmd" in
    start | stop) ;;
    status)
      if is_up; then
        log "up ($CONF)"
        exit 0
      fi
      log "not running"
      exit 1
      ;;
    env)
      echo "export SLURM_CONF=$CONF"
      exit 0
      ;;
    *)
      echo "usage: $0 start|stop|status|env" >&2
      exit 2
      ;;
  esac
  if [[ "$(id -u)" != 0 ]]; then
    log "SKIP: not root: slurmd must run as root to start jobs (and apt-get to install SLURM)"
    exit 3
  fi
  # One start or stop at a time on this machine. The daemons are started with fd 9 closed so
  # that they do not hold the lock after this script exits.
  exec 9>"$LOCK_FILE"
  if command -v flock >/dev/null; then
    flock -w 300 9 || { log "ERROR: could not take $LOCK_FILE"; exit 5; }
  fi
  "do_$cmd"
}

main "$@"
