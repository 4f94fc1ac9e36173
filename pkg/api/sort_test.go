package api

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSortPods(t *testing.T) {
	tests := []struct {
		name string
		in   []string // namespace/name
		want string
	}{
		{"empty", nil, ""},
		{"namespace first", []string{"b/a", "a/z", "a/b"}, "a/b,a/z,b/a"},
		{"byte order", []string{"ns/pod-10", "ns/pod-9", "ns/Pod-1"}, "ns/Pod-1,ns/pod-10,ns/pod-9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pods []*corev1.Pod
			for _, key := range tt.in {
				ns, name, _ := strings.Cut(key, "/")
				pods = append(pods, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
			}
			sortPods(pods)
			var got []string
			for _, p := range pods {
				got = append(got, p.Namespace+"/"+p.Name)
			}
			if strings.Join(got, ",") != tt.want {
				t.Fatalf("sortPods = %v, want %s", got, tt.want)
			}
		})
	}
}

func TestSortNodes(t *testing.T) {
	nodes := []*corev1.Node{
		{ObjectMeta: metav1.ObjectMeta{Name: "n-2"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "n-10"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "a"}},
	}
	sortNodes(nodes)
	var got []string
	for _, n := range nodes {
		got = append(got, n.Name)
	}
	if strings.Join(got, ",") != "a,n-10,n-2" {
		t.Fatalf("sortNodes = %v, want a,n-10,n-2", got)
	}
}
