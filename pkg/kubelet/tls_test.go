/*
Copyright The metrics-apiserver Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
*/

package kubelet

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/storage"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// newCA makes a self-signed ECDSA CA valid for an hour around now. It takes no
// *testing.T so BenchmarkIdleConnections' child process can call it.
func newCA(name string) (*testCA, error) {
	ca := &testCA{}
	der, key, err := ca.issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	})
	if err != nil {
		return nil, err
	}
	if ca.cert, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	ca.key = key
	ca.pem = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return ca, nil
}

// issue signs tmpl, completed with a serial number and an hour of validity
// around now, for a new ECDSA key: with ca's key, or self-signed when ca has
// none yet.
func (ca *testCA) issue(tmpl *x509.Certificate) ([]byte, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	parent, signer := tmpl, key
	if ca.cert != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	return der, key, err
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	ca, err := newCA(name)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// servingCert issues a serving certificate for the DNS names and IPs.
func (ca *testCA) servingCert(dns []string, ips ...net.IP) (tls.Certificate, error) {
	der, key, err := ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "system:node:" + strings.Join(dns, ",")},
		DNSNames:    dns,
		IPAddresses: ips,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, err
}

// serving is servingCert for tests.
func (ca *testCA) serving(t *testing.T, dns []string, ips ...net.IP) tls.Certificate {
	t.Helper()
	cert, err := ca.servingCert(dns, ips...)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// client issues a client certificate for cn, PEM encoded.
func (ca *testCA) client(t *testing.T, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	der, key, err := ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// certKubelet is a kubelet on 127.0.0.1 serving cert; it records the SNI and
// Host header of each request and counts connections.
type certKubelet struct {
	srv   *httptest.Server
	port  int
	conns atomic.Int32
	mu    sync.Mutex
	sni   []string
	hosts []string
}

func newCertKubelet(t *testing.T, cert tls.Certificate) *certKubelet {
	t.Helper()
	k := &certKubelet{}
	k.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.mu.Lock()
		k.sni = append(k.sni, r.TLS.ServerName)
		k.hosts = append(k.hosts, r.Host)
		k.mu.Unlock()
		_, _ = io.WriteString(w, "node_cpu_usage_seconds_total 1 1700000000000\n")
	}))
	k.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	k.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	k.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			k.conns.Add(1)
		}
	}
	k.srv.StartTLS()
	t.Cleanup(k.srv.Close)
	k.port = k.srv.Listener.Addr().(*net.TCPAddr).Port
	return k
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

func scrapeWith(t *testing.T, rt http.RoundTripper, port int, ctx context.Context) error {
	t.Helper()
	c, err := NewClient(ClientOptions{Transport: rt, DefaultPort: port, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var b storage.NodeBatch
	_, err = c.Scrape(ctx, node(internalIP("127.0.0.1")), NewDecoder(), &b)
	return err
}

// TestVerifyNodeName: a kubelet certificate without IP SANs (metrics-server
// #1588) fails against the address and passes against the node's name.
func TestVerifyNodeName(t *testing.T) {
	ca := newTestCA(t, "kubelet-ca")
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	writeFile(t, caFile, ca.pem)
	nameOnly := newCertKubelet(t, ca.serving(t, []string{"node-a"}))
	withIP := newCertKubelet(t, ca.serving(t, []string{"node-a"}, net.ParseIP("127.0.0.1")))

	tests := []struct {
		name       string
		kubelet    *certKubelet
		verifyName bool
		node       string // "" leaves the context without a node name
		wantReason string // "" for success
		wantErr    string
	}{
		{"address: certificate without IP SAN", nameOnly, false, "node-a", ReasonTLS, "doesn't contain any IP SANs"},
		{"address: certificate with IP SAN", withIP, false, "node-a", "", ""},
		{"node name: matching name", nameOnly, true, "node-a", "", ""},
		{"node name: other node", nameOnly, true, "node-b", ReasonTLS, "not node-b"},
		{"node name: IP SAN alone is not enough", newCertKubelet(t, ca.serving(t, nil, net.ParseIP("127.0.0.1"))), true, "node-a", ReasonTLS, "node-a"},
		{"node name: request names no node", nameOnly, true, "", ReasonUnknown, "names no node"},
		{"node name: not a DNS name", nameOnly, true, "a:b@evil", ReasonUnknown, "not a DNS name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := NewTransport(&rest.Config{TLSClientConfig: rest.TLSClientConfig{CAFile: caFile}},
				TransportOptions{VerifyNodeName: tc.verifyName})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if tc.node != "" {
				ctx = WithNodeName(ctx, tc.node)
			}
			tc.kubelet.mu.Lock()
			before := len(tc.kubelet.hosts)
			tc.kubelet.mu.Unlock()
			err = scrapeWith(t, rt, tc.kubelet.port, ctx)
			if got := Reason(err); got != tc.wantReason {
				t.Fatalf("reason %q, want %q (err %v)", got, tc.wantReason, err)
			}
			if tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q lacks %q", err, tc.wantErr)
			}
			tc.kubelet.mu.Lock()
			defer tc.kubelet.mu.Unlock()
			if tc.wantReason != "" {
				if len(tc.kubelet.hosts) != before {
					t.Errorf("the request reached the kubelet")
				}
				return
			}
			// The Host header is the address dialed; SNI names the node.
			wantHost := "127.0.0.1:" + strconv.Itoa(tc.kubelet.port)
			if h := tc.kubelet.hosts[len(tc.kubelet.hosts)-1]; h != wantHost {
				t.Errorf("Host header %q, want %q", h, wantHost)
			}
			wantSNI := ""
			if tc.verifyName {
				wantSNI = tc.node
			}
			if s := tc.kubelet.sni[len(tc.kubelet.sni)-1]; s != wantSNI {
				t.Errorf("SNI %q, want %q", s, wantSNI)
			}
		})
	}
}

