#!/usr/bin/env bash
# Start or stop one background process of the local rehearsal (moto, the registry, the
# stand-in for the ECS tasks), tied to the ansible-playbook run that started it: the process
# ends when it is stopped or when that run ends, successful, failed or interrupted, so nothing
# a rehearsal starts outlives it.
#
#   bound-process.sh start PIDFILE OWNER_PID LOGFILE COMMAND [ARG...]
#   bound-process.sh stop PIDFILE
#
# PIDFILE holds "SUPERVISOR_PID OWNER_PID": the supervisor leads its own session (process
# group), runs COMMAND, waits for COMMAND or OWNER_PID to end, then stops COMMAND.
set -euo pipefail

action=$1 pidfile=$2
shift 2

running() {
  [[ -s $pidfile ]] || return 1
  read -r pid pid_owner <"$pidfile"
  # A pid from a pidfile may have been reused by another program: check it is our supervisor.
  [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'bound-process-supervisor'
}

# Stop the supervisor in $pid and wait for it; then whatever is left of its session goes too.
terminate() {
  kill -TERM "$pid" 2>/dev/null || true
  # gunicorn drains its workers for up to 30 s (graceful_timeout).
  for _ in $(seq 80); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

case $action in
start)
  owner=$1 log=$2
  shift 2
  if running; then
    if [[ $pid_owner == "$owner" ]]; then
      echo "already running (pid $pid)"
      exit 0
    fi
    if kill -0 "$pid_owner" 2>/dev/null; then
      echo "another run (pid $pid_owner) holds $pidfile: let it finish first" >&2
      exit 1
    fi
    # Left by a run that has just ended: its supervisor is still stopping the process, which
    # would soon vanish under this run.
    terminate
  fi
  OWNER=$owner setsid bash -c '
    "$@" &
    child=$!
    trap "kill -TERM $child 2>/dev/null" TERM INT
    tail --pid="$OWNER" -f /dev/null &
    watcher=$!
    wait -n "$child" "$watcher" || true
    kill -TERM "$child" "$watcher" 2>/dev/null || true
    wait "$child"
  ' bound-process-supervisor "$@" >>"$log" 2>&1 </dev/null &
  echo "$! $owner" >"$pidfile"
  echo "started (pid $!)"
  ;;
stop)
  if ! running; then
    rm -f "$pidfile"
    echo "not running"
    exit 0
  fi
  terminate
  echo "stopped"
  ;;
*)
  echo "usage: $0 start PIDFILE OWNER_PID LOGFILE COMMAND [ARG...] | stop PIDFILE" >&2
  exit 2
  ;;
esac
