// Command scale measures metrics servers scraping the same simulated fleet,
// side by side: resident memory and CPU per scrape cycle (from /proc),
// scrape duration distribution (from each server's /metrics), freshness of
// the served node metrics, and Metrics API latencies under a bounded load.
// It writes a JSON result and a markdown report; hack/bench-scale.sh starts
// everything it measures.
//
//	go run ./test/scale --server ours=https://127.0.0.1:30444,pid=123,histogram=metrics_apiserver_kubelet_scrape_duration_seconds \
//	  --cert admin.crt --key admin.key --ca ca.crt --nodes 1000 --pods-per-node 30 --out docs/benchmarks/2025-01-01-1000
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// target is one metrics server under test.
type target struct {
	Name      string `json:"name"`
	URL       string `json:"url"`
	PID       int    `json:"pid"`
	Histogram string `json:"histogram"`
}

func parseTarget(v string) (target, error) {
	name, rest, ok := strings.Cut(v, "=")
	if !ok {
		return target{}, fmt.Errorf("--server %q: want name=url,pid=N,histogram=NAME", v)
	}
	t := target{Name: name}
	for i, part := range strings.Split(rest, ",") {
		if i == 0 {
			t.URL = part
			continue
		}
		k, val, _ := strings.Cut(part, "=")
		switch k {
		case "pid":
			n, err := strconv.Atoi(val)
			if err != nil {
				return t, fmt.Errorf("--server %s pid: %w", name, err)
			}
			t.PID = n
		case "histogram":
			t.Histogram = val
		default:
			return t, fmt.Errorf("--server %s: unknown key %q", name, k)
		}
	}
	if t.URL == "" || t.PID == 0 || t.Histogram == "" {
		return t, fmt.Errorf("--server %s: url, pid and histogram are required", name)
	}
	return t, nil
}

type targetsFlag []target

func (f *targetsFlag) String() string { return fmt.Sprint(*f) }
func (f *targetsFlag) Set(v string) error {
	t, err := parseTarget(v)
	if err == nil {
		*f = append(*f, t)
	}
	return err
}

type config struct {
	targets       targetsFlag
	others        string // name=pid,... measured for RSS only (apiserver, etcd, fleet)
	cert, key, ca string
	nodes, pods   int
	containers    int
	namespace     string
	registered    bool
	resolution    time.Duration
	cycles        int
	warmupTimeout time.Duration
	gets          int
	getsFor       time.Duration
	getWorkers    int
	getRate       float64
	rateGets      int
	lists         int
	loadTimeout   time.Duration
	pauseOthers   bool
	out           string
	notes         string
}

