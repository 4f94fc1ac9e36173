package kubeletsim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// podRecord is what the simulator remembers of a pod running on one of its
// nodes.
type podRecord struct {
	uid            types.UID
	node           *simNode
	start          time.Time // status.startTime
	containerStart time.Time // last (re)start of every container
	readySince     time.Time // Ready/ContainersReady transition
	restarts       int32
	generation     string // restart-generation annotation last seen
	ip             string
	usageSig       string // annotations the usages were parsed from
	containers     []string
	usages         []Usage
}

// assignment counts a pod toward a node's load, from the binding on.
type assignment struct {
	uid  types.UID
	node *simNode
}

// enqueuePod is the informer handler: it queues pods that are unbound or
// bound to one of our nodes.
func (s *Sim) enqueuePod(obj any) {
	if pod, ok := obj.(*v1.Pod); ok && pod.Spec.NodeName != "" && s.byName[pod.Spec.NodeName] == nil {
		return
	}
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		klog.ErrorS(err, "Cannot queue pod")
		return
	}
	s.queue.Add(key)
}

func (s *Sim) runWorker(ctx context.Context) {
	for s.processNext(ctx) {
	}
}

func (s *Sim) processNext(ctx context.Context) bool {
	key, quit := s.queue.Get()
	if quit {
		return false
	}
	defer s.queue.Done(key)
	if err := s.syncPod(ctx, key); err != nil {
		klog.ErrorS(err, "Syncing pod failed, will retry", "pod", key)
		s.queue.AddRateLimited(key)
		return true
	}
	s.queue.Forget(key)
	return true
}

// syncPod brings one pod to what a kubelet would make of it.
func (s *Sim) syncPod(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := s.podLister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		s.forgetPod(key)
		return nil
	}
	if err != nil {
		return err
	}
	s.forgetReplaced(key, pod)
	if pod.Spec.NodeName == "" {
		return s.maybeBind(ctx, pod)
	}
	n := s.byName[pod.Spec.NodeName]
	if n == nil {
		s.forgetPod(key)
		return nil
	}
	if pod.DeletionTimestamp != nil {
		s.forgetPod(key)
		return s.forceDelete(ctx, pod)
	}
	if pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		s.forgetPod(key)
		return nil
	}
	now := s.cfg.Clock.Now()
	rec := s.observe(key, pod, n, now)
	if n.metrics != nil {
		pu := PodUsage{Namespace: pod.Namespace, Name: pod.Name, StartTime: rec.start}
		for i, c := range rec.containers {
			pu.Containers = append(pu.Containers, ContainerUsage{Name: c, StartTime: rec.containerStart, Usage: rec.usages[i]})
		}
		n.metrics.SetPod(pu, now)
	}
	want := podStatus(pod, rec, n.ip.String())
	if statusUpToDate(pod, &want) {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"status": want})
	if err != nil {
		return err
	}
	_, err = s.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "status")
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("patching status of pod %s: %w", key, err)
	}
	klog.V(2).InfoS("Pod running", "pod", klog.KObj(pod), "node", klog.KRef("", n.name), "restarts", rec.restarts, "podIP", rec.ip)
	return nil
}

// observe creates or updates the record of a pod on node n.
func (s *Sim) observe(key string, pod *v1.Pod, n *simNode, now time.Time) *podRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.records[key]
	if rec != nil && (rec.uid != pod.UID || rec.node != n) {
		s.forgetLocked(key, now)
		rec = nil
	}
	gen := pod.Annotations[AnnotationRestartGeneration]
	if rec == nil {
		rec = s.newRecord(pod, n, now)
		rec.generation = gen
		s.records[key] = rec
		s.assignLocked(key, pod.UID, n)
	} else if gen != rec.generation {
		rec.generation = gen
		rec.restarts++
		rec.containerStart = now
		rec.readySince = now
		klog.InfoS("Restarting containers", "pod", klog.KObj(pod), "node", klog.KRef("", n.name), "restartGeneration", gen, "restarts", rec.restarts)
	}
	sig := pod.Annotations[AnnotationCPU] + "\x00" + pod.Annotations[AnnotationMemory] + "\x00" + pod.Annotations[AnnotationUsage]
	if rec.usages == nil || sig != rec.usageSig {
		usages, err := ContainerUsages(pod.Annotations, rec.containers, s.cfg.DefaultUsage)
		if err != nil {
			klog.ErrorS(err, "Invalid usage annotation, using defaults for the invalid parts", "pod", klog.KObj(pod))
		}
		rec.usages, rec.usageSig = usages, sig
	}
	return rec
}

