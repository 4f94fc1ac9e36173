package deploy

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// lookupProvider answers the chart's `lookup` calls from a fake cluster.
type lookupProvider struct{ client dynamic.Interface }

func (p lookupProvider) GetClientFor(apiVersion, kind string) (dynamic.NamespaceableResourceInterface, bool, error) {
	gvr := corev1.SchemeGroupVersion.WithResource("secrets")
	if apiVersion != "v1" || kind != "Secret" {
		panic("the chart looks up only Secrets, not " + apiVersion + " " + kind)
	}
	return p.client.Resource(gvr), true, nil
}

func fakeLookup(t *testing.T, objs ...runtime.Object) lookupProvider {
	t.Helper()
	return lookupProvider{client: dynamicfake.NewSimpleDynamicClient(clientgoscheme.Scheme, objs...)}
}
