# shellcheck shell=bash
# etcd + kube-apiserver + kube-controller-manager on 127.0.0.1, for
# hack/local-up.sh. Every function reads its settings from the environment
# variables that controlplane_defaults fills in; see hack/local-up.sh for the
# list and docs/local-control-plane.md for why the flags are what they are.

[[ -n "${_HACK_LIB_CONTROLPLANE_SOURCED:-}" ]] && return 0
_HACK_LIB_CONTROLPLANE_SOURCED=1
_HACK_LIB_DIR=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=hack/lib/common.sh
source "$_HACK_LIB_DIR/common.sh"
# shellcheck source=hack/lib/proc.sh
source "$_HACK_LIB_DIR/proc.sh"
# shellcheck source=hack/lib/pki.sh
source "$_HACK_LIB_DIR/pki.sh"

# controlplane_defaults sets every unset setting to its default. Call it once,
# after the caller's environment is in place.
controlplane_defaults() {
  : "${RUN_DIR:=$REPO_ROOT/_output/local}"
  : "${APISERVER_PORT:=16443}"
  : "${ETCD_PORT:=12379}"
  : "${ETCD_PEER_PORT:=12380}"
  : "${KCM_PORT:=20257}"
  : "${HPA_SYNC:=5s}"
  : "${HPA_DOWNSCALE:=15s}"
  : "${KCM_CONTROLLERS:=horizontalpodautoscaling,serviceaccount,serviceaccount-token,namespace,garbagecollector,deployment,replicaset,clusterrole-aggregation}"
  : "${KCM_SA_CREDENTIALS:=true}"
  : "${SERVICE_CIDR:=10.0.0.0/24}"
  : "${ETCD_KEEP_DATA:=0}"
  : "${STARTUP_TIMEOUT:=120}"
  : "${ETCD_EXTRA_ARGS:=}"
  : "${APISERVER_EXTRA_ARGS:=}"
  : "${KCM_EXTRA_ARGS:=}"
  RUN_DIR=$(mkdir -p "$RUN_DIR" && cd "$RUN_DIR" && pwd)
  PKI_DIR=$RUN_DIR/pki
  LOG_DIR=$RUN_DIR/logs
  PROC_DIR=$RUN_DIR/pids
  APISERVER_URL=https://127.0.0.1:$APISERVER_PORT
  export RUN_DIR PKI_DIR LOG_DIR PROC_DIR APISERVER_URL
}

# _port_in_use PORT succeeds if something accepts connections on 127.0.0.1:PORT.
_port_in_use() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# _require_free_port NAME PORT: NAME is not running, so its port must be free;
# otherwise another control plane (or anything else) holds it.
_require_free_port() {
  local name=$1 port=$2
  if _port_in_use "$port"; then
    die "127.0.0.1:$port is already in use, so $name cannot start; another local control plane? (ss -ltnp 'sport = :$port'; pick other ports via the *_PORT variables)"
  fi
}

# ensure_etcd sets ETCD_BIN: $ETCD_BIN if given, else etcd from PATH, else
# installs Debian's etcd-server package.
ensure_etcd() {
  if [[ -n "${ETCD_BIN:-}" ]]; then
    [[ -x $ETCD_BIN ]] || die "ETCD_BIN=$ETCD_BIN is not executable"
    return 0
  fi
  if ! ETCD_BIN=$(command -v etcd); then
    log_info "etcd not found on PATH; installing Debian's etcd-server"
    command -v apt-get >/dev/null || die "etcd is not installed and apt-get is not available; set ETCD_BIN"
    # Wait for the dpkg lock rather than fail when another install is running.
    local -a apt=(apt-get -o DPkg::Lock::Timeout=300)
    # Its output goes to stderr: stdout carries local-up.sh's result only.
    as_root "${apt[@]}" update >&2
    as_root env DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends etcd-server >&2
    ETCD_BIN=$(command -v etcd) || die "etcd-server installed but no etcd on PATH"
  fi
  log_info "etcd: $ETCD_BIN ($("$ETCD_BIN" --version 2>/dev/null | head -n1))"
}

