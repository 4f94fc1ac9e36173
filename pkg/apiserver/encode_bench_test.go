package apiserver

import (
	"fmt"
	"io"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/metrics/pkg/apis/metrics"
	"k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// BenchmarkEncodeMetricsList converts an internal list to v1beta1 and
// serializes it, as a list response does: JSON with the generic encoder and
// with the one the server installs (withMetricsEncoders), and protobuf.
//
//	go test -run '^$' -bench EncodeMetricsList -benchmem -count 6 ./pkg/apiserver
func BenchmarkEncodeMetricsList(b *testing.B) {
	node, _ := oneOfEach{}.NodeMetrics("")
	nodes := &metrics.NodeMetricsList{Items: make([]metrics.NodeMetrics, 5000)}
	for i := range nodes.Items {
		nodes.Items[i] = node
		nodes.Items[i].Name = fmt.Sprintf("node-%05d", i)
		nodes.Items[i].Labels = benchNodeLabels(nodes.Items[i].Name)
	}
	pod, _ := oneOfEach{}.PodMetrics("", "", "")
	pod.Labels = map[string]string{"app": "web", "pod-template-hash": "5f8b9c7d64"}
	pods := &metrics.PodMetricsList{Items: make([]metrics.PodMetrics, 30000)}
	for i := range pods.Items {
		pods.Items[i] = pod
		pods.Items[i].Namespace, pods.Items[i].Name = "default", fmt.Sprintf("pod-%d", i)
	}
	// The same pods with their own usage maps whose quantities hold their
	// text, as the store builds them (storage.resourceList).
	held := &metrics.PodMetricsList{Items: slices.Clone(pods.Items)}
	for i := range held.Items {
		ctrs := slices.Clone(held.Items[i].Containers)
		for j := range ctrs {
			cpu := resource.NewScaledQuantity(int64(250000000+i), resource.Nano)
			mem := resource.NewQuantity(int64(64<<20+i*4096), resource.BinarySI)
			_, _ = cpu.String(), mem.String()
			ctrs[j].Usage = corev1.ResourceList{corev1.ResourceCPU: *cpu, corev1.ResourceMemory: *mem}
		}
		held.Items[i].Containers = ctrs
	}
	lists := []struct {
		name string
		obj  runtime.Object
	}{{"nodes=5000", nodes}, {"pods=30000", pods}, {"pods=30000,text-held", held}}
	encoders := []struct {
		name      string
		mediaType string
		ns        runtime.NegotiatedSerializer
	}{
		{"json/generic", runtime.ContentTypeJSON, Codecs},
		{"json/metricsjson", runtime.ContentTypeJSON, withMetricsEncoders(Codecs)},
		{"protobuf", runtime.ContentTypeProtobuf, Codecs},
	}
	for _, l := range lists {
		for _, e := range encoders {
			info, ok := runtime.SerializerInfoForMediaType(e.ns.SupportedMediaTypes(), e.mediaType)
			if !ok {
				b.Fatalf("no serializer for %s", e.mediaType)
			}
			encoder := e.ns.EncoderForVersion(info.Serializer, v1beta1.SchemeGroupVersion)
			b.Run(l.name+"/"+e.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := encoder.Encode(l.obj, io.Discard); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
