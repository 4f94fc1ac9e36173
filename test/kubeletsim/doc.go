// Package kubeletsim plays many kubelets for a real kube-apiserver, so that
// metrics-apiserver can be tested end to end without real nodes.
//
// A Sim registers N Nodes, binds pending pods to them, reports those pods
// Running, and serves every node's GET /metrics/resource over TLS on the
// node's own loopback address, in the exact text format of a v1.33 kubelet.
// The server never imports this package; cmd/kubelet-sim wraps it.
//
// # Nodes
//
// Node i is named <prefix>-<i> and gets the i-th address from the address
// base (skipping .0 and .255) as InternalIP, its name as Hostname, the
// configured capacity (= allocatable), a Ready condition refreshed every
// heartbeat interval, status.daemonEndpoints.kubeletEndpoint.Port, the labels
// kubernetes.io/hostname, kubernetes.io/os=linux, kubernetes.io/arch and any
// extra ones, and, when asked, the annotation
// metrics.k8s.io/resource-metrics-path. The node.kubernetes.io/not-ready
// taint the apiserver adds on create is removed. Nodes that already exist
// are adopted. On exit the nodes are deleted unless told otherwise; their
// pods are left alone (a later run adopts them).
//
// # Pods
//
// A pending pod with no spec.nodeName whose schedulerName is empty or
// default-scheduler is bound (pods/binding) to the least loaded simulated
// node its nodeSelector allows, ties broken round-robin. A pod bound to a
// simulated node gets phase Running, Running container statuses (ready,
// started, restartCount), init container statuses (Running for restartable
// sidecars, Completed for the others), every condition True, a startTime
// and a 10.244.x.y pod IP. A pod being deleted on a simulated node is
// deleted with grace period 0 at once.
//
// Usage comes from pod annotations (see AnnotationCPU, AnnotationMemory,
// AnnotationUsage; default 10m and 16Mi per container) and applies from the
// moment the simulator sees it: counters are integrated piecewise, so they
// never jump. Changing AnnotationRestartGeneration restarts every container:
// start time now, counter from 0, restartCount + 1. A node's usage is the
// sum of its pods plus an overhead; its counter runs since an hour before
// the simulator started.
//
// # Serving
//
// One CA (ECDSA P-256, loaded from or written to the cert dir) signs a
// serving certificate per node with the node's IP and name as SANs. With a
// client CA, requests need a client certificate it signed, or, with
// bearer tokens accepted, any non-empty bearer token; otherwise 401.
// Besides /metrics/resource (and the annotated path), /healthz answers ok.
// Payloads are rendered into pooled buffers with strconv appends, gzipped
// when the client accepts it.
//
// # Real node
//
// With a real node name and a HostStatsSource (package hoststats reads
// them with cAdvisor), one more node serves this machine's numbers: node
// CPU and working set of the root cgroup, and one pod
// kube-system/kubelet-sim-self, created by the simulator, whose container
// kubelet-sim reports the simulator's own cgroup. Pods other than the self
// pod placed on the real node are reported Running but have no metrics; the
// binder never picks the real node.
//
// # With metrics-apiserver
//
// Start the simulator with --ca-out and --ready-file, wait for the ready
// file, then point metrics-apiserver at the cluster with
// --kubelet-certificate-authority set to the CA file: it scrapes each
// node's InternalIP on status.daemonEndpoints.kubeletEndpoint.Port. To test
// client authentication, pass --client-ca the CA that signed the client
// certificate metrics-apiserver presents.
//
// # Faults
//
// With a fault file (--fault-file), each line `NODE FAULT` makes one node
// misbehave, and the file is followed while the simulator runs (a node whose
// line goes away behaves again; its connections are dropped on every change).
// FaultNames lists the faults: hanging before the headers or in the body, a
// dripping body, refused connections, HTTP 500/401/403/404/406 (401 reflects
// the request's Authorization header in its body), malformed text, a
// duplicate series, NaN/+Inf/negative values, timestamps a year ahead or
// behind, truncated gzip, a 100 MB body and a gzip bomb, TLS certificates
// from an unknown CA, expired, for another name, for the node's name only,
// or from a second CA whose certificate is written to
// <cert-dir>/second-ca/ca.crt; and two events, a counter reset and a
// reboot, which cannot be undone (a later `reboot=2` reboots again).
//
// # Not simulated
//
// Node Leases (the Ready heartbeat alone keeps a node lifecycle controller
// content), pod phases other than Running, probes, resource limits, and the
// quirks of other simulators (missing timestamps, HTTP 406 on other Accept
// headers, container_swap_limit_bytes of v1.34+ kubelets). When the
// simulator restarts it adopts Running pods from their status, but their
// counters restart from an estimate (current rate since the container
// started), so a counter may go down across a simulator restart.
//
// # Flags of cmd/kubelet-sim
//
//	--kubeconfig PATH               cluster to register with (default: in-cluster / $KUBECONFIG)
//	--kube-api-qps, --kube-api-burst client rate limits (default 100 / 200)
//	--nodes N                       simulated nodes (default 1)
//	--node-prefix NAME              node name prefix (default sim-node)
//	--address-base IP               first node's address (default 127.0.10.1)
//	--kubelet-port PORT             port every node serves on (default 10250)
//	--node-cpu, --node-memory, --node-pods   capacity (default 4, 16Gi, 110)
//	--node-labels k=v,...           extra node labels
//	--metrics-path-annotation PATH  publish and serve this path too
//	--node-overhead-cpu, --node-overhead-memory  node usage besides pods (default 50m, 256Mi)
//	--default-cpu, --default-memory usage of unannotated containers (default 10m, 16Mi)
//	--backdate DURATION             move pod start and Ready times into the past (default 0)
//	--heartbeat-interval DURATION   Ready heartbeat (default 20s)
//	--delete-nodes-on-exit          delete the nodes on SIGTERM/SIGINT (default true)
//	--cert-dir DIR                  load or keep the CA and serving certificates here
//	--ca-out PATH                   write the CA certificate here
//	--client-ca PATH                require client certificates signed by this CA
//	--accept-bearer-tokens          also accept any non-empty bearer token (turns auth on)
//	--disable-gzip                  never compress responses
//	--fault-file PATH               faults per node, followed while running (see Faults)
//	--ready-file PATH               written (JSON: nodes, addresses, CA) once ready, removed on exit
//	--workers N                     pod workers and registration parallelism (default 4)
//	--kubelet-version V             status.nodeInfo.kubeletVersion (default v1.36.3)
//	--real-node-name NAME           add a node serving this machine's real usage
//
// plus the logging flags of k8s.io/component-base (-v, --logging-format).
package kubeletsim
