package api

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/metrics/pkg/apis/metrics"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/podindex"
)

// fakeGetter serves usage for the keys it holds.
type fakeGetter struct {
	nodes map[string]int64 // node -> millicores
	pods  map[string]int64 // node/ns/name -> millicores
}

var ts = metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))

func usage(milli int64) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(milli, resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(64<<20, resource.BinarySI),
	}
}

func (f fakeGetter) NodeMetrics(node string) (metrics.NodeMetrics, bool) {
	m, ok := f.nodes[node]
	return metrics.NodeMetrics{Timestamp: ts, Window: metav1.Duration{Duration: 15 * time.Second}, Usage: usage(m)}, ok
}

func (f fakeGetter) PodMetrics(node, ns, name string) (metrics.PodMetrics, bool) {
	m, ok := f.pods[node+"/"+ns+"/"+name]
	return metrics.PodMetrics{Timestamp: ts, Window: metav1.Duration{Duration: 15 * time.Second},
		Containers: []metrics.ContainerMetrics{{Name: "app", Usage: usage(m)}, {Name: "sidecar", Usage: usage(m)}}}, ok
}

func pod(ns, name, node string, phase corev1.PodPhase, lbls map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls},
		Spec:       corev1.PodSpec{NodeName: node},
		Status:     corev1.PodStatus{Phase: phase},
	}
}

