package metricsjson

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// generic returns the apiserver's JSON serializers for these types: the
// streaming one (lists item by item, as the generic apiserver is configured
// by default) and the plain one. Encode must write what both write.
func generic() map[string]runtime.Serializer {
	scheme := runtime.NewScheme()
	if err := v1beta1.AddToScheme(scheme); err != nil {
		panic(err)
	}
	out := map[string]runtime.Serializer{}
	for name, streaming := range map[string]bool{"streaming": true, "plain": false} {
		out[name] = json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme,
			json.SerializerOptions{StreamingCollectionsEncoding: streaming})
	}
	return out
}

var (
	created = metav1.NewTime(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	// a non-UTC time with sub-second digits: written in UTC, in seconds
	stamp  = metav1.NewTime(time.Date(2026, 12, 6, 21, 4, 5, 987654321, time.FixedZone("x", 3600)))
	window = metav1.Duration{Duration: 15 * time.Second}
)

func usage(cpuNano, mem int64) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewScaledQuantity(cpuNano, resource.Nano),
		corev1.ResourceMemory: *resource.NewQuantity(mem, resource.BinarySI),
	}
}

func node(name string) v1beta1.NodeMetrics {
	return v1beta1.NodeMetrics{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: created,
			Labels: map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "a": ""}},
		Timestamp: stamp, Window: window, Usage: usage(1500000000, 1<<30),
	}
}

func pod(namespace, name string) v1beta1.PodMetrics {
	return v1beta1.PodMetrics{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, CreationTimestamp: created,
			Labels: map[string]string{"app": "web"}},
		Timestamp: stamp, Window: window,
		Containers: []v1beta1.ContainerMetrics{{Name: "app", Usage: usage(250000000, 64<<20)}, {Name: "sidecar", Usage: usage(1, 1)}},
	}
}

