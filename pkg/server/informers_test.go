package server

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes/fake"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

func TestTransformNodeKeepsOnlyWhatScrapingNeeds(t *testing.T) {
	in := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: "n1", UID: "u1", ResourceVersion: "7",
			Labels:        map[string]string{"zone": "a"},
			Annotations:   map[string]string{resourceMetricsPathAnnotation: "/custom", "other": "x"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet"}},
		},
		Spec: corev1.NodeSpec{PodCIDR: "10.0.0.0/24"},
		Status: corev1.NodeStatus{
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.1.1.1"}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
			Images:          []corev1.ContainerImage{{Names: []string{"big"}, SizeBytes: 1 << 30}},
			Conditions:      []corev1.NodeCondition{{Type: corev1.NodeReady}},
		},
	}
	out, err := transformNode(in)
	if err != nil {
		t.Fatal(err)
	}
	n := out.(*corev1.Node)
	switch {
	case n.Name != "n1" || n.ResourceVersion != "7" || n.Labels["zone"] != "a":
		t.Errorf("identity or labels lost: %+v", n.ObjectMeta)
	case len(n.Annotations) != 1 || n.Annotations[resourceMetricsPathAnnotation] != "/custom":
		t.Errorf("annotations %v", n.Annotations)
	case n.ManagedFields != nil || n.Status.Images != nil || n.Status.Conditions != nil || n.Spec.PodCIDR != "":
		t.Errorf("kept what is not needed: %+v", n)
	case len(n.Status.Addresses) != 1 || n.Status.DaemonEndpoints.KubeletEndpoint.Port != 10250:
		t.Errorf("addresses or port lost: %+v", n.Status)
	}
}

func TestTransformTombstoneAndUnknown(t *testing.T) {
	tomb := cache.DeletedFinalStateUnknown{Key: "n1", Obj: &corev1.Node{}}
	if out, err := transformNode(tomb); err != nil || out != any(tomb) {
		t.Errorf("tombstone: %v %v", out, err)
	}
	if _, err := transformNode("not an object"); err == nil {
		t.Error("unknown object accepted")
	}
}

func TestReleaseAfterSync(t *testing.T) {
	tests := []struct {
		name     string
		synced   bool
		cancel   bool
		released bool
	}{
		{"synced", true, false, true},
		{"stopped before sync", false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			if tt.cancel {
				cancel()
			} else {
				defer cancel()
			}
			got := releaseAfterSync(ctx, func() bool { return tt.synced })
			if got != tt.released {
				t.Fatalf("releaseAfterSync = %v, want %v", got, tt.released)
			}
		})
	}
}

// fakePages serves a list of ints in pages, recording what was asked and when
// items were shrunk relative to the requests.
type fakePages struct {
	pages [][]int
	rv    string
	fail  int // page index that fails, or -1
	calls []metav1.ListOptions
	log   []string
}

func (f *fakePages) list(_ context.Context, o metav1.ListOptions) ([]int, metav1.ListMeta, error) {
	i := len(f.calls)
	f.calls = append(f.calls, o)
	f.log = append(f.log, fmt.Sprintf("list %d", i))
	if i == f.fail {
		return nil, metav1.ListMeta{}, errors.New("page failed")
	}
	meta := metav1.ListMeta{ResourceVersion: f.rv}
	if i+1 < len(f.pages) {
		meta.Continue = fmt.Sprintf("c%d", i+1)
		rest := int64(0)
		for _, p := range f.pages[i+1:] {
			rest += int64(len(p))
		}
		meta.RemainingItemCount = &rest
	}
	return append([]int(nil), f.pages[i]...), meta, nil
}

func (f *fakePages) shrink(v *int) int {
	f.log = append(f.log, fmt.Sprintf("shrink %d", *v))
	return *v * 10
}

