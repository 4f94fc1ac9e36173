// Package options holds the command line of metrics-apiserver: flag sections,
// validation, and the translation into a server.Config. Flag names follow
// metrics-server v0.9 wherever the meaning is the same.
package options

import (
	"fmt"
	"net"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	utilcompatibility "k8s.io/apiserver/pkg/util/compatibility"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/component-base/compatibility"
	"k8s.io/component-base/logs"
	logsapi "k8s.io/component-base/logs/api/v1"
	_ "k8s.io/component-base/logs/json/register" // --logging-format=json

	"github.com/metrics-apiserver/metrics-apiserver/pkg/apiserver"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/scraper"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/server"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/storage"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/version"
)

// Options is the whole command line.
type Options struct {
	GenericServerRun *genericoptions.ServerRunOptions
	SecureServing    *genericoptions.SecureServingOptionsWithLoopback
	Authentication   *genericoptions.DelegatingAuthenticationOptions
	Authorization    *genericoptions.DelegatingAuthorizationOptions
	Audit            *genericoptions.AuditOptions
	Tracing          *TracingOptions
	Features         *genericoptions.FeatureOptions
	Logging          *logs.Options
	Kubelet          *KubeletOptions

	Kubeconfig         string
	MetricResolution   time.Duration
	MetricMaxStaleness time.Duration
	CPUWindow          time.Duration
	StorePoints        int
	ScrapeConcurrency  int
	ShowVersion        bool
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	o := &Options{
		GenericServerRun:  genericoptions.NewServerRunOptionsForComponent("metrics-apiserver", compatibility.NewComponentGlobalsRegistry()),
		SecureServing:     genericoptions.NewSecureServingOptions().WithLoopback(),
		Authentication:    genericoptions.NewDelegatingAuthenticationOptions(),
		Authorization:     genericoptions.NewDelegatingAuthorizationOptions(),
		Audit:             genericoptions.NewAuditOptions(),
		Tracing:           NewTracingOptions(),
		Features:          genericoptions.NewFeatureOptions(),
		Logging:           logs.NewOptions(),
		Kubelet:           NewKubeletOptions(),
		MetricResolution:  15 * time.Second,
		ScrapeConcurrency: 512,
	}
	o.SecureServing.ServerCert.PairName = "metrics-apiserver"
	o.SecureServing.BindPort = 10250
	o.Features.EnableProfiling = false // opt-in: --profiling
	return o
}

// Flags returns the flags in named sections, so --help reads by topic.
func (o *Options) Flags() (fss cliflag.NamedFlagSets) {
	fs := fss.FlagSet("metrics")
	fs.DurationVar(&o.MetricResolution, "metric-resolution", o.MetricResolution,
		"Interval between two scrapes of a node. At least 1s.")
	fs.DurationVar(&o.MetricMaxStaleness, "metric-max-staleness", o.MetricMaxStaleness,
		"How long a node's newest data keeps being served after its last successful scrape, with its honest timestamp. 0 means twice --metric-resolution.")
	fs.DurationVar(&o.CPUWindow, "cpu-window", o.CPUWindow,
		"Span over which CPU rates are computed: the newest point against the oldest stored point within this window. 0 means the last two points.")
	fs.IntVar(&o.StorePoints, "store-points", o.StorePoints,
		"Points kept per node and container series, at least 2. 0 means as many as --cpu-window needs at --metric-resolution: 2 when --cpu-window is 0.")
	fs.IntVar(&o.ScrapeConcurrency, "scrape-concurrency", o.ScrapeConcurrency,
		"Maximum number of kubelet scrapes in flight at once.")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig,
		"Kubeconfig used to reach kube-apiserver and, for its credentials, the kubelets. Empty means in-cluster config.")
	fs.BoolVar(&o.ShowVersion, "version", false, "Print the version and exit.")

	o.Kubelet.AddFlags(fss.FlagSet("kubelet client"))
	o.GenericServerRun.AddUniversalFlags(fss.FlagSet("generic"))
	o.SecureServing.AddFlags(fss.FlagSet("apiserver secure serving"))
	o.Authentication.AddFlags(fss.FlagSet("apiserver authentication"))
	o.Authorization.AddFlags(fss.FlagSet("apiserver authorization"))
	o.Audit.AddFlags(fss.FlagSet("apiserver audit log"))
	o.Tracing.AddFlags(fss.FlagSet("tracing"))
	o.Features.AddFlags(fss.FlagSet("features"))
	logsapi.AddFlags(o.Logging, fss.FlagSet("logging"))
	return fss
}

