package apiserver

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/handlers/negotiation"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/metrics/pkg/apis/metrics"
	"k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/api"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/metricsjson"
)

// withCompactLists marks the PodMetrics list requests whose response is
// JSON (not pretty-printed) or protobuf, the formats ns (withMetricsEncoders)
// writes compact lists in (api.WithCompactList): their list can be written
// from the store's numbers without building the API objects. The media type
// is negotiated as the list handler will: with every conversion allowed, a
// request that gets no conversion here gets none there either (the handler
// only allows fewer).
func withCompactLists(handler http.Handler, ns runtime.NegotiatedSerializer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		info, ok := request.RequestInfoFrom(req.Context())
		if ok && info.IsResourceRequest && info.Verb == "list" && info.APIGroup == metrics.GroupName &&
			info.Resource == "pods" && info.Subresource == "" {
			opts, info, err := negotiation.NegotiateOutputMediaType(req, ns, anyConversion{})
			if err == nil && opts.Convert == nil && compactFormatOf(info.Serializer) != compactNone {
				req = req.WithContext(api.WithCompactList(req.Context()))
			}
		}
		handler.ServeHTTP(w, req)
	})
}

// anyConversion allows every media type conversion (tables, metadata only).
type anyConversion struct{}

func (anyConversion) AllowsMediaTypeTransform(string, string, *schema.GroupVersionKind) bool {
	return true
}
func (anyConversion) AllowsServerVersion(string) bool  { return false }
func (anyConversion) AllowsStreamSchema(s string) bool { return s == "watch" }

// compactListEncoder is a versioned encoder that writes an
// api.CompactPodMetricsList itself when its serializer is the server's JSON or
// protobuf one, and hands everything else (any other object; a compact list
// in any other format, built first) to the versioned encoder.
type compactListEncoder struct {
	runtime.Encoder
	format compactFormat
}

type compactFormat int

const (
	compactNone compactFormat = iota
	compactJSON
	compactProtobuf
)

// compactFormatOf tells which compact list format a serializer of
// withMetricsEncoders writes.
func compactFormatOf(s runtime.Encoder) compactFormat {
	switch s.(type) {
	case metricsJSONSerializer:
		return compactJSON
	case protobufSerializer:
		return compactProtobuf
	}
	return compactNone
}

func (e compactListEncoder) Encode(obj runtime.Object, w io.Writer) error {
	if l, ok := obj.(*api.CompactPodMetricsList); ok {
		return e.encodeCompact(l, w, nil)
	}
	return e.Encoder.Encode(obj, w)
}

// EncodeWithAllocator implements runtime.EncoderWithAllocator, which the
// generic apiserver prefers when the encoder has it.
func (e compactListEncoder) EncodeWithAllocator(obj runtime.Object, w io.Writer, alloc runtime.MemoryAllocator) error {
	if l, ok := obj.(*api.CompactPodMetricsList); ok {
		return e.encodeCompact(l, w, alloc)
	}
	if ea, ok := e.Encoder.(runtime.EncoderWithAllocator); ok {
		return ea.EncodeWithAllocator(obj, w, alloc)
	}
	return e.Encoder.Encode(obj, w)
}

func (e compactListEncoder) encodeCompact(l *api.CompactPodMetricsList, w io.Writer, alloc runtime.MemoryAllocator) error {
	switch e.format {
	case compactJSON:
		return metricsjson.EncodePodMetricsList(l, w)
	case compactProtobuf:
		return encodePodMetricsListProtobuf(l, w)
	}
	if alloc != nil {
		return e.EncodeWithAllocator(l.PodMetricsList(), w, alloc)
	}
	return e.Encoder.Encode(l.PodMetricsList(), w)
}

// protobufPrefix starts every protobuf-encoded object (the protobuf
// serializer's magic number).
var protobufPrefix = []byte{0x6b, 0x38, 0x73, 0x00}

// protobufWriteBytes is how much of a list is buffered before it is written.
const protobufWriteBytes = 64 << 10

// encodePodMetricsListProtobuf writes l as the protobuf serializer writes a
// v1beta1.PodMetricsList: the magic number, then a runtime.Unknown whose raw
// bytes are the list (its metadata, field 1, then each item, field 2). Each
// item is set into one reused PodMetrics, sized, then set again and written:
// the list's size comes before the items. The list's numbers do not change
// between the two passes.
func encodePodMetricsListProtobuf(l *api.CompactPodMetricsList, w io.Writer) error {
	var item v1beta1.PodMetrics
	var listMeta metav1.ListMeta
	metaSize := listMeta.Size()
	sizes := make([]int, l.Len())
	rawSize := 1 + varintSize(metaSize) + metaSize
	for i := range sizes {
		l.Item(i, &item)
		sizes[i] = item.Size()
		rawSize += 1 + varintSize(sizes[i]) + sizes[i]
	}
	// The magic number alone first, as the protobuf serializer writes it:
	// the generic apiserver decides on gzip from what it is written first.
	if _, err := w.Write(protobufPrefix); err != nil {
		return err
	}
	unk := runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: v1beta1.SchemeGroupVersion.String(), Kind: "PodMetricsList"}}
	_, err := unk.MarshalToWriter(w, rawSize, func(w io.Writer) (int, error) {
		buf := make([]byte, 0, protobufWriteBytes)
		written := 0
		flush := func() error {
			n, err := w.Write(buf)
			written += n
			buf = buf[:0]
			return err
		}
		// appendField appends a length-delimited field of size bytes that
		// marshal writes into the end of the buffer.
		appendField := func(tag byte, size int, marshal func([]byte) (int, error)) error {
			if len(buf) > 0 && len(buf)+1+binary.MaxVarintLen64+size > cap(buf) {
				if err := flush(); err != nil {
					return err
				}
			}
			buf = append(buf, tag)
			buf = binary.AppendUvarint(buf, uint64(size))
			start := len(buf)
			buf = append(buf, make([]byte, size)...)
			n, err := marshal(buf[start:])
			if err == nil && n != size {
				err = fmt.Errorf("protobuf item of %d bytes, sized %d", n, size)
			}
			return err
		}
		if err := appendField(0xa, metaSize, listMeta.MarshalToSizedBuffer); err != nil {
			return written, err
		}
		for i, size := range sizes {
			l.Item(i, &item)
			if err := appendField(0x12, size, item.MarshalToSizedBuffer); err != nil {
				return written, err
			}
		}
		err := flush()
		return written, err
	})
	return err
}

func varintSize(v int) int {
	return (bits.Len64(uint64(v)|1) + 6) / 7
}
