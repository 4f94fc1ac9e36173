package apiserver

import (
	"io"
	"slices"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/metricsjson"
)

// withMetricsJSON returns ns with its JSON serializer writing metrics objects
// through metricsjson (same bytes, a fraction of the CPU); every other type,
// every other media type and all decoding are ns's own.
func withMetricsJSON(ns runtime.NegotiatedSerializer) runtime.NegotiatedSerializer {
	types := slices.Clone(ns.SupportedMediaTypes())
	for i := range types {
		if types[i].MediaType == runtime.ContentTypeJSON {
			types[i].Serializer = metricsJSONSerializer{types[i].Serializer}
		}
	}
	return negotiatedSerializer{NegotiatedSerializer: ns, types: types}
}

type negotiatedSerializer struct {
	runtime.NegotiatedSerializer
	types []runtime.SerializerInfo
}

func (n negotiatedSerializer) SupportedMediaTypes() []runtime.SerializerInfo { return n.types }

// metricsJSONSerializer is the generic JSON serializer with a fast path for
// the metrics types. The pretty-printing serializer is left as it is.
type metricsJSONSerializer struct{ runtime.Serializer }

func (s metricsJSONSerializer) Encode(obj runtime.Object, w io.Writer) error {
	if handled, err := metricsjson.Encode(obj, w); handled {
		return err
	}
	return s.Serializer.Encode(obj, w)
}