func main() {
	var c config
	flag.Var(&c.targets, "server", "name=https://host:port,pid=N,histogram=METRIC (repeat)")
	flag.StringVar(&c.others, "others", "", "name=pid,... of other processes whose RSS and CPU are reported (kube-apiserver, etcd, fleet)")
	flag.StringVar(&c.cert, "cert", "", "client certificate authorized for metrics.k8s.io and /metrics")
	flag.StringVar(&c.key, "key", "", "its key")
	flag.StringVar(&c.ca, "ca", "", "CA of the servers' serving certificates (empty: skip verification)")
	flag.IntVar(&c.nodes, "nodes", 0, "simulated nodes")
	flag.IntVar(&c.pods, "pods-per-node", 0, "pods per node")
	flag.IntVar(&c.containers, "containers-per-pod", 2, "containers per pod")
	flag.StringVar(&c.namespace, "namespace", "fleet", "namespace of the fleet's pods")
	flag.BoolVar(&c.registered, "pods-registered", true, "the fleet's pods exist in the apiserver (else API latencies are skipped)")
	flag.DurationVar(&c.resolution, "resolution", 15*time.Second, "the servers' --metric-resolution")
	flag.IntVar(&c.cycles, "cycles", 5, "cycles measured after warm-up")
	flag.DurationVar(&c.warmupTimeout, "warmup-timeout", 10*time.Minute, "wait this long for every server to serve every node")
	flag.IntVar(&c.gets, "gets", 2000, "single PodMetrics gets per server (closed loop), at least")
	flag.DurationVar(&c.getsFor, "gets-for", -1, "the closed loop goes on after --gets until it has run this long (default: one --resolution, so that every scrape burst of either server falls in it; 0: --gets only)")
	flag.IntVar(&c.getWorkers, "get-workers", 4, "concurrent gets")
	flag.Float64Var(&c.getRate, "get-rate", 200, "gets per second of the open-loop phase: sent on a fixed schedule whatever the latency, as independent clients do (0: skip)")
	flag.IntVar(&c.rateGets, "rate-gets", 3000, "gets of the open-loop phase (3,000 at 200/s: one 15 s cycle, every scrape slot in it)")
	flag.IntVar(&c.lists, "lists", 10, "list-all-pods requests per server (sequential)")
	flag.DurationVar(&c.loadTimeout, "load-timeout", 3*time.Minute, "time bound of each load phase per server")
	flag.BoolVar(&c.pauseOthers, "pause-others", true, "stop (SIGSTOP) the other servers while one server's API latencies are measured, so their scrapes do not take the CPU from it")
	flag.StringVar(&c.out, "out", "", "output path without extension: writes OUT.json and OUT.md")
	flag.StringVar(&c.notes, "notes", "", "free text added to the report (what was registered, flags)")
	flag.Parse()
	if c.getsFor < 0 {
		c.getsFor = c.resolution
	}
	if len(c.targets) == 0 || c.nodes <= 0 || c.out == "" {
		fmt.Fprintln(os.Stderr, "--server, --nodes and --out are required")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.warmupTimeout+time.Duration(c.cycles+3)*c.resolution+time.Duration(len(c.targets)*2+1)*c.loadTimeout)
	defer cancel()
	res, err := run(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
	if err := writeResult(c.out, res); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
	fmt.Println(c.out + ".json")
}

func newClient(c config) (*http.Client, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.cert != "" {
		pair, err := tls.LoadX509KeyPair(c.cert, c.key)
		if err != nil {
			return nil, err
		}
		tlsCfg.Certificates = []tls.Certificate{pair}
	}
	if c.ca != "" {
		pem, err := os.ReadFile(c.ca)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("no CA certificate in " + c.ca)
		}
		tlsCfg.RootCAs = pool
	} else {
		tlsCfg.InsecureSkipVerify = true
	}
	tr := &http.Transport{TLSClientConfig: tlsCfg, MaxIdleConnsPerHost: 16, ForceAttemptHTTP2: true}
	// No client-wide timeout: every request's context carries its own.
	return &http.Client{Transport: tr}, nil
}

const (
	acceptJSON     = "application/json"
	acceptProtobuf = "application/vnd.kubernetes.protobuf,application/json"
)

// requestTimeout bounds one API request; /metrics gets metricsTimeout (metrics-server
// labels its scrape histogram by node: at 10,000 nodes the exposition is tens of MB).
const (
	requestTimeout = time.Minute
	metricsTimeout = 5 * time.Minute
)

func get(ctx context.Context, cl *http.Client, url, accept string) ([]byte, string, error) {
	timeout := requestTimeout
	if strings.HasSuffix(url, "/metrics") {
		timeout = metricsTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Accept", accept)
	resp, err := cl.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("GET %s: %s: %.200s", url, resp.Status, body)
	}
	return body, resp.Header.Get("Content-Type"), nil
}

// nodeMetricsList is the part of a NodeMetricsList the harness reads.
type nodeMetricsList struct {
	Items []struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Timestamp time.Time `json:"timestamp"`
	} `json:"items"`
}

func listNodes(ctx context.Context, cl *http.Client, base string) (nodeMetricsList, error) {
	var l nodeMetricsList
	body, _, err := get(ctx, cl, base+"/apis/metrics.k8s.io/v1beta1/nodes", acceptJSON)
	if err != nil {
		return l, err
	}
	return l, json.Unmarshal(body, &l)
}

