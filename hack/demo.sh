#!/usr/bin/env bash
# make demo / make demo-down: a local cluster (etcd, kube-apiserver,
# kube-controller-manager), three simulated kubelets (one serving this
# machine's real cgroup numbers), a few workloads, and metrics-apiserver
# registered as metrics.k8s.io — then kubectl top. The cluster stays up.
#
#   hack/demo.sh up     bring everything up (first run builds Kubernetes)
#   hack/demo.sh down   stop everything
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
export RUN_DIR=$REPO/_output/demo
# the demo's own ports, so it can run beside an e2e run
export APISERVER_PORT=${APISERVER_PORT:-17443} ETCD_PORT=${ETCD_PORT:-13379} ETCD_PEER_PORT=${ETCD_PEER_PORT:-13380}
export KCM_PORT=${KCM_PORT:-21257} METRICS_PORT=${METRICS_PORT:-17444}

case ${1:-up} in
down)
  exec "$REPO/hack/local-down.sh"
  ;;
up) ;;
*)
  echo "usage: $0 up|down" >&2
  exit 2
  ;;
esac

"$REPO/hack/local-up.sh" >/dev/null
# shellcheck source=/dev/null
source "$RUN_DIR/local.env"
# shellcheck source=hack/lib/stack.sh
source "$REPO/hack/lib/stack.sh"

stack_start_sim demo-node 2 127.0.10.1 --real-node-name demo-real
cluster_kubectl apply -f "$REPO/hack/local/demo-workloads.yaml" >/dev/null
stack_start_metrics_apiserver

log_info "waiting until kubectl top answers"
deadline=$((SECONDS + 90))
until kubectl top pods -n demo 2>/dev/null | grep -q sidecar-app; do
  ((SECONDS < deadline)) || die "kubectl top pods did not answer within 90s; logs in $LOG_DIR"
  sleep 2
done
echo
echo "\$ kubectl top nodes"
kubectl top nodes
echo
echo "\$ kubectl top pods -A"
kubectl top pods -A
echo
echo "\$ kubectl top pods -n demo --containers"
kubectl top pods -n demo --containers
cat <<EOM

The demo cluster keeps running. Use it with:
  export KUBECONFIG=$KUBECONFIG
  kubectl top nodes; kubectl get podmetrics -A; kubectl get --raw /apis/metrics.k8s.io/v1beta1/nodes
Change a pod's usage:  kubectl -n demo annotate pod <pod> kubelet-sim.metrics-apiserver.io/cpu=500m --overwrite
Logs: $LOG_DIR     Stop: make demo-down
EOM
