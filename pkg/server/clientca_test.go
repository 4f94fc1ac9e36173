package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/util/cert"
)

// servedCA is a CA provider whose content the test changes, as the
// configmap CA controller does when its informer syncs.
type servedCA struct{ content atomic.Pointer[[]byte] }

func (s *servedCA) set(pem []byte)                            { s.content.Store(&pem) }
func (s *servedCA) Name() string                              { return "served" }
func (s *servedCA) AddListener(dynamiccertificates.Listener)  {}
func (s *servedCA) VerifyOptions() (x509.VerifyOptions, bool) { return x509.VerifyOptions{}, false }
func (s *servedCA) CurrentCABundleContent() []byte {
	if p := s.content.Load(); p != nil {
		return *p
	}
	return nil
}

func caPEM(t *testing.T, name string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := cert.NewSelfSignedCACert(cert.Config{CommonName: name}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: cert.CertificateBlockType, Bytes: ca.Raw})
}

func authConfigMap(data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: authenticationConfigMap}, Data: data}
}

func TestClientCACheck(t *testing.T) {
	a, b, proxy, other := caPEM(t, "client-ca-a"), caPEM(t, "client-ca-b"), caPEM(t, "front-proxy-ca"), caPEM(t, "unrelated-ca")
	join := func(pems ...[]byte) []byte { return bytes.Join(pems, []byte("\n")) }
	both := []string{ClientCAKey, RequestHeaderCAKey}
	published := func(client, requestHeader []byte) []runtime.Object {
		return []runtime.Object{authConfigMap(map[string]string{ClientCAKey: string(client), RequestHeaderCAKey: string(requestHeader)})}
	}
	cases := []struct {
		name      string
		keys      []string
		objects   []runtime.Object
		getErr    error
		served    []byte
		wantError string // "" = ready
	}{
		{name: "both served, among others", keys: both, objects: published(a, proxy), served: join(other, proxy, a)},
		{name: "nothing served yet", keys: both, objects: published(a, proxy),
			wantError: "not trusted yet (client-ca-file: 1 of 1, requestheader-client-ca-file: 1 of 1)"},
		{name: "front proxy's CA not served yet", keys: both, objects: published(a, proxy), served: a,
			wantError: "not trusted yet (requestheader-client-ca-file: 1 of 1)"},
		{name: "one of two client CAs served", keys: both, objects: published(join(a, b), proxy), served: join(proxy, b),
			wantError: "not trusted yet (client-ca-file: 1 of 2)"},
		{name: "two client CAs served", keys: both, objects: published(join(a, b), proxy), served: join(b, proxy, a)},
		{name: "front proxy's CA from a file: only the client CA counts", keys: []string{ClientCAKey}, objects: published(a, proxy), served: a},
		{name: "no configmap: nothing to wait for", keys: both},
		{name: "no client-ca-file: nothing to wait for", keys: []string{ClientCAKey},
			objects: []runtime.Object{authConfigMap(map[string]string{RequestHeaderCAKey: string(proxy)})}},
		{name: "unparsable published CA", keys: both, objects: published([]byte("not a certificate"), proxy), served: join(a, proxy),
			wantError: "reading the published client CAs: configmap kube-system/extension-apiserver-authentication key client-ca-file"},
		{name: "kube-apiserver unreachable", keys: both, getErr: errors.New("connection refused"), served: join(a, proxy),
			wantError: "reading the published client CAs: connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			kube := fake.NewClientset(tc.objects...)
			if tc.getErr != nil {
				kube.PrependReactor("get", "configmaps", func(clienttesting.Action) (bool, runtime.Object, error) {
					return true, nil, tc.getErr
				})
			}
			served := &servedCA{}
			served.set(tc.served)
			check := newClientCACheck(served, kube, tc.keys)
			if err := check.Check(nil); err == nil || !strings.Contains(err.Error(), "not read yet") {
				t.Fatalf("before the read: %v, want not read yet", err)
			}
			// a failed read is retried until the context ends; one try is enough here
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			check.read(ctx, time.Hour)
			err := check.Check(nil)
			switch {
			case tc.wantError == "" && err != nil:
				t.Fatalf("not ready: %v", err)
			case tc.wantError != "" && (err == nil || !strings.Contains(err.Error(), tc.wantError)):
				t.Fatalf("got %v, want an error containing %q", err, tc.wantError)
			}
		})
	}
}

// TestClientCACheckLatches: the check passes once the controller catches up,
// and stays passed (it guards the startup gap, not later rotations).
func TestClientCACheckLatches(t *testing.T) {
	a := caPEM(t, "client-ca")
	kube := fake.NewClientset(authConfigMap(map[string]string{ClientCAKey: string(a)}))
	served := &servedCA{}
	check := newClientCACheck(served, kube, []string{ClientCAKey})
	check.read(context.Background(), time.Hour)
	if err := check.Check(nil); err == nil {
		t.Fatal("ready before the CA is served")
	}
	served.set(a) // the configmap informer synced
	if err := check.Check(nil); err != nil {
		t.Fatalf("not ready once the CA is served: %v", err)
	}
	served.set(nil)
	if err := check.Check(nil); err != nil {
		t.Fatalf("not ready after having passed: %v", err)
	}
}
