package render

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"sigs.k8s.io/yaml"
)

var (
	// Scheme knows every kind the chart and the manifests may contain:
	// client-go's built-in kinds, APIService, cert-manager's Certificate and
	// Issuer, and the Prometheus Operator's ServiceMonitor.
	Scheme = runtime.NewScheme()
	// ConfigScheme knows the configuration files the chart mounts: the audit
	// Policy and the TracingConfiguration.
	ConfigScheme = runtime.NewScheme()

	strict       = json.NewSerializerWithOptions(json.DefaultMetaFactory, Scheme, Scheme, json.SerializerOptions{Yaml: true, Strict: true})
	strictConfig = json.NewSerializerWithOptions(json.DefaultMetaFactory, ConfigScheme, ConfigScheme, json.SerializerOptions{Yaml: true, Strict: true})
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(Scheme))
	utilruntime.Must(apiregistrationv1.AddToScheme(Scheme))
	utilruntime.Must(certmanagerv1.AddToScheme(Scheme))
	utilruntime.Must(monitoringv1.AddToScheme(Scheme))
	utilruntime.Must(auditv1.AddToScheme(ConfigScheme))
	utilruntime.Must(apiserverv1.AddToScheme(ConfigScheme))
}

// Decode decodes one YAML document into its typed object. Unknown or
// duplicate fields, unknown kinds and type mismatches are errors.
func Decode(doc []byte) (runtime.Object, error) {
	return decode(strict, doc)
}

// DecodeConfig decodes a configuration file (audit Policy,
// TracingConfiguration) as strictly as Decode.
func DecodeConfig(doc []byte) (runtime.Object, error) {
	return decode(strictConfig, doc)
}

func decode(s runtime.Decoder, doc []byte) (runtime.Object, error) {
	obj, gvk, err := s.Decode(doc, nil, nil)
	if err != nil {
		// strict errors come back with a decoded object: still a failure
		return nil, fmt.Errorf("decoding %v: %w", gvk, err)
	}
	return obj, nil
}

// Split cuts a multi-document YAML stream into its documents, leaving out
// empty ones (only comments or whitespace).
func Split(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		var v any
		if err := yaml.Unmarshal(doc, &v); err != nil {
			return nil, fmt.Errorf("document %d: %w", len(docs)+1, err)
		}
		if v == nil {
			continue
		}
		docs = append(docs, doc)
	}
}

// DecodeAll splits data and decodes every document strictly.
func DecodeAll(data []byte) ([]runtime.Object, error) {
	docs, err := Split(data)
	if err != nil {
		return nil, err
	}
	objs := make([]runtime.Object, 0, len(docs))
	var errs []error
	for i, doc := range docs {
		obj, err := Decode(doc)
		if err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", i+1, err))
			continue
		}
		objs = append(objs, obj)
	}
	return objs, errors.Join(errs...)
}