func TestEncodeWritesWhatEncodingJSONWrites(t *testing.T) {
	remaining := int64(7)
	parsed := func(s string) resource.Quantity { return resource.MustParse(s) }
	tests := []struct {
		name string
		obj  func() runtime.Object
	}{
		{"node", func() runtime.Object { n := node("n1"); return &n }},
		{"node with type meta", func() runtime.Object {
			n := node("n1")
			n.TypeMeta = metav1.TypeMeta{Kind: "NodeMetrics", APIVersion: "metrics.k8s.io/v1beta1"}
			return &n
		}},
		{"node, zero times, nil usage and labels", func() runtime.Object {
			return &v1beta1.NodeMetrics{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
		}},
		{"node, empty usage and labels", func() runtime.Object {
			return &v1beta1.NodeMetrics{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{}}, Usage: corev1.ResourceList{}}
		}},
		{"node, every field metadata may hold here", func() runtime.Object {
			n := node("n1")
			n.GenerateName, n.Namespace, n.SelfLink, n.UID, n.ResourceVersion, n.Generation = "n-", "ns", "/self", "0a-1b", "42", -3
			n.Annotations = map[string]string{"note": "x", "b": "y"}
			return &n
		}},
		{"node, escapes in names, labels and annotations", func() runtime.Object {
			n := node("n<1>&\"q\"\\")
			n.Labels = map[string]string{"é": "ü", "ctl": "a\x01b\tc\nd\re", "html": "<script>&amp;", "ls": "a\u2028b\u2029c",
				"bad": "\xff\xfe", "del": "\x7f", "": "empty key"}
			n.Annotations = map[string]string{"z": "\"quoted\"", "y": "back\\slash"}
			return &n
		}},
		{"node, quantities in every format", func() runtime.Object {
			n := node("n1")
			n.Usage = corev1.ResourceList{
				corev1.ResourceCPU:              parsed("1.5"),
				corev1.ResourceMemory:           parsed("1Gi"),
				corev1.ResourceEphemeralStorage: parsed("12e6"),
				corev1.ResourceStorage:          parsed("100m"),
				"swap":                          *resource.NewQuantity(0, resource.BinarySI),
				"neg":                           *resource.NewMilliQuantity(-2500, resource.DecimalSI),
				"big":                           *resource.NewQuantity(1<<62, resource.DecimalSI),
				"tiny":                          *resource.NewScaledQuantity(3, resource.Nano),
				"odd":                           parsed("1.000001Ki"),
				"held": func() resource.Quantity { // holds its text, as the store's do
					q := resource.NewScaledQuantity(123456789, resource.Nano)
					_ = q.String()
					return *q
				}(),
			}
			return &n
		}},
		{"node, windows", func() runtime.Object {
			n := node("n1")
			n.Window = metav1.Duration{Duration: 1500 * time.Microsecond}
			return &n
		}},
		{"node, zero window", func() runtime.Object {
			n := node("n1")
			n.Window = metav1.Duration{}
			return &n
		}},
		{"pod", func() runtime.Object { p := pod("default", "web"); return &p }},
		{"pod, nil containers", func() runtime.Object {
			p := pod("default", "web")
			p.Containers = nil
			return &p
		}},
		{"pod, empty containers", func() runtime.Object {
			p := pod("default", "web")
			p.Containers = []v1beta1.ContainerMetrics{}
			return &p
		}},
		{"pod, container with nil usage and an odd name", func() runtime.Object {
			p := pod("default", "web")
			p.Containers = []v1beta1.ContainerMetrics{{Name: "a&b"}}
			return &p
		}},
		{"node list", func() runtime.Object {
			return &v1beta1.NodeMetricsList{
				TypeMeta: metav1.TypeMeta{Kind: "NodeMetricsList", APIVersion: "metrics.k8s.io/v1beta1"},
				Items:    []v1beta1.NodeMetrics{node("a"), node("b"), node("c")},
			}
		}},
		{"node list, windows that change", func() runtime.Object {
			l := &v1beta1.NodeMetricsList{Items: []v1beta1.NodeMetrics{node("a"), node("b"), node("c"), node("d")}}
			l.Items[1].Window = metav1.Duration{Duration: 1500 * time.Microsecond}
			l.Items[2].Window = metav1.Duration{}
			return l
		}},
		{"node list, nil items", func() runtime.Object { return &v1beta1.NodeMetricsList{} }},
		{"node list, empty items and every list field", func() runtime.Object {
			return &v1beta1.NodeMetricsList{
				ListMeta: metav1.ListMeta{SelfLink: "/s", ResourceVersion: "9", Continue: "tok<en>", RemainingItemCount: &remaining},
				Items:    []v1beta1.NodeMetrics{},
			}
		}},
		{"pod list", func() runtime.Object {
			return &v1beta1.PodMetricsList{
				TypeMeta: metav1.TypeMeta{Kind: "PodMetricsList", APIVersion: "metrics.k8s.io/v1beta1"},
				ListMeta: metav1.ListMeta{ResourceVersion: "1"},
				Items:    []v1beta1.PodMetrics{pod("a", "x"), pod("b", "y")},
			}
		}},
		{"pod list, nil items", func() runtime.Object { return &v1beta1.PodMetricsList{} }},
		{"node list larger than a flush", func() runtime.Object {
			l := &v1beta1.NodeMetricsList{}
			for i := 0; i < 2*flushBytes/300; i++ {
				l.Items = append(l.Items, node(strings.Repeat("n", i%50+1)))
			}
			return l
		}},
	}
	serializers := generic()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got bytes.Buffer
			handled, err := Encode(tt.obj(), &got)
			if err != nil || !handled {
				t.Fatalf("Encode: handled %v, error %v", handled, err)
			}
			for name, s := range serializers {
				var want bytes.Buffer
				if err := s.Encode(tt.obj(), &want); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.Bytes(), want.Bytes()) {
					t.Errorf("differs from the %s serializer:\n got %.2000s\nwant %.2000s", name, got.Bytes(), want.Bytes())
				}
			}
		})
	}
}

func TestEncodeLeavesOtherObjects(t *testing.T) {
	now := metav1.Now()
	grace := int64(1)
	withMeta := func(f func(*metav1.ObjectMeta)) *v1beta1.NodeMetrics {
		n := node("n1")
		f(&n.ObjectMeta)
		return &n
	}
	tests := []struct {
		name string
		obj  runtime.Object
	}{
		{"another type", &metav1.Status{Status: "Failure"}},
		{"a table", &metav1.Table{}},
		{"nil node", (*v1beta1.NodeMetrics)(nil)},
		{"nil pod list", (*v1beta1.PodMetricsList)(nil)},
		{"deletion time", withMeta(func(m *metav1.ObjectMeta) { m.DeletionTimestamp = &now })},
		{"deletion grace period", withMeta(func(m *metav1.ObjectMeta) { m.DeletionGracePeriodSeconds = &grace })},
		{"owner references", withMeta(func(m *metav1.ObjectMeta) { m.OwnerReferences = []metav1.OwnerReference{} })},
		{"finalizers", withMeta(func(m *metav1.ObjectMeta) { m.Finalizers = []string{"f"} })},
		{"managed fields", withMeta(func(m *metav1.ObjectMeta) { m.ManagedFields = []metav1.ManagedFieldsEntry{{}} })},
		{"a node list with shard info", &v1beta1.NodeMetricsList{ListMeta: metav1.ListMeta{ShardInfo: &metav1.ShardInfo{}}}},
		{"a pod list with shard info", &v1beta1.PodMetricsList{ListMeta: metav1.ListMeta{ShardInfo: &metav1.ShardInfo{}}}},
		{"a list with one such item", &v1beta1.PodMetricsList{Items: []v1beta1.PodMetrics{pod("a", "b"), func() v1beta1.PodMetrics {
			p := pod("a", "c")
			p.Finalizers = []string{"f"}
			return p
		}()}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w bytes.Buffer
			handled, err := Encode(tt.obj, &w)
			if handled || err != nil || w.Len() != 0 {
				t.Fatalf("handled %v, error %v, wrote %d bytes; want nothing done", handled, err, w.Len())
			}
		})
	}
}