// serverResult is what was measured of one server.
type serverResult struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	// resources were measured over the cycles with the freshness polling.
	resources
	// PeakRSSBytes is VmHWM at the end of the measured cycles: the largest
	// resident set since the server started, its initial lists included.
	PeakRSSBytes      float64 `json:"peakRSSBytes"`
	RSSUnderLoadBytes summary `json:"rssUnderLoadBytes"`
	ScrapeSeconds     struct {
		Count float64 `json:"count"`
		Mean  float64 `json:"mean"`
		P50   float64 `json:"p50"`
		P90   float64 `json:"p90"`
		P99   float64 `json:"p99"`
	} `json:"scrapeSeconds"`
	FreshnessSeconds summary `json:"freshnessSeconds"`
	NodesServedMin   int     `json:"nodesServedMin"`
	// NoClients is the same number of cycles measured again with no API
	// client at all (no freshness polling): what scraping alone costs.
	NoClients     resources `json:"noClients"`
	GetPodSeconds summary   `json:"getPodSeconds"`
	GetPodErrors  int       `json:"getPodErrors"`
	// GetPodRateSeconds are the open-loop gets' latencies, each from the
	// moment it was due (see loadGetsAtRate); GetRate their rate.
	GetPodRateSeconds summary `json:"getPodRateSeconds"`
	GetPodRateErrors  int     `json:"getPodRateErrors"`
	GetRate           float64 `json:"getRate,omitempty"`
	// GetPodServedWithin5ms and GetPodRateServedWithin5ms are the fractions
	// of the closed- and open-loop gets that the server's own histogram
	// (see requestHistogram) put at 5 ms or less; -1: not read.
	GetPodServedWithin5ms     float64 `json:"getPodServedWithin5ms"`
	GetPodRateServedWithin5ms float64 `json:"getPodRateServedWithin5ms"`
	ListPodsSeconds           summary `json:"listPodsSeconds"`
	ListPodsErrors            int     `json:"listPodsErrors"`
	ListPodsBytes             int     `json:"listPodsBytes"`
	ListContentType           string  `json:"listContentType,omitempty"`
	// ListPodsFirstSeconds is the first list's latency; ListPodsFirstFaults
	// the minor page faults the server took while serving it,
	// ListPodsLaterFaults the mean over the lists after it (-1: not read).
	ListPodsFirstSeconds float64 `json:"listPodsFirstSeconds"`
	ListPodsFirstFaults  float64 `json:"listPodsFirstFaults"`
	ListPodsLaterFaults  float64 `json:"listPodsLaterFaults"`
	WarmupSeconds        float64 `json:"warmupSeconds"`
}

// resources is what a server used over a window of cycles.
type resources struct {
	RSSBytes           summary `json:"rssBytes"`
	CPUSecondsPerCycle float64 `json:"cpuSecondsPerCycle"`
	MiBPerNode         float64 `json:"rssMiBPerNode"`
	MilliCPUPerNode    float64 `json:"milliCPUPerNode"`
}

// resourcesOver summarizes RSS samples and the CPU seconds used between two
// readings over c.cycles cycles, per node too.
func resourcesOver(rss []float64, cpu0, cpu1 float64, c config) resources {
	r := resources{RSSBytes: summarize(rss), CPUSecondsPerCycle: (cpu1 - cpu0) / float64(c.cycles)}
	r.MiBPerNode = r.RSSBytes.Mean / (1 << 20) / float64(c.nodes)
	r.MilliCPUPerNode = r.CPUSecondsPerCycle / c.resolution.Seconds() * 1000 / float64(c.nodes)
	return r
}

type otherResult struct {
	Name               string  `json:"name"`
	RSSBytes           summary `json:"rssBytes"`
	CPUSecondsPerCycle float64 `json:"cpuSecondsPerCycle"`
}

type result struct {
	Date             string         `json:"date"`
	Nodes            int            `json:"nodes"`
	PodsPerNode      int            `json:"podsPerNode"`
	ContainersPerPod int            `json:"containersPerPod"`
	PodsRegistered   bool           `json:"podsRegistered"`
	Resolution       string         `json:"resolution"`
	Cycles           int            `json:"cycles"`
	CPUs             int            `json:"cpus"`
	Servers          []serverResult `json:"servers"`
	Others           []otherResult  `json:"others"`
	Notes            string         `json:"notes,omitempty"`
	// PageFaultMicroseconds is what a minor page fault cost the harness on
	// this machine (64 MiB of fresh anonymous memory, one write per page).
	PageFaultMicroseconds float64 `json:"pageFaultMicroseconds"`
	// APIOthersPaused: the other servers were stopped while one server's API
	// latencies were measured.
	APIOthersPaused bool `json:"apiOthersPaused"`
}

type other struct {
	name string
	pid  int
}

func parseOthers(v string) ([]other, error) {
	var out []other
	if v == "" {
		return nil, nil
	}
	for _, kv := range strings.Split(v, ",") {
		k, p, ok := strings.Cut(kv, "=")
		pid, err := strconv.Atoi(p)
		if !ok || err != nil {
			return nil, fmt.Errorf("--others %q: want name=pid", kv)
		}
		out = append(out, other{k, pid})
	}
	return out, nil
}

