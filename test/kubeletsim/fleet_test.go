package kubeletsim

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestFleetPodsValidate(t *testing.T) {
	tests := []struct {
		name string
		f    FleetPods
		want string // substring of the error; "" for valid
	}{
		{"off", FleetPods{}, ""},
		{"payload only", FleetPods{PerNode: 30, Containers: 2, Workers: 1}, ""},
		{"registered", FleetPods{PerNode: 30, Containers: 2, Workers: 4, Register: true, Namespace: "fleet"}, ""},
		{"negative", FleetPods{PerNode: -1}, "pods per node"},
		{"no containers", FleetPods{PerNode: 1, Workers: 1}, "containers per pod"},
		{"no namespace", FleetPods{PerNode: 1, Containers: 1, Workers: 1, Register: true}, "namespace"},
		{"no workers", FleetPods{PerNode: 1, Containers: 1}, "workers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := errors.Join(tt.f.Validate()...)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one about %q", err, tt.want)
			}
		})
	}
}

func TestFleetPod(t *testing.T) {
	p := fleetPod("fleet", "n-3", 7, fleetContainerNames(2))
	if p.Name != "n-3-p7" || p.Namespace != "fleet" || p.Spec.NodeName != "n-3" {
		t.Fatalf("pod %s/%s on %q", p.Namespace, p.Name, p.Spec.NodeName)
	}
	var names []string
	for _, c := range p.Spec.Containers {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ","); got != "c0,c1" {
		t.Fatalf("containers %s, want c0,c1", got)
	}
	if p.Spec.AutomountServiceAccountToken == nil || *p.Spec.AutomountServiceAccountToken {
		t.Fatal("fleet pods must not mount a service account token")
	}
}

func newFleetSim(t *testing.T, nodes int) (*Sim, *fake.Clientset) {
	t.Helper()
	cs := fake.NewClientset()
	cfg := DefaultConfig()
	cfg.Nodes, cfg.NodePrefix = nodes, "f"
	cfg.AddressBase = netip.MustParseAddr("127.63.0.1")
	s, err := New(cfg, cs)
	if err != nil {
		t.Fatal(err)
	}
	return s, cs
}

// Payload-only fleets meter every pod without touching the apiserver.
func TestPopulateFleetPayloadOnly(t *testing.T) {
	s, cs := newFleetSim(t, 3)
	close(s.ready)
	ready := filepath.Join(t.TempDir(), "pods")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f := FleetPods{PerNode: 5, Containers: 2, Workers: 1, Namespace: "fleet", ReadyFile: ready}
	if err := s.PopulateFleet(ctx, f); err != nil {
		t.Fatal(err)
	}
	for _, n := range s.nodes {
		if got := n.metrics.Pods(); got != 5 {
			t.Errorf("node %s meters %d pods, want 5", n.name, got)
		}
	}
	text := string(s.nodes[1].metrics.AppendText(nil, time.Now()))
	if !strings.Contains(text, `container="c1",namespace="fleet",pod="f-1-p4"`) {
		t.Errorf("payload lacks the last container of the last pod:\n%s", text)
	}
	if data, err := os.ReadFile(ready); err != nil || strings.TrimSpace(string(data)) != "15" {
		t.Errorf("ready file %q, %v; want 15", data, err)
	}
	if len(cs.Actions()) != 0 {
		t.Errorf("payload-only fleet called the apiserver: %v", cs.Actions())
	}
}

// Registered fleets create every pod bound to its node.
func TestCreateFleet(t *testing.T) {
	s, cs := newFleetSim(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f := FleetPods{PerNode: 3, Containers: 1, Workers: 3, Attempts: 1, Namespace: "fleet", Register: true}
	if err := s.createFleet(ctx, s.nodes, f, fleetContainerNames(1)); err != nil {
		t.Fatal(err)
	}
	pods, err := cs.CoreV1().Pods("fleet").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	perNode := map[string]int{}
	for _, p := range pods.Items {
		perNode[p.Spec.NodeName]++
	}
	if len(pods.Items) != 12 || len(perNode) != 4 {
		t.Fatalf("%d pods on %d nodes, want 12 on 4: %v", len(pods.Items), len(perNode), perNode)
	}
	for node, n := range perNode {
		if n != 3 {
			t.Errorf("node %s has %d pods, want 3", node, n)
		}
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "fleet", metav1.GetOptions{}); err != nil {
		t.Errorf("namespace not created: %v", err)
	}
	// Again: the pods exist already, which is not an error.
	if err := s.createFleet(ctx, s.nodes, f, fleetContainerNames(1)); err != nil {
		t.Fatalf("second run: %v", err)
	}
}

func TestRetry(t *testing.T) {
	calls := 0
	err := retry(context.Background(), 3, func() error { calls++; return errors.New("no") })
	if err == nil || calls != 3 {
		t.Fatalf("err %v after %d calls, want an error after 3", err, calls)
	}
	calls = 0
	if err := retry(context.Background(), 3, func() error {
		calls++
		if calls < 2 {
			return errors.New("once")
		}
		return nil
	}); err != nil || calls != 2 {
		t.Fatalf("err %v after %d calls, want success after 2", err, calls)
	}
}
