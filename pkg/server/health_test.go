package server

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/kubelet"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/podindex"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/scraper"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/storage"
)

// syncedInformers returns a started, synced node informer of a fake cluster
// and a pod index fed by a reflector from the same cluster, synced.
func syncedInformers(t *testing.T) (cache.SharedIndexInformer, *podindex.Index) {
	t.Helper()
	client := fake.NewSimpleClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	nodes := factory.Core().V1().Nodes().Informer()
	pods := podindex.New(nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	factory.Start(ctx.Done())
	go newPodReflector(client, pods).RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), nodes.HasSynced, pods.HasSynced) {
		t.Fatal("informers did not sync")
	}
	return nodes, pods
}

func batch(node string, at time.Time, cpuNanos uint64) *storage.NodeBatch {
	p := storage.Point{Timestamp: at.UnixNano(), CPUNanoSeconds: cpuNanos, WorkingSetBytes: 1 << 20, Valid: storage.HasCPU | storage.HasMemory}
	return &storage.NodeBatch{Node: node, ScrapedAt: at.UnixNano(), NodePoint: p,
		Containers: []storage.ContainerPoint{{Namespace: "ns", Pod: "p", Container: "c", Point: p}}}
}

func TestReadinessNeedsSyncedInformersAndData(t *testing.T) {
	nodes, pods := syncedInformers(t)
	now := time.Now()
	store := storage.NewStore(storage.Options{MaxStaleness: time.Minute})
	s := &Server{nodes: nodes, pods: pods, store: store}
	if err := s.checkData(nil); err == nil {
		t.Fatal("ready with an empty store")
	}
	store.StoreNode(batch("n1", now.Add(-15*time.Second), 1e9))
	if err := s.checkData(nil); err == nil {
		t.Fatal("ready with one point (no rate yet)")
	}
	store.StoreNode(batch("n1", now, 2e9))
	if err := s.checkData(nil); err != nil {
		t.Fatalf("not ready with a node and a pod rate: %v", err)
	}
	unsynced := informers.NewSharedInformerFactory(fake.NewSimpleClientset(), 0).Core().V1().Nodes().Informer()
	s.nodes = unsynced
	if err := s.checkData(nil); err == nil {
		t.Fatal("ready before the node informer synced")
	}
	s.nodes, s.pods = nodes, podindex.New(nil)
	if err := s.checkData(nil); err == nil {
		t.Fatal("ready before the pod index synced")
	}
}

type idleClient struct{}

func (idleClient) Scrape(ctx context.Context, _ *corev1.Node, _ *kubelet.Decoder, _ *storage.NodeBatch) (kubelet.ScrapeInfo, error) {
	<-ctx.Done()
	return kubelet.ScrapeInfo{}, ctx.Err()
}

func TestLivenessFailsWhenScrapesStop(t *testing.T) {
	// A scraper's progress starts at its creation time on its own clock.
	newScraper := func(created time.Time, nodes ...string) *scraper.Scraper {
		sc := scraper.New(idleClient{}, storage.NewStore(storage.Options{}), scraper.Options{
			Resolution: time.Second, Timeout: time.Second, MaxConcurrent: 1, Now: func() time.Time { return created },
		})
		for _, n := range nodes {
			sc.AddOrUpdateNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}})
		}
		return sc
	}
	tests := []struct {
		name     string
		scraper  *scraper.Scraper
		wantLive bool
	}{
		{"no nodes", newScraper(time.Now().Add(-time.Hour)), true},
		{"recent progress", newScraper(time.Now(), "n1"), true},
		{"no scrape finished for a minute", newScraper(time.Now().Add(-time.Minute), "n1"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{scraper: tc.scraper, resolution: time.Second, timeout: time.Second}
			if err := s.checkProgress(nil); (err == nil) != tc.wantLive {
				t.Errorf("checkProgress = %v, want live=%v", err, tc.wantLive)
			}
		})
	}
}
