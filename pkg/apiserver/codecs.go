package apiserver

import (
	"io"
	"slices"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/metricsjson"
)

// withMetricsEncoders returns ns with its JSON serializer writing metrics
// objects through metricsjson (same bytes, a fraction of the CPU), and its
// JSON and protobuf encoders writing compact PodMetrics lists
// (api.CompactPodMetricsList) without building them. Every other type, every
// other media type and all decoding are ns's own.
func withMetricsEncoders(ns runtime.NegotiatedSerializer) runtime.NegotiatedSerializer {
	types := slices.Clone(ns.SupportedMediaTypes())
	for i := range types {
		switch types[i].MediaType {
		case runtime.ContentTypeJSON:
			types[i].Serializer = metricsJSONSerializer{types[i].Serializer}
		case runtime.ContentTypeProtobuf:
			types[i].Serializer = protobufSerializer{types[i].Serializer}
		}
	}
	return negotiatedSerializer{NegotiatedSerializer: ns, types: types}
}

type negotiatedSerializer struct {
	runtime.NegotiatedSerializer
	types []runtime.SerializerInfo
}

func (n negotiatedSerializer) SupportedMediaTypes() []runtime.SerializerInfo { return n.types }

// EncoderForVersion returns ns's versioned encoder, which writes compact
// lists itself when encoder is the JSON or protobuf serializer above.
func (n negotiatedSerializer) EncoderForVersion(encoder runtime.Encoder, gv runtime.GroupVersioner) runtime.Encoder {
	return compactListEncoder{Encoder: n.NegotiatedSerializer.EncoderForVersion(encoder, gv), format: compactFormatOf(encoder)}
}

// metricsJSONSerializer is the generic JSON serializer with a fast path for
// the metrics types. The pretty-printing serializer is left as it is.
type metricsJSONSerializer struct{ runtime.Serializer }

func (s metricsJSONSerializer) Encode(obj runtime.Object, w io.Writer) error {
	if handled, err := metricsjson.Encode(obj, w); handled {
		return err
	}
	return s.Serializer.Encode(obj, w)
}

// protobufSerializer is the generic protobuf serializer, marked so that
// EncoderForVersion knows it.
type protobufSerializer struct{ runtime.Serializer }

// EncodeWithAllocator keeps the protobuf serializer's pooled buffers, which
// the generic apiserver uses when the serializer offers them.
func (s protobufSerializer) EncodeWithAllocator(obj runtime.Object, w io.Writer, alloc runtime.MemoryAllocator) error {
	if ea, ok := s.Serializer.(runtime.EncoderWithAllocator); ok {
		return ea.EncodeWithAllocator(obj, w, alloc)
	}
	return s.Serializer.Encode(obj, w)
}
