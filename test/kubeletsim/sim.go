package kubeletsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// cleanupTimeout bounds what Run does after its context ends.
const cleanupTimeout = 30 * time.Second

// Sim plays a set of nodes for an apiserver. Create it with New, then Run.
type Sim struct {
	cfg     Config
	client  kubernetes.Interface
	ca      *certAuthority
	nodes   []*simNode
	byName  map[string]*simNode
	srv     *server
	port    int
	started time.Time
	bootID  types.UID
	ready   chan struct{}

	queue     workqueue.TypedRateLimitingInterface[string]
	podLister corelisters.PodLister

	mu        sync.Mutex
	records   map[string]*podRecord
	assigned  map[string]assignment
	rr        int
	nextPodIP uint32
}

// NodeEndpoint is where one simulated node serves.
type NodeEndpoint struct {
	Name    string `json:"name"`
	Address string `json:"address"` // ip:port
	Real    bool   `json:"real,omitempty"`
}

// New prepares a simulator: it checks cfg, makes or loads the CA and every
// node's serving certificate. Nothing is contacted or opened before Run.
func New(cfg Config, client kubernetes.Interface) (*Sim, error) {
	cfg.complete()
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	now := cfg.Clock.Now()
	ca, err := loadOrCreateCA(cfg.CertDir, now)
	if err != nil {
		return nil, fmt.Errorf("simulator CA: %w", err)
	}
	total := cfg.Nodes
	if cfg.RealNodeName != "" {
		total++
	}
	addrs, err := nodeAddresses(cfg.AddressBase, total)
	if err != nil {
		return nil, err
	}
	s := &Sim{
		cfg:      cfg,
		client:   client,
		ca:       ca,
		byName:   make(map[string]*simNode, total),
		started:  now,
		bootID:   uuid.NewUUID(),
		ready:    make(chan struct{}),
		records:  map[string]*podRecord{},
		assigned: map[string]assignment{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "kubelet_sim_pods"}),
	}
	served := make([]*servedNode, 0, total)
	for i := 0; i < total; i++ {
		n := &simNode{index: i, ip: addrs[i], cpu: cfg.CPU, memory: cfg.Memory}
		if i < cfg.Nodes {
			n.name = cfg.NodePrefix + "-" + strconv.Itoa(i)
			// The node's counter has been running for an hour at its
			// overhead rate when the simulator starts.
			n.metrics = NewNodeMetrics(now.Add(-time.Hour), cfg.NodeOverhead)
		} else {
			n.name, n.real = cfg.RealNodeName, true
			cpus, mem := cfg.HostStats.Capacity()
			n.cpu = *resource.NewQuantity(int64(cpus), resource.DecimalSI)
			n.memory = *resource.NewQuantity(int64(mem), resource.BinarySI)
		}
		if s.byName[n.name] != nil {
			return nil, fmt.Errorf("node name %s used twice", n.name)
		}
		n.labels = map[string]string{}
		for k, v := range cfg.NodeLabels {
			n.labels[k] = v
		}
		n.labels[v1.LabelHostname] = n.name
		n.labels[v1.LabelOSStable] = "linux"
		n.labels[v1.LabelArchStable] = runtime.GOARCH
		cert, err := ca.servingCert(cfg.CertDir, n.name, n.ip, now)
		if err != nil {
			return nil, fmt.Errorf("serving certificate for %s: %w", n.name, err)
		}
		n.served = &servedNode{name: n.name, ip: n.ip, cert: cert}
		if n.metrics != nil {
			n.served.metrics = n.metrics
		} else {
			n.served.metrics = newRealNodeMetrics(cfg.HostStats, now)
		}
		s.nodes = append(s.nodes, n)
		s.byName[n.name] = n
		served = append(served, n.served)
	}
	s.srv, err = newServer(&s.cfg, served)
	if err != nil {
		return nil, err
	}
	if s.srv.faults != nil {
		s.srv.faults.ca = ca // signs the certificates of TLS faults
	}
	return s, nil
}

