package api

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

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
