#!/usr/bin/env bash
# Brings up a real Kubernetes control plane on 127.0.0.1 for local development
# and end-to-end tests: etcd, kube-apiserver (with the aggregation layer) and
# kube-controller-manager (HPA and friends). No kubelet, no scheduler, no
# network beyond loopback. Idempotent: running components are left alone.
#
#   hack/local-up.sh            bring it up (first run builds Kubernetes: minutes)
#   hack/local-down.sh [--purge] stop it (and everything registered in pids/)
#
# Last line of stdout: "export KUBECONFIG=<RUN_DIR>/admin.kubeconfig".
# RUN_DIR/local.env holds ports and paths for other scripts to source.
#
# Environment (defaults in brackets):
#   RUN_DIR              state: pki/, logs/, pids/, etcd/, kubeconfigs [_output/local]
#   APISERVER_PORT       kube-apiserver secure port [16443]
#   ETCD_PORT            etcd client port [12379]
#   ETCD_PEER_PORT       etcd peer port [12380]
#   KCM_PORT             kube-controller-manager secure port [20257]
#   HPA_SYNC             --horizontal-pod-autoscaler-sync-period [5s]
#   HPA_DOWNSCALE        --horizontal-pod-autoscaler-downscale-stabilization [15s]
#   KCM_CONTROLLERS      --controllers [horizontalpodautoscaling,serviceaccount,
#                        serviceaccount-token,namespace,garbagecollector,deployment,
#                        replicaset,clusterrole-aggregation]
#   KCM_SA_CREDENTIALS   --use-service-account-credentials [true]: each
#                        controller runs as its own ServiceAccount (bootstrap RBAC), as in kubeadm clusters
#   NO_KCM=1             skip kube-controller-manager
#   ETCD_EXTRA_ARGS, APISERVER_EXTRA_ARGS, KCM_EXTRA_ARGS
#                        extra flags, word-split, appended last (so they win)
#   ETCD_BIN             etcd binary [etcd on PATH; else apt-get install etcd-server]
#   KUBE_BIN_DIR         dir with kube-apiserver + kube-controller-manager
#                        [built and cached by hack/kube-build/build.sh]
#   ETCD_KEEP_DATA=1     keep etcd data across restarts [fresh on every cold start]
#   STARTUP_TIMEOUT      seconds to wait for each component [120]
set -euo pipefail

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
  exit 0
fi

# shellcheck source=hack/lib/controlplane.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/controlplane.sh"

controlplane_defaults
mkdir -p "$LOG_DIR" "$PROC_DIR"
# Marks RUN_DIR as ours, so local-down.sh --purge never deletes anything else.
touch "$RUN_DIR/.local-up"
trap 'rc=$?; ((rc == 0)) || log_warn "local-up failed; logs in $LOG_DIR; stop what did start with hack/local-down.sh"' EXIT

timer_start total
require_cmd curl kubectl openssl setsid

timer_start step
ensure_etcd
ensure_kube_binaries
log_info "binaries ready in $(timer_elapsed step)s"

timer_start step
pki_ensure "$PKI_DIR"
write_kubeconfigs
log_info "pki and kubeconfigs ready in $(timer_elapsed step)s"

timer_start step
start_etcd
log_info "etcd ready in $(timer_elapsed step)s (127.0.0.1:$ETCD_PORT)"

timer_start step
start_apiserver
log_info "kube-apiserver ready in $(timer_elapsed step)s ($APISERVER_URL)"

if [[ ${NO_KCM:-0} != 1 ]]; then
  timer_start step
  start_kcm
  log_info "kube-controller-manager healthy in $(timer_elapsed step)s (127.0.0.1:$KCM_PORT)"
fi

write_env_file
log_info "control plane up in $(timer_elapsed total)s; state in $RUN_DIR, stop with hack/local-down.sh"
log_info "kubeconfigs: admin.kubeconfig, kcm.kubeconfig, metrics-apiserver.kubeconfig (in $RUN_DIR)"
echo "export KUBECONFIG=$RUN_DIR/admin.kubeconfig"
