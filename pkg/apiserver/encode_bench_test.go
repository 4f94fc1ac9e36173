package apiserver

import (
	"fmt"
	"io"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/metrics/pkg/apis/metrics"
	"k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// BenchmarkEncodeMetricsList converts an internal list to v1beta1 and
// serializes it, as a list response does: JSON with the generic encoder and
// with the one the server installs (withMetricsJSON), and protobuf.
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
	lists := []struct {
		name string
		obj  runtime.Object
	}{{"nodes=5000", nodes}, {"pods=30000", pods}}
	encoders := []struct {
		name      string
		mediaType string
		ns        runtime.NegotiatedSerializer
	}{
		{"json/generic", runtime.ContentTypeJSON, Codecs},
		{"json/metricsjson", runtime.ContentTypeJSON, withMetricsJSON(Codecs)},
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
