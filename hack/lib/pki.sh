# shellcheck shell=bash
# PKI and kubeconfigs for the local control plane, made with openssl.
#
# pki_ensure DIR creates (or keeps) in DIR, as NAME.crt/NAME.key:
#   ca                         cluster CA: kube-apiserver serving + client certs
#   apiserver                  kube-apiserver serving cert
#   admin                      client, O=system:masters
#   kube-controller-manager    client, CN=system:kube-controller-manager, no group
#   metrics-apiserver          client, CN=metrics-apiserver, no group (gets
#                              least-privilege RBAC from hack/local/)
#   metrics-apiserver-serving  serving cert for a locally run metrics-apiserver,
#                              valid for the name the aggregator dials
#                              (metrics-apiserver.kube-system.svc) and loopback;
#                              its CA is ca.crt (METRICS_CA_FILE for caBundle)
#   front-proxy-ca             CA the aggregator's proxy client cert chains to
#   front-proxy-client         the aggregator's client cert (CN=front-proxy-client)
#   sa.key / sa.pub            service-account token signing key pair
#
# Idempotent: a cert is regenerated only when it is missing, no longer chains
# to its CA, or its requested subject/extensions changed (recorded in NAME.spec).
# EC P-256 keys throughout: fast to make, accepted by every component.

[[ -n "${_HACK_LIB_PKI_SOURCED:-}" ]] && return 0
_HACK_LIB_PKI_SOURCED=1
# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PKI_DAYS=${PKI_DAYS:-3650}

# _pki_ca DIR NAME CN: a self-signed CA, kept if present.
_pki_ca() {
  local dir=$1 name=$2 cn=$3
  [[ -s $dir/$name.crt && -s $dir/$name.key ]] && return 0
  log_info "pki: creating CA $name"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -days "$PKI_DAYS" -subj "/CN=$cn" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -keyout "$dir/$name.key" -out "$dir/$name.crt" 2>/dev/null
}

# _pki_leaf DIR NAME CA SUBJECT EKU [SAN]: a leaf cert signed by CA.
#   SUBJECT like "/O=system:masters/CN=admin", EKU serverAuth|clientAuth,
#   SAN like "DNS:localhost,IP:127.0.0.1".
_pki_leaf() {
  local dir=$1 name=$2 ca=$3 subj=$4 eku=$5 san=${6:-}
  local spec="ca=$ca subj=$subj eku=$eku san=$san"
  if [[ -s $dir/$name.crt && -s $dir/$name.key && -f $dir/$name.spec ]] &&
    [[ $(<"$dir/$name.spec") == "$spec" ]] &&
    openssl verify -CAfile "$dir/$ca.crt" "$dir/$name.crt" >/dev/null 2>&1; then
    return 0
  fi
  log_info "pki: creating $name ($subj)"
  local ext="$dir/$name.ext"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    echo "authorityKeyIdentifier=keyid"
    [[ -z $san ]] || echo "subjectAltName=$san"
  } >"$ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "$subj" -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$ca.crt" -CAkey "$dir/$ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days "$PKI_DAYS" \
    -extfile "$ext" -out "$dir/$name.crt" 2>/dev/null
  rm -f "$dir/$name.csr" "$ext"
  echo "$spec" >"$dir/$name.spec"
}

pki_ensure() {
  local dir=${1:?pki_ensure DIR}
  require_cmd openssl
  mkdir -p "$dir"
  chmod 700 "$dir"
  (
    umask 077
    _pki_ca "$dir" ca local-cluster-ca
    _pki_ca "$dir" front-proxy-ca local-front-proxy-ca

    _pki_leaf "$dir" apiserver ca "/CN=kube-apiserver" serverAuth \
      "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.0.0.1"
    _pki_leaf "$dir" admin ca "/O=system:masters/CN=local-admin" clientAuth
    _pki_leaf "$dir" kube-controller-manager ca "/CN=system:kube-controller-manager" clientAuth
    _pki_leaf "$dir" metrics-apiserver ca "/CN=metrics-apiserver" clientAuth
    _pki_leaf "$dir" metrics-apiserver-serving ca "/CN=metrics-apiserver" serverAuth \
      "DNS:metrics-apiserver.kube-system.svc,DNS:metrics-apiserver.kube-system.svc.cluster.local,DNS:localhost,IP:127.0.0.1"
    _pki_leaf "$dir" front-proxy-client front-proxy-ca "/CN=front-proxy-client" clientAuth

    if [[ ! -s $dir/sa.key || ! -s $dir/sa.pub ]]; then
      log_info "pki: creating service-account signing key pair"
      openssl ecparam -name prime256v1 -genkey -noout -out "$dir/sa.key"
      openssl ec -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
    fi
  )
}

# kubeconfig_write FILE SERVER CA_FILE USER CERT_FILE KEY_FILE writes a
# kubeconfig with everything embedded, so it stays valid wherever it is copied.
kubeconfig_write() {
  local file=$1 server=$2 ca=$3 user=$4 cert=$5 key=$6
  local tmp="$file.tmp"
  (
    umask 077
    cat >"$tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 <"$ca")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 <"$cert")
    client-key-data: $(base64 -w0 <"$key")
contexts:
- name: $user@local
  context:
    cluster: local
    user: $user
current-context: $user@local
EOF
  )
  mv -f "$tmp" "$file"
}