// TestVerifyNodeNamePoolsPerName: scrapes of one node reuse a connection;
// another node name at the same address never gets that connection.
func TestVerifyNodeNamePoolsPerName(t *testing.T) {
	ca := newTestCA(t, "kubelet-ca")
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	writeFile(t, caFile, ca.pem)
	k := newCertKubelet(t, ca.serving(t, []string{"node-a"}))
	rt, err := NewTransport(&rest.Config{TLSClientConfig: rest.TLSClientConfig{CAFile: caFile}}, TransportOptions{VerifyNodeName: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := scrapeWith(t, rt, k.port, WithNodeName(context.Background(), "node-a")); err != nil {
			t.Fatal(err)
		}
	}
	if n := k.conns.Load(); n != 1 {
		t.Errorf("%d connections for three scrapes of one node, want 1", n)
	}
	if err := scrapeWith(t, rt, k.port, WithNodeName(context.Background(), "node-b")); Reason(err) != ReasonTLS {
		t.Errorf("node-b at node-a's address: %v, want a TLS error on a new connection", err)
	}
}

// TestCAFileReload: a kubelet signed by a CA the bundle lacks is refused;
// once the file holds that CA it is accepted without restarting, and a
// bundle that becomes unreadable or empty keeps the last good one.
func TestCAFileReload(t *testing.T) {
	ca1, ca2 := newTestCA(t, "ca-1"), newTestCA(t, "ca-2")
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	writeFile(t, caFile, ca1.pem)
	k := newCertKubelet(t, ca2.serving(t, []string{"node-a"}, net.ParseIP("127.0.0.1")))

	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	for _, verifyName := range []bool{false, true} {
		t.Run("verifyNodeName="+strconv.FormatBool(verifyName), func(t *testing.T) {
			writeFile(t, caFile, ca1.pem)
			c := &rest.Config{TLSClientConfig: rest.TLSClientConfig{CAFile: caFile}}
			rt, err := newTransport(c, TransportOptions{VerifyNodeName: verifyName, CAReloadInterval: time.Minute}, clock)
			if err != nil {
				t.Fatal(err)
			}
			ctx := WithNodeName(context.Background(), "node-a")
			steps := []struct {
				name    string
				file    []byte // nil: leave the file alone
				advance time.Duration
				ok      bool
			}{
				{"unknown CA", nil, 0, false},
				{"CA added, not yet checked", append(append([]byte{}, ca1.pem...), ca2.pem...), 30 * time.Second, false},
				{"checked after the interval", nil, 31 * time.Second, true},
				{"file emptied: last good bundle kept", []byte{}, 61 * time.Second, true},
				{"garbage: last good bundle kept", []byte("not a certificate"), 61 * time.Second, true},
				{"CA removed again", ca1.pem, 61 * time.Second, false},
			}
			for _, s := range steps {
				if s.file != nil {
					writeFile(t, caFile, s.file)
				}
				now.Add(int64(s.advance))
				err := scrapeWith(t, rt, k.port, ctx)
				if s.ok && err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				if !s.ok && Reason(err) != ReasonTLS {
					t.Fatalf("%s: want a TLS error, got %v", s.name, err)
				}
			}
		})
	}
}

// TestTransportSpeaksHTTP1: kubelets get HTTP/1.1 even when they offer HTTP/2,
// unless the config names its own protocols.
func TestTransportSpeaksHTTP1(t *testing.T) {
	ca := newTestCA(t, "kubelet-ca")
	var proto atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto.Store(int32(r.ProtoMajor))
		_, _ = io.WriteString(w, "node_cpu_usage_seconds_total 1 1700000000000\n")
	}))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.serving(t, nil, net.ParseIP("127.0.0.1"))}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	for _, tc := range []struct {
		name       string
		nextProtos []string
		want       int32
	}{
		{"default", nil, 1},
		{"config asks for h2", []string{"h2", "http/1.1"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proto.Store(0)
			rt, err := NewTransport(&rest.Config{TLSClientConfig: rest.TLSClientConfig{CAData: ca.pem, NextProtos: tc.nextProtos}}, TransportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := scrapeWith(t, rt, port, context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := proto.Load(); got != tc.want {
				t.Errorf("served HTTP/%d, want HTTP/%d", got, tc.want)
			}
		})
	}
}

// baseTransport returns the round tripper under rt's wrappers.
func baseTransport(rt http.RoundTripper) http.RoundTripper {
	for {
		w, ok := rt.(utilnet.RoundTripperWrapper)
		if !ok {
			return rt
		}
		rt = w.WrappedRoundTripper()
	}
}

// TestTransportCredentials: the transport NewTransport builds itself (the
// connection pool) presents the client certificate and the bearer token
// of the config, as the one rest.TransportFor builds does; a certificate read
// from files, which client-go re-reads and rotates, stays with
// rest.TransportFor.
func TestTransportCredentials(t *testing.T) {
	ca := newTestCA(t, "cluster-ca")
	certPEM, keyPEM := ca.client(t, "metrics-apiserver")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "client.crt"), certPEM)
	writeFile(t, filepath.Join(dir, "client.key"), keyPEM)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)

	var mu sync.Mutex
	var sawCN, sawAuthz string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sawCN, sawAuthz = r.TLS.PeerCertificates[0].Subject.CommonName, r.Header.Get("Authorization")
		mu.Unlock()
		_, _ = io.WriteString(w, "node_cpu_usage_seconds_total 1 1700000000000\n")
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{ca.serving(t, nil, net.ParseIP("127.0.0.1"))},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	for _, tc := range []struct {
		name     string
		tls      rest.TLSClientConfig
		token    string
		wantPool bool // the connection pool serves, not rest.TransportFor's transport
	}{
		{"certificate data", rest.TLSClientConfig{CAData: ca.pem, CertData: certPEM, KeyData: keyPEM}, "", true},
		{"certificate data and token", rest.TLSClientConfig{CAData: ca.pem, CertData: certPEM, KeyData: keyPEM}, "s3cr3t", true},
		{"certificate files: rotated by client-go", rest.TLSClientConfig{CAData: ca.pem, CertFile: filepath.Join(dir, "client.crt"), KeyFile: filepath.Join(dir, "client.key")}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := NewTransport(&rest.Config{TLSClientConfig: tc.tls, BearerToken: tc.token}, TransportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			sawCN, sawAuthz = "", ""
			mu.Unlock()
			if err := scrapeWith(t, rt, port, context.Background()); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if sawCN != "metrics-apiserver" {
				t.Errorf("kubelet saw client certificate %q, want metrics-apiserver", sawCN)
			}
			if want := map[bool]string{true: "Bearer " + tc.token}[tc.token != ""]; sawAuthz != want {
				t.Errorf("kubelet saw Authorization %q, want %q", sawAuthz, want)
			}
			if _, isPool := baseTransport(rt).(*connPool); isPool != tc.wantPool {
				t.Errorf("served by %T, want the connection pool: %v", baseTransport(rt), tc.wantPool)
			}
		})
	}
}