func run(ctx context.Context, c config) (*result, error) {
	cl, err := newClient(c)
	if err != nil {
		return nil, err
	}
	others, err := parseOthers(c.others)
	if err != nil {
		return nil, err
	}
	res := &result{
		Date: time.Now().UTC().Format("2006-01-02"), Nodes: c.nodes, PodsPerNode: c.pods, ContainersPerPod: c.containers,
		PodsRegistered: c.registered, Resolution: c.resolution.String(), Cycles: c.cycles, CPUs: runtime.NumCPU(), Notes: c.notes,
	}
	res.Servers = make([]serverResult, len(c.targets))
	for i, t := range c.targets {
		res.Servers[i].Name = t.Name
		if body, _, err := get(ctx, cl, t.URL+"/version", acceptJSON); err == nil {
			var v struct {
				GitVersion string `json:"gitVersion"`
			}
			_ = json.Unmarshal(body, &v)
			res.Servers[i].Version = v.GitVersion
		}
	}

	// Warm-up: every server serves (nearly) every node, then two more cycles.
	start := time.Now()
	for i, t := range c.targets {
		for {
			l, err := listNodes(ctx, cl, t.URL)
			if err == nil && len(l.Items) >= c.nodes*99/100 {
				break
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s never served %d nodes (last: %d, %v)", t.Name, c.nodes, len(l.Items), err)
			}
			time.Sleep(2 * time.Second)
		}
		res.Servers[i].WarmupSeconds = time.Since(start).Seconds()
		logf("%s serves every node after %.0fs", t.Name, res.Servers[i].WarmupSeconds)
	}
	logf("warm-up: two more cycles")
	sleepCtx(ctx, 2*c.resolution)

	// Phase 1: resources, scrape durations, freshness over c.cycles cycles.
	window := time.Duration(c.cycles) * c.resolution
	logf("measuring %d cycles (%s)", c.cycles, window)
	hist0 := make([]histogram, len(c.targets))
	for i, t := range c.targets {
		if hist0[i], err = serverHistogram(ctx, cl, t, t.Histogram); err != nil {
			return nil, err
		}
	}
	cpu0, err := cpuAll(c.targets, others)
	if err != nil {
		return nil, err
	}
	rss := make([][]float64, len(c.targets)+len(others))
	fresh := make([][]float64, len(c.targets))
	served := make([]int, len(c.targets))
	for i := range served {
		served[i] = c.nodes
	}
	phaseEnd := time.Now().Add(window)
	nextFresh := time.Now()
	for time.Now().Before(phaseEnd) && ctx.Err() == nil {
		sampleRSS(rss, c.targets, others)
		if !time.Now().Before(nextFresh) {
			for i, t := range c.targets {
				l, err := listNodes(ctx, cl, t.URL)
				if err != nil {
					logf("%s: listing nodes: %v", t.Name, err)
					continue
				}
				now := time.Now()
				served[i] = min(served[i], len(l.Items))
				for _, it := range l.Items {
					fresh[i] = append(fresh[i], now.Sub(it.Timestamp).Seconds())
				}
			}
			nextFresh = time.Now().Add(c.resolution / 3)
		}
		sleepCtx(ctx, time.Second)
	}
	cpu1, err := cpuAll(c.targets, others)
	if err != nil {
		return nil, err
	}
	for i, t := range c.targets {
		s := &res.Servers[i]
		// A server too busy to expose its metrics loses only this row.
		if h1, err := serverHistogram(ctx, cl, t, t.Histogram); err != nil {
			logf("%v: no scrape durations", err)
		} else if d := h1.sub(hist0[i]); d.count() > 0 {
			s.ScrapeSeconds.Count = d.count()
			s.ScrapeSeconds.Mean = d.sum / d.count()
			s.ScrapeSeconds.P50, s.ScrapeSeconds.P90, s.ScrapeSeconds.P99 = d.quantile(0.5), d.quantile(0.9), d.quantile(0.99)
		}
		s.resources = resourcesOver(rss[i], cpu0[i], cpu1[i], c)
		if v, err := procPeakRSS(t.PID); err == nil {
			s.PeakRSSBytes = float64(v)
		}
		s.FreshnessSeconds = summarize(fresh[i])
		s.NodesServedMin = served[i]
	}
	for j, o := range others {
		k := len(c.targets) + j
		res.Others = append(res.Others, otherResult{Name: o.name, RSSBytes: summarize(rss[k]), CPUSecondsPerCycle: (cpu1[k] - cpu0[k]) / float64(c.cycles)})
	}

	// Phase 1b: the same number of cycles with no API client, so the cost of
	// the freshness polling above (a JSON list of every NodeMetrics three
	// times a cycle, the generic apiserver's encoder) can be told apart from
	// the cost of scraping.
	logf("measuring %d cycles with no API client (%s)", c.cycles, window)
	if cpu0, err = cpuAll(c.targets, nil); err != nil {
		return nil, err
	}
	quietRSS := make([][]float64, len(c.targets))
	for phaseEnd := time.Now().Add(window); time.Now().Before(phaseEnd) && ctx.Err() == nil; {
		sampleRSS(quietRSS, c.targets, nil)
		sleepCtx(ctx, time.Second)
	}
	if cpu1, err = cpuAll(c.targets, nil); err != nil {
		return nil, err
	}
	for i := range c.targets {
		res.Servers[i].NoClients = resourcesOver(quietRSS[i], cpu0[i], cpu1[i], c)
	}

	// Phase 2: API latencies, one server at a time, RSS sampled meanwhile.
	if c.registered && c.pods > 0 {
		if us, err := pageFaultMicroseconds(64 << 20); err == nil {
			res.PageFaultMicroseconds = us
		} else {
			logf("page fault probe: %v", err)
		}
		res.APIOthersPaused = c.pauseOthers && len(c.targets) > 1
		names, err := listNodes(ctx, cl, c.targets[0].URL)
		if err != nil {
			return nil, err
		}
		for i, t := range c.targets {
			logf("%s: %d gets, %d at %.0f/s, %d lists", t.Name, c.gets, c.rateGets, c.getRate, c.lists)
			stop := make(chan struct{})
			var loadRSS []float64
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					if v, err := procRSS(t.PID); err == nil {
						loadRSS = append(loadRSS, float64(v))
					}
					select {
					case <-stop:
						return
					case <-time.After(500 * time.Millisecond):
					}
				}
			}()
			s := &res.Servers[i]
			resume := func() {}
			if c.pauseOthers && len(c.targets) > 1 {
				resume = pause(c.targets, i)
			}
			func() {
				defer resume()
				s.GetPodServedWithin5ms = servedWithin(ctx, cl, t, getTarget, func() {
					s.GetPodSeconds, s.GetPodErrors = loadGets(ctx, cl, t, c, names)
				})
				s.GetPodRateServedWithin5ms = -1
				if c.getRate > 0 && c.rateGets > 0 {
					s.GetRate = c.getRate
					s.GetPodRateServedWithin5ms = servedWithin(ctx, cl, t, getTarget, func() {
						s.GetPodRateSeconds, s.GetPodRateErrors = loadGetsAtRate(ctx, cl, t, c, names)
					})
				}
				l := loadLists(ctx, cl, t, c)
				s.ListPodsSeconds, s.ListPodsErrors, s.ListPodsBytes, s.ListContentType = l.seconds, l.errors, l.bytes, l.contentType
				s.ListPodsFirstSeconds, s.ListPodsFirstFaults, s.ListPodsLaterFaults = l.first, l.firstFaults, l.laterFaults
			}()
			if c.pauseOthers && i+1 < len(c.targets) {
				logf("two cycles for the stopped servers to scrape again")
				sleepCtx(ctx, 2*c.resolution)
			}
			close(stop)
			wg.Wait()
			s.RSSUnderLoadBytes = summarize(loadRSS)
		}
	}
	return res, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// serverHistogram reads the histogram family name, the series whose labels
