# shellcheck shell=bash
# Background processes for the local harness, tracked by pid files.
#
# Convention (shared by every script that starts something long-running:
# local-up.sh, and later the metrics-apiserver and kubelet-simulator runners):
#
#   $PROC_DIR/NAME.pid     the pid, one line. The process was started with
#                          setsid, so the pid is also its process group and
#                          session id: stopping NAME stops its children too.
#   $PROC_DIR/.NAME.meta   "<starttime> <log file>": the kernel start time of
#                          the pid (guards against a recycled pid; "-" if it
#                          had already exited) and the log file.
#
# PROC_DIR defaults to $RUN_DIR/pids. hack/local-down.sh stops every NAME.pid
# it finds there, newest first, so anything registered with proc_start is torn
# down with the control plane.
#
# Functions:
#   proc_start NAME LOGFILE CMD [ARG...]  start CMD detached, stdout+stderr to
#                                         LOGFILE; no-op if NAME is running
#   proc_alive NAME                       exit 0 if NAME is running
#   proc_pid NAME                         print NAME's pid if it is running
#   proc_wait NAME DESC TIMEOUT CMD...    poll CMD until it succeeds; fail with
#                                         NAME's log tail if NAME dies or
#                                         TIMEOUT seconds pass
#   proc_stop NAME [GRACE]                TERM the group, wait GRACE s (10),
#                                         then KILL; removes the pid file
#   proc_stop_all [GRACE]                 proc_stop every NAME, newest first
#   proc_restart NAME [GRACE] [DOWNTIME]  stop NAME and, DOWNTIME s (0) later,
#                                         start it again with the very same
#                                         command line and log file
#   proc_names                            list registered NAMEs, newest first

[[ -n "${_HACK_LIB_PROC_SOURCED:-}" ]] && return 0
_HACK_LIB_PROC_SOURCED=1
# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

proc_dir() {
  if [[ -n "${PROC_DIR:-}" ]]; then
    echo "$PROC_DIR"
  else
    echo "${RUN_DIR:?set RUN_DIR or PROC_DIR}/pids"
  fi
}

# _proc_stat PID prints "<state> <pgid> <starttime>" from /proc/PID/stat, or
# fails if there is no such process. The command name (field 2) may hold
# spaces and parentheses, so everything up to the last ") " is dropped first.
_proc_stat() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  local -a f
  read -r -a f <<<"$stat"
  # After the cut: f[0]=state (field 3), f[2]=pgrp (5), f[19]=starttime (22).
  echo "${f[0]} ${f[2]} ${f[19]}"
}

# _proc_running PID succeeds if PID exists and is not a zombie (orphans are
# reaped by whatever init the machine has, which may be slow or never).
_proc_running() {
  local state _
  read -r state _ < <(_proc_stat "$1") || return 1
  [[ $state != Z ]]
}

