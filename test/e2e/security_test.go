package e2e

import (
	"bufio"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/metrics-apiserver/metrics-apiserver/test/kubeletsim"
)

const sectionSecurity = "Security"

// clusterClientCert issues a client certificate from the cluster CA, which
// metrics-apiserver trusts through kube-system/extension-apiserver-authentication.
func clusterClientCert(t *testing.T, user string, groups ...string) *tls.Certificate {
	t.Helper()
	ca, err := tls.LoadX509KeyPair(filepath.Join(env.pkiDir, "ca.crt"), filepath.Join(env.pkiDir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(ca.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: user, Organization: groups},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, ca.PrivateKey.(crypto.Signer))
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func bindClusterRole(t *testing.T, name, role string, subjects ...rbacv1.Subject) {
	t.Helper()
	b := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
		Subjects:   subjects,
	}
	if _, err := env.kube.RbacV1().ClusterRoleBindings().Create(context.Background(), b, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.kube.RbacV1().ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}

func userSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: name}
}

// serviceAccountToken returns a fresh token of a new ServiceAccount in kube-system.
func serviceAccountToken(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	sas := env.kube.CoreV1().ServiceAccounts("kube-system")
	if _, err := sas.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sas.Delete(context.Background(), name, metav1.DeleteOptions{}) })
	exp := int64(3600)
	tr, err := sas.CreateToken(ctx, name, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// TestSecurityAccess asks metrics-apiserver's secure port directly (not
// through the aggregator) as nobody, as users without and with RBAC, as a
// ServiceAccount and as system:masters.
func TestSecurityAccess(t *testing.T) {
	const nodes, pods = "/apis/metrics.k8s.io/v1beta1/nodes", "/apis/metrics.k8s.io/v1beta1/namespaces/kube-system/pods"
	// RBAC first: denials are cached for 10 s by the server's authorizer
	bindClusterRole(t, "e2e-sec-reader", "system:aggregated-metrics-reader", userSubject("e2e-sec-reader"))
	metricsRole := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-sec-metrics-scraper"},
		Rules:      []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
	}
	if _, err := env.kube.RbacV1().ClusterRoles().Create(context.Background(), metricsRole, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.kube.RbacV1().ClusterRoles().Delete(context.Background(), metricsRole.Name, metav1.DeleteOptions{})
	})
	bindClusterRole(t, "e2e-sec-scraper", metricsRole.Name, userSubject("e2e-sec-scraper"))
	saToken := serviceAccountToken(t, "e2e-sec-nobody")

	type who struct {
		name   string
		client *http.Client
		header map[string]string
	}
	anonymous := who{"anonymous", securePortClient(t, nil), nil}
	bogus := who{"invalid bearer token", securePortClient(t, nil), map[string]string{"Authorization": "Bearer not-a-token"}}
	sa := who{"ServiceAccount token, no RBAC (TokenReview)", securePortClient(t, nil), map[string]string{"Authorization": "Bearer " + saToken}}
	nobody := who{"client certificate, no RBAC", securePortClient(t, clusterClientCert(t, "e2e-sec-nobody")), nil}
	reader := who{"bound to system:aggregated-metrics-reader", securePortClient(t, clusterClientCert(t, "e2e-sec-reader")), nil}
	scraper := who{"granted get on /metrics", securePortClient(t, clusterClientCert(t, "e2e-sec-scraper")), nil}
	masters := who{"system:masters", securePortClient(t, clusterClientCert(t, "e2e-sec-admin", "system:masters")), nil}
	tests := []struct {
		path string
		who  who
		want int
	}{
		{nodes, anonymous, 401},
		{pods, anonymous, 401},
		{nodes, bogus, 401},
		{nodes, sa, 403},
		{nodes, nobody, 403},
		{pods, nobody, 403},
		{nodes, reader, 200},
		{pods, reader, 200},
		{nodes, scraper, 403},
		{nodes, masters, 200},
		{"/metrics", anonymous, 401},
		{"/metrics", nobody, 403},
		{"/metrics", reader, 403},
		{"/metrics", scraper, 200},
		{"/metrics", masters, 200},
		{"/healthz", anonymous, 200},
		{"/livez", anonymous, 200},
		{"/readyz", anonymous, 200},
		{"/readyz/metrics-data", anonymous, 401},
		{"/readyz", nobody, 200},
		{"/readyz/metrics-data", masters, 200},
		// discovery is open to every authenticated user (system:discovery)
		{"/openapi/v2", anonymous, 401},
		{"/openapi/v2", nobody, 200},
		{"/apis", anonymous, 401},
		{"/apis", nobody, 200},
		{"/version", anonymous, 401},
		{"/debug/pprof/", anonymous, 401},
		{"/debug/pprof/", masters, 404}, // profiling is opt-in (--profiling)
	}
	for _, tc := range tests {
		code, body, err := getPath(tc.who.client, metricsPort(), tc.path, tc.who.header)
		if err != nil {
			t.Fatalf("GET %s as %s: %v", tc.path, tc.who.name, err)
		}
		if code != tc.want {
			t.Errorf("GET %s as %s: HTTP %d, want %d: %.200s", tc.path, tc.who.name, code, tc.want, body)
			continue
		}
		row(t, sectionSecurity, fmt.Sprintf("GET `%s` on the secure port: %s", tc.path, tc.who.name),
			fmt.Sprintf("HTTP %d", tc.want), fmt.Sprintf("HTTP %d", code))
	}
}