// include every one of match, from the server's /metrics.
func serverHistogram(ctx context.Context, cl *http.Client, t target, name string, match ...string) (histogram, error) {
	body, _, err := get(ctx, cl, t.URL+"/metrics", "text/plain")
	if err != nil {
		return histogram{}, fmt.Errorf("%s /metrics: %w", t.Name, err)
	}
	h, err := parseHistogram(body, name, match...)
	if err != nil {
		return h, fmt.Errorf("%s /metrics: %w", t.Name, err)
	}
	return h, nil
}

// getTarget is the single PodMetrics get latency the benchmark aims at, in
// seconds: also the first bucket bound of apiserver_request_duration_seconds,
// so the servers' own histograms count the gets within it exactly.
const getTarget = 0.005

// requestHistogram reads the server's own latency histogram of single
// PodMetrics gets: k8s.io/apiserver's apiserver_request_duration_seconds,
// which both servers expose. Its clock starts when the request's handler
// goroutine enters the filter chain, so what a get waits before that (for
// the connection's goroutines and a processor) is only in the client's
// latency.
func requestHistogram(ctx context.Context, cl *http.Client, t target) (histogram, error) {
	return serverHistogram(ctx, cl, t, "apiserver_request_duration_seconds",
		`verb="GET"`, `group="metrics.k8s.io"`, `resource="pods"`)
}

