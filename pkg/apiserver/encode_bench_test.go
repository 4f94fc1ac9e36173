package apiserver

import (
	"fmt"
	"io"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/metrics/pkg/apis/metrics"
	"k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// BenchmarkEncodePodMetricsList converts an internal list to v1beta1 and
// serializes it, as a list response does, for JSON and protobuf.
func BenchmarkEncodePodMetricsList(b *testing.B) {
	one, _ := oneOfEach{}.PodMetrics("", "", "")
	for _, n := range []int{3000, 30000} {
		list := &metrics.PodMetricsList{Items: make([]metrics.PodMetrics, n)}
		for i := range list.Items {
			list.Items[i] = one
			list.Items[i].Namespace, list.Items[i].Name = "default", fmt.Sprintf("pod-%d", i)
		}
		for _, mediaType := range []string{runtime.ContentTypeJSON, runtime.ContentTypeProtobuf} {
			info, ok := runtime.SerializerInfoForMediaType(Codecs.SupportedMediaTypes(), mediaType)
			if !ok {
				b.Fatalf("no serializer for %s", mediaType)
			}
			encoder := Codecs.EncoderForVersion(info.Serializer, v1beta1.SchemeGroupVersion)
			b.Run(fmt.Sprintf("pods=%d/%s", n, mediaType), func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if err := encoder.Encode(list, io.Discard); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
