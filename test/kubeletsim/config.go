package kubeletsim

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/clock"
)

// Config configures a Sim. The zero value of a field means its default
// (see DefaultConfig); New fills them in.
type Config struct {
	// Nodes is how many simulated nodes to run (--nodes).
	Nodes int
	// NodePrefix names them <NodePrefix>-<i>, i from 0 (--node-prefix).
	NodePrefix string
	// AddressBase is the first node's address; the next nodes take the
	// following addresses, skipping those ending in .0 and .255
	// (--address-base).
	AddressBase netip.Addr
	// KubeletPort is the port every node serves on, on its own address, and
	// publishes in status.daemonEndpoints (--kubelet-port). -1 picks a free
	// port for the first node and uses it for all (tests).
	KubeletPort int
	// CPU, Memory and Pods are each node's capacity and allocatable
	// (--node-cpu, --node-memory, --node-pods).
	CPU    resource.Quantity
	Memory resource.Quantity
	Pods   int64
	// NodeLabels are added to every node (--node-labels).
	NodeLabels map[string]string
	// MetricsPathAnnotation, when set, is published as the Node annotation
	// metrics.k8s.io/resource-metrics-path and served besides
	// /metrics/resource (--metrics-path-annotation).
	MetricsPathAnnotation string
	// KubeletVersion is published in status.nodeInfo (--kubelet-version).
	KubeletVersion string
	// HeartbeatInterval is how often the Ready condition's heartbeat is
	// refreshed (--heartbeat-interval).
	HeartbeatInterval time.Duration
	// KeepNodesOnExit leaves the nodes (and the real node's self pod) in
	// place when Run returns; by default they are deleted
	// (--delete-nodes-on-exit=false).
	KeepNodesOnExit bool
	// Backdate moves pods' startTime, container start and Ready transition
	// times that far into the past (--backdate).
	Backdate time.Duration
	// DefaultUsage is the usage of containers no annotation describes.
	DefaultUsage Usage
	// NodeOverhead is each node's own usage on top of its pods
	// (--node-overhead-cpu, --node-overhead-memory).
	NodeOverhead Usage
	// CertDir holds ca.crt/ca.key and <node>.crt/.key; loaded when present,
	// written when generated. Empty: keep everything in memory (--cert-dir).
	CertDir string
	// CAOut receives the simulator CA's certificate (--ca-out).
	CAOut string
	// ClientCAFile, when set, requires clients to present a certificate
	// signed by it (or a bearer token, see AcceptBearerTokens) (--client-ca).
	ClientCAFile string
	// AcceptBearerTokens also admits requests with any non-empty bearer
	// token; it turns authentication on by itself too
	// (--accept-bearer-tokens).
	AcceptBearerTokens bool
	// DisableGzip serves uncompressed even to clients that accept gzip
	// (--disable-gzip).
	DisableGzip bool
	// LogTraceparent logs the W3C traceparent header of every metrics
	// request that carries one, with the node's name, so a test can follow
	// a scrape's trace into the kubelet (--log-traceparent).
	LogTraceparent bool
	// FaultFile, when set, gives nodes faults: `NODE FAULT` per line, see
	// FaultNames; followed while the simulator runs (--fault-file).
	FaultFile string
	// ReadyFile is written once every node is registered and serving, and
	// removed when Run returns (--ready-file).
	ReadyFile string
	// SchedulerName selects the pending pods this simulator binds: those whose
	// spec.schedulerName is this name (an empty schedulerName counts as
	// default-scheduler). "none" binds nothing, for a simulator that runs only
	// pods placed on its nodes explicitly.
	SchedulerName string
	// Workers is the number of pod workers and the node registration
	// parallelism (--workers).
	Workers int

	// RealNodeName adds one node serving this machine's real usage, read
	// from HostStats (--real-node-name). It is never picked for binding.
	RealNodeName string
	// HostStats reads the real usage; required with RealNodeName.
	HostStats HostStatsSource

	// Clock defaults to the real clock.
	Clock clock.WithTicker
}

// Default values.
const (
	DefaultNodePrefix        = "sim-node"
	DefaultKubeletPort       = 10250
	DefaultPods              = 110
	DefaultKubeletVersion    = "v1.36.3"
	DefaultHeartbeatInterval = 20 * time.Second
	DefaultWorkers           = 4
)

// DefaultAddressBase is the first node's address.
var DefaultAddressBase = netip.MustParseAddr("127.0.10.1")

// DefaultNodeOverhead is a node's own usage besides its pods.
var DefaultNodeOverhead = Usage{NanoCores: 50 * 1000 * 1000, MemoryBytes: 256 << 20}

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	var c Config
	c.Nodes = 1
	c.complete()
	return c
}