// TestSecurityTLSMinimum: TLS 1.1 is refused on the serving port.
func TestSecurityTLSMinimum(t *testing.T) {
	dial := func(min, max uint16) (*tls.ConnectionState, error) {
		d := &tls.Dialer{Config: &tls.Config{MinVersion: min, MaxVersion: max, InsecureSkipVerify: true}} // #nosec G402 -- only the version is under test
		c, err := d.DialContext(context.Background(), "tcp", "127.0.0.1:"+metricsPort())
		if err != nil {
			return nil, err
		}
		defer c.Close()
		st := c.(*tls.Conn).ConnectionState()
		return &st, nil
	}
	for _, tc := range []struct {
		name     string
		min, max uint16
		ok       bool
	}{
		{"TLS 1.0", tls.VersionTLS10, tls.VersionTLS10, false},
		{"TLS 1.1", tls.VersionTLS11, tls.VersionTLS11, false},
		{"TLS 1.2", tls.VersionTLS12, tls.VersionTLS12, true},
		{"TLS 1.3", tls.VersionTLS13, tls.VersionTLS13, true},
	} {
		st, err := dial(tc.min, tc.max)
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s client: %v", tc.name, err)
		case !tc.ok && err == nil:
			t.Errorf("%s client: handshake succeeded (%s)", tc.name, tls.VersionName(st.Version))
		case !tc.ok && !strings.Contains(err.Error(), "protocol version"):
			t.Errorf("%s client: %v, want a protocol version alert", tc.name, err)
		case tc.ok:
			row(t, sectionSecurity, "a "+tc.name+" client on the serving port", "handshake succeeds",
				fmt.Sprintf("%s, %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite)))
		default:
			row(t, sectionSecurity, "a "+tc.name+" client on the serving port", "handshake refused (TLS 1.2 is the minimum)",
				"refused: "+strings.TrimPrefix(err.Error(), "remote error: "))
		}
	}
}

// listeningSockets returns the TCP ports a process listens on and the UDP
// sockets it holds, from /proc.
func listeningSockets(t *testing.T, pid int) (tcp []string, udp []string) {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(target, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	for _, table := range []string{"tcp", "tcp6", "udp", "udp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || !inodes[fields[9]] {
				continue
			}
			addr := procAddr(fields[1])
			switch {
			case strings.HasPrefix(table, "tcp") && fields[3] == "0A": // LISTEN
				tcp = append(tcp, addr)
			case strings.HasPrefix(table, "udp"):
				udp = append(udp, addr)
			}
		}
		f.Close()
	}
	sort.Strings(tcp)
	return tcp, udp
}

