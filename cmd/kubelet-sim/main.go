// Command kubelet-sim plays N kubelets for a real kube-apiserver: it
// registers Nodes, runs their pods and serves each node's
// /metrics/resource over TLS on its own loopback address. See package
// test/kubeletsim for what it does and every flag.
//
//	kubelet-sim --kubeconfig admin.kubeconfig --nodes 3 --ca-out /tmp/sim/ca.crt --ready-file /tmp/sim/ready
package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	logsapi "k8s.io/component-base/logs/api/v1"
	_ "k8s.io/component-base/logs/json/register"
	"k8s.io/klog/v2"

	"github.com/metrics-apiserver/metrics-apiserver/test/kubeletsim"
	"github.com/metrics-apiserver/metrics-apiserver/test/kubeletsim/hoststats"
)

type options struct {
	kubeconfig        string
	qps               float32
	burst             int
	addressBase       string
	cpu, memory       string
	overheadCPU       string
	overheadMemory    string
	defaultCPU        string
	defaultMemory     string
	deleteNodesOnExit bool
	cfg               kubeletsim.Config
	fleet             kubeletsim.FleetPods
	logging           *logsapi.LoggingConfiguration
}

func newOptions() *options {
	def := kubeletsim.DefaultConfig()
	return &options{
		qps:               100,
		burst:             200,
		addressBase:       def.AddressBase.String(),
		cpu:               def.CPU.String(),
		memory:            def.Memory.String(),
		overheadCPU:       resource.NewScaledQuantity(def.NodeOverhead.NanoCores, resource.Nano).String(),
		overheadMemory:    resource.NewQuantity(def.NodeOverhead.MemoryBytes, resource.BinarySI).String(),
		defaultCPU:        resource.NewScaledQuantity(def.DefaultUsage.NanoCores, resource.Nano).String(),
		defaultMemory:     resource.NewQuantity(def.DefaultUsage.MemoryBytes, resource.BinarySI).String(),
		deleteNodesOnExit: true,
		cfg:               def,
		fleet:             kubeletsim.FleetPods{Containers: 2, Namespace: "fleet", Register: true, Workers: 32, Attempts: 20},
		logging:           logsapi.NewLoggingConfiguration(),
	}
}

func (o *options) addFlags(fs *pflag.FlagSet) {
	c := &o.cfg
	fs.StringVar(&o.kubeconfig, "kubeconfig", o.kubeconfig, "kubeconfig of the cluster to register with (default: $KUBECONFIG, then in-cluster)")
	fs.Float32Var(&o.qps, "kube-api-qps", o.qps, "QPS towards the apiserver")
	fs.IntVar(&o.burst, "kube-api-burst", o.burst, "burst towards the apiserver")
	fs.IntVar(&c.Nodes, "nodes", c.Nodes, "number of simulated nodes")
	fs.StringVar(&c.NodePrefix, "node-prefix", c.NodePrefix, "nodes are named <prefix>-<i>")
	fs.StringVar(&o.addressBase, "address-base", o.addressBase, "address of the first node; the others take the next ones (skipping .0 and .255)")
	fs.IntVar(&c.KubeletPort, "kubelet-port", c.KubeletPort, "port every node serves /metrics/resource on, on its own address")
	fs.StringVar(&o.cpu, "node-cpu", o.cpu, "CPU capacity and allocatable of each node")
	fs.StringVar(&o.memory, "node-memory", o.memory, "memory capacity and allocatable of each node")
	fs.Int64Var(&c.Pods, "node-pods", c.Pods, "pod capacity of each node")
	fs.StringToStringVar(&c.NodeLabels, "node-labels", c.NodeLabels, "extra labels of every node, k=v,...")
	fs.StringVar(&c.MetricsPathAnnotation, "metrics-path-annotation", c.MetricsPathAnnotation,
		"when set, annotate nodes with "+kubeletsim.AnnotationResourceMetricsPath+"=PATH and serve the metrics there too")
	fs.StringVar(&o.overheadCPU, "node-overhead-cpu", o.overheadCPU, "CPU a node uses besides its pods")
	fs.StringVar(&o.overheadMemory, "node-overhead-memory", o.overheadMemory, "working set of a node besides its pods")
	fs.StringVar(&o.defaultCPU, "default-cpu", o.defaultCPU, "CPU usage of a container without usage annotations")
	fs.StringVar(&o.defaultMemory, "default-memory", o.defaultMemory, "working set of a container without usage annotations")
	fs.DurationVar(&c.Backdate, "backdate", c.Backdate, "move pods' startTime, container start and Ready transition times this far into the past")
	fs.DurationVar(&c.HeartbeatInterval, "heartbeat-interval", c.HeartbeatInterval, "how often the nodes' Ready heartbeat is refreshed")
	fs.BoolVar(&o.deleteNodesOnExit, "delete-nodes-on-exit", o.deleteNodesOnExit, "delete the nodes (and the self pod) on SIGTERM/SIGINT")
	fs.StringVar(&c.CertDir, "cert-dir", c.CertDir, "load the CA and serving certificates from here, or write them here when generated")
	fs.StringVar(&c.CAOut, "ca-out", c.CAOut, "write the CA certificate here (for --kubelet-certificate-authority)")
	fs.StringVar(&c.ClientCAFile, "client-ca", c.ClientCAFile, "require a client certificate signed by this CA")
	fs.BoolVar(&c.AcceptBearerTokens, "accept-bearer-tokens", c.AcceptBearerTokens, "also accept any non-empty bearer token (turns authentication on)")
	fs.BoolVar(&c.DisableGzip, "disable-gzip", c.DisableGzip, "never gzip responses")
	fs.BoolVar(&c.LogTraceparent, "log-traceparent", c.LogTraceparent, "log the W3C traceparent header of every metrics request that has one (tracing tests)")
	fs.StringVar(&c.FaultFile, "fault-file", c.FaultFile, "file giving nodes faults, one \"NODE FAULT\" per line (see package test/kubeletsim for the faults); followed while running")
	fs.StringVar(&c.ReadyFile, "ready-file", c.ReadyFile, "write this file (JSON: nodes, addresses, CA) once every node is registered and serving; removed on exit")
	fs.StringVar(&c.SchedulerName, "scheduler-name", c.SchedulerName, "bind pending pods of this spec.schedulerName; \"none\" binds nothing (pods must name their node)")
	fs.IntVar(&c.Workers, "workers", c.Workers, "pod workers, and how many nodes are registered at once")
	fs.StringVar(&c.KubeletVersion, "kubelet-version", c.KubeletVersion, "status.nodeInfo.kubeletVersion of the nodes")
	fs.StringVar(&c.RealNodeName, "real-node-name", c.RealNodeName, "add a node with this name serving this machine's real usage (cgroups, read with cAdvisor)")
	f := &o.fleet
	fs.IntVar(&f.PerNode, "fleet-pods-per-node", f.PerNode, "fleet mode (scale benchmarks): give every node this many pods, created bound to it")
	fs.IntVar(&f.Containers, "fleet-containers-per-pod", f.Containers, "fleet mode: containers per pod")
	fs.StringVar(&f.Namespace, "fleet-namespace", f.Namespace, "fleet mode: namespace of the pods (created when missing)")
	fs.BoolVar(&f.Register, "fleet-register-pods", f.Register, "fleet mode: create the pods in the apiserver; false meters them in the payloads only")
	fs.IntVar(&f.Workers, "fleet-workers", f.Workers, "fleet mode: pods created at once")
	fs.StringVar(&f.ReadyFile, "fleet-ready-file", f.ReadyFile, "fleet mode: write this file once every node meters all its pods; removed on exit")
	logsapi.AddFlags(o.logging, fs)
}