func fixture(t *testing.T) (*NodeMetricsREST, *PodMetricsREST) {
	t.Helper()
	nodeIdx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	podIdx := podindex.New(nil)
	for _, n := range []*corev1.Node{
		{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"zone": "a"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "n2", Labels: map[string]string{"zone": "b"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "n3-no-data"}},
	} {
		if err := nodeIdx.Add(n); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []*corev1.Pod{
		pod("default", "web", "n1", corev1.PodRunning, map[string]string{"app": "web"}),
		pod("default", "api", "n2", corev1.PodRunning, map[string]string{"app": "api"}),
		pod("default", "starting", "n2", corev1.PodPending, map[string]string{"app": "api"}),
		pod("default", "done", "n1", corev1.PodSucceeded, nil),
		pod("default", "unbound", "", corev1.PodPending, nil),
		pod("kube-system", "dns", "n1", corev1.PodRunning, map[string]string{"app": "dns"}),
		pod("kube-system", "no-data", "n1", corev1.PodRunning, nil),
	} {
		if err := podIdx.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	g := fakeGetter{
		nodes: map[string]int64{"n1": 1000, "n2": 2000},
		pods: map[string]int64{
			"n1/default/web": 250, "n2/default/api": 100, "n2/default/starting": 5,
			"n1/default/done": 7, "n1/kube-system/dns": 10,
		},
	}
	return NewNodeMetricsREST(g, corelisters.NewNodeLister(nodeIdx)), NewPodMetricsREST(g, podIdx)
}

func listOpts(t *testing.T, label, field string) *metainternalversion.ListOptions {
	t.Helper()
	o := &metainternalversion.ListOptions{}
	if label != "" {
		sel, err := labels.Parse(label)
		if err != nil {
			t.Fatal(err)
		}
		o.LabelSelector = sel
	}
	if field != "" {
		sel, err := fields.ParseSelector(field)
		if err != nil {
			t.Fatal(err)
		}
		o.FieldSelector = sel
	}
	return o
}

func TestPodList(t *testing.T) {
	_, pods := fixture(t)
	tests := []struct {
		name, namespace, label, field string
		want                          []string
		wantBadRequest                bool
	}{
		{name: "all namespaces", want: []string{"default/api", "default/starting", "default/web", "kube-system/dns"}},
		{name: "one namespace", namespace: "kube-system", want: []string{"kube-system/dns"}},
		{name: "label selector", label: "app=api", want: []string{"default/api", "default/starting"}},
		{name: "label selector in namespace", namespace: "kube-system", label: "app=api", want: []string{}},
		{name: "field metadata.name", field: "metadata.name=web", want: []string{"default/web"}},
		{name: "field metadata.namespace", field: "metadata.namespace=kube-system", want: []string{"kube-system/dns"}},
		{name: "field negation", field: "metadata.namespace!=default", want: []string{"kube-system/dns"}},
		{name: "unsupported field", field: "spec.nodeName=n1", wantBadRequest: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := genericapirequest.WithNamespace(context.Background(), tc.namespace)
			obj, err := pods.List(ctx, listOpts(t, tc.label, tc.field))
			if tc.wantBadRequest {
				if !apierrors.IsBadRequest(err) {
					t.Fatalf("want BadRequest, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, m := range obj.(*metrics.PodMetricsList).Items {
				got = append(got, m.Namespace+"/"+m.Name)
				if len(m.Containers) != 2 || m.Timestamp != ts {
					t.Errorf("%s/%s: containers %d timestamp %v", m.Namespace, m.Name, len(m.Containers), m.Timestamp)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPodGet(t *testing.T) {
	_, pods := fixture(t)
	tests := []struct {
		namespace, name string
		wantMilli       int64
		wantNotFound    bool
	}{
		{namespace: "default", name: "web", wantMilli: 250},
		{namespace: "default", name: "starting", wantMilli: 5}, // Pending with running containers counts
		{namespace: "default", name: "done", wantNotFound: true},
		{namespace: "default", name: "unbound", wantNotFound: true},
		{namespace: "kube-system", name: "no-data", wantNotFound: true},
		{namespace: "kube-system", name: "web", wantNotFound: true},
	}
	for _, tc := range tests {
		t.Run(tc.namespace+"/"+tc.name, func(t *testing.T) {
			ctx := genericapirequest.WithNamespace(context.Background(), tc.namespace)
			obj, err := pods.Get(ctx, tc.name, &metav1.GetOptions{})
			if tc.wantNotFound {
				if !apierrors.IsNotFound(err) {
					t.Fatalf("want NotFound, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m := obj.(*metrics.PodMetrics)
			if m.Name != tc.name || m.Namespace != tc.namespace {
				t.Errorf("object meta %s/%s", m.Namespace, m.Name)
			}
			if got := m.Containers[0].Usage.Cpu().MilliValue(); got != tc.wantMilli {
				t.Errorf("cpu %dm, want %dm", got, tc.wantMilli)
			}
		})
	}
}

func TestNodeListAndGet(t *testing.T) {
	nodes, _ := fixture(t)
	tests := []struct {
		name, label, field string
		want               []string
	}{
		{name: "all with data", want: []string{"n1", "n2"}},
		{name: "label", label: "zone=b", want: []string{"n2"}},
		{name: "field", field: "metadata.name=n1", want: []string{"n1"}},
		{name: "field no data", field: "metadata.name=n3-no-data", want: []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj, err := nodes.List(context.Background(), listOpts(t, tc.label, tc.field))
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, m := range obj.(*metrics.NodeMetricsList).Items {
				got = append(got, m.Name)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	obj, err := nodes.Get(context.Background(), "n2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := obj.(*metrics.NodeMetrics); m.Labels["zone"] != "b" || m.Usage.Cpu().MilliValue() != 2000 {
		t.Errorf("n2: labels %v cpu %v", m.Labels, m.Usage.Cpu())
	}
	for _, name := range []string{"n3-no-data", "absent"} {
		if _, err := nodes.Get(context.Background(), name, nil); !apierrors.IsNotFound(err) {
			t.Errorf("%s: want NotFound, got %v", name, err)
		}
	}
}

func TestTables(t *testing.T) {
	nodes, pods := fixture(t)
	ctx := genericapirequest.WithNamespace(context.Background(), "default")
	podObj, err := pods.Get(ctx, "web", nil)
	if err != nil {
		t.Fatal(err)
	}
	nodeList, err := nodes.List(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		convert  func() (*metav1.Table, error)
		wantRows [][]interface{}
	}{
		{"pod sums containers", func() (*metav1.Table, error) { return pods.ConvertToTable(ctx, podObj, nil) },
			[][]interface{}{{"web", "500m", "128Mi", "15s"}}},
		{"node list", func() (*metav1.Table, error) { return nodes.ConvertToTable(ctx, nodeList, nil) },
			[][]interface{}{{"n1", "1000m", "64Mi", "15s"}, {"n2", "2000m", "64Mi", "15s"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			table, err := tc.convert()
			if err != nil {
				t.Fatal(err)
			}
			var cols []string
			for _, c := range table.ColumnDefinitions {
				cols = append(cols, c.Name)
			}
			if !slices.Equal(cols, []string{"Name", "CPU", "Memory", "Window"}) {
				t.Errorf("columns %v", cols)
			}
			if len(table.Rows) != len(tc.wantRows) {
				t.Fatalf("rows %d, want %d", len(table.Rows), len(tc.wantRows))
			}
			for i, row := range table.Rows {
				for j, cell := range row.Cells {
					if cell != tc.wantRows[i][j] {
						t.Errorf("row %d cell %d = %v, want %v", i, j, cell, tc.wantRows[i][j])
					}
				}
			}
		})
	}
	if _, err := pods.ConvertToTable(ctx, &corev1.Pod{}, nil); err == nil {
		t.Error("converting a non-metrics object must fail")
	}
}