// servedWithin runs phase and returns the fraction of the single PodMetrics
// gets the server served in it that its own histogram puts at le seconds or
// less (a bound of the histogram), or -1 when the histogram cannot be read.
func servedWithin(ctx context.Context, cl *http.Client, t target, le float64, phase func()) float64 {
	h0, err := requestHistogram(ctx, cl, t)
	if errors.Is(err, errNoSeries) {
		h0, err = histogram{}, nil // no get served yet: the series appears with the first
	}
	phase()
	var h1 histogram
	if err == nil {
		h1, err = requestHistogram(ctx, cl, t)
	}
	if err != nil {
		logf("%s: server-side get latency not read: %v", t.Name, err)
		return -1
	}
	w := h1.sub(h0).within(le)
	if math.IsNaN(w) {
		logf("%s: server-side get latency: no gets, or no %g s bound", t.Name, le)
		return -1
	}
	return w
}

// cpuAll reads the CPU seconds of the targets, then of the others.
func cpuAll(targets []target, others []other) ([]float64, error) {
	procs := make([]other, 0, len(targets)+len(others))
	for _, t := range targets {
		procs = append(procs, other{t.Name, t.PID})
	}
	var out []float64
	for _, p := range append(procs, others...) {
		v, err := procCPU(p.pid)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// pause stops every target but targets[keep] with SIGSTOP and returns the
// function that continues them. In a cluster one metrics server runs: the
// other's scrape bursts (metrics-server scrapes every node at the same moment)
// would otherwise take the CPU from the one whose latencies are measured.
// Stopped, a server neither scrapes nor answers; the caller gives it two
// cycles to scrape again before its own latencies are measured.
func pause(targets []target, keep int) (resume func()) {
	var stopped []target
	for i, t := range targets {
		if i == keep {
			continue
		}
		if err := syscall.Kill(t.PID, syscall.SIGSTOP); err != nil {
			logf("%s: SIGSTOP: %v", t.Name, err)
			continue
		}
		logf("%s stopped while %s is measured", t.Name, targets[keep].Name)
		stopped = append(stopped, t)
	}
	return func() {
		for _, t := range stopped {
			if err := syscall.Kill(t.PID, syscall.SIGCONT); err != nil {
				logf("%s: SIGCONT: %v", t.Name, err)
			}
		}
	}
}

func sampleRSS(into [][]float64, targets []target, others []other) {
	for i, t := range targets {
		if v, err := procRSS(t.PID); err == nil {
			into[i] = append(into[i], float64(v))
		}
	}
	for j, o := range others {
		if v, err := procRSS(o.pid); err == nil {
			into[len(targets)+j] = append(into[len(targets)+j], float64(v))
		}
	}
}

// podGets records the latencies and errors of gets of random PodMetrics.
type podGets struct {
	t     target
	c     config
	nodes nodeMetricsList

	mu   sync.Mutex
	lat  []float64
	errs int
}

// url is a random pod's PodMetrics.
func (g *podGets) url(r *rand.Rand) string {
	node := g.nodes.Items[r.IntN(len(g.nodes.Items))].Metadata.Name
	return fmt.Sprintf("%s/apis/metrics.k8s.io/v1beta1/namespaces/%s/pods/%s-p%d", g.t.URL, g.c.namespace, node, r.IntN(g.c.pods))
}

// get gets url and records its latency from since (the first errors are logged).
func (g *podGets) get(ctx context.Context, cl *http.Client, url string, since time.Time) {
	_, _, err := get(ctx, cl, url, acceptProtobuf)
	d := time.Since(since).Seconds()
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		g.errs++
		if g.errs <= 3 {
			logf("%s: %v", g.t.Name, err)
		}
		return
	}
	g.lat = append(g.lat, d)
}

func (g *podGets) result() (summary, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return summarize(g.lat), g.errs
}

// loadGets gets random PodMetrics, c.getWorkers at a time: at least c.gets
// and for at least c.getsFor, within c.loadTimeout. 2,000 gets take two or
// three seconds, and metrics-server scrapes every node in one burst a
// cycle: such a window holds its burst or not by chance, where it always
// holds one of our one-second slots; a window of a whole cycle holds the
// bursts of both.
func loadGets(ctx context.Context, cl *http.Client, t target, c config, nodes nodeMetricsList) (summary, int) {
	ctx, cancel := context.WithTimeout(ctx, c.loadTimeout)
	defer cancel()
	g := &podGets{t: t, c: c, nodes: nodes}
	until := time.Now().Add(c.getsFor)
	var issued atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < c.getWorkers; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 1))
			for ctx.Err() == nil && (issued.Add(1) <= int64(c.gets) || time.Now().Before(until)) {
				g.get(ctx, cl, g.url(r), time.Now())
			}
		}(uint64(w + 1))
	}
	wg.Wait()
	return g.result()
}