// TestKnownFields lists the fields of the types Encode writes. When a
// dependency update adds one, Encode must learn to write it (or leave
// objects that set it to the generic encoder, see simpleMeta and handles)
// before this list is updated.
func TestKnownFields(t *testing.T) {
	tests := []struct {
		typ  reflect.Type
		want string
	}{
		{reflect.TypeFor[metav1.TypeMeta](), "Kind APIVersion"},
		{reflect.TypeFor[metav1.ObjectMeta](), "Name GenerateName Namespace SelfLink UID ResourceVersion Generation " +
			"CreationTimestamp DeletionTimestamp DeletionGracePeriodSeconds Labels Annotations OwnerReferences Finalizers ManagedFields"},
		{reflect.TypeFor[metav1.ListMeta](), "SelfLink ResourceVersion Continue RemainingItemCount ShardInfo"},
		{reflect.TypeFor[v1beta1.NodeMetrics](), "TypeMeta ObjectMeta Timestamp Window Usage"},
		{reflect.TypeFor[v1beta1.PodMetrics](), "TypeMeta ObjectMeta Timestamp Window Containers"},
		{reflect.TypeFor[v1beta1.ContainerMetrics](), "Name Usage"},
		{reflect.TypeFor[v1beta1.NodeMetricsList](), "TypeMeta ListMeta Items"},
		{reflect.TypeFor[v1beta1.PodMetricsList](), "TypeMeta ListMeta Items"},
	}
	for _, tt := range tests {
		var names []string
		for f := range tt.typ.Fields() {
			names = append(names, f.Name)
		}
		if got := strings.Join(names, " "); got != tt.want {
			t.Errorf("%s has fields %q, Encode knows %q", tt.typ, got, tt.want)
		}
	}
}

type failingWriter struct{ writes int }

func (f *failingWriter) Write(p []byte) (int, error) {
	f.writes++
	return 0, errors.New("connection reset")
}

func TestEncodeReportsTheFirstWriteError(t *testing.T) {
	l := &v1beta1.NodeMetricsList{}
	for range 3 * flushBytes / 200 {
		l.Items = append(l.Items, node("n"))
	}
	w := &failingWriter{}
	handled, err := Encode(l, w)
	if !handled || err == nil || err.Error() != "connection reset" {
		t.Fatalf("handled %v, error %v; want the writer's error", handled, err)
	}
	if w.writes != 1 {
		t.Fatalf("%d writes after the first failed; want none", w.writes-1)
	}
}

// FuzzEncode compares Encode with encoding/json for arbitrary names, label
// values, quantities, times and windows.
func FuzzEncode(f *testing.F) {
	f.Add("n1", "default", "app", "v", int64(1500000000), int64(1<<30), int64(1767000000), int64(15e9), uint8(0))
	f.Add("<&>", "\u2028", "\xff", "\"\\", int64(-1), int64(0), int64(0), int64(1500), uint8(3))
	serializers := generic()
	f.Fuzz(func(t *testing.T, name, namespace, key, value string, a, b, unix, window int64, format uint8) {
		formats := []resource.Format{resource.DecimalSI, resource.BinarySI, resource.DecimalExponent}
		q := resource.NewScaledQuantity(a, resource.Scale(int(format%20)-10))
		q.Format = formats[int(format)%len(formats)]
		ts := metav1.Time{}
		if unix != 0 {
			ts = metav1.NewTime(time.Unix(unix%(1<<35), 0))
		}
		p := &v1beta1.PodMetricsList{Items: []v1beta1.PodMetrics{{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{key: value, value: key},
				CreationTimestamp: ts},
			Timestamp: ts, Window: metav1.Duration{Duration: time.Duration(window)},
			Containers: []v1beta1.ContainerMetrics{{Name: key, Usage: corev1.ResourceList{
				corev1.ResourceName(value): *q, "memory": *resource.NewQuantity(b, resource.BinarySI)}}},
		}}}
		var got bytes.Buffer
		if handled, err := Encode(p, &got); !handled || err != nil {
			t.Fatalf("handled %v, error %v", handled, err)
		}
		for sname, s := range serializers {
			var want bytes.Buffer
			if err := s.Encode(p, &want); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("differs from the %s serializer:\n got %s\nwant %s", sname, got.Bytes(), want.Bytes())
			}
		}
	})
}
