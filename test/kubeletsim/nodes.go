package kubeletsim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
)

// simNode is one node the simulator plays.
type simNode struct {
	index   int
	name    string
	ip      netip.Addr
	labels  map[string]string
	real    bool
	metrics *NodeMetrics // nil for the real node
	served  *servedNode
	cpu     resource.Quantity
	memory  resource.Quantity

	load int // pods bound or being bound here; guarded by Sim.mu

	mu         sync.Mutex
	conditions []v1.NodeCondition // as last sent
}

// nodeConditions returns the conditions to publish at now, keeping each
// condition's transition time while its status stays the same.
func (n *simNode) nodeConditions(now time.Time) []v1.NodeCondition {
	n.mu.Lock()
	defer n.mu.Unlock()
	hb := metav1.NewTime(now)
	if n.conditions == nil {
		n.conditions = []v1.NodeCondition{
			{Type: v1.NodeMemoryPressure, Status: v1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
			{Type: v1.NodeDiskPressure, Status: v1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
			{Type: v1.NodePIDPressure, Status: v1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
			{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet-sim is posting ready status"},
		}
		for i := range n.conditions {
			n.conditions[i].LastTransitionTime = hb
		}
	}
	out := make([]v1.NodeCondition, len(n.conditions))
	for i := range n.conditions {
		n.conditions[i].LastHeartbeatTime = hb
		out[i] = n.conditions[i]
	}
	return out
}

// adoptConditions keeps the transition times of an existing node whose
// conditions already match ours.
func (n *simNode) adoptConditions(existing []v1.NodeCondition) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := range n.conditions {
		for _, e := range existing {
			if e.Type == n.conditions[i].Type && e.Status == n.conditions[i].Status && !e.LastTransitionTime.IsZero() {
				n.conditions[i].LastTransitionTime = e.LastTransitionTime
			}
		}
	}
}

func (s *Sim) nodeObject(n *simNode) *v1.Node {
	node := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:   n.name,
			Labels: n.labels,
		},
	}
	if s.cfg.MetricsPathAnnotation != "" {
		node.Annotations = map[string]string{AnnotationResourceMetricsPath: s.cfg.MetricsPathAnnotation}
	}
	return node
}

func (s *Sim) nodeStatus(n *simNode, now time.Time) v1.NodeStatus {
	res := v1.ResourceList{
		v1.ResourceCPU:              n.cpu,
		v1.ResourceMemory:           n.memory,
		v1.ResourcePods:             *resource.NewQuantity(s.cfg.Pods, resource.DecimalSI),
		v1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	return v1.NodeStatus{
		Capacity:    res,
		Allocatable: res.DeepCopy(),
		Conditions:  n.nodeConditions(now),
		Addresses: []v1.NodeAddress{
			{Type: v1.NodeInternalIP, Address: n.ip.String()},
			{Type: v1.NodeHostName, Address: n.name},
		},
		DaemonEndpoints: v1.NodeDaemonEndpoints{
			KubeletEndpoint: v1.DaemonEndpoint{Port: int32(s.port)},
		},
		NodeInfo: v1.NodeSystemInfo{
			MachineID:               fmt.Sprintf("%032x", n.index+1),
			SystemUUID:              fmt.Sprintf("00000000-0000-0000-0000-%012x", n.index+1),
			BootID:                  string(s.bootID),
			KernelVersion:           "kubelet-sim",
			OSImage:                 "kubelet-sim",
			ContainerRuntimeVersion: "kubelet-sim://" + s.cfg.KubeletVersion,
			KubeletVersion:          s.cfg.KubeletVersion,
			OperatingSystem:         "linux",
			Architecture:            runtime.GOARCH,
		},
	}
}

// registerNode creates (or adopts) a node, publishes its status and removes
// the not-ready taint the apiserver puts on new nodes.
func (s *Sim) registerNode(ctx context.Context, n *simNode) error {
	nodes := s.client.CoreV1().Nodes()
	want := s.nodeObject(n)
	// As a kubelet does, register with the status filled in (the apiserver
	// keeps a Node's status on create): a node is never seen without its
	// addresses.
	want.Status = s.nodeStatus(n, s.cfg.Clock.Now())
	created, err := nodes.Create(ctx, want, metav1.CreateOptions{})
	switch {
	case err == nil:
		klog.InfoS("Registered node", "node", klog.KObj(created), "address", n.ip)
	case apierrors.IsAlreadyExists(err):
		existing, gerr := nodes.Get(ctx, n.name, metav1.GetOptions{})
		if gerr != nil {
			return gerr
		}
		n.nodeConditions(s.cfg.Clock.Now())
		n.adoptConditions(existing.Status.Conditions)
		meta := map[string]any{"labels": want.Labels}
		if want.Annotations != nil {
			meta["annotations"] = want.Annotations
		}
		patch, _ := json.Marshal(map[string]any{"metadata": meta})
		created, err = nodes.Patch(ctx, n.name, types.MergePatchType, patch, metav1.PatchOptions{})
		if err != nil {
			return fmt.Errorf("adopting node %s: %w", n.name, err)
		}
		klog.InfoS("Adopted existing node", "node", klog.KObj(created), "address", n.ip)
	default:
		return fmt.Errorf("creating node %s: %w", n.name, err)
	}
	updated, err := s.patchNodeStatus(ctx, n, s.nodeStatus(n, s.cfg.Clock.Now()))
	if err != nil {
		return err
	}
	if updated == nil || updated.Name == "" {
		updated = created
	}
	return s.removeNotReadyTaint(ctx, updated)
}

func (s *Sim) patchNodeStatus(ctx context.Context, n *simNode, status v1.NodeStatus) (*v1.Node, error) {
	patch, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return nil, err
	}
	node, err := s.client.CoreV1().Nodes().Patch(ctx, n.name, types.MergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil {
		return nil, fmt.Errorf("patching status of node %s: %w", n.name, err)
	}
	return node, nil
}

func (s *Sim) removeNotReadyTaint(ctx context.Context, node *v1.Node) error {
	var keep []v1.Taint
	found := false
	for _, t := range node.Spec.Taints {
		if t.Key == v1.TaintNodeNotReady {
			found = true
			continue
		}
		keep = append(keep, t)
	}
	if !found {
		return nil
	}
	if keep == nil {
		keep = []v1.Taint{}
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": node.ResourceVersion},
		"spec":     map[string]any{"taints": keep},
	})
	if err != nil {
		return err
	}
	_, err = s.client.CoreV1().Nodes().Patch(ctx, node.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsConflict(err) {
		// Someone changed the node meanwhile: read it again and retry once.
		fresh, gerr := s.client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
		if gerr != nil {
			return gerr
		}
		return s.removeNotReadyTaint(ctx, fresh)
	}
	if err != nil {
		return fmt.Errorf("removing taint from node %s: %w", node.Name, err)
	}
	return nil
}

// heartbeat refreshes the conditions of every node.
func (s *Sim) heartbeat(ctx context.Context) {
	s.forEachNode(ctx, func(ctx context.Context, n *simNode) error {
		conds := n.nodeConditions(s.cfg.Clock.Now())
		patch, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": conds}})
		if err != nil {
			return err
		}
		_, err = s.client.CoreV1().Nodes().Patch(ctx, n.name, types.MergePatchType, patch, metav1.PatchOptions{}, "status")
		if apierrors.IsNotFound(err) {
			// Deleted under us: register it again.
			klog.InfoS("Node disappeared, registering it again", "node", klog.KRef("", n.name))
			return s.registerNode(ctx, n)
		}
		return err
	}, "Heartbeat failed")
}

// deleteNodes deletes every node.
func (s *Sim) deleteNodes(ctx context.Context) {
	s.forEachNode(ctx, func(ctx context.Context, n *simNode) error {
		err := s.client.CoreV1().Nodes().Delete(ctx, n.name, metav1.DeleteOptions{})
		if err == nil {
			klog.InfoS("Deleted node", "node", klog.KRef("", n.name))
		}
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}, "Deleting node failed")
}

// forEachNode runs fn for every node with at most cfg.Workers at a time and
// logs failures; it returns how many failed.
func (s *Sim) forEachNode(ctx context.Context, fn func(context.Context, *simNode) error, failMsg string) int {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed int
	)
	sem := make(chan struct{}, s.cfg.Workers)
	for _, n := range s.nodes {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return failed + 1
		}
		wg.Add(1)
		go func(n *simNode) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, n); err != nil {
				klog.ErrorS(err, failMsg, "node", klog.KRef("", n.name))
				mu.Lock()
				failed++
				mu.Unlock()
			}
		}(n)
	}
	wg.Wait()
	return failed
}
