package storage

// Point is one observation of a node or container, as the kubelet reported it.
// CPU is a cumulative counter; memory values are gauges. Times are Unix nanoseconds
// so a point stays small (the store keeps a ring of them per series).
type Point struct {
	// Timestamp is when the kubelet sampled the series (the sample's own timestamp,
	// or the time the response arrived when the sample carried none).
	Timestamp int64
	// CPUNanoSeconds is cumulative CPU time consumed, in core-nanoseconds.
	CPUNanoSeconds uint64
	// WorkingSetBytes is the current working set.
	WorkingSetBytes uint64
	// SwapBytes is the current swap usage (0 when the kubelet reports none).
	SwapBytes uint64
	// StartTime is the container's (or node's) start time, 0 when unknown.
	StartTime int64
	// Valid tells which fields the scrape actually carried.
	Valid Fields
}

// Fields is a bit set naming the fields of a Point a scrape carried.
type Fields uint8

const (
	// HasCPU is set when a usable CPU counter was decoded.
	HasCPU Fields = 1 << iota
	// HasMemory is set when a usable working set was decoded.
	HasMemory
	// HasSwap is set when a usable swap value was decoded.
	HasSwap
)

// Has reports whether every field in want is set.
func (f Fields) Has(want Fields) bool { return f&want == want }

// ContainerPoint is a Point of one container. Names are interned by the decoder,
// so equal names share memory across scrapes of the same node.
type ContainerPoint struct {
	Namespace string
	Pod       string
	Container string
	Point
}

// NodeBatch is everything one scrape of one kubelet produced. The scraper takes
// a batch from a pool for one scrape and returns it afterwards (any node's next
// scrape may reuse it); the store copies what it keeps.
type NodeBatch struct {
	// Node is the node's name.
	Node string
	// ScrapedAt is the local time (Unix nanoseconds) the response was received.
	ScrapedAt int64
	// NodePoint holds the node-level series; NodePoint.Valid is 0 when absent.
	NodePoint Point
	// Containers holds one entry per container the kubelet reported.
	Containers []ContainerPoint
	// KubeletScrapeError is true when the kubelet itself reported
	// resource_scrape_error (or scrape_error) 1: its container data may be partial.
	KubeletScrapeError bool
}

// Reset empties the batch for reuse, keeping its allocated capacity.
func (b *NodeBatch) Reset(node string) {
	b.Node = node
	b.ScrapedAt = 0
	b.NodePoint = Point{}
	b.Containers = b.Containers[:0]
	b.KubeletScrapeError = false
}
