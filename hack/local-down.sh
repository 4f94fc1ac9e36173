#!/usr/bin/env bash
# Stops the local control plane started by hack/local-up.sh, and every other
# process registered in RUN_DIR/pids (metrics-apiserver, kubelet simulators,
# ...; see hack/lib/proc.sh), newest first: TERM to the process group, wait,
# then KILL. Only processes named by those pid files are touched.
#
#   hack/local-down.sh           stop; keep RUN_DIR (pki, logs) for the next run
#   hack/local-down.sh --purge   stop, then delete RUN_DIR
#
# Environment: RUN_DIR [_output/local], STOP_GRACE seconds before KILL [10].
set -euo pipefail

# shellcheck source=hack/lib/proc.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/proc.sh"

purge=false
for arg in "$@"; do
  case $arg in
    --purge) purge=true ;;
    -h | --help)
      sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
      exit 0
      ;;
    *) die "unknown argument: $arg (try --help)" ;;
  esac
done

RUN_DIR=${RUN_DIR:-$REPO_ROOT/_output/local}
if [[ ! -d $RUN_DIR ]]; then
  log_info "nothing to stop: $RUN_DIR does not exist"
  exit 0
fi
RUN_DIR=$(cd "$RUN_DIR" && pwd)
PROC_DIR=$RUN_DIR/pids

proc_stop_all "${STOP_GRACE:-10}"

if $purge; then
  # Delete only a directory that local-up.sh created.
  [[ -f $RUN_DIR/.local-up ]] || die "refusing to purge $RUN_DIR: no .local-up marker (not made by hack/local-up.sh)"
  rm -rf "$RUN_DIR"
  log_info "purged $RUN_DIR"
fi