// Validate returns every problem with the options.
func (o *Options) Validate() []error {
	var errs []error
	if o.MetricResolution < time.Second {
		errs = append(errs, fmt.Errorf("--metric-resolution must be at least 1s, got %s", o.MetricResolution))
	}
	if o.MetricMaxStaleness < 0 {
		errs = append(errs, fmt.Errorf("--metric-max-staleness must not be negative"))
	}
	if o.CPUWindow < 0 {
		errs = append(errs, fmt.Errorf("--cpu-window must not be negative"))
	}
	if o.StorePoints != 0 && o.StorePoints < 2 {
		errs = append(errs, fmt.Errorf("--store-points must be 0 (automatic) or at least 2, got %d", o.StorePoints))
	}
	if o.ScrapeConcurrency < 1 {
		errs = append(errs, fmt.Errorf("--scrape-concurrency must be at least 1, got %d", o.ScrapeConcurrency))
	}
	if o.Kubelet.RequestTimeout > o.MetricResolution {
		errs = append(errs, fmt.Errorf("--kubelet-request-timeout (%s) must not exceed --metric-resolution (%s)", o.Kubelet.RequestTimeout, o.MetricResolution))
	}
	errs = append(errs, o.Kubelet.Validate()...)
	errs = append(errs, o.GenericServerRun.Validate()...)
	errs = append(errs, o.SecureServing.Validate()...)
	if err := validateTLSMinVersion(o.SecureServing.MinTLSVersion); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, o.Authentication.Validate()...)
	errs = append(errs, o.Authorization.Validate()...)
	errs = append(errs, o.Audit.Validate()...)
	errs = append(errs, o.Tracing.Validate()...)
	errs = append(errs, o.Features.Validate()...)
	if err := logsapi.Validate(o.Logging, nil, nil).ToAggregate(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// ApplyLogging sets up klog from the logging options. It changes process-wide
// state, once, as early as possible: after Validate, before anything logs.
func (o *Options) ApplyLogging() error {
	return logsapi.ValidateAndApply(o.Logging, nil)
}

// ServerConfig turns validated options into the server's config.
func (o *Options) ServerConfig() (*server.Config, error) {
	restConfig, err := o.restConfig()
	if err != nil {
		return nil, err
	}
	generic, err := o.apiserverConfig()
	if err != nil {
		return nil, err
	}
	tracerProvider, err := o.Tracing.ApplyTo(generic) // nil when tracing is off
	if err != nil {
		return nil, err
	}
	kubeletClient, err := o.Kubelet.Client(restConfig, tracerProvider)
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return nil, err
	}
	staleness := o.MetricMaxStaleness
	if staleness == 0 {
		staleness = 2 * o.MetricResolution
	}
	return &server.Config{
		APIServer:     generic,
		Kube:          kube,
		Kubelet:       kubeletClient,
		NodeSelector:  o.Kubelet.NodeSelector,
		ClusterCAKeys: o.clusterCAKeys(generic.Authentication.RequestHeaderConfig != nil),
		Scraper: scraper.Options{
			Resolution:     o.MetricResolution,
			Timeout:        o.Kubelet.RequestTimeout,
			MaxConcurrent:  o.ScrapeConcurrency,
			TracerProvider: tracerProvider,
		},
		Store: storage.Options{
			RingSize:     o.storePoints(),
			CPUWindow:    o.CPUWindow,
			MaxStaleness: staleness,
		},
	}, nil
}

