package kubeletsim

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

var podsGVR = v1.SchemeGroupVersion.WithResource("pods")

// fakeCluster is a fake clientset that behaves like the apiserver where the
// simulator relies on it: new nodes get the not-ready taint, and
// pods/binding sets spec.nodeName.
func fakeCluster(objs ...runtime.Object) *fake.Clientset {
	cs := fake.NewClientset(objs...)
	cs.PrependReactor("create", "nodes", func(a k8stesting.Action) (bool, runtime.Object, error) {
		node := a.(k8stesting.CreateAction).GetObject().(*v1.Node)
		node.Spec.Taints = append(node.Spec.Taints, v1.Taint{Key: v1.TaintNodeNotReady, Effect: v1.TaintEffectNoSchedule})
		return false, nil, nil
	})
	cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b := a.(k8stesting.CreateAction).GetObject().(*v1.Binding)
		obj, err := cs.Tracker().Get(podsGVR, b.Namespace, b.Name)
		if err != nil {
			return true, nil, err
		}
		pod := obj.(*v1.Pod).DeepCopy()
		if pod.Spec.NodeName != "" {
			return true, nil, apierrors.NewConflict(podsGVR.GroupResource(), b.Name, errors.New("already bound"))
		}
		pod.Spec.NodeName = b.Target.Name
		return true, b, cs.Tracker().Update(podsGVR, pod, b.Namespace)
	})
	return cs
}

type runningSim struct {
	sim    *Sim
	cs     *fake.Clientset
	clock  *clocktesting.FakeClock
	cancel context.CancelFunc
	done   chan error
}

func startSim(t *testing.T, cfg Config, cs *fake.Clientset) *runningSim {
	t.Helper()
	clk := clocktesting.NewFakeClock(t0)
	cfg.Clock = clk
	cfg.KubeletPort = -1
	if !cfg.AddressBase.IsValid() {
		cfg.AddressBase = netip.MustParseAddr("127.0.21.1")
	}
	sim, err := New(cfg, cs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningSim{sim: sim, cs: cs, clock: clk, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- sim.Run(ctx) }()
	select {
	case <-sim.Ready():
	case err := <-r.done:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("simulator not ready after 10s")
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *runningSim) stop(t *testing.T) {
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		r.done <- nil // later stops return at once
	case <-time.After(10 * time.Second):
		t.Error("Run did not return 10s after cancel")
	}
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 5*time.Second, true,
		func(context.Context) (bool, error) { return cond() })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func getPod(t *testing.T, cs *fake.Clientset, ns, name string) *v1.Pod {
	t.Helper()
	p, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func condition(p *v1.Pod, typ v1.PodConditionType) *v1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == typ {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func newPod(name string, annotations map[string]string) *v1.Pod {
	always := v1.ContainerRestartPolicyAlways
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: k8stypes.UID("uid-" + name), Annotations: annotations},
		Spec: v1.PodSpec{
			SchedulerName: v1.DefaultSchedulerName,
			InitContainers: []v1.Container{
				{Name: "setup", Image: "busybox"},
				{Name: "proxy", Image: "envoy", RestartPolicy: &always},
			},
			Containers: []v1.Container{{Name: "app", Image: "nginx"}, {Name: "aaa-logs", Image: "fluentbit"}},
		},
		Status: v1.PodStatus{Phase: v1.PodPending},
	}
}

func TestSimNodesLifecycle(t *testing.T) {
	cs := fakeCluster()
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready.json")
	caOut := filepath.Join(dir, "ca.crt")
	r := startSim(t, Config{
		Nodes:                 2,
		NodeLabels:            map[string]string{"pool": "sim"},
		MetricsPathAnnotation: "/metrics/resource",
		ReadyFile:             ready,
		CAOut:                 caOut,
	}, cs)

	ctx := context.Background()
	for i, name := range []string{"sim-node-0", "sim-node-1"} {
		n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantIP := []string{"127.0.21.1", "127.0.21.2"}[i]
		if got := n.Status.Addresses; len(got) != 2 || got[0].Type != v1.NodeInternalIP || got[0].Address != wantIP ||
			got[1].Type != v1.NodeHostName || got[1].Address != name {
			t.Errorf("%s: addresses %v", name, got)
		}
		if n.Labels[v1.LabelHostname] != name || n.Labels[v1.LabelOSStable] != "linux" || n.Labels["pool"] != "sim" {
			t.Errorf("%s: labels %v", name, n.Labels)
		}
		if n.Annotations[AnnotationResourceMetricsPath] != "/metrics/resource" {
			t.Errorf("%s: annotations %v", name, n.Annotations)
		}
		if got := n.Status.DaemonEndpoints.KubeletEndpoint.Port; got != int32(r.sim.port) || got <= 0 {
			t.Errorf("%s: kubelet port %d, serving on %d", name, got, r.sim.port)
		}
		if cpu := n.Status.Allocatable.Cpu(); cpu.String() != "4" {
			t.Errorf("%s: allocatable cpu %s", name, cpu)
		}
		if mem := n.Status.Capacity.Memory(); mem.String() != "16Gi" {
			t.Errorf("%s: capacity memory %s", name, mem)
		}
		if len(n.Spec.Taints) != 0 {
			t.Errorf("%s: taints %v", name, n.Spec.Taints)
		}
		ready := false
		for _, c := range n.Status.Conditions {
			if c.Type == v1.NodeReady && c.Status == v1.ConditionTrue && c.LastHeartbeatTime.Time.Equal(t0) {
				ready = true
			}
		}
		if !ready {
			t.Errorf("%s: not Ready: %v", name, n.Status.Conditions)
		}
	}
	var rf readyFile
	data, err := os.ReadFile(ready)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rf); err != nil || len(rf.Nodes) != 2 || rf.CA != caOut {
		t.Fatalf("ready file %s: %v", data, err)
	}
	if ca, err := os.ReadFile(caOut); err != nil || string(ca) != string(r.sim.CACertPEM()) {
		t.Fatalf("CA out: %v", err)
	}

	// Heartbeat: stepping the clock refreshes the Ready heartbeat but not
	// its transition time.
	r.clock.Step(DefaultHeartbeatInterval)
	eventually(t, "heartbeat", func() (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, "sim-node-1", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range n.Status.Conditions {
			if c.Type == v1.NodeReady {
				return c.LastHeartbeatTime.Time.Equal(t0.Add(DefaultHeartbeatInterval)) && c.LastTransitionTime.Time.Equal(t0), nil
			}
		}
		return false, nil
	})

	r.stop(t)
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 0 {
		t.Errorf("nodes left after exit: %d (%v)", len(nodes.Items), err)
	}
	if _, err := os.Stat(ready); !os.IsNotExist(err) {
		t.Errorf("ready file still there: %v", err)
	}
}

