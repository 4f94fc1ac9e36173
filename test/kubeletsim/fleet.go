package kubeletsim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
)

// FleetPods fills every simulated node with the same number of identical
// pods, for scale benchmarks: thousands of nodes with tens of pods each.
//
// With Register, the pods are created in the apiserver already bound
// (spec.nodeName set, no scheduler involved); the simulator's own pod loop
// then marks them Running and meters them, exactly as for any other pod.
// Without it nothing is written to the apiserver: the pods exist only in
// the nodes' /metrics/resource payloads, which is enough to measure what
// scraping costs but not what serving costs (a metrics server only serves
// pods its Pod informer knows).
type FleetPods struct {
	// PerNode is the number of pods on each node; 0 does nothing.
	PerNode int
	// Containers is the number of containers of each pod (>= 1).
	Containers int
	// Namespace holds the pods; created when missing.
	Namespace string
	// Register creates the pods in the apiserver.
	Register bool
	// Workers is how many pods are created at once.
	Workers int
	// Attempts bounds the tries per pod (the namespace's default
	// ServiceAccount appears asynchronously, the apiserver may throttle).
	Attempts int
	// ReadyFile, when set, is written once every pod is metered by its node.
	ReadyFile string
}

// Validate reports what is wrong with f.
func (f FleetPods) Validate() []error {
	var errs []error
	if f.PerNode < 0 {
		errs = append(errs, fmt.Errorf("fleet pods per node must be >= 0, got %d", f.PerNode))
	}
	if f.PerNode > 0 {
		if f.Containers < 1 {
			errs = append(errs, fmt.Errorf("fleet containers per pod must be >= 1, got %d", f.Containers))
		}
		if f.Register && f.Namespace == "" {
			errs = append(errs, errors.New("fleet namespace must be set to register pods"))
		}
		if f.Workers < 1 {
			errs = append(errs, fmt.Errorf("fleet workers must be >= 1, got %d", f.Workers))
		}
	}
	return errs
}

// fleetPodName names pod j of node.
func fleetPodName(node string, j int) string { return node + "-p" + strconv.Itoa(j) }

// fleetContainerNames returns c0, c1, ...
func fleetContainerNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "c" + strconv.Itoa(i)
	}
	return out
}

// fleetPod is the object created for pod j of node: bound, no volumes, no
// service account token, tolerating everything.
func fleetPod(namespace, node string, j int, containers []string) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fleetPodName(node, j),
			Namespace: namespace,
			Labels:    map[string]string{"app.kubernetes.io/name": "fleet", "fleet.kubelet-sim/slot": strconv.Itoa(j)},
		},
		Spec: v1.PodSpec{
			NodeName:                     node,
			AutomountServiceAccountToken: ptrTo(false),
			EnableServiceLinks:           ptrTo(false),
			Tolerations:                  []v1.Toleration{{Operator: v1.TolerationOpExists}},
		},
	}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: c, Image: "fleet"})
	}
	return p
}