func (s *Sim) newRecord(pod *v1.Pod, n *simNode, now time.Time) *podRecord {
	rec := &podRecord{uid: pod.UID, node: n, containers: runningContainers(pod)}
	self := n.real && pod.Namespace == SelfPodNamespace && pod.Name == SelfPodName
	switch {
	case self:
		rec.start = s.started
		rec.containerStart, rec.readySince = rec.start, rec.start
	case pod.Status.Phase == v1.PodRunning && pod.Status.StartTime != nil:
		// Adopt a pod a previous simulator ran.
		rec.start = pod.Status.StartTime.Time
		rec.containerStart, rec.readySince = rec.start, rec.start
		for _, cs := range pod.Status.ContainerStatuses {
			rec.restarts = max(rec.restarts, cs.RestartCount)
			if cs.State.Running != nil && cs.State.Running.StartedAt.After(rec.containerStart) {
				rec.containerStart = cs.State.Running.StartedAt.Time
			}
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == v1.PodReady && c.Status == v1.ConditionTrue {
				rec.readySince = c.LastTransitionTime.Time
			}
		}
		if ip, err := netip.ParseAddr(pod.Status.PodIP); err == nil {
			rec.ip = ip.String()
		}
	default:
		rec.start = now.Add(-s.cfg.Backdate)
		rec.containerStart, rec.readySince = rec.start, rec.start
	}
	if rec.ip == "" {
		rec.ip = s.allocatePodIPLocked()
	}
	return rec
}

// allocatePodIPLocked hands out 10.244.0.1, 10.244.0.2, ... skipping
// addresses ending in .0 and .255.
func (s *Sim) allocatePodIPLocked() string {
	for {
		s.nextPodIP++
		v := (uint32(10)<<24 | uint32(244)<<16) + s.nextPodIP
		if b := byte(v); b == 0 || b == 255 {
			continue
		}
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()
	}
}

// runningContainers lists the containers that run for the pod's lifetime:
// the regular ones and the restartable (sidecar) init containers.
func runningContainers(pod *v1.Pod) []string {
	var out []string
	for _, c := range pod.Spec.InitContainers {
		if isSidecar(&c) {
			out = append(out, c.Name)
		}
	}
	for _, c := range pod.Spec.Containers {
		out = append(out, c.Name)
	}
	return out
}

func isSidecar(c *v1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways
}

// forgetReplaced drops what is remembered of an earlier pod of the same
// name.
func (s *Sim) forgetReplaced(key string, pod *v1.Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec := s.records[key]; rec != nil && rec.uid != pod.UID {
		s.forgetLocked(key, s.cfg.Clock.Now())
	}
}

func (s *Sim) forgetPod(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetLocked(key, s.cfg.Clock.Now())
}

func (s *Sim) forgetLocked(key string, now time.Time) {
	if rec := s.records[key]; rec != nil {
		delete(s.records, key)
		if rec.node.metrics != nil {
			ns, name, _ := cache.SplitMetaNamespaceKey(key)
			rec.node.metrics.DeletePod(ns, name, now)
		}
	}
	if a, ok := s.assigned[key]; ok {
		a.node.load--
		delete(s.assigned, key)
	}
}

func (s *Sim) assignLocked(key string, uid types.UID, n *simNode) {
	if a, ok := s.assigned[key]; ok {
		if a.node == n && a.uid == uid {
			return
		}
		a.node.load--
	}
	s.assigned[key] = assignment{uid: uid, node: n}
	n.load++
}

// maybeBind binds a pending pod meant for the default scheduler to the
// least loaded simulated node that its nodeSelector allows.
func (s *Sim) maybeBind(ctx context.Context, pod *v1.Pod) error {
	if pod.DeletionTimestamp != nil || (pod.Status.Phase != "" && pod.Status.Phase != v1.PodPending) {
		return nil
	}
	scheduler := pod.Spec.SchedulerName
	if scheduler == "" {
		scheduler = v1.DefaultSchedulerName
	}
	if scheduler != s.cfg.SchedulerName {
		return nil
	}
	key := pod.Namespace + "/" + pod.Name
	s.mu.Lock()
	if a, ok := s.assigned[key]; ok && a.uid == pod.UID {
		s.mu.Unlock()
		return nil // bound already; the informer has not caught up
	}
	n := s.pickNodeLocked(pod)
	if n == nil {
		s.mu.Unlock()
		klog.V(2).InfoS("No simulated node fits pod", "pod", klog.KObj(pod))
		return nil
	}
	s.assignLocked(key, pod.UID, n)
	s.mu.Unlock()

	binding := &v1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     v1.ObjectReference{Kind: "Node", Name: n.name},
	}
	err := s.client.CoreV1().Pods(pod.Namespace).Bind(ctx, binding, metav1.CreateOptions{})
	if err != nil {
		s.mu.Lock()
		if a, ok := s.assigned[key]; ok && a.node == n && a.uid == pod.UID {
			n.load--
			delete(s.assigned, key)
		}
		s.mu.Unlock()
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil // gone, or bound by someone else
		}
		return fmt.Errorf("binding pod %s to %s: %w", key, n.name, err)
	}
	klog.InfoS("Bound pod", "pod", klog.KObj(pod), "node", klog.KRef("", n.name))
	return nil
}