func TestListInPages(t *testing.T) {
	tests := []struct {
		name      string
		in        metav1.ListOptions
		pages     [][]int
		fail      int
		want      []int
		wantLog   string
		wantFirst metav1.ListOptions // the first request
		wantErr   bool
	}{
		{
			name:      "one page; resourceVersion 0 asked as a consistent list",
			in:        metav1.ListOptions{ResourceVersion: "0", LabelSelector: "a=b"},
			pages:     [][]int{{1, 2}},
			fail:      -1,
			want:      []int{10, 20},
			wantLog:   "list 0,shrink 1,shrink 2",
			wantFirst: metav1.ListOptions{LabelSelector: "a=b", Limit: listPageSize},
		},
		{
			name:      "three pages, each shrunk before the next is asked for",
			in:        metav1.ListOptions{ResourceVersion: "0", ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan, Limit: 7},
			pages:     [][]int{{1, 2}, {3}, {4, 5}},
			fail:      -1,
			want:      []int{10, 20, 30, 40, 50},
			wantLog:   "list 0,shrink 1,shrink 2,list 1,shrink 3,list 2,shrink 4,shrink 5",
			wantFirst: metav1.ListOptions{Limit: listPageSize},
		},
		{
			name:      "a relist at a known resourceVersion is asked as given; pages the server still makes are followed",
			in:        metav1.ListOptions{ResourceVersion: "42", ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan},
			pages:     [][]int{{1}, {2}},
			fail:      -1,
			want:      []int{10, 20},
			wantLog:   "list 0,shrink 1,list 1,shrink 2",
			wantFirst: metav1.ListOptions{ResourceVersion: "42", ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan},
		},
		{
			name:      "a failing page fails the list",
			in:        metav1.ListOptions{},
			pages:     [][]int{{1}, {2}},
			fail:      1,
			wantLog:   "list 0,shrink 1,list 1",
			wantFirst: metav1.ListOptions{Limit: listPageSize},
			wantErr:   true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakePages{pages: tt.pages, rv: "77", fail: tt.fail}
			got, meta, err := listInPages(context.Background(), tt.in, f.list, f.shrink)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if log := strings.Join(f.log, ","); log != tt.wantLog {
				t.Errorf("calls %s, want %s", log, tt.wantLog)
			}
			if !reflect.DeepEqual(f.calls[0], tt.wantFirst) {
				t.Errorf("first request %+v, want %+v", f.calls[0], tt.wantFirst)
			}
			for i, o := range f.calls[1:] {
				want := tt.wantFirst
				want.Continue, want.ResourceVersion, want.ResourceVersionMatch = fmt.Sprintf("c%d", i+1), "", ""
				if !reflect.DeepEqual(o, want) {
					t.Errorf("request %d %+v, want %+v", i+1, o, want)
				}
			}
			if tt.wantErr {
				if got != nil {
					t.Errorf("items %v on error", got)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("items %v, want %v", got, tt.want)
			}
			if cap(got) != len(tt.want) {
				t.Errorf("cap %d, want %d (sized from remainingItemCount)", cap(got), len(tt.want))
			}
			if meta.ResourceVersion != "77" || meta.Continue != "" || meta.RemainingItemCount != nil {
				t.Errorf("list meta %+v, want resourceVersion 77 and no continuation", meta)
			}
		})
	}
}

func TestNodeInformerKeepsSlimNodes(t *testing.T) {
	client := fake.NewClientset(
		&corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"pool": "a"}, Annotations: map[string]string{"big": "x"}},
			Status:     corev1.NodeStatus{Images: []corev1.ContainerImage{{Names: []string{"img"}}}, Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}}},
		},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2", Labels: map[string]string{"pool": "b"}}},
	)
	informer, err := newNodeInformer(client, "pool=a")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go informer.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		t.Fatal("informer did not sync")
	}
	nodes, err := corelisters.NewNodeLister(informer.GetIndexer()).List(labels.Everything())
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 || nodes[0].Name != "n1" {
		t.Fatalf("nodes %v, want only n1 (the selector)", nodes)
	}
	n := nodes[0]
	if n.Status.Images != nil || n.Annotations != nil || len(n.Status.Addresses) != 1 {
		t.Errorf("node not slim or lost its address: %+v", n)
	}
}