func TestSimKeepsNodesAndAdoptsThem(t *testing.T) {
	cs := fakeCluster(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "sim-node-0", Labels: map[string]string{"old": "x"}},
		Spec: v1.NodeSpec{Taints: []v1.Taint{{Key: v1.TaintNodeNotReady, Effect: v1.TaintEffectNoSchedule}, {Key: "keep", Effect: v1.TaintEffectNoSchedule}}}})
	r := startSim(t, Config{Nodes: 1, KeepNodesOnExit: true}, cs)
	r.stop(t)
	n, err := cs.CoreV1().Nodes().Get(context.Background(), "sim-node-0", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("node deleted despite KeepNodesOnExit: %v", err)
	}
	if len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Key != "keep" {
		t.Errorf("taints %v, want only the unrelated one", n.Spec.Taints)
	}
	if n.Labels[v1.LabelHostname] != "sim-node-0" {
		t.Errorf("labels not updated: %v", n.Labels)
	}
}

func TestSimRunsPods(t *testing.T) {
	cs := fakeCluster()
	backdate := 10 * time.Minute
	r := startSim(t, Config{Nodes: 2, Backdate: backdate}, cs)
	ctx := context.Background()
	create := func(p *v1.Pod) {
		t.Helper()
		if _, err := cs.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	other := newPod("other-scheduler", nil)
	other.Spec.SchedulerName = "my-scheduler"
	create(other)
	create(newPod("p1", map[string]string{AnnotationCPU: "250m", AnnotationMemory: "64Mi"}))
	create(newPod("p2", nil))
	create(newPod("p3", nil))

	running := func(name string) func() (bool, error) {
		return func() (bool, error) {
			p := getPod(t, cs, "default", name)
			return p.Status.Phase == v1.PodRunning, nil
		}
	}
	for _, name := range []string{"p1", "p2", "p3"} {
		eventually(t, name+" running", running(name))
	}

	p1 := getPod(t, cs, "default", "p1")
	wantStart := t0.Add(-backdate)
	if p1.Status.StartTime == nil || !p1.Status.StartTime.Time.Equal(wantStart) {
		t.Errorf("startTime %v, want %v", p1.Status.StartTime, wantStart)
	}
	for _, typ := range []v1.PodConditionType{v1.PodScheduled, v1.PodInitialized, v1.ContainersReady, v1.PodReady} {
		c := condition(p1, typ)
		if c == nil || c.Status != v1.ConditionTrue {
			t.Errorf("condition %s: %+v", typ, c)
		}
	}
	if c := condition(p1, v1.PodReady); c == nil || !c.LastTransitionTime.Time.Equal(wantStart) {
		t.Errorf("Ready transition %+v, want %v", c, wantStart)
	}
	if !strings.HasPrefix(p1.Status.PodIP, "10.244.") || p1.Status.HostIP == "" {
		t.Errorf("podIP %q hostIP %q", p1.Status.PodIP, p1.Status.HostIP)
	}
	var names []string
	for _, cs := range p1.Status.ContainerStatuses {
		names = append(names, cs.Name)
		if !cs.Ready || cs.Started == nil || !*cs.Started || cs.State.Running == nil || cs.RestartCount != 0 {
			t.Errorf("container status %+v", cs)
		}
	}
	if strings.Join(names, ",") != "aaa-logs,app" {
		t.Errorf("container statuses %v, want sorted by name", names)
	}
	if got := p1.Status.InitContainerStatuses; len(got) != 2 || got[0].State.Terminated == nil || got[1].State.Running == nil {
		t.Errorf("init container statuses %+v", got)
	}

	// Least loaded: the three pods are spread 2/1.
	loads := map[string]int{}
	for _, name := range []string{"p1", "p2", "p3"} {
		loads[getPod(t, cs, "default", name).Spec.NodeName]++
	}
	if len(loads) != 2 || loads["sim-node-0"]+loads["sim-node-1"] != 3 {
		t.Errorf("pods spread as %v", loads)
	}
	if p := getPod(t, cs, "default", "other-scheduler"); p.Spec.NodeName != "" {
		t.Errorf("pod of another scheduler bound to %s", p.Spec.NodeName)
	}

	// Metrics: p1 has run 250m per container since its backdated start.
	node := p1.Spec.NodeName
	m := r.sim.NodeMetrics(node)
	now := t0.Add(30 * time.Second)
	fams := renderParse(t, m, now)
	if got, want := value(t, fams, nameContainerCPU, "app", "default", "p1"), 0.25*(backdate+30*time.Second).Seconds(); !near(got, want) {
		t.Errorf("app cpu %v, want %v", got, want)
	}
	if got := value(t, fams, nameContainerMemory, "proxy", "default", "p1"); got != 64<<20 {
		t.Errorf("sidecar memory %v", got)
	}
	if _, ok := find(fams, nameContainerCPU, "setup", "default", "p1"); ok {
		t.Error("a completed init container has metrics")
	}

	// Restart on demand at t0+30s.
	r.clock.SetTime(now)
	p1.Annotations[AnnotationRestartGeneration] = "1"
	if _, err := cs.CoreV1().Pods("default").Update(ctx, p1, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "restart", func() (bool, error) {
		p := getPod(t, cs, "default", "p1")
		return len(p.Status.ContainerStatuses) == 2 && p.Status.ContainerStatuses[1].RestartCount == 1, nil
	})
	p1 = getPod(t, cs, "default", "p1")
	if got := p1.Status.ContainerStatuses[1].State.Running.StartedAt.Time; !got.Equal(now) {
		t.Errorf("restarted container started at %v, want %v", got, now)
	}
	fams = renderParse(t, m, now.Add(10*time.Second))
	if got := value(t, fams, nameContainerCPU, "app", "default", "p1"); !near(got, 2.5) {
		t.Errorf("app cpu after restart %v, want 2.5", got)
	}
	if got := value(t, fams, nameContainerStart, "app", "default", "p1"); !near(got, float64(now.Unix())) {
		t.Errorf("app start after restart %v", got)
	}

	// Usage change: p2 goes to 1 core from now on.
	p2 := getPod(t, cs, "default", "p2")
	m2 := r.sim.NodeMetrics(p2.Spec.NodeName)
	before := value(t, renderParse(t, m2, now), nameContainerCPU, "app", "default", "p2")
	p2.Annotations = map[string]string{AnnotationCPU: "1"}
	if _, err := cs.CoreV1().Pods("default").Update(ctx, p2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "usage change", func() (bool, error) {
		got := value(t, renderParse(t, m2, now.Add(10*time.Second)), nameContainerCPU, "app", "default", "p2")
		return near(got, before+10), nil
	})

	// The usage change needed no status change: p2's status was patched
	// exactly once, when it started.
	patches := 0
	for _, a := range cs.Actions() {
		if pa, ok := a.(k8stesting.PatchAction); ok && pa.GetSubresource() == "status" && pa.GetResource().Resource == "pods" && pa.GetName() == "p2" {
			patches++
		}
	}
	if patches != 1 {
		t.Errorf("p2's status was patched %d times, want 1", patches)
	}

	// A terminating pod is force-deleted and leaves the metrics.
	p3 := getPod(t, cs, "default", "p3")
	m3 := r.sim.NodeMetrics(p3.Spec.NodeName)
	ts := metav1.NewTime(now)
	p3.DeletionTimestamp = &ts
	if err := cs.Tracker().Update(podsGVR, p3, "default"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "force delete", func() (bool, error) {
		_, err := cs.CoreV1().Pods("default").Get(ctx, "p3", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	var graceZero bool
	for _, a := range cs.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok && d.GetName() == "p3" {
			o := d.GetDeleteOptions()
			graceZero = o.GracePeriodSeconds != nil && *o.GracePeriodSeconds == 0
		}
	}
	if !graceZero {
		t.Error("p3 was not deleted with grace period 0")
	}
	eventually(t, "p3 gone from metrics", func() (bool, error) {
		_, ok := find(renderParse(t, m3, now), namePodCPU, "default", "p3")
		return !ok, nil
	})
}

// fakeHost is a HostStatsSource with fixed numbers.
type fakeHost struct{ err error }

func (f fakeHost) Sample() (HostSample, error) {
	return HostSample{Time: t0, NodeCPUNanoseconds: 123_500_000_000, NodeWorkingSetBytes: 2 << 30,
		SelfCPUNanoseconds: 1_250_000_000, SelfWorkingSetBytes: 50 << 20}, f.err
}
func (fakeHost) Capacity() (int, uint64) { return 2, 24 << 30 }

func TestRealNodeMetrics(t *testing.T) {
	start := t0.Add(-time.Minute)
	fams, err := parseText(newRealNodeMetrics(fakeHost{}, start).AppendText(nil, time.Time{}))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{nameNodeCPU, nil, 123.5},
		{nameNodeMemory, nil, 2 << 30},
		{nameContainerCPU, []string{SelfContainer, SelfPodNamespace, SelfPodName}, 1.25},
		{nameContainerMemory, []string{SelfContainer, SelfPodNamespace, SelfPodName}, 50 << 20},
		{nameContainerStart, []string{SelfContainer, SelfPodNamespace, SelfPodName}, float64(start.Unix())},
		{namePodCPU, []string{SelfPodNamespace, SelfPodName}, 1.25},
		{nameScrapeError, nil, 0},
	}
	for _, c := range checks {
		if got := value(t, fams, c.name, c.labels...); !near(got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	if s, _ := find(fams, nameNodeCPU); s.ts != t0.UnixMilli() {
		t.Errorf("timestamp %d, want the sample's time", s.ts)
	}

	fams, err = parseText(newRealNodeMetrics(fakeHost{err: errors.New("no cgroups")}, start).AppendText(nil, time.Time{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) != 1 || fams[0].name != nameScrapeError || fams[0].samples[0].value != 1 {
		t.Errorf("failed read rendered %+v", fams)
	}
}

func TestSimRealNode(t *testing.T) {
	cs := fakeCluster()
	r := startSim(t, Config{Nodes: 1, RealNodeName: "real-host", HostStats: fakeHost{}}, cs)
	ctx := context.Background()
	n, err := cs.CoreV1().Nodes().Get(ctx, "real-host", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cpu := n.Status.Capacity.Cpu(); cpu.Value() != 2 {
		t.Errorf("real node cpu %s, want the host's", cpu)
	}
	if got := n.Status.Addresses[0].Address; got != "127.0.21.2" {
		t.Errorf("real node address %s, want the one after the simulated nodes", got)
	}
	eventually(t, "self pod running", func() (bool, error) {
		p, err := cs.CoreV1().Pods(SelfPodNamespace).Get(ctx, SelfPodName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil && p.Spec.NodeName == "real-host" && p.Status.Phase == v1.PodRunning, err
	})
	// The binder never picks the real node.
	for i := 0; i < 3; i++ {
		if _, err := cs.CoreV1().Pods("default").Create(ctx, newPod("b"+string(rune('0'+i)), nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "pods bound", func() (bool, error) {
		for i := 0; i < 3; i++ {
			p := getPod(t, cs, "default", "b"+string(rune('0'+i)))
			if p.Spec.NodeName == "real-host" {
				t.Fatalf("pod bound to the real node")
			}
			if p.Spec.NodeName == "" {
				return false, nil
			}
		}
		return true, nil
	})
	r.stop(t)
	if _, err := cs.CoreV1().Pods(SelfPodNamespace).Get(ctx, SelfPodName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("self pod not deleted on exit: %v", err)
	}
}
