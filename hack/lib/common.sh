# shellcheck shell=bash
# Shared helpers for the hack/ scripts: repository root, logging, timing,
# running a command as root. Source it; it defines functions and a few
# variables only and has no side effects.

[[ -n "${_HACK_LIB_COMMON_SOURCED:-}" ]] && return 0
_HACK_LIB_COMMON_SOURCED=1

# REPO_ROOT is the top of the repository, whatever the caller's directory.
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export REPO_ROOT

# Progress and errors go to stderr, so a script's stdout stays free for its
# result (a path, an export line).
log_info() { printf '>>> %s\n' "$*" >&2; }
log_warn() { printf '!!! %s\n' "$*" >&2; }
die() {
  printf 'ERROR: %s\n' "$*" >&2
  exit 1
}

# timer_start NAME records the current time under NAME; timer_elapsed NAME
# prints the seconds since then with one decimal ("4.2").
declare -gA _TIMERS=()
timer_start() { _TIMERS[$1]=$EPOCHREALTIME; }
timer_elapsed() {
  local start=${_TIMERS[$1]:?timer $1 was not started}
  awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

# as_root CMD... runs CMD as root: directly when already root, via sudo
# otherwise. The command is printed first, since it changes the machine.
as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    log_info "running: $*"
    "$@"
  else
    command -v sudo >/dev/null || die "need root for '$*' and sudo is not installed"
    log_info "running: sudo $*"
    sudo "$@"
  fi
}

# require_cmd CMD... fails with a clear message if any CMD is not on PATH.
require_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null || die "'$c' is required but not on PATH"
  done
}