func quantity(flag, v string, into *resource.Quantity) error {
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return fmt.Errorf("--%s: %w", flag, err)
	}
	*into = q
	return nil
}

// complete turns the string flags into the Config.
func (o *options) complete() error {
	c := &o.cfg
	var errs []error
	base, err := netip.ParseAddr(o.addressBase)
	if err != nil {
		errs = append(errs, fmt.Errorf("--address-base: %w", err))
	}
	c.AddressBase = base
	errs = append(errs, quantity("node-cpu", o.cpu, &c.CPU), quantity("node-memory", o.memory, &c.Memory))
	var q resource.Quantity
	if err := quantity("node-overhead-cpu", o.overheadCPU, &q); err != nil {
		errs = append(errs, err)
	} else {
		c.NodeOverhead.NanoCores = q.ScaledValue(resource.Nano)
	}
	if err := quantity("node-overhead-memory", o.overheadMemory, &q); err != nil {
		errs = append(errs, err)
	} else {
		c.NodeOverhead.MemoryBytes = q.Value()
	}
	if err := quantity("default-cpu", o.defaultCPU, &q); err != nil {
		errs = append(errs, err)
	} else {
		c.DefaultUsage.NanoCores = q.ScaledValue(resource.Nano)
	}
	if err := quantity("default-memory", o.defaultMemory, &q); err != nil {
		errs = append(errs, err)
	} else {
		c.DefaultUsage.MemoryBytes = q.Value()
	}
	c.KeepNodesOnExit = !o.deleteNodesOnExit
	return errors.Join(errs...)
}

func main() {
	o := newOptions()
	fs := pflag.NewFlagSet("kubelet-sim", pflag.ContinueOnError)
	o.addFlags(fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if err := logsapi.ValidateAndApply(o.logging, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		klog.ErrorS(err, "Kubelet simulator failed")
		klog.FlushAndExit(klog.ExitFlushTimeout, 1)
	}
	klog.Flush()
}

func run(o *options) error {
	if err := o.complete(); err != nil {
		return err
	}
	if o.cfg.RealNodeName != "" {
		hs, err := hoststats.New()
		if err != nil {
			return fmt.Errorf("--real-node-name: reading host stats: %w", err)
		}
		o.cfg.HostStats = hs
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	restCfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	restCfg.QPS, restCfg.Burst = o.qps, o.burst
	restCfg.UserAgent = "kubelet-sim"
	restCfg.Timeout = 30 * time.Second
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	sim, err := kubeletsim.New(o.cfg, client)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if o.fleet.PerNode > 0 {
		defer o.fleet.RemoveFleetReadyFile()
		go func() {
			if err := sim.PopulateFleet(ctx, o.fleet); err != nil && ctx.Err() == nil {
				klog.ErrorS(err, "Populating the fleet failed")
			}
		}()
	}
	return sim.Run(ctx)
}