// loadGetsAtRate gets c.rateGets random PodMetrics at c.getRate per second
// on a fixed schedule, within c.loadTimeout: an open loop, as many
// independent clients (HPA, VPA, kubectl) load a server. loadGets keeps four
// gets in flight whatever their latency, so it measures the server at the
// machine's saturation (with the harness's own CPU in it); here a slow get
// does not delay the next one, and each latency counts from the moment the
// get was due, so a server that falls behind its schedule is charged for it.
// At most maxInFlight gets are outstanding; beyond that the schedule slips,
// and the slip is in the latencies.
func loadGetsAtRate(ctx context.Context, cl *http.Client, t target, c config, nodes nodeMetricsList) (summary, int) {
	const maxInFlight = 256
	ctx, cancel := context.WithTimeout(ctx, c.loadTimeout)
	defer cancel()
	g := &podGets{t: t, c: c, nodes: nodes}
	var wg sync.WaitGroup
	slots := make(chan struct{}, maxInFlight)
	r := rand.New(rand.NewPCG(uint64(c.rateGets), 2))
	interval := time.Duration(float64(time.Second) / c.getRate)
	start := time.Now()
	for i := 0; i < c.rateGets && ctx.Err() == nil; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			sleepCtx(ctx, d)
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		url := g.url(r)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			g.get(ctx, cl, url, due)
		}()
	}
	wg.Wait()
	return g.result()
}

// loadLists lists every pod's metrics c.lists times, sequentially, within
// c.loadTimeout. The first list is also reported alone, with the minor page
// faults t took to serve it and, per list, the ones after it: the first one
// finds the memory of a list given back to the kernel (as after any idle
// time), the next ones mostly reuse it.
func loadLists(ctx context.Context, cl *http.Client, t target, c config) listResult {
	ctx, cancel := context.WithTimeout(ctx, c.loadTimeout)
	defer cancel()
	var (
		res    listResult
		lat    []float64
		faults []uint64 // t's minor faults before the first list, then after each
	)
	countFaults := func() {
		if n, err := procMinorFaults(t.PID); err == nil {
			faults = append(faults, n)
		}
	}
	countFaults()
	for i := 0; i < c.lists && ctx.Err() == nil; i++ {
		start := time.Now()
		body, ct, err := get(ctx, cl, t.URL+"/apis/metrics.k8s.io/v1beta1/pods", acceptProtobuf)
		d := time.Since(start).Seconds()
		countFaults()
		if err != nil {
			res.errors++
			logf("%s: list: %v", t.Name, err)
			continue
		}
		if i == 0 {
			res.first = d
		}
		lat = append(lat, d)
		res.bytes, res.contentType = len(body), ct
	}
	res.seconds = summarize(lat)
	if len(faults) == c.lists+1 && c.lists > 1 { // every reading taken
		res.firstFaults = float64(faults[1] - faults[0])
		res.laterFaults = float64(faults[c.lists]-faults[1]) / float64(c.lists-1)
	} else {
		res.firstFaults, res.laterFaults = -1, -1
	}
	return res
}

type listResult struct {
	seconds                  summary
	first                    float64
	firstFaults, laterFaults float64
	errors, bytes            int
	contentType              string
}
