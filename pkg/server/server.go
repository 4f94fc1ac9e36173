// Package server glues the pipeline together: informers feed the scraper's
// node loops, scrapes feed the store, the store backs the API; health checks
// and self-metrics are installed on the generic API server.
package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/healthz"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/apiserver"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/kubelet"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/podindex"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/scraper"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/storage"
)

// Config is everything the server needs, built by the command's options.
type Config struct {
	// APIServer is the generic apiserver config (serving, authn/authz, audit).
	APIServer *genericapiserver.Config
	// Kube talks to kube-apiserver for the informers.
	Kube kubernetes.Interface
	// Kubelet scrapes kubelets.
	Kubelet *kubelet.Client
	// ClusterCAKeys are the keys of kube-system/extension-apiserver-authentication
	// (ClientCAKey, RequestHeaderCAKey) whose CAs the authenticator loads from
	// the cluster: readiness waits until they are loaded (see clientCACheck).
	ClusterCAKeys []string
	// NodeSelector restricts the scraped and served nodes (label selector syntax).
	NodeSelector string
	Scraper      scraper.Options
	Store        storage.Options
}

// Server is a ready-to-run metrics-apiserver.
type Server struct {
	api            *apiserver.MetricsAPIServer
	nodes          cache.SharedIndexInformer
	pods           *podindex.Index
	startInformers func(ctx context.Context)
	store          *storage.Store
	clientCA       *clientCACheck // nil when no client CA comes from the cluster
	scraper        *scraper.Scraper
	resolution     time.Duration
	timeout        time.Duration
}

// New wires the pipeline and installs the API group and health checks.
func New(c Config) (*Server, error) {
	nodes, err := newNodeInformer(c.Kube, c.NodeSelector)
	if err != nil {
		return nil, err
	}
	store := storage.NewStore(c.Store)
	pods := podindex.New(func(p *podindex.Pod) { store.ForgetPod(p.NodeName(), p.Namespace, p.Name) })
	podReflector := newPodReflector(c.Kube, pods)
	// the guard names each node for its kubelet's TLS, fails scrapes from a
	// kubelet whose clock is off, and counts failing nodes by reason
	guard := kubelet.NewGuard(c.Kubelet)
	scrp := scraper.New(guard, store, c.Scraper)

	apiConfig := apiserver.Config{
		Generic: c.APIServer,
		Extra:   apiserver.ExtraConfig{Metrics: store, Nodes: corelisters.NewNodeLister(nodes.GetIndexer()), Pods: pods},
	}
	api, err := apiConfig.Complete().New()
	if err != nil {
		return nil, err
	}
	s := &Server{
		api:        api,
		nodes:      nodes,
		pods:       pods,
		store:      store,
		scraper:    scrp,
		resolution: c.Scraper.Resolution,
		timeout:    c.Scraper.Timeout,
	}
	s.startInformers = func(ctx context.Context) {
		go nodes.RunWithContext(ctx)
		go podReflector.RunWithContext(ctx)
	}
	if _, err := s.nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { scrp.AddOrUpdateNode(obj.(*corev1.Node)) },
		UpdateFunc: func(_, obj interface{}) { scrp.AddOrUpdateNode(obj.(*corev1.Node)) },
		DeleteFunc: func(obj interface{}) {
			if node, ok := tombstoneObject(obj).(*corev1.Node); ok {
				scrp.DeleteNode(node.Name)
				guard.Forget(node.Name)
			}
		},
	}); err != nil {
		return nil, err
	}
	if err := registerMetrics(legacyregistry.Register, legacyregistry.CustomRegister, store, scrp); err != nil {
		return nil, err
	}
	generic := api.GenericAPIServer
	if err := generic.AddReadyzChecks(healthz.NamedCheck("metrics-data", s.checkData)); err != nil {
		return nil, err
	}
	if serving := c.APIServer.SecureServing; len(c.ClusterCAKeys) > 0 && serving != nil && serving.ClientCA != nil {
		s.clientCA = newClientCACheck(serving.ClientCA, c.Kube, c.ClusterCAKeys)
		if err := generic.AddReadyzChecks(s.clientCA); err != nil {
			return nil, err
		}
	}
	if err := generic.AddLivezChecks(0, healthz.NamedCheck("scrape-loops", s.checkProgress)); err != nil {
		return nil, err
	}
	return s, nil
}

// Run starts the informers and scrape loops and serves until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	s.startInformers(ctx)
	go releaseAfterSync(ctx, s.nodes.HasSynced, s.pods.HasSynced)
	go s.scraper.Run(ctx)
	if s.clientCA != nil {
		go s.clientCA.read(ctx, time.Second)
	}
	klog.InfoS("Starting metrics-apiserver", "resolution", s.resolution)
	return s.api.GenericAPIServer.PrepareRun().RunWithContext(ctx)
}

// checkData fails until the informers have synced and the store can serve at
// least one node and one pod: "ready" means ready to answer kubectl top.
func (s *Server) checkData(_ *http.Request) error {
	if !s.nodes.HasSynced() || !s.pods.HasSynced() {
		return fmt.Errorf("informers not synced")
	}
	if !s.store.Ready() {
		return fmt.Errorf("no node and pod metrics scraped yet")
	}
	return nil
}

// checkProgress fails when scrape loops exist but none has finished a scrape
// (successful or not) for two resolutions plus a timeout.
func (s *Server) checkProgress(_ *http.Request) error {
	if s.scraper.Nodes() == 0 {
		return nil
	}
	limit := 2*s.resolution + s.timeout
	if since := time.Since(s.scraper.LastProgress()); since > limit {
		return fmt.Errorf("no scrape finished for %s (limit %s)", since.Round(time.Second), limit)
	}
	return nil
}

func tombstoneObject(obj interface{}) interface{} {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}