# ensure_kube_binaries sets KUBE_BIN_DIR: $KUBE_BIN_DIR if it holds both
# binaries, else the output of hack/kube-build/build.sh (cached build).
ensure_kube_binaries() {
  if [[ -n "${KUBE_BIN_DIR:-}" ]]; then
    [[ -x $KUBE_BIN_DIR/kube-apiserver && -x $KUBE_BIN_DIR/kube-controller-manager ]] ||
      die "KUBE_BIN_DIR=$KUBE_BIN_DIR lacks kube-apiserver or kube-controller-manager"
  else
    KUBE_BIN_DIR=$("$REPO_ROOT/hack/kube-build/build.sh" | tail -n1)
    [[ -x $KUBE_BIN_DIR/kube-apiserver ]] || die "hack/kube-build/build.sh gave no usable bin dir ('$KUBE_BIN_DIR')"
  fi
  export KUBE_BIN_DIR
  log_info "kubernetes: $KUBE_BIN_DIR ($("$KUBE_BIN_DIR/kube-apiserver" --version 2>/dev/null))"
}

# write_kubeconfigs writes admin, kube-controller-manager and metrics-apiserver
# kubeconfigs into RUN_DIR.
write_kubeconfigs() {
  kubeconfig_write "$RUN_DIR/admin.kubeconfig" "$APISERVER_URL" "$PKI_DIR/ca.crt" \
    admin "$PKI_DIR/admin.crt" "$PKI_DIR/admin.key"
  kubeconfig_write "$RUN_DIR/kcm.kubeconfig" "$APISERVER_URL" "$PKI_DIR/ca.crt" \
    system:kube-controller-manager "$PKI_DIR/kube-controller-manager.crt" "$PKI_DIR/kube-controller-manager.key"
  kubeconfig_write "$RUN_DIR/metrics-apiserver.kubeconfig" "$APISERVER_URL" "$PKI_DIR/ca.crt" \
    metrics-apiserver "$PKI_DIR/metrics-apiserver.crt" "$PKI_DIR/metrics-apiserver.key"
}

start_etcd() {
  if proc_alive etcd; then
    log_info "etcd already running (pid $(proc_pid etcd))"
    return 0
  fi
  _require_free_port etcd "$ETCD_PORT"
  _require_free_port "etcd (peer)" "$ETCD_PEER_PORT"
  # A fresh cluster on every cold start keeps runs independent. Keep the data
  # when asked to, or when kube-apiserver still runs on top of it.
  if [[ $ETCD_KEEP_DATA != 1 ]] && ! proc_alive kube-apiserver; then
    rm -rf "$RUN_DIR/etcd"
  fi
  local -a extra
  read -r -a extra <<<"$ETCD_EXTRA_ARGS"
  proc_start etcd "$LOG_DIR/etcd.log" "$ETCD_BIN" \
    --name local \
    --data-dir "$RUN_DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "local=http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster-state new \
    --logger zap --log-level warn \
    --quota-backend-bytes $((2 * 1024 * 1024 * 1024)) \
    "${extra[@]}"
  proc_wait etcd "etcd /health" "$STARTUP_TIMEOUT" \
    curl -sf "http://127.0.0.1:$ETCD_PORT/health"
}

start_apiserver() {
  if proc_alive kube-apiserver; then
    log_info "kube-apiserver already running (pid $(proc_pid kube-apiserver))"
  else
    _require_free_port kube-apiserver "$APISERVER_PORT"
    local -a extra
    read -r -a extra <<<"$APISERVER_EXTRA_ARGS"
    # Aggregation: the requestheader-* flags tell aggregated servers (via the
    # kube-system/extension-apiserver-authentication ConfigMap) whom to trust
    # for X-Remote-* headers; the proxy client cert is what the aggregator
    # presents. Routing off: APIServices resolve through the Service itself,
    # which lets an ExternalName Service point at 127.0.0.1 (docs).
    proc_start kube-apiserver "$LOG_DIR/kube-apiserver.log" "$KUBE_BIN_DIR/kube-apiserver" \
      --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
      --bind-address 127.0.0.1 \
      --secure-port "$APISERVER_PORT" \
      --advertise-address 127.0.0.1 \
      --endpoint-reconciler-type none \
      --service-cluster-ip-range "$SERVICE_CIDR" \
      --tls-cert-file "$PKI_DIR/apiserver.crt" \
      --tls-private-key-file "$PKI_DIR/apiserver.key" \
      --client-ca-file "$PKI_DIR/ca.crt" \
      --authorization-mode RBAC \
      --service-account-issuer https://kubernetes.default.svc.cluster.local \
      --service-account-key-file "$PKI_DIR/sa.pub" \
      --service-account-signing-key-file "$PKI_DIR/sa.key" \
      --requestheader-client-ca-file "$PKI_DIR/front-proxy-ca.crt" \
      --requestheader-allowed-names front-proxy-client \
      --requestheader-username-headers X-Remote-User \
      --requestheader-group-headers X-Remote-Group \
      --requestheader-uid-headers X-Remote-Uid \
      --requestheader-extra-headers-prefix X-Remote-Extra- \
      --proxy-client-cert-file "$PKI_DIR/front-proxy-client.crt" \
      --proxy-client-key-file "$PKI_DIR/front-proxy-client.key" \
      --enable-aggregator-routing=false \
      --profiling=false \
      -v 1 \
      "${extra[@]}"
  fi
  proc_wait kube-apiserver "kube-apiserver /readyz" "$STARTUP_TIMEOUT" \
    curl -sf --cacert "$PKI_DIR/ca.crt" --cert "$PKI_DIR/admin.crt" --key "$PKI_DIR/admin.key" \
    "$APISERVER_URL/readyz"
}