func TestNewTransportOptions(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		cfg     rest.Config
		opts    TransportOptions
		reload  bool
		wantErr string
	}{
		{"insecure with node names", rest.Config{TLSClientConfig: rest.TLSClientConfig{Insecure: true}}, TransportOptions{VerifyNodeName: true}, false, "insecure"},
		{"CA file missing", rest.Config{TLSClientConfig: rest.TLSClientConfig{CAFile: filepath.Join(dir, "none")}}, TransportOptions{}, false, "no such file"},
		{"CA file without certificates", rest.Config{TLSClientConfig: rest.TLSClientConfig{CAFile: filepath.Join(dir, "empty")}}, TransportOptions{}, false, "no PEM certificate"},
		{"CA data: nothing to reload", rest.Config{TLSClientConfig: rest.TLSClientConfig{CAData: newTestCA(t, "x").pem}}, TransportOptions{}, false, ""},
		{"CA file: reloaded", rest.Config{TLSClientConfig: rest.TLSClientConfig{CAFile: filepath.Join(dir, "ca")}}, TransportOptions{}, true, ""},
	}
	writeFile(t, filepath.Join(dir, "empty"), nil)
	writeFile(t, filepath.Join(dir, "ca"), newTestCA(t, "y").pem)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := NewTransport(&tc.cfg, tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, got := rt.(*caReloader); got != tc.reload {
				t.Errorf("CA reloading %v, want %v (%T)", got, tc.reload, rt)
			}
		})
	}
}