// pickNodeLocked returns the least loaded fitting node, breaking ties
// round-robin.
func (s *Sim) pickNodeLocked(pod *v1.Pod) *simNode {
	var sel labels.Selector
	if len(pod.Spec.NodeSelector) > 0 {
		sel = labels.SelectorFromSet(pod.Spec.NodeSelector)
	}
	var best *simNode
	bestAt := 0
	for i := range s.nodes {
		at := (s.rr + i) % len(s.nodes)
		n := s.nodes[at]
		if n.real || (sel != nil && !sel.Matches(labels.Set(n.labels))) {
			continue
		}
		if best == nil || n.load < best.load {
			best, bestAt = n, at
		}
	}
	if best != nil {
		s.rr = bestAt + 1
	}
	return best
}

// forceDelete finishes a terminating pod the way a kubelet would once its
// containers stopped.
func (s *Sim) forceDelete(ctx context.Context, pod *v1.Pod) error {
	grace := int64(0)
	uid := pod.UID
	err := s.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &grace,
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deleting pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	klog.InfoS("Deleted terminating pod", "pod", klog.KObj(pod), "node", klog.KRef("", pod.Spec.NodeName))
	return nil
}

// podStatus is the status a kubelet would report for a pod that runs every
// container.
func podStatus(pod *v1.Pod, rec *podRecord, hostIP string) v1.PodStatus {
	start := metav1.NewTime(rec.start)
	ready := metav1.NewTime(rec.readySince)
	cstart := metav1.NewTime(rec.containerStart)
	cond := func(t v1.PodConditionType, at metav1.Time) v1.PodCondition {
		return v1.PodCondition{Type: t, Status: v1.ConditionTrue, LastTransitionTime: at}
	}
	st := v1.PodStatus{
		Phase: v1.PodRunning,
		Conditions: []v1.PodCondition{
			cond(v1.PodReadyToStartContainers, start),
			cond(v1.PodInitialized, start),
			cond(v1.PodReady, ready),
			cond(v1.ContainersReady, ready),
			cond(v1.PodScheduled, start),
		},
		HostIP:    hostIP,
		HostIPs:   []v1.HostIP{{IP: hostIP}},
		PodIP:     rec.ip,
		PodIPs:    []v1.PodIP{{IP: rec.ip}},
		StartTime: &start,
		QOSClass:  pod.Status.QOSClass,
	}
	running := func(c *v1.Container) v1.ContainerStatus {
		return v1.ContainerStatus{
			Name:         c.Name,
			Image:        c.Image,
			ImageID:      imageID(c.Image),
			ContainerID:  containerID(pod.UID, c.Name, rec.restarts),
			Ready:        true,
			Started:      ptrTo(true),
			RestartCount: rec.restarts,
			State:        v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: cstart}},
		}
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if isSidecar(c) {
			st.InitContainerStatuses = append(st.InitContainerStatuses, running(c))
			continue
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, v1.ContainerStatus{
			Name:        c.Name,
			Image:       c.Image,
			ImageID:     imageID(c.Image),
			ContainerID: containerID(pod.UID, c.Name, 0),
			Ready:       true,
			Started:     ptrTo(false),
			State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{
				ExitCode: 0, Reason: "Completed", StartedAt: start, FinishedAt: start,
				ContainerID: containerID(pod.UID, c.Name, 0),
			}},
		})
	}
	for i := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, running(&pod.Spec.Containers[i]))
	}
	// The kubelet sorts regular container statuses by name.
	sort.Slice(st.ContainerStatuses, func(i, j int) bool { return st.ContainerStatuses[i].Name < st.ContainerStatuses[j].Name })
	return st
}

// statusUpToDate compares the fields podStatus sets, as they serialize (the
// API keeps times to the second).
func statusUpToDate(pod *v1.Pod, want *v1.PodStatus) bool {
	have := v1.PodStatus{
		Phase:                 pod.Status.Phase,
		Conditions:            pod.Status.Conditions,
		HostIP:                pod.Status.HostIP,
		HostIPs:               pod.Status.HostIPs,
		PodIP:                 pod.Status.PodIP,
		PodIPs:                pod.Status.PodIPs,
		StartTime:             pod.Status.StartTime,
		QOSClass:              pod.Status.QOSClass,
		ContainerStatuses:     pod.Status.ContainerStatuses,
		InitContainerStatuses: pod.Status.InitContainerStatuses,
	}
	a, err1 := json.Marshal(have)
	b, err2 := json.Marshal(want)
	return err1 == nil && err2 == nil && bytes.Equal(a, b)
}

func containerID(uid types.UID, name string, restarts int32) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%s/%d", uid, name, restarts))
	return "containerd://" + hex.EncodeToString(sum[:])
}

func imageID(image string) string {
	sum := sha256.Sum256([]byte(image))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func ptrTo[T any](v T) *T { return &v }