// procAddr turns /proc/net/tcp's "0100007F:7A94" into 127.0.0.1:31380.
func procAddr(s string) string {
	hexIP, hexPort, _ := strings.Cut(s, ":")
	b, _ := hex.DecodeString(hexIP)
	port, _ := strconv.ParseUint(hexPort, 16, 16)
	ip := make(net.IP, len(b))
	for i := 0; i+4 <= len(b); i += 4 { // each 32-bit word is in host (little-endian) order
		ip[i], ip[i+1], ip[i+2], ip[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	return net.JoinHostPort(ip.String(), strconv.FormatUint(port, 10))
}

// TestSecurityOnlySecurePort: metrics-apiserver listens on its secure port
// and nothing else (no insecure, health or metrics port, no UDP).
func TestSecurityOnlySecurePort(t *testing.T) {
	tcp, udp := listeningSockets(t, procPid(t, "metrics-apiserver"))
	want := "127.0.0.1:" + metricsPort()
	if len(tcp) != 1 || tcp[0] != want || len(udp) != 0 {
		t.Fatalf("listening on TCP %v and UDP %v, want only TCP %s", tcp, udp, want)
	}
	row(t, sectionSecurity, "sockets metrics-apiserver listens on (from /proc, default flags)", "only the secure port",
		fmt.Sprintf("TCP %s only, no UDP", "127.0.0.1:<secure port>"))
}

// TestSecurityKubeletTLS runs a second metrics-apiserver that verifies
// kubelet certificates against node names, reads its kubelet CA from a file
// the test changes, and talks to kube-apiserver and kubelets with a
// ServiceAccount token, at -v=8, with profiling on. Its kubelets: one with
// a certificate for its name but not its address (metrics-server #1588), one
// from a CA the bundle lacks at first, one for another name, and one
// reflecting the credentials it gets in a 401.
func TestSecurityKubeletTLS(t *testing.T) {
	ctx := context.Background()
	logs := newLogCursor(t, "metrics-apiserver")
	ns := newNamespace(t, "e2e-kubelet-tls")
	t.Cleanup(func() { forceDeletePods(ns) })

	// the second server's identity: a ServiceAccount with the server's RBAC
	const sa = "e2e-token-server"
	token := serviceAccountToken(t, sa)
	saSubject := rbacv1.Subject{Kind: "ServiceAccount", Name: sa, Namespace: "kube-system"}
	bindClusterRole(t, "e2e-token-server", "system:metrics-apiserver", saSubject)
	bindClusterRole(t, "e2e-token-server-delegator", "system:auth-delegator", saSubject)
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-token-server-auth-reader", Namespace: "kube-system"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "extension-apiserver-authentication-reader"},
		Subjects:   []rbacv1.Subject{saSubject},
	}
	if _, err := env.kube.RbacV1().RoleBindings("kube-system").Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.kube.RbacV1().RoleBindings("kube-system").Delete(context.Background(), rb.Name, metav1.DeleteOptions{})
	})

	faultFile := filepath.Join(t.TempDir(), "faults")
	writeFaults(t, faultFile, []string{
		"e2e-tls-0 " + kubeletsim.FaultTLSNameOnly,
		"e2e-tls-1 " + kubeletsim.FaultTLSSecondCA,
		"e2e-tls-2 " + kubeletsim.FaultTLSWrongName,
		"e2e-tls-3 " + kubeletsim.FaultHTTP401,
	})
	startSim(t, "e2e-tls", 4, env.net+".44.1", "--fault-file", faultFile, "--accept-bearer-tokens", "--node-labels", "e2e-tls=true")
	for i := 0; i < 4; i++ {
		p := simPod(ns, fmt.Sprintf("p-%d", i), nil, map[string]string{annCPU: "40m", annMemory: "16Mi"}, "app")
		p.Spec.NodeName = fmt.Sprintf("e2e-tls-%d", i)
		createPod(t, p)
	}

	caFile := filepath.Join(t.TempDir(), "kubelet-ca.crt")
	simCA, err := os.ReadFile(filepath.Join(env.simDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, caFile, simCA)
	port := freePort(t)
	b := startMetricsAPIServer(t, "metrics-apiserver-b", token, port,
		"--kubelet-certificate-authority", caFile, "--kubelet-tls-verify-node-name",
		"--node-selector", "e2e-tls=true", "--profiling", "-v=8",
		"--authorization-always-allow-paths", "/healthz,/readyz,/livez,/metrics") // as the chart's metrics.allowAnonymous
	admin := securePortClient(t, adminCert(t))
	servedByB := func(node string) error {
		code, body, err := getPath(admin, port, "/apis/metrics.k8s.io/v1beta1/nodes/"+node, nil)
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("%s on the second server: HTTP %d %v %.100s", node, code, err, body)
		}
		return nil
	}

	// #1588: a certificate for the node's name without IP SAN
	var nameServed time.Duration
	started := time.Now()
	eventually(t, 3*env.resolution, "node with a name-only certificate served by the node-name verifying server", func() error {
		nameServed = time.Since(started)
		return servedByB("e2e-tls-0")
	})
	var mainLine []string
	eventually(t, 2*env.resolution, "the main server (address verification) refusing the same certificate", func() error {
		mainLine = grepLines(logs.lines(t), logScrapeFailed, `node="e2e-tls-0"`, "doesn't contain any IP SANs")
		if len(mainLine) != 1 {
			return fmt.Errorf("%d log lines", len(mainLine))
		}
		return nil
	})
	row(t, "Kubelet TLS", "kubelet certificate naming the node but not its IP (metrics-server #1588)",
		"default verification (against the address dialed) fails with reason `tls`; `--kubelet-tls-verify-node-name` verifies it against the Node's name while dialing its IP, and serves the node",
		fmt.Sprintf("default: 1 log line \"doesn't contain any IP SANs\"; --kubelet-tls-verify-node-name: served within %s", roundUp(nameServed)))

	for _, tc := range []struct{ node, detail, scenario string }{
		{"e2e-tls-2", "certificate is valid for not-e2e-tls-2.invalid, not e2e-tls-2", "kubelet certificate for another name, verified against node names"},
		{"e2e-tls-1", "certificate signed by unknown authority", "kubelet certificate from a CA missing in --kubelet-certificate-authority"},
	} {
		var line []string
		eventually(t, 2*env.resolution, tc.node+" refused by the second server", func() error {
			line = grepLines(fileLines(t, b.log), logScrapeFailed, `node="`+tc.node+`"`, `reason="tls"`, tc.detail)
			if len(line) != 1 {
				return fmt.Errorf("%d matching log lines", len(line))
			}
			return nil
		})
		if err := servedByB(tc.node); err == nil {
			t.Fatalf("%s served by the second server", tc.node)
		}
		row(t, "Kubelet TLS", tc.scenario, "reason `tls`, node not served", fmt.Sprintf("1 log line %q; not served", tc.detail))
	}

	// the CA file gains the missing CA: no restart needed
	secondCA, err := os.ReadFile(kubeletsim.SecondCAPath(filepath.Join(env.simDir, "pki")))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, caFile, append(append([]byte{}, simCA...), secondCA...))
	changed := time.Now()
	var reloaded time.Duration
	eventually(t, 10*time.Second+3*env.resolution, "node of the added CA served after the CA file changed", func() error {
		reloaded = time.Since(changed)
		return servedByB("e2e-tls-1")
	})
	if l := grepLines(fileLines(t, b.log), "Kubelet CA bundle changed"); len(l) != 1 {
		t.Errorf("CA reload logged %d times: %q", len(l), l)
	}
	row(t, "Kubelet TLS", "the kubelet CA file gains the missing CA while the server runs",
		"re-read within 10 s; the node is served without a restart; one log line",
		fmt.Sprintf("served %s after the file changed; 1 line \"Kubelet CA bundle changed\"", roundUp(reloaded)))

	// the bearer token: sent to kubelets, reflected by one, never logged
	var reflected []string
	eventually(t, 2*env.resolution, "the 401 of the reflecting kubelet logged", func() error {
		reflected = grepLines(fileLines(t, b.log), logScrapeFailed, `node="e2e-tls-3"`, "HTTP 401")
		if len(reflected) != 1 {
			return fmt.Errorf("%d lines", len(reflected))
		}
		return nil
	})
	if !strings.Contains(reflected[0], "Unauthorized: [redacted]") {
		t.Errorf("the reflected credential is not shown redacted: %s", reflected[0])
	}
	_, metricsBody, _ := getPath(admin, port, "/metrics", nil)
	signature := token[strings.LastIndexByte(token, '.')+1:]
	for name, text := range map[string]string{"its log": string(readAll(t, b.log)), "its /metrics": string(metricsBody)} {
		for _, secret := range []string{token, signature} {
			if strings.Contains(text, secret) {
				t.Fatalf("the bearer token appears in %s", name)
			}
		}
	}
	logSize := len(readAll(t, b.log))
	row(t, sectionSecurity, "the kubelet bearer token (a ServiceAccount token), with a kubelet reflecting it in its 401 body, server at -v=8",
		"never in the server's log or /metrics; the reflected credential is shown as [redacted]",
		fmt.Sprintf("absent from %d KiB of log and from /metrics; the 401 line shows \"Unauthorized: [redacted]\"", logSize>>10))

	// an operator may make /metrics public, as the chart's metrics.allowAnonymous does
	if code, body, err := getPath(securePortClient(t, nil), port, "/metrics", nil); err != nil || code != http.StatusOK {
		t.Fatalf("anonymous /metrics with /metrics in --authorization-always-allow-paths: HTTP %d %v %.100s", code, err, body)
	}
	row(t, sectionSecurity, "GET `/metrics` anonymously, /metrics added to `--authorization-always-allow-paths` (the chart's `metrics.allowAnonymous`)",
		"HTTP 200: the paths authorization opens to everyone are the paths anonymous requests may reach", "HTTP 200")

	// profiling is opt-in, on the secure port, behind authorization
	for _, tc := range []struct {
		port, who string
		client    *http.Client
		want      int
	}{
		{port, "system:masters, --profiling", admin, 200},
		{port, "anonymous, --profiling", securePortClient(t, nil), 401},
		{metricsPort(), "system:masters, default flags", admin, 404},
	} {
		code, _, err := getPath(tc.client, tc.port, "/debug/pprof/", nil)
		if err != nil || code != tc.want {
			t.Fatalf("/debug/pprof/ as %s: HTTP %d %v, want %d", tc.who, code, err, tc.want)
		}
		row(t, sectionSecurity, "GET `/debug/pprof/`: "+tc.who, fmt.Sprintf("HTTP %d", tc.want), fmt.Sprintf("HTTP %d", code))
	}
	tcp, udp := listeningSockets(t, b.cmd.Process.Pid)
	if len(tcp) != 1 || tcp[0] != "127.0.0.1:"+port || len(udp) != 0 {
		t.Fatalf("with --profiling: listening on TCP %v, UDP %v", tcp, udp)
	}
	row(t, sectionSecurity, "sockets metrics-apiserver listens on with --profiling", "only the secure port (profiling is served there, authorized)",
		"TCP 127.0.0.1:<secure port> only, no UDP")
}

