// Package apiserver assembles the aggregated API server that serves
// metrics.k8s.io/v1beta1: scheme and codecs, a Config that must be completed
// before use, and the server with the API group installed.
package apiserver

import (
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/metrics/pkg/apis/metrics"
	"k8s.io/metrics/pkg/apis/metrics/install"
	"k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/api"
)

var (
	// Scheme holds the metrics.k8s.io types (internal and v1beta1).
	Scheme = runtime.NewScheme()
	// Codecs serve the types of Scheme (JSON, YAML, protobuf).
	Codecs = serializer.NewCodecFactory(Scheme)
)

func init() {
	install.Install(Scheme)
	// the unversioned meta types (Status, ListOptions, ...) as every apiserver registers them
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
	unversioned := schema.GroupVersion{Group: "", Version: "v1"}
	Scheme.AddUnversionedTypes(unversioned,
		&metav1.Status{}, &metav1.APIVersions{}, &metav1.APIGroupList{}, &metav1.APIGroup{}, &metav1.APIResourceList{})
}

// ExtraConfig is what this server needs beyond the generic apiserver config.
type ExtraConfig struct {
	// Metrics returns servable usage (the store).
	Metrics api.MetricsGetter
	// Nodes and Pods list the objects whose metrics are served.
	Nodes corelisters.NodeLister
	Pods  api.PodLister
}

// Config is the server's configuration. Call Complete before New.
type Config struct {
	Generic *genericapiserver.Config
	Extra   ExtraConfig
}

type completedConfig struct {
	generic genericapiserver.CompletedConfig
	extra   *ExtraConfig
}

// CompletedConfig is a Config with defaults filled in. Its fields are private so
// that nobody can build a server from a Config that skipped Complete.
type CompletedConfig struct {
	*completedConfig
}

// Complete fills in defaults.
func (c *Config) Complete() CompletedConfig {
	return CompletedConfig{&completedConfig{
		generic: c.Generic.Complete(nil),
		extra:   &c.Extra,
	}}
}

// MetricsAPIServer is the generic API server with metrics.k8s.io installed.
type MetricsAPIServer struct {
	GenericAPIServer *genericapiserver.GenericAPIServer
}

// New builds the server and installs the API group.
func (c CompletedConfig) New() (*MetricsAPIServer, error) {
	encoders := withMetricsEncoders(Codecs)
	chain := c.generic.BuildHandlerChainFunc
	c.generic.BuildHandlerChainFunc = func(apiHandler http.Handler, gc *genericapiserver.Config) http.Handler {
		return chain(withCompactLists(apiHandler, encoders), gc)
	}
	generic, err := c.generic.New("metrics-apiserver", genericapiserver.NewEmptyDelegate())
	if err != nil {
		return nil, err
	}
	group := genericapiserver.NewDefaultAPIGroupInfo(metrics.GroupName, Scheme, metav1.ParameterCodec, Codecs)
	group.NegotiatedSerializer = encoders
	group.VersionedResourcesStorageMap[v1beta1.SchemeGroupVersion.Version] = map[string]rest.Storage{
		"nodes": api.NewNodeMetricsREST(c.extra.Metrics, c.extra.Nodes),
		"pods":  api.NewPodMetricsREST(c.extra.Metrics, c.extra.Pods),
	}
	if err := generic.InstallAPIGroup(&group); err != nil {
		return nil, err
	}
	return &MetricsAPIServer{GenericAPIServer: generic}, nil
}
