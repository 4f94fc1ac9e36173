package podindex

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

var created = metav1.NewTime(time.Date(2026, 11, 22, 1, 2, 3, 0, time.UTC))

func pod(ns, name, node string, phase corev1.PodPhase, lbls map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls, CreationTimestamp: created,
			Annotations: map[string]string{"big": strings.Repeat("x", 100)}},
		Spec:   corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c"}}},
		Status: corev1.PodStatus{Phase: phase},
	}
}

func keys(pods []*Pod) string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Namespace+"/"+p.Name)
	}
	return strings.Join(out, ",")
}

// recorder collects onDelete calls.
type recorder struct {
	mu      sync.Mutex
	deleted []string
}

func (r *recorder) onDelete(p *Pod) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deleted = append(r.deleted, p.NodeName()+"/"+p.Namespace+"/"+p.Name)
}

func (r *recorder) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	slices.Sort(r.deleted)
	s := strings.Join(r.deleted, ",")
	r.deleted = nil
	return s
}

func TestKeepsOnlyServablePods(t *testing.T) {
	tests := []struct {
		name string
		pod  *corev1.Pod
		kept bool
	}{
		{"running", pod("ns", "p", "n1", corev1.PodRunning, nil), true},
		{"pending but bound (a sidecar may run)", pod("ns", "p", "n1", corev1.PodPending, nil), true},
		{"phase unknown", pod("ns", "p", "n1", corev1.PodUnknown, nil), true},
		{"unbound", pod("ns", "p", "", corev1.PodPending, nil), false},
		{"succeeded", pod("ns", "p", "n1", corev1.PodSucceeded, nil), false},
		{"failed", pod("ns", "p", "n1", corev1.PodFailed, nil), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := New(nil)
			if err := x.Add(tt.pod); err != nil {
				t.Fatal(err)
			}
			if _, ok := x.Get("ns", "p"); ok != tt.kept {
				t.Fatalf("kept = %v, want %v", ok, tt.kept)
			}
			if want := map[bool]int{true: 1, false: 0}[tt.kept]; x.Len() != want {
				t.Fatalf("Len = %d, want %d", x.Len(), want)
			}
		})
	}
}

func TestPodFields(t *testing.T) {
	x := New(nil)
	if err := x.Add(pod("ns", "p", "n1", corev1.PodRunning, map[string]string{"app": "web"})); err != nil {
		t.Fatal(err)
	}
	p, ok := x.Get("ns", "p")
	switch {
	case !ok:
		t.Fatal("pod not kept")
	case p.Namespace != "ns" || p.Name != "p" || p.NodeName() != "n1":
		t.Errorf("identity = %s/%s on %s", p.Namespace, p.Name, p.NodeName())
	case !p.CreationTimestamp().Time.Equal(created.Time):
		t.Errorf("created = %v, want %v", p.CreationTimestamp(), created)
	case len(p.Labels()) != 1 || p.Labels()["app"] != "web":
		t.Errorf("labels = %v", p.Labels())
	}
	if _, ok := x.Get("other", "p"); ok {
		t.Error("found in another namespace")
	}
}

func TestUpdatesAndDeletes(t *testing.T) {
	rec := &recorder{}
	x := New(rec.onDelete)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(x.Add(pod("ns", "a", "n1", corev1.PodRunning, map[string]string{"app": "x"})))
	first, _ := x.Get("ns", "a")

	// a status-only update keeps the same entry
	must(x.Update(pod("ns", "a", "n1", corev1.PodRunning, map[string]string{"app": "x"})))
	if p, _ := x.Get("ns", "a"); p != first {
		t.Error("status update replaced the entry")
	}
	// a label change replaces it; the old entry is left untouched for readers
	must(x.Update(pod("ns", "a", "n1", corev1.PodRunning, map[string]string{"app": "y"})))
	if p, _ := x.Get("ns", "a"); p == first || p.Labels()["app"] != "y" || first.Labels()["app"] != "x" {
		t.Errorf("label update: new %v, old %v", p.Labels(), first.Labels())
	}
	if got := rec.take(); got != "" {
		t.Errorf("updates reported deletions: %s", got)
	}

	// terminating is a deletion
	must(x.Update(pod("ns", "a", "n1", corev1.PodSucceeded, nil)))
	if _, ok := x.Get("ns", "a"); ok {
		t.Error("terminated pod kept")
	}
	if got := rec.take(); got != "n1/ns/a" {
		t.Errorf("deleted = %q, want n1/ns/a", got)
	}

	// plain and tombstone deletions; unknown pods are no-ops
	must(x.Add(pod("ns", "b", "n2", corev1.PodRunning, nil)))
	must(x.Add(pod("ns", "c", "n2", corev1.PodRunning, nil)))
	must(x.Delete(pod("ns", "b", "n2", corev1.PodRunning, nil)))
	must(x.Delete(cache.DeletedFinalStateUnknown{Key: "ns/c", Obj: pod("ns", "c", "n2", corev1.PodRunning, nil)}))
	must(x.Delete(pod("ns", "never", "n2", corev1.PodRunning, nil)))
	if got := rec.take(); got != "n2/ns/b,n2/ns/c" {
		t.Errorf("deleted = %q, want n2/ns/b,n2/ns/c", got)
	}
	if x.Len() != 0 || len(x.namespaces) != 0 || len(x.labelSets) != 0 {
		t.Errorf("left behind: %d pods, %d namespaces, %d label sets", x.Len(), len(x.namespaces), len(x.labelSets))
	}

	if err := x.Add("not a pod"); err == nil {
		t.Error("non-pod accepted")
	}
}