// CACertPEM is the CA that signed every node's serving certificate.
func (s *Sim) CACertPEM() []byte { return s.ca.certPEM }

// Ready is closed once every node is registered and serving.
func (s *Sim) Ready() <-chan struct{} { return s.ready }

// Endpoints lists the nodes and where they serve; ports are known once
// Ready is closed.
func (s *Sim) Endpoints() []NodeEndpoint {
	out := make([]NodeEndpoint, len(s.nodes))
	for i, n := range s.nodes {
		out[i] = NodeEndpoint{Name: n.name, Address: netip.AddrPortFrom(n.ip, uint16(s.port)).String(), Real: n.real}
	}
	return out
}

// NodeMetrics returns the metrics of a simulated node, nil for unknown
// names and the real node.
func (s *Sim) NodeMetrics(name string) *NodeMetrics {
	if n := s.byName[name]; n != nil {
		return n.metrics
	}
	return nil
}

// Run serves every node, registers them, runs their pods and keeps them
// Ready until ctx ends; then it deletes the nodes (unless KeepNodesOnExit)
// and stops serving. It returns an error when it could not start.
func (s *Sim) Run(ctx context.Context) (err error) {
	if s.cfg.CAOut != "" {
		if err := writeFileAtomic(s.cfg.CAOut, s.ca.certPEM, 0o644); err != nil {
			return fmt.Errorf("writing CA: %w", err)
		}
	}
	if err := s.srv.listen(servedNodes(s.nodes), s.cfg.KubeletPort); err != nil {
		return err
	}
	s.port = s.srv.port
	s.srv.serve()

	var workers sync.WaitGroup
	runCtx, stop := context.WithCancel(ctx)
	defer func() {
		stop()
		s.queue.ShutDown()
		workers.Wait()
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		s.cleanup(cctx)
	}()

	if failed := s.forEachNode(runCtx, s.registerNode, "Registering node failed"); failed > 0 {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("%d of %d nodes could not be registered", failed, len(s.nodes))
	}

	factory := informers.NewSharedInformerFactory(s.client, 0)
	podInformer := factory.Core().V1().Pods()
	inf := podInformer.Informer()
	if err := inf.SetTransform(stripManagedFields); err != nil {
		return err
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.enqueuePod,
		UpdateFunc: func(_, obj any) { s.enqueuePod(obj) },
		DeleteFunc: s.enqueuePod,
	}); err != nil {
		return err
	}
	s.podLister = podInformer.Lister()
	factory.Start(runCtx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(runCtx.Done(), inf.HasSynced) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("pod informer did not sync")
	}
	for i := 0; i < s.cfg.Workers; i++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			s.runWorker(runCtx)
		}()
	}
	if s.cfg.RealNodeName != "" {
		workers.Add(1)
		go func() {
			defer workers.Done()
			s.ensureSelfPod(runCtx)
		}()
	}

	// The ticker exists before Ready, so a test's fake clock can step it.
	var tick <-chan time.Time
	if s.cfg.HeartbeatInterval > 0 {
		t := s.cfg.Clock.NewTicker(s.cfg.HeartbeatInterval)
		defer t.Stop()
		tick = t.C()
	}
	if err := s.writeReadyFile(); err != nil {
		return err
	}
	close(s.ready)
	s.logSummary()
	for {
		select {
		case <-runCtx.Done():
			return nil
		case <-tick:
			s.heartbeat(runCtx)
		}
	}
}

func servedNodes(nodes []*simNode) []*servedNode {
	out := make([]*servedNode, len(nodes))
	for i, n := range nodes {
		out[i] = n.served
	}
	return out
}