// PopulateFleet waits until the simulator is Ready, then gives every
// simulated node f.PerNode pods. It returns once every pod is metered by its
// node (or ctx ends, or a pod could not be created within f.Attempts).
func (s *Sim) PopulateFleet(ctx context.Context, f FleetPods) error {
	if errs := f.Validate(); len(errs) > 0 {
		return errors.Join(errs...)
	}
	if f.PerNode == 0 {
		return nil
	}
	select {
	case <-s.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	start := time.Now()
	var nodes []*simNode
	for _, n := range s.nodes {
		if n.metrics != nil {
			nodes = append(nodes, n)
		}
	}
	containers := fleetContainerNames(f.Containers)
	if !f.Register {
		s.meterFleet(nodes, f.PerNode, f.Namespace, containers)
	} else if err := s.createFleet(ctx, nodes, f, containers); err != nil {
		return err
	}
	if err := waitMetered(ctx, nodes, f.PerNode); err != nil {
		return err
	}
	klog.InfoS("Fleet populated", "nodes", len(nodes), "podsPerNode", f.PerNode,
		"containersPerPod", f.Containers, "registered", f.Register, "elapsed", time.Since(start).Round(time.Millisecond))
	if f.ReadyFile != "" {
		return writeFileAtomic(f.ReadyFile, []byte(strconv.Itoa(len(nodes)*f.PerNode)+"\n"), 0o644)
	}
	return nil
}

// meterFleet puts the pods straight into the nodes' payloads.
func (s *Sim) meterFleet(nodes []*simNode, perNode int, namespace string, containers []string) {
	now := s.cfg.Clock.Now()
	started := now.Add(-s.cfg.Backdate)
	if namespace == "" {
		namespace = "fleet"
	}
	for _, n := range nodes {
		for j := 0; j < perNode; j++ {
			pu := PodUsage{Namespace: namespace, Name: fleetPodName(n.name, j), StartTime: started}
			for _, c := range containers {
				pu.Containers = append(pu.Containers, ContainerUsage{Name: c, StartTime: started, Usage: s.cfg.DefaultUsage})
			}
			n.metrics.SetPod(pu, now)
		}
	}
}

// createFleet creates every pod, f.Workers at a time.
func (s *Sim) createFleet(ctx context.Context, nodes []*simNode, f FleetPods, containers []string) error {
	if err := s.ensureNamespace(ctx, f.Namespace); err != nil {
		return err
	}
	type job struct {
		node string
		j    int
	}
	jobs := make(chan job, f.Workers)
	var (
		wg       sync.WaitGroup
		created  atomic.Int64
		firstErr error
		errOnce  sync.Once
	)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pods := s.client.CoreV1().Pods(f.Namespace)
	for w := 0; w < f.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for jb := range jobs {
				p := fleetPod(f.Namespace, jb.node, jb.j, containers)
				err := retry(wctx, max(f.Attempts, 1), func() error {
					_, err := pods.Create(wctx, p, metav1.CreateOptions{})
					if apierrors.IsAlreadyExists(err) {
						return nil
					}
					return err
				})
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("creating pod %s/%s: %w", f.Namespace, p.Name, err); cancel() })
					continue
				}
				created.Add(1)
			}
		}()
	}
	total := int64(len(nodes) * f.PerNode)
	progress := time.NewTicker(10 * time.Second)
	defer progress.Stop()
feed:
	for j := 0; j < f.PerNode; j++ { // round-robin over nodes: every node fills evenly
		for _, n := range nodes {
			select {
			case jobs <- job{node: n.name, j: j}:
			case <-progress.C:
				klog.InfoS("Creating fleet pods", "created", created.Load(), "total", total)
				jobs <- job{node: n.name, j: j}
			case <-wctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// retry calls fn up to attempts times with a growing pause (100ms .. 5s).
func retry(ctx context.Context, attempts int, fn func() error) error {
	pause := 100 * time.Millisecond
	var err error
	for i := 0; i < attempts; i++ {
		if err = fn(); err == nil {
			return nil
		}
		if i == attempts-1 {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
	}
	return err
}

func (s *Sim) ensureNamespace(ctx context.Context, name string) error {
	ns := &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	_, err := s.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

// waitMetered polls until every node meters perNode pods.
func waitMetered(ctx context.Context, nodes []*simNode, perNode int) error {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	last := time.Now()
	for {
		short := 0
		for _, n := range nodes {
			if n.metrics.Pods() < perNode {
				short++
			}
		}
		if short == 0 {
			return nil
		}
		if time.Since(last) > 10*time.Second {
			klog.InfoS("Waiting for fleet pods to run", "nodesShort", short, "nodes", len(nodes))
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// removeFile removes path, ignoring a missing file.
func removeFile(path string) {
	if path == "" {
		return
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		klog.ErrorS(err, "Removing file", "path", path)
	}
}

// RemoveFleetReadyFile removes f.ReadyFile (on exit).
func (f FleetPods) RemoveFleetReadyFile() { removeFile(f.ReadyFile) }
