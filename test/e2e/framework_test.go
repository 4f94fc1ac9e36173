// Package e2e proves metrics-apiserver against real parts: etcd, kube-apiserver
// with the aggregation layer, kube-controller-manager's HPA controller, kubectl,
// and kubelet-sim serving the real /metrics/resource format. hack/e2e.sh starts
// them and passes their coordinates in E2E_* variables.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
)

// Annotations kubelet-sim reads to know what a pod uses.
const (
	annCPU     = "kubelet-sim.metrics-apiserver.io/cpu"
	annMemory  = "kubelet-sim.metrics-apiserver.io/memory"
	annUsage   = "kubelet-sim.metrics-apiserver.io/usage"
	annRestart = "kubelet-sim.metrics-apiserver.io/restart-generation"
)

// env is the running stack.
var env struct {
	kubeconfig string
	simDir     string
	binDir     string
	pkiDir     string
	logDir     string
	// net is the first two octets of simulated kubelet addresses (E2E_NET)
	net        string
	resolution time.Duration
	kube       kubernetes.Interface
	restConfig *rest.Config
	// metrics reads metrics.k8s.io through kube-apiserver, as JSON and as protobuf
	metricsJSON, metricsProto metricsclient.Interface
}

func TestMain(m *testing.M) {
	env.kubeconfig = os.Getenv("E2E_KUBECONFIG")
	if env.kubeconfig == "" {
		fmt.Fprintln(os.Stderr, "E2E_KUBECONFIG is not set: run these tests with hack/e2e.sh (make test-e2e)")
		os.Exit(1)
	}
	env.simDir, env.binDir = os.Getenv("E2E_SIM_DIR"), os.Getenv("E2E_BIN_DIR")
	env.pkiDir, env.logDir = os.Getenv("E2E_PKI_DIR"), os.Getenv("E2E_LOG_DIR")
	if env.net = os.Getenv("E2E_NET"); env.net == "" {
		env.net = "127.0"
	}
	var err error
	if env.resolution, err = time.ParseDuration(os.Getenv("E2E_RESOLUTION")); err != nil {
		fmt.Fprintln(os.Stderr, "E2E_RESOLUTION:", err)
		os.Exit(1)
	}
	if env.restConfig, err = clientcmd.BuildConfigFromFlags("", env.kubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	env.restConfig.QPS, env.restConfig.Burst = 50, 100
	env.kube = kubernetes.NewForConfigOrDie(env.restConfig)
	env.metricsJSON = metricsclient.NewForConfigOrDie(env.restConfig)
	proto := rest.CopyConfig(env.restConfig)
	proto.ContentType = "application/vnd.kubernetes.protobuf"
	proto.AcceptContentTypes = "application/vnd.kubernetes.protobuf"
	env.metricsProto = metricsclient.NewForConfigOrDie(proto)
	os.Exit(m.Run())
}

// kubectl runs the real kubectl against the test cluster.
func kubectl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", env.kubeconfig}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

// eventually polls check until it returns nil or timeout passes; the test
// fails with check's last error.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = check(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s: %v", what, timeout, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// newNamespace creates a namespace deleted when the test ends, and waits for
// its default ServiceAccount (pods are refused without it).
func newNamespace(t *testing.T, name string) string {
	t.Helper()
	return newNamespaceWithin(t, name, 30*time.Second)
}

// newNamespaceWithin is newNamespace with a longer wait for the default
// ServiceAccount, for a namespace created right after kube-apiserver came
// back: kube-controller-manager's reflectors may then wait up to a minute
// before they see it (client-go's backoff caps at [30, 60) s).
func newNamespaceWithin(t *testing.T, name string, wait time.Duration) string {
	t.Helper()
	ctx := context.Background()
	_, err := env.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	eventually(t, wait, "default ServiceAccount in "+name, func() error {
		_, err := env.kube.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	return name
}

// simPod is a pod kubelet-sim will bind and run with the given usage.
func simPod(ns, name string, labels, annotations map[string]string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, Annotations: annotations},
	}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "registry.k8s.io/pause"})
	}
	return p
}

func createPod(t *testing.T, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	out, err := env.kube.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// runningPod waits until kubelet-sim has bound and started the pod.
func runningPod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	eventually(t, 30*time.Second, "pod "+ns+"/"+name+" running", func() error {
		var err error
		pod, err = env.kube.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if pod.Spec.NodeName == "" || pod.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("node %q phase %q", pod.Spec.NodeName, pod.Status.Phase)
		}
		return nil
	})
	return pod
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
