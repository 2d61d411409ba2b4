#!/usr/bin/env bash
# Start or stop one background process of the local rehearsal (moto, the registry, the
# stand-in for the ECS tasks), tied to the ansible-playbook run that started it: the process
# ends when it is stopped or when that run ends, successful, failed or interrupted, so nothing
# a rehearsal starts outlives it.
#
#   bound-process.sh start PIDFILE OWNER_PID LOGFILE COMMAND [ARG...]
#   bound-process.sh stop PIDFILE
#
# PIDFILE holds the pid of a small supervisor that leads its own session (process group): it
# runs COMMAND, waits for COMMAND or OWNER_PID to end, then stops COMMAND.
set -euo pipefail

action=$1 pidfile=$2
shift 2

running() {
  [[ -s $pidfile ]] || return 1
  local pid
  pid=$(<"$pidfile")
  # A pid from a pidfile may have been reused by another program: check it is our supervisor.
  [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'bound-process-supervisor'
}

case $action in
start)
  owner=$1 log=$2
  shift 2
  if running; then
    echo "already running (pid $(<"$pidfile"))"
    exit 0
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
  echo $! >"$pidfile"
  echo "started (pid $!)"
  ;;
stop)
  if ! running; then
    rm -f "$pidfile"
    echo "not running"
    exit 0
  fi
  pid=$(<"$pidfile")
  kill -TERM "$pid"
  # gunicorn drains its workers for up to 30 s (graceful_timeout).
  for _ in $(seq 80); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  # Whatever is left of the session (a hung process, orphaned workers) goes too.
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$pidfile"
  echo "stopped"
  ;;
*)
  echo "usage: $0 start PIDFILE OWNER_PID LOGFILE COMMAND [ARG...] | stop PIDFILE" >&2
  exit 2
  ;;
esac