func (c *Config) complete() {
	if c.NodePrefix == "" {
		c.NodePrefix = DefaultNodePrefix
	}
	if !c.AddressBase.IsValid() {
		c.AddressBase = DefaultAddressBase
	}
	if c.KubeletPort == 0 {
		c.KubeletPort = DefaultKubeletPort
	}
	if c.CPU.IsZero() {
		c.CPU = resource.MustParse("4")
	}
	if c.Memory.IsZero() {
		c.Memory = resource.MustParse("16Gi")
	}
	if c.Pods == 0 {
		c.Pods = DefaultPods
	}
	if c.KubeletVersion == "" {
		c.KubeletVersion = DefaultKubeletVersion
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.DefaultUsage == (Usage{}) {
		c.DefaultUsage = DefaultContainerUsage
	}
	if c.NodeOverhead == (Usage{}) {
		c.NodeOverhead = DefaultNodeOverhead
	}
	if c.SchedulerName == "" {
		c.SchedulerName = "default-scheduler"
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
}

// Validate reports every problem with a completed Config.
func (c *Config) Validate() []error {
	var errs []error
	if c.Nodes < 0 {
		errs = append(errs, fmt.Errorf("nodes must be >= 0, got %d", c.Nodes))
	}
	if c.Nodes == 0 && c.RealNodeName == "" {
		errs = append(errs, errors.New("nothing to simulate: nodes is 0 and no real node is set"))
	}
	if msgs := validation.IsDNS1123Subdomain(c.NodePrefix + "-0"); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("node prefix %q: %v", c.NodePrefix, msgs))
	}
	if !c.AddressBase.Is4() {
		errs = append(errs, fmt.Errorf("address base %s must be an IPv4 address", c.AddressBase))
	} else if _, err := nodeAddresses(c.AddressBase, c.Nodes+1); err != nil {
		errs = append(errs, err)
	}
	if c.KubeletPort < -1 || c.KubeletPort > 65535 {
		errs = append(errs, fmt.Errorf("kubelet port %d out of range", c.KubeletPort))
	}
	if c.CPU.Sign() <= 0 || c.Memory.Sign() <= 0 || c.Pods <= 0 {
		errs = append(errs, errors.New("node cpu, memory and pods must be positive"))
	}
	if c.HeartbeatInterval < 0 {
		errs = append(errs, errors.New("heartbeat interval must not be negative"))
	}
	if c.Backdate < 0 {
		errs = append(errs, errors.New("backdate must not be negative"))
	}
	if c.Workers < 1 {
		errs = append(errs, errors.New("workers must be >= 1"))
	}
	if c.DefaultUsage.NanoCores < 0 || c.DefaultUsage.MemoryBytes < 0 ||
		c.NodeOverhead.NanoCores < 0 || c.NodeOverhead.MemoryBytes < 0 {
		errs = append(errs, errors.New("usage must not be negative"))
	}
	if c.MetricsPathAnnotation != "" && (c.MetricsPathAnnotation[0] != '/' || c.MetricsPathAnnotation == "/healthz") {
		errs = append(errs, fmt.Errorf("metrics path %q must start with / and not be /healthz", c.MetricsPathAnnotation))
	}
	for k, v := range c.NodeLabels {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("node label key %q: %v", k, msgs))
		}
		if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("node label %q value %q: %v", k, v, msgs))
		}
	}
	if c.RealNodeName != "" {
		if msgs := validation.IsDNS1123Subdomain(c.RealNodeName); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("real node name %q: %v", c.RealNodeName, msgs))
		}
		if c.HostStats == nil {
			errs = append(errs, errors.New("a real node needs a HostStats source"))
		}
	}
	return errs
}

// nodeAddresses returns n consecutive IPv4 addresses from base, skipping
// those whose last octet is 0 or 255.
func nodeAddresses(base netip.Addr, n int) ([]netip.Addr, error) {
	out := make([]netip.Addr, 0, n)
	a := base
	for len(out) < n {
		if !a.IsValid() || !a.Is4() {
			return nil, fmt.Errorf("ran out of IPv4 addresses after %s", base)
		}
		if b := a.As4(); b[3] != 0 && b[3] != 255 {
			out = append(out, a)
		}
		next := a.Next()
		if next.IsValid() && a.IsLoopback() != next.IsLoopback() {
			return nil, fmt.Errorf("addresses from %s leave the loopback range after %d nodes", base, len(out))
		}
		a = next
	}
	return out, nil
}