# _proc_group_alive PGID succeeds while any non-zombie process is in the group.
_proc_group_alive() {
  ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

proc_pid() {
  local name=$1 dir pid
  dir=$(proc_dir)
  [[ -f $dir/$name.pid ]] || return 1
  pid=$(<"$dir/$name.pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  _proc_running "$pid" || return 1
  # A pid file without meta (written by hand) is trusted as it is; with meta
  # the start time must match, or the pid now belongs to someone else.
  if [[ -f $dir/.$name.meta ]]; then
    local want have _
    read -r want _ <"$dir/.$name.meta"
    [[ $want != - ]] || return 1
    read -r _ _ have < <(_proc_stat "$pid") || return 1
    [[ $want == "$have" ]] || return 1
  fi
  echo "$pid"
}

proc_alive() { proc_pid "$1" >/dev/null; }

# _proc_log NAME prints the log file recorded by proc_start.
_proc_log() {
  local dir meta _ log
  dir=$(proc_dir)
  meta="$dir/.$1.meta"
  [[ -f $meta ]] || return 1
  read -r _ log <"$meta"
  echo "$log"
}

proc_start() {
  local name=$1 log=$2
  shift 2
  (($# > 0)) || die "proc_start $name: no command"
  local dir pid
  dir=$(proc_dir)
  if pid=$(proc_pid "$name"); then
    log_info "$name already running (pid $pid)"
    return 0
  fi
  mkdir -p "$dir" "$(dirname "$log")"
  rm -f "$dir/$name.pid" "$dir/.$name.meta"
  [[ -f $log ]] && mv -f "$log" "$log.prev"

  # The child writes its own pid and then execs CMD: with setsid it becomes a
  # session and group leader whose pid is known before CMD runs. $! would be
  # wrong whenever setsid has to fork.
  local tmp="$dir/.$name.pid.new"
  rm -f "$tmp"
  # shellcheck disable=SC2016 # $$ and $@ belong to the inner shell
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$tmp" "$@" <"/dev/null" >"$log" 2>&1 &
  disown $! # no job-control chatter from this shell when it is stopped later
  local i
  for ((i = 0; i < 250; i++)); do
    [[ -s $tmp ]] && break
    sleep 0.02
  done
  [[ -s $tmp ]] || die "proc_start $name: no pid after 5 s (see $log)"
  pid=$(<"$tmp")
  # "-" when it already exited: nothing to guard, but keep the log path.
  local starttime=- _
  read -r _ _ starttime < <(_proc_stat "$pid") || starttime=-
  echo "$starttime $log" >"$dir/.$name.meta"
  mv -f "$tmp" "$dir/$name.pid"
  log_info "started $name (pid $pid, log $log)"
}

proc_wait() {
  local name=$1 desc=$2 timeout=$3
  shift 3
  local deadline=$((SECONDS + timeout)) log
  log=$(_proc_log "$name" || true)
  until "$@" >/dev/null 2>&1; do
    if ! proc_alive "$name"; then
      log_warn "$name exited while waiting for $desc"
      _proc_tail "$log"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log_warn "timed out after ${timeout}s waiting for $desc"
      _proc_tail "$log"
      return 1
    fi
    sleep 0.25
  done
}

_proc_tail() {
  [[ -n $1 && -f $1 ]] || return 0
  echo "--- last lines of $1:" >&2
  tail -n "${PROC_TAIL_LINES:-30}" "$1" >&2
  echo "---" >&2
}

proc_stop() {
  local name=$1 grace=${2:-10} dir pid
  dir=$(proc_dir)
  if pid=$(proc_pid "$name"); then
    # Signal the whole group when the pid leads one (proc_start made it so);
    # fall back to the single process for pid files written by others.
    local target=$pid
    local _ pgid
    read -r _ pgid _ < <(_proc_stat "$pid") || true
    [[ ${pgid:-} == "$pid" ]] && target=-$pid
    kill -TERM -- "$target" 2>/dev/null || true
    kill -CONT -- "$target" 2>/dev/null || true # a stopped process acts on TERM once continued
    local deadline=$((SECONDS + grace))
    while { _proc_running "$pid" || { [[ $target == -* ]] && _proc_group_alive "$pid"; }; } &&
      ((SECONDS < deadline)); do
      sleep 0.1
    done
    if _proc_running "$pid" || { [[ $target == -* ]] && _proc_group_alive "$pid"; }; then
      log_warn "$name (pid $pid) still running after ${grace}s; sending KILL"
      kill -KILL -- "$target" 2>/dev/null || true
      sleep 0.2
    fi
    log_info "stopped $name (pid $pid)"
  fi
  rm -f "$dir/$name.pid" "$dir/.$name.meta"
}

proc_names() {
  local dir
  dir=$(proc_dir)
  [[ -d $dir ]] || return 0
  # Newest pid file first: the reverse of start order.
  find "$dir" -maxdepth 1 -type f -name '*.pid' -printf '%T@ %f\n' |
    sort -rn | while read -r _ f; do echo "${f%.pid}"; done
}

proc_stop_all() {
  local grace=${1:-10} name
  local -a names
  mapfile -t names < <(proc_names)
  for name in "${names[@]}"; do
    proc_stop "$name" "$grace"
  done
}

# proc_restart reads NAME's command line from /proc, so whatever flags the
# process was started with (extra args, test settings) survive the restart.
proc_restart() {
  local name=$1 grace=${2:-10} downtime=${3:-0} pid log
  pid=$(proc_pid "$name") || die "proc_restart: $name is not running"
  log=$(_proc_log "$name") || die "proc_restart: no log file recorded for $name"
  local -a argv
  mapfile -d '' -t argv <"/proc/$pid/cmdline"
  ((${#argv[@]} > 0)) || die "proc_restart: cannot read the command line of $name (pid $pid)"
  proc_stop "$name" "$grace"
  sleep "$downtime"
  proc_start "$name" "$log" "${argv[@]}"
}