type serverProc struct {
	cmd *exec.Cmd
	log string
}

// startMetricsAPIServer runs one more metrics-apiserver on 127.0.0.1:port,
// authenticating to kube-apiserver (and kubelets) with token, not
// registered as the APIService; it is stopped when the test ends.
func startMetricsAPIServer(t *testing.T, name, token, port string, extra ...string) *serverProc {
	t.Helper()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	ca, err := os.ReadFile(filepath.Join(env.pkiDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: %q, certificate-authority-data: %s}
users:
- name: token
  user: {token: %q}
contexts:
- name: local
  context: {cluster: local, user: token}
current-context: local
`, env.restConfig.Host, base64.StdEncoding.EncodeToString(ca), token)))
	args := append([]string{
		"--kubeconfig", kubeconfig, "--authentication-kubeconfig", kubeconfig, "--authorization-kubeconfig", kubeconfig,
		"--bind-address", "127.0.0.1", "--secure-port", port,
		"--tls-cert-file", filepath.Join(env.pkiDir, "metrics-apiserver-serving.crt"),
		"--tls-private-key-file", filepath.Join(env.pkiDir, "metrics-apiserver-serving.key"),
		"--kubelet-use-node-status-port", "--metric-resolution", env.resolution.String(), "--kubelet-request-timeout", "3s",
	}, extra...)
	p := startProcess(t, name, filepath.Join(env.binDir, "metrics-apiserver"), args...)
	anonymous := securePortClient(t, nil)
	eventually(t, time.Minute, name+" live", func() error {
		code, _, err := getPath(anonymous, port, "/livez", nil)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("HTTP %d", code)
		}
		return err
	})
	return &serverProc{cmd: p.cmd, log: p.log}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fileLines(t *testing.T, path string) []string {
	t.Helper()
	return strings.Split(string(readAll(t, path)), "\n")
}