// storePoints is --store-points, or when it is 0 the points a CPU rate over
// --cpu-window needs: the newest point plus one per resolution the window
// spans, at least two.
func (o *Options) storePoints() int {
	if o.StorePoints != 0 {
		return o.StorePoints
	}
	spans := (o.CPUWindow + o.MetricResolution - 1) / o.MetricResolution
	return min(max(2, 1+int(spans)), storage.MaxRingSize)
}

// clusterCAKeys are the keys of kube-system/extension-apiserver-authentication
// whose CAs DelegatingAuthenticationOptions.ApplyTo loads from the cluster:
// the client CA without --client-ca-file, the front proxy's without
// --requestheader-client-ca-file (if its lookup succeeded: requestHeader),
// unless the lookup is skipped (it always has a client: the remote
// kubeconfig is not optional here).
func (o *Options) clusterCAKeys(requestHeader bool) []string {
	a := o.Authentication
	if a.SkipInClusterLookup || a.RemoteKubeConfigFileOptional {
		return nil
	}
	var keys []string
	if a.ClientCert == (genericoptions.ClientCertAuthenticationOptions{}) {
		keys = append(keys, server.ClientCAKey)
	}
	if a.RequestHeader.ClientCAFile == "" && requestHeader {
		keys = append(keys, server.RequestHeaderCAKey)
	}
	return keys
}

func (o *Options) apiserverConfig() (*genericapiserver.Config, error) {
	if err := o.SecureServing.MaybeDefaultWithSelfSignedCerts("localhost", nil, []net.IP{net.ParseIP("127.0.0.1")}); err != nil {
		return nil, fmt.Errorf("creating self-signed serving certificate: %w", err)
	}
	// No feature gates of our own: Set() only settles the registry's defaults.
	if err := o.GenericServerRun.ComponentGlobalsRegistry.Set(); err != nil {
		return nil, err
	}
	c := genericapiserver.NewConfig(apiserver.Codecs)
	if err := o.GenericServerRun.ApplyTo(c); err != nil {
		return nil, err
	}
	if err := o.SecureServing.ApplyTo(&c.SecureServing, &c.LoopbackClientConfig); err != nil {
		return nil, err
	}
	if err := o.Authentication.ApplyTo(&c.Authentication, c.SecureServing, nil); err != nil {
		return nil, err
	}
	c.Authentication.Authenticator = anonymousOnlyForPublicPaths(c.Authentication.Authenticator, o.Authorization.AlwaysAllowPaths)
	c.EnableProfiling, c.EnableContentionProfiling = o.Features.EnableProfiling, o.Features.EnableContentionProfiling
	if err := o.Authorization.ApplyTo(&c.Authorization); err != nil {
		return nil, err
	}
	if err := o.Audit.ApplyTo(c); err != nil {
		return nil, err
	}
	apiserver.SetOpenAPI(c, strings.TrimPrefix(version.Get().GitVersion, "v"))
	c.EffectiveVersion = buildVersion{utilcompatibility.DefaultBuildEffectiveVersion()}
	return c, nil
}

func (o *Options) restConfig() (*rest.Config, error) {
	var (
		c   *rest.Config
		err error
	)
	if o.Kubeconfig != "" {
		c, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: o.Kubeconfig}, &clientcmd.ConfigOverrides{}).ClientConfig()
	} else {
		c, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("building the client config for kube-apiserver: %w", err)
	}
	c.ContentType = "application/vnd.kubernetes.protobuf"
	c.UserAgent = "metrics-apiserver/" + version.Get().GitVersion
	return c, nil
}

// nodeSelectorValid checks the --node-selector syntax.
func nodeSelectorValid(s string) error {
	if _, err := labels.Parse(s); err != nil {
		return fmt.Errorf("--node-selector: %w", err)
	}
	return nil
}