func TestReplace(t *testing.T) {
	rec := &recorder{}
	x := New(rec.onDelete)
	if x.HasSynced() {
		t.Fatal("synced before the first list")
	}
	for _, p := range []*corev1.Pod{
		pod("ns", "stays", "n1", corev1.PodRunning, nil),
		pod("ns", "goes", "n1", corev1.PodRunning, nil),
		pod("other", "goes-too", "n2", corev1.PodRunning, nil),
	} {
		if err := x.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	err := x.Replace([]interface{}{
		pod("ns", "stays", "n1", corev1.PodRunning, nil),
		pod("ns", "new", "n3", corev1.PodRunning, nil),
		pod("ns", "done", "n3", corev1.PodFailed, nil),
	}, "42")
	if err != nil {
		t.Fatal(err)
	}
	if !x.HasSynced() {
		t.Error("not synced after Replace")
	}
	if got := keys(x.List("", nil)); got != "ns/new,ns/stays" {
		t.Errorf("after Replace: %s", got)
	}
	if got := rec.take(); got != "n1/ns/goes,n2/other/goes-too" {
		t.Errorf("deleted = %q", got)
	}
	if err := x.Replace([]interface{}{"not a pod"}, "43"); err == nil {
		t.Error("non-pod accepted")
	}
}

func TestList(t *testing.T) {
	x := New(nil)
	for _, p := range []*corev1.Pod{
		pod("b", "a", "n1", corev1.PodRunning, map[string]string{"app": "web"}),
		pod("a", "z", "n1", corev1.PodRunning, map[string]string{"app": "web", "tier": "front"}),
		pod("a", "pod-10", "n2", corev1.PodRunning, map[string]string{"app": "db"}),
		pod("a", "pod-9", "n2", corev1.PodRunning, nil),
		pod("a", "Pod-1", "n2", corev1.PodRunning, nil),
	} {
		if err := x.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, namespace, selector, want string
	}{
		{"all, by namespace then byte order of names", "", "", "a/Pod-1,a/pod-10,a/pod-9,a/z,b/a"},
		{"one namespace", "b", "", "b/a"},
		{"missing namespace", "c", "", ""},
		{"selector, all namespaces", "", "app=web", "a/z,b/a"},
		{"selector and namespace", "a", "app in (web,db)", "a/pod-10,a/z"},
		{"negative selector", "a", "!app", "a/Pod-1,a/pod-9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := labels.Parse(tt.selector)
			if err != nil {
				t.Fatal(err)
			}
			if got := keys(x.List(tt.namespace, sel)); got != tt.want {
				t.Errorf("List(%q, %q) = %s, want %s", tt.namespace, tt.selector, got, tt.want)
			}
		})
	}
	if got := keys(x.List("", nil)); got != "a/Pod-1,a/pod-10,a/pod-9,a/z,b/a" {
		t.Errorf("nil selector: %s", got)
	}
}