func (s *Sim) cleanup(ctx context.Context) {
	if !s.cfg.KeepNodesOnExit {
		if s.cfg.RealNodeName != "" {
			s.deleteSelfPod(ctx)
		}
		s.deleteNodes(ctx)
	}
	if err := s.srv.shutdown(ctx); err != nil {
		klog.ErrorS(err, "Stopping the servers")
	}
	if s.cfg.ReadyFile != "" {
		if err := os.Remove(s.cfg.ReadyFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			klog.ErrorS(err, "Removing the ready file", "path", s.cfg.ReadyFile)
		}
	}
	klog.InfoS("Kubelet simulator stopped")
}

type readyFile struct {
	Nodes []NodeEndpoint `json:"nodes"`
	CA    string         `json:"ca,omitempty"`
}

func (s *Sim) writeReadyFile() error {
	if s.cfg.ReadyFile == "" {
		return nil
	}
	data, err := json.MarshalIndent(readyFile{Nodes: s.Endpoints(), CA: s.cfg.CAOut}, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(s.cfg.ReadyFile, append(data, '\n'), 0o644)
}

func (s *Sim) logSummary() {
	first, last := s.nodes[0], s.nodes[len(s.nodes)-1]
	addrs := first.ip.String()
	if len(s.nodes) > 1 {
		addrs += "-" + last.ip.String()
	}
	klog.InfoS("Kubelet simulator ready",
		"nodes", len(s.nodes), "first", first.name, "last", last.name,
		"addresses", addrs, "port", s.port, "ca", s.cfg.CAOut, "realNode", s.cfg.RealNodeName,
		"clientAuth", s.srv.authRequired, "backdate", s.cfg.Backdate)
}

// ensureSelfPod creates the pod that stands for the simulator on the real
// node, retrying until it exists (a new cluster may not have the namespace's
// service account yet).
func (s *Sim) ensureSelfPod(ctx context.Context) {
	_ = wait.PollUntilContextCancel(ctx, 2*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := s.createSelfPod(ctx); err != nil {
			klog.ErrorS(err, "Creating the self pod failed, will retry", "pod", klog.KRef(SelfPodNamespace, SelfPodName))
			return false, nil
		}
		return true, nil
	})
}

func (s *Sim) createSelfPod(ctx context.Context) error {
	pods := s.client.CoreV1().Pods(SelfPodNamespace)
	existing, err := pods.Get(ctx, SelfPodName, metav1.GetOptions{})
	switch {
	case err == nil && existing.Spec.NodeName == s.cfg.RealNodeName && existing.DeletionTimestamp == nil:
		return nil
	case err == nil:
		grace := int64(0)
		if err := pods.Delete(ctx, SelfPodName, metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		return errors.New("replaced a stale self pod")
	case !apierrors.IsNotFound(err):
		return err
	}
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      SelfPodName,
			Namespace: SelfPodNamespace,
			Labels:    map[string]string{"app.kubernetes.io/name": "kubelet-sim"},
		},
		Spec: v1.PodSpec{
			NodeName:                     s.cfg.RealNodeName,
			AutomountServiceAccountToken: ptrTo(false),
			Tolerations:                  []v1.Toleration{{Operator: v1.TolerationOpExists}},
			Containers: []v1.Container{{
				Name:  SelfContainer,
				Image: "kubelet-sim",
			}},
		},
	}
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	klog.InfoS("Created the self pod", "pod", klog.KObj(pod), "node", klog.KRef("", s.cfg.RealNodeName))
	return nil
}

func (s *Sim) deleteSelfPod(ctx context.Context) {
	grace := int64(0)
	err := s.client.CoreV1().Pods(SelfPodNamespace).Delete(ctx, SelfPodName, metav1.DeleteOptions{GracePeriodSeconds: &grace})
	if err != nil && !apierrors.IsNotFound(err) {
		klog.ErrorS(err, "Deleting the self pod", "pod", klog.KRef(SelfPodNamespace, SelfPodName))
	}
}

// stripManagedFields keeps managed fields out of the informer's cache.
func stripManagedFields(obj any) (any, error) {
	if acc, err := meta.Accessor(obj); err == nil {
		acc.SetManagedFields(nil)
	}
	return obj, nil
}