# grant_kcm_rbac gives the system:kube-controller-manager user what its
# controllers need. With per-controller service-account credentials the
# built-in bootstrap roles suffice; with one shared identity they do not (the
# bootstrap role only lists/watches; HPA must update */scale, the garbage
# collector and namespace controller delete anything), so the user is bound
# to cluster-admin. Either way the cert carries no system:masters group.
grant_kcm_rbac() {
  local binding=local-up:kube-controller-manager
  local -a kc=(kubectl --kubeconfig "$RUN_DIR/admin.kubeconfig")
  if [[ $KCM_SA_CREDENTIALS == true ]]; then
    "${kc[@]}" delete clusterrolebinding "$binding" --ignore-not-found >/dev/null 2>&1 || true
    return 0
  fi
  "${kc[@]}" create clusterrolebinding "$binding" \
    --clusterrole cluster-admin --user system:kube-controller-manager \
    --dry-run=client -o yaml |
    "${kc[@]}" apply -f - >/dev/null ||
    die "could not create ClusterRoleBinding $binding"
}

start_kcm() {
  if proc_alive kube-controller-manager; then
    log_info "kube-controller-manager already running (pid $(proc_pid kube-controller-manager))"
  else
    _require_free_port kube-controller-manager "$KCM_PORT"
    grant_kcm_rbac
    local kubeconfig=$RUN_DIR/kcm.kubeconfig
    local -a extra
    read -r -a extra <<<"$KCM_EXTRA_ARGS"
    proc_start kube-controller-manager "$LOG_DIR/kube-controller-manager.log" \
      "$KUBE_BIN_DIR/kube-controller-manager" \
      --kubeconfig "$kubeconfig" \
      --authentication-kubeconfig "$kubeconfig" \
      --authorization-kubeconfig "$kubeconfig" \
      --bind-address 127.0.0.1 \
      --secure-port "$KCM_PORT" \
      --leader-elect=false \
      --use-service-account-credentials="$KCM_SA_CREDENTIALS" \
      --controllers "$KCM_CONTROLLERS" \
      --root-ca-file "$PKI_DIR/ca.crt" \
      --service-account-private-key-file "$PKI_DIR/sa.key" \
      --horizontal-pod-autoscaler-sync-period "$HPA_SYNC" \
      --horizontal-pod-autoscaler-downscale-stabilization "$HPA_DOWNSCALE" \
      --profiling=false \
      -v 1 \
      "${extra[@]}"
  fi
  # /healthz is an always-allowed path on the self-signed secure port.
  proc_wait kube-controller-manager "kube-controller-manager /healthz" "$STARTUP_TIMEOUT" \
    curl -skf "https://127.0.0.1:$KCM_PORT/healthz"
}

# write_env_file writes RUN_DIR/local.env, for scripts that run next to the
# control plane: `source "$RUN_DIR/local.env"`.
write_env_file() {
  cat >"$RUN_DIR/local.env" <<EOF
# Written by hack/local-up.sh; source it to talk to this control plane.
RUN_DIR=$(printf '%q' "$RUN_DIR")
PKI_DIR=$(printf '%q' "$PKI_DIR")
LOG_DIR=$(printf '%q' "$LOG_DIR")
PROC_DIR=$(printf '%q' "$PROC_DIR")
KUBE_BIN_DIR=$(printf '%q' "$KUBE_BIN_DIR")
APISERVER_PORT=$APISERVER_PORT
APISERVER_URL=$APISERVER_URL
ETCD_PORT=$ETCD_PORT
KCM_PORT=$KCM_PORT
KUBECONFIG=$(printf '%q' "$RUN_DIR/admin.kubeconfig")
METRICS_KUBECONFIG=$(printf '%q' "$RUN_DIR/metrics-apiserver.kubeconfig")
export RUN_DIR PKI_DIR LOG_DIR PROC_DIR KUBE_BIN_DIR APISERVER_PORT APISERVER_URL ETCD_PORT KCM_PORT KUBECONFIG METRICS_KUBECONFIG
EOF
}