func TestLabelSetsAreShared(t *testing.T) {
	x := New(nil)
	for i := range 3 {
		// each pod decodes its own map, equal in content
		lbls := map[string]string{"app": "web", "pod-template-hash": "abc"}
		if err := x.Add(pod("ns", fmt.Sprint("p", i), "n1", corev1.PodRunning, lbls)); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.Add(pod("ns", "other", "n1", corev1.PodRunning, map[string]string{"app": "db"})); err != nil {
		t.Fatal(err)
	}
	p0, _ := x.Get("ns", "p0")
	p2, _ := x.Get("ns", "p2")
	if p0.labels != p2.labels {
		t.Error("equal label sets not shared")
	}
	if len(x.labelSets) != 2 || p0.labels.refs != 3 {
		t.Errorf("%d label sets, refs %d; want 2 sets, 3 refs", len(x.labelSets), p0.labels.refs)
	}
	for _, name := range []string{"p0", "p1", "p2"} {
		if err := x.Delete(pod("ns", name, "n1", corev1.PodRunning, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if len(x.labelSets) != 1 {
		t.Errorf("%d label sets after the web pods went, want 1", len(x.labelSets))
	}
	// keys that would collide if joined naively stay distinct
	if labelKey(map[string]string{"a": "b=c"}) == labelKey(map[string]string{"a=b": "c"}) {
		t.Error("label keys collide")
	}
}

func TestTransformerSlimsPods(t *testing.T) {
	in := pod("ns", "p", "n1", corev1.PodPending, map[string]string{"app": "x"})
	in.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c"}}
	out, err := New(nil).Transformer()(in)
	if err != nil {
		t.Fatal(err)
	}
	p := out.(*corev1.Pod)
	if p.Namespace != "ns" || p.Name != "p" || p.Labels["app"] != "x" || p.Spec.NodeName != "n1" || p.Status.Phase != corev1.PodPending {
		t.Errorf("lost a needed field: %+v", p)
	}
	if p.Annotations != nil || p.Spec.Containers != nil || p.Status.ContainerStatuses != nil {
		t.Errorf("kept what is not needed: %+v", p)
	}
	if _, err := New(nil).Transformer()("not a pod"); err == nil {
		t.Error("non-pod accepted")
	}
}

// TestFedByReflector runs the index as a real Reflector's store against a
// fake clientset: list, then watch events.
func TestFedByReflector(t *testing.T) {
	client := fake.NewSimpleClientset(pod("ns", "listed", "n1", corev1.PodRunning, nil))
	rec := &recorder{}
	x := New(rec.onDelete)
	// the fake clientset cannot stream lists; the wrapper tells the Reflector
	lw := cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (k8sruntime.Object, error) {
			return client.CoreV1().Pods("").List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return client.CoreV1().Pods("").Watch(ctx, o)
		},
	}, client)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go cache.NewReflectorWithOptions(lw, &corev1.Pod{}, x, cache.ReflectorOptions{}).RunWithContext(ctx)
	waitFor(t, "initial list", func() bool { return x.HasSynced() && x.Len() == 1 })

	pods := client.CoreV1().Pods("ns")
	if _, err := pods.Create(ctx, pod("ns", "watched", "n2", corev1.PodRunning, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "watched pod", func() bool { _, ok := x.Get("ns", "watched"); return ok })
	if err := pods.Delete(ctx, "listed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deletion", func() bool { _, ok := x.Get("ns", "listed"); return !ok })
	if got := rec.take(); got != "n1/ns/listed" {
		t.Errorf("deleted = %q", got)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestConcurrentReadsAndWrites is for -race.
func TestConcurrentReadsAndWrites(t *testing.T) {
	x := New(func(*Pod) {})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range 2000 {
			name := fmt.Sprint("p", i%50)
			if i%3 == 2 {
				_ = x.Delete(pod("ns", name, "n1", corev1.PodRunning, nil))
			} else {
				_ = x.Update(pod("ns", name, "n1", corev1.PodRunning, map[string]string{"i": fmt.Sprint(i % 7)}))
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := range 2000 {
			for _, p := range x.List("", nil) {
				_ = p.Labels()["i"]
			}
			_, _ = x.Get("ns", fmt.Sprint("p", i%50))
		}
	}()
	wg.Wait()
}

// BenchmarkHeapPerPod reports the live heap each pod costs in the index
// against a SharedIndexInformer-style cache (namespace index) of the slim
// pods the informer transform used to keep. 30,000 pods, replicas of 1,000
// ReplicaSets (3 labels each) over 10 namespaces:
//
//	go test -run '^$' -bench HeapPerPod ./pkg/podindex
func BenchmarkHeapPerPod(b *testing.B) {
	const pods = 30000
	mk := func(i int) *corev1.Pod {
		rs := i % 1000
		p := pod(fmt.Sprint("ns-", rs%10), fmt.Sprintf("web-%d-%05d", rs, i), fmt.Sprint("node-", i/30), corev1.PodRunning,
			map[string]string{"app": fmt.Sprint("web-", rs), "pod-template-hash": fmt.Sprintf("%08x", rs), "tier": "front"})
		p.UID = "0d6b8a4e-8a52-4f2c-9a4f-1c2d3e4f5a6b"
		p.ResourceVersion = fmt.Sprint(100000 + i)
		return p
	}
	slim := New(nil).Transformer()
	for _, tc := range []struct {
		name string
		fill func() any
	}{
		{"index", func() any {
			x := New(nil)
			for i := range pods {
				_ = x.Add(mk(i))
			}
			return x
		}},
		{"informer-cache", func() any {
			c := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
			for i := range pods {
				obj, _ := slim(mk(i))
				_ = c.Add(obj)
			}
			return c
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var perPod float64
			for range b.N {
				before := liveHeap()
				keep := tc.fill()
				after := liveHeap()
				runtime.KeepAlive(keep)
				perPod = float64(after-before) / pods
			}
			b.ReportMetric(perPod, "B/pod")
		})
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
