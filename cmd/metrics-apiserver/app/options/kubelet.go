package options

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"go.opentelemetry.io/otel/trace"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/kubelet"
)

// KubeletOptions configure how kubelets are reached.
type KubeletOptions struct {
	Port                  int
	UseNodeStatusPort     bool
	PreferredAddressTypes []string
	CAFile                string
	ClientCertFile        string
	ClientKeyFile         string
	InsecureTLS           bool
	TLSVerifyNodeName     bool
	RequestTimeout        time.Duration
	MaxBodyBytes          int64
	NodeSelector          string
}

// NewKubeletOptions returns the defaults.
func NewKubeletOptions() *KubeletOptions {
	return &KubeletOptions{
		Port:                  10250,
		PreferredAddressTypes: []string{string(corev1.NodeInternalIP), string(corev1.NodeExternalIP), string(corev1.NodeHostName)},
		RequestTimeout:        10 * time.Second,
		MaxBodyBytes:          10 << 20,
	}
}

// AddFlags adds the kubelet client flags.
func (o *KubeletOptions) AddFlags(fs *pflag.FlagSet) {
	fs.IntVar(&o.Port, "kubelet-port", o.Port, "Port of the kubelets' HTTPS endpoint.")
	fs.BoolVar(&o.UseNodeStatusPort, "kubelet-use-node-status-port", o.UseNodeStatusPort,
		"Use the port in the Node's status.daemonEndpoints.kubeletEndpoint; takes precedence over --kubelet-port.")
	fs.StringSliceVar(&o.PreferredAddressTypes, "kubelet-preferred-address-types", o.PreferredAddressTypes,
		"Node address types in order of preference. When dialing one fails, the next is tried within the same scrape.")
	fs.StringVar(&o.CAFile, "kubelet-certificate-authority", o.CAFile,
		"CA bundle that verifies kubelets' serving certificates. Default: the CA of the kubeconfig or in-cluster config.")
	fs.StringVar(&o.ClientCertFile, "kubelet-client-certificate", o.ClientCertFile,
		"Client certificate presented to kubelets. Default: the kubeconfig's credentials.")
	fs.StringVar(&o.ClientKeyFile, "kubelet-client-key", o.ClientKeyFile, "Key of --kubelet-client-certificate.")
	fs.BoolVar(&o.InsecureTLS, "kubelet-insecure-tls", o.InsecureTLS,
		"Do not verify kubelets' serving certificates. For test clusters only.")
	fs.BoolVar(&o.TLSVerifyNodeName, "kubelet-tls-verify-node-name", o.TLSVerifyNodeName,
		"Verify kubelets' serving certificates against the Node's name (a DNS name in the certificate) instead of the address dialed; "+
			"the address is still what is dialed. For kubelet certificates without IP SANs, instead of --kubelet-insecure-tls.")
	fs.DurationVar(&o.RequestTimeout, "kubelet-request-timeout", o.RequestTimeout,
		"Time limit of one request to a kubelet, from dialing to the end of the body.")
	fs.Int64Var(&o.MaxBodyBytes, "kubelet-max-response-bytes", o.MaxBodyBytes,
		"Largest /metrics/resource body read from a kubelet (after decompression); larger responses fail that node's scrape.")
	fs.StringVarP(&o.NodeSelector, "node-selector", "l", o.NodeSelector,
		"Label selector of the nodes to scrape and serve, e.g. 'kubernetes.io/os=linux'. Empty means all nodes.")
}

// Validate checks the kubelet options.
func (o *KubeletOptions) Validate() []error {
	var errs []error
	if o.Port <= 0 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("--kubelet-port must be in 1..65535, got %d", o.Port))
	}
	for _, t := range o.PreferredAddressTypes {
		switch corev1.NodeAddressType(t) {
		case corev1.NodeHostName, corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeInternalDNS, corev1.NodeExternalDNS:
		default:
			errs = append(errs, fmt.Errorf("--kubelet-preferred-address-types: unknown address type %q", t))
		}
	}
	if (o.ClientCertFile == "") != (o.ClientKeyFile == "") {
		errs = append(errs, fmt.Errorf("--kubelet-client-certificate and --kubelet-client-key must be given together"))
	}
	if o.InsecureTLS && o.CAFile != "" {
		errs = append(errs, fmt.Errorf("--kubelet-insecure-tls and --kubelet-certificate-authority are mutually exclusive"))
	}
	if o.InsecureTLS && o.TLSVerifyNodeName {
		errs = append(errs, fmt.Errorf("--kubelet-insecure-tls and --kubelet-tls-verify-node-name are mutually exclusive"))
	}
	if o.RequestTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--kubelet-request-timeout must be positive"))
	}
	if o.MaxBodyBytes <= 0 {
		errs = append(errs, fmt.Errorf("--kubelet-max-response-bytes must be positive"))
	}
	if err := nodeSelectorValid(o.NodeSelector); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// Client builds the kubelet client from the kube-apiserver client config:
// same credentials (bearer token or client certificate), same CA unless
// overridden, one shared keep-alive transport. With a TracerProvider every
// request gets a client span and carries the W3C traceparent to the kubelet.
func (o *KubeletOptions) Client(base *rest.Config, tp trace.TracerProvider) (*kubelet.Client, error) {
	c := rest.AnonymousClientConfig(base)
	// credentials, minus anything that only makes sense for kube-apiserver
	c.BearerToken, c.BearerTokenFile = base.BearerToken, base.BearerTokenFile
	c.Username, c.Password = base.Username, base.Password
	c.ExecProvider, c.AuthProvider = base.ExecProvider, base.AuthProvider
	c.TLSClientConfig.CertFile, c.TLSClientConfig.KeyFile = base.TLSClientConfig.CertFile, base.TLSClientConfig.KeyFile
	c.TLSClientConfig.CertData, c.TLSClientConfig.KeyData = base.TLSClientConfig.CertData, base.TLSClientConfig.KeyData
	c.TLSClientConfig.ServerName = "" // kubelets are dialed by their own addresses
	if o.ClientCertFile != "" {
		c.TLSClientConfig.CertFile, c.TLSClientConfig.KeyFile = o.ClientCertFile, o.ClientKeyFile
		c.TLSClientConfig.CertData, c.TLSClientConfig.KeyData = nil, nil
	}
	switch {
	case o.InsecureTLS:
		c.TLSClientConfig.Insecure = true
		c.TLSClientConfig.CAFile, c.TLSClientConfig.CAData = "", nil
	case o.CAFile != "":
		c.TLSClientConfig.CAFile, c.TLSClientConfig.CAData = o.CAFile, nil
	}
	// A CA file (flag, kubeconfig or in-cluster) is re-read when it changes.
	transport, err := kubelet.NewTransport(c, kubelet.TransportOptions{VerifyNodeName: o.TLSVerifyNodeName})
	if err != nil {
		return nil, fmt.Errorf("building the kubelet transport: %w", err)
	}
	if tp != nil {
		transport = tracedTransport(transport, tp)
	}
	types := make([]corev1.NodeAddressType, len(o.PreferredAddressTypes))
	for i, t := range o.PreferredAddressTypes {
		types[i] = corev1.NodeAddressType(t)
	}
	return kubelet.NewClient(kubelet.ClientOptions{
		Transport:         transport,
		DefaultPort:       o.Port,
		UseNodeStatusPort: o.UseNodeStatusPort,
		AddressTypes:      types,
		Timeout:           o.RequestTimeout,
		MaxBodyBytes:      o.MaxBodyBytes,
		// the kubeconfig's disable-compression
		DisableCompression: c.DisableCompression,
	})
}
