/*
Copyright The metrics-apiserver Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
*/

package kubelet

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/storage"
)

// DecodeError is returned by Decode when the payload is not in the Prometheus text
// format. Line is 1-based; Excerpt is the start of the offending line.
type DecodeError struct {
	Line    int
	Excerpt string
	Reason  string
}

func (e *DecodeError) Error() string {
	if e.Line == 0 {
		return "decoding kubelet metrics: " + e.Reason
	}
	return fmt.Sprintf("decoding kubelet metrics: line %d: %s: %q", e.Line, e.Reason, e.Excerpt)
}

// family is one metric family the decoder knows.
type family uint8

const (
	famSkip family = iota
	famNodeCPU
	famNodeMemory
	famNodeSwap
	famContainerCPU
	famContainerMemory
	famContainerSwap
	famContainerStart
	famScrapeError
	famScrapeErrorDeprecated
)

func lookupFamily(name []byte) family {
	// A switch on string(name) compiles to comparisons without a conversion.
	switch string(name) {
	case "container_cpu_usage_seconds_total":
		return famContainerCPU
	case "container_memory_working_set_bytes":
		return famContainerMemory
	case "container_swap_usage_bytes":
		return famContainerSwap
	case "container_start_time_seconds":
		return famContainerStart
	case "node_cpu_usage_seconds_total":
		return famNodeCPU
	case "node_memory_working_set_bytes":
		return famNodeMemory
	case "node_swap_usage_bytes":
		return famNodeSwap
	case "resource_scrape_error":
		return famScrapeError
	case "scrape_error":
		return famScrapeErrorDeprecated
	}
	return famSkip
}

func (f family) String() string {
	switch f {
	case famNodeCPU:
		return "node_cpu_usage_seconds_total"
	case famNodeMemory:
		return "node_memory_working_set_bytes"
	case famNodeSwap:
		return "node_swap_usage_bytes"
	case famContainerCPU:
		return "container_cpu_usage_seconds_total"
	case famContainerMemory:
		return "container_memory_working_set_bytes"
	case famContainerSwap:
		return "container_swap_usage_bytes"
	case famContainerStart:
		return "container_start_time_seconds"
	case famScrapeError:
		return "resource_scrape_error"
	case famScrapeErrorDeprecated:
		return "scrape_error"
	}
	return "skipped family"
}

func (f family) isContainer() bool { return f >= famContainerCPU && f <= famContainerStart }

// Timestamp ranks: a point takes the timestamp of its highest-ranked accepted field.
const (
	rankNone uint8 = iota
	rankSwap
	rankMemory
	rankCPU
)

type containerKey struct{ namespace, pod, container string }

// containerState is per-decode bookkeeping for one entry of NodeBatch.Containers.
type containerState struct {
	// labels is the label set ("{...}") of the line that added the entry,
	// in the body being decoded: a later line whose label set is the same
	// bytes names the same container.
	labels []byte
	seen   uint16 // 1<<family of every sample seen, to find duplicates
	tsRank uint8
}

type internedName struct {
	s   string
	gen uint32 // last decode that used the name
}

// decodeScratch is what one Decode needs only while it runs. It comes from
// scratchPool and goes back empty, so a Decoder holds none of it between
// scrapes and the pool's few scratches serve every node.
type decodeScratch struct {
	index   map[containerKey]int32 // key -> index in batch.Containers
	state   []containerState       // parallel to the new batch entries
	unquote []byte                 // unescaped label value
	// next is, per container family, the entry (relative to the decode's
	// first) expected for its next sample: a kubelet prints every family's
	// containers in the same order, so the k-th sample of the second family
	// is usually the container of the k-th sample of the first.
	next [famContainerStart + 1]int32
	// lastName is the metric name of the last sample line (in the body
	// being decoded) and lastFam its family.
	lastName []byte
	lastFam  family
	// skipSets are the label sets of lines of families the decoder does not
	// read, as checked (in the body being decoded), and skipNext the one the
	// next such line is compared with: the kubelet's pod families list the
	// same pods in the same order, so their label sets are checked once.
	skipSets [][]byte
	skipNext int
}

// maxPooledUnquote bounds the unescaping buffer kept in the pool.
const maxPooledUnquote = 4 << 10

// maxPooledSkipSets bounds skipSets: lines past it are checked in full.
const maxPooledSkipSets = 1 << 12

var scratchPool = sync.Pool{New: func() any {
	return &decodeScratch{index: make(map[containerKey]int32)}
}}

// Decoder decodes one node's payloads. It keeps that node's interned names between
// scrapes, so it is not safe for concurrent use: one Decoder per node.
// Between decodes it holds nothing else of size: the per-decode scratch
// (container index, bookkeeping, unescaping buffer) is taken from a pool shared
// by all decoders for the duration of one Decode.
//
// See the package documentation for the format accepted and the decoding rules.
type Decoder struct {
	names map[string]*internedName
	gen   uint32
	used  int // names marked with gen

	sc *decodeScratch // only during Decode, else nil

	nodeSeen   uint16
	nodeRank   uint8
	rejected   int
	accepted   int
	receivedAt int64
	first      int // len(batch.Containers) when the decode started
}

// NewDecoder returns a Decoder with an empty name table.
func NewDecoder() *Decoder {
	return &Decoder{names: make(map[string]*internedName)}
}

// RejectedSamples returns how many samples of the last Decode were dropped because
// their value was NaN, ±Inf, negative or out of range, or (container families) a
// namespace, pod or container label was missing or empty.
func (d *Decoder) RejectedSamples() int { return d.rejected }

// AcceptedSamples returns how many samples of the families the decoder reads were
// stored into the batch by the last Decode.
func (d *Decoder) AcceptedSamples() int { return d.accepted }

// InternedNames returns the size of the decoder's name table.
func (d *Decoder) InternedNames() int { return len(d.names) }

// Decode parses body into b. It appends to b.Containers, sets b.NodePoint fields,
// b.KubeletScrapeError and b.ScrapedAt; the caller resets b beforehand.
// receivedAt is used for samples that carry no timestamp.
//
// On error (always a *DecodeError) b is restored to what it held before the call.
// Decode never keeps a reference to body.
func (d *Decoder) Decode(body []byte, receivedAt time.Time, b *storage.NodeBatch) error {
	if b == nil {
		return &DecodeError{Reason: "nil batch"}
	}
	if d.names == nil {
		d.names = make(map[string]*internedName)
	}
	d.sc = scratchPool.Get().(*decodeScratch)
	defer d.putScratch()
	d.gen++
	d.used = 0
	d.nodeSeen, d.nodeRank = 0, rankNone
	d.rejected, d.accepted = 0, 0
	d.receivedAt = receivedAt.UnixNano()
	d.first = len(b.Containers)

	savedNode, savedErr, savedAt := b.NodePoint, b.KubeletScrapeError, b.ScrapedAt
	b.ScrapedAt = d.receivedAt

	lineNo := 0
	for pos := 0; pos < len(body); {
		lineNo++
		var line []byte
		if n := bytes.IndexByte(body[pos:], '\n'); n >= 0 {
			line = body[pos : pos+n]
			pos += n + 1
		} else {
			line = body[pos:]
			pos = len(body)
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if reason := d.decodeLine(line, b); reason != "" {
			b.Containers = b.Containers[:d.first]
			b.NodePoint, b.KubeletScrapeError, b.ScrapedAt = savedNode, savedErr, savedAt
			return &DecodeError{Line: lineNo, Excerpt: excerpt(line), Reason: reason}
		}
	}
	d.pruneNames()
	return nil
}

// putScratch empties the decode scratch (the index refers to this node's
// names) and gives it back to the pool.
func (d *Decoder) putScratch() {
	sc := d.sc
	d.sc = nil
	clear(sc.index)
	clear(sc.state) // drop the references into the body
	sc.state = sc.state[:0]
	sc.next = [famContainerStart + 1]int32{}
	sc.lastName, sc.lastFam = nil, famSkip
	clear(sc.skipSets)
	sc.skipSets, sc.skipNext = sc.skipSets[:0], 0
	if cap(sc.skipSets) > maxPooledSkipSets {
		sc.skipSets = nil
	}
	sc.unquote = sc.unquote[:0]
	if cap(sc.unquote) > maxPooledUnquote {
		sc.unquote = nil // one huge label value must not stay in the pool
	}
	scratchPool.Put(sc)
}

// pruneNames forgets names the last decode did not use once they outnumber the
// names in use, so pod churn does not grow the table without bound.
func (d *Decoder) pruneNames() {
	if len(d.names) <= 2*d.used+256 {
		return
	}
	for k, e := range d.names {
		if e.gen != d.gen {
			delete(d.names, k)
		}
	}
}

const maxExcerpt = 64

// excerpt returns the start of line as valid UTF-8 of at most maxExcerpt bytes.
func excerpt(line []byte) string {
	var sb strings.Builder
	for len(line) > 0 {
		r, n := utf8.DecodeRune(line) // invalid bytes come back as U+FFFD
		if sb.Len()+utf8.RuneLen(r) > maxExcerpt {
			break
		}
		sb.WriteRune(r)
		line = line[n:]
	}
	return sb.String()
}

// byte classes
const (
	cNameStart  = 1 << iota // [a-zA-Z_:]
	cName                   // [a-zA-Z0-9_:]
	cLabelStart             // [a-zA-Z_]
	cLabel                  // [a-zA-Z0-9_]
	cBlank                  // ' ', '\t'
)

var class = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		digit := c >= '0' && c <= '9'
		if letter || c == ':' {
			t[c] |= cNameStart | cName
		}
		if digit {
			t[c] |= cName | cLabel
		}
		if letter {
			t[c] |= cLabelStart | cLabel
		}
		if c == ' ' || c == '\t' {
			t[c] |= cBlank
		}
	}
	return t
}()

func skipBlank(s []byte, i int) int {
	for i < len(s) && class[s[i]]&cBlank != 0 {
		i++
	}
	return i
}

func skipToken(s []byte, i int) int {
	for i < len(s) && class[s[i]]&cBlank == 0 {
		i++
	}
	return i
}

// labelRefs holds the raw (still escaped) values of the labels a container
// family is keyed by.
type labelRefs struct {
	namespace, pod, container []byte
	escaped                   uint8 // bit per label above
	present                   uint8
}

const (
	lNamespace uint8 = 1 << iota
	lPod
	lContainer
)

// decodeLine decodes one line (without its line break) and returns why it is
// malformed, or "".
func (d *Decoder) decodeLine(line []byte, b *storage.NodeBatch) string {
	i := skipBlank(line, 0)
	if i == len(line) {
		return ""
	}
	if line[i] == '#' {
		return parseComment(line, i+1)
	}
	if class[line[i]]&cNameStart == 0 {
		return "expected a metric name"
	}
	// Samples of a family come in a run: compare with the last line's name
	// before scanning and looking it up.
	var fam family
	sc := d.sc
	if n := len(sc.lastName); n > 0 && len(line)-i > n && string(line[i:i+n]) == string(sc.lastName) &&
		class[line[i+n]]&cName == 0 {
		i += n
		fam = sc.lastFam
	} else {
		start := i
		for i < len(line) && class[line[i]]&cName != 0 {
			i++
		}
		fam = lookupFamily(line[start:i])
		sc.lastName, sc.lastFam = line[start:i], fam
		sc.skipNext = 0
	}

	var (
		labels    labelRefs
		labelSet  []byte // the label set as parsed, of a container or skipped sample
		container = int32(-1)
	)
	j := skipBlank(line, i)
	if j < len(line) && line[j] == '{' {
		checked := false
		if fam.isContainer() {
			container, j = d.sameLabelsAsExpected(fam, line, j)
			checked = container >= 0
		} else if fam == famSkip {
			checked, j = sc.sameLabelsAsSkipped(line, j)
		}
		if !checked {
			start := j
			var reason string
			if j, reason = d.parseLabels(line, j+1, fam.isContainer(), &labels); reason != "" {
				return reason
			}
			labelSet = line[start:j]
			if fam == famSkip && len(sc.skipSets) < maxPooledSkipSets {
				sc.skipSets = append(sc.skipSets, labelSet)
				sc.skipNext = len(sc.skipSets)
			}
		}
		j = skipBlank(line, j)
	} else if j == i && j < len(line) {
		return "invalid character in metric name"
	}

	// Value.
	k := skipToken(line, j)
	if k == j {
		return "missing value"
	}
	val, ok := parseNumber(line[j:k])
	if !ok {
		return "invalid value"
	}

	// Optional timestamp.
	ts := d.receivedAt
	k = skipBlank(line, k)
	if k < len(line) {
		t := skipToken(line, k)
		var reason string
		if ts, reason = parseTimestamp(line[k:t]); reason != "" {
			return reason
		}
		if skipBlank(line, t) != len(line) {
			return "unexpected text after timestamp"
		}
	}

	switch {
	case fam == famSkip:
		return ""
	case fam.isContainer():
		if container < 0 {
			var reason string
			if container, reason = d.containerIndex(fam, &labels, labelSet, b); container < 0 || reason != "" {
				return reason
			}
		}
		return d.containerSample(fam, container, val, ts, b)
	default:
		return d.nodeSample(fam, val, ts, b)
	}
}

// parseComment checks a comment line; line[i:] follows the '#'. Only HELP and
// TYPE lines have a syntax; HELP text is not read, so its escapes are not checked.
func parseComment(line []byte, i int) string {
	i = skipBlank(line, i)
	j := skipToken(line, i)
	kw := line[i:j]
	isType := string(kw) == "TYPE"
	if !isType && string(kw) != "HELP" {
		return "" // plain comment
	}
	i = skipBlank(line, j)
	if i == len(line) || class[line[i]]&cNameStart == 0 {
		return "expected a metric name after # " + string(kw)
	}
	for i < len(line) && class[line[i]]&cName != 0 {
		i++
	}
	if i < len(line) && class[line[i]]&cBlank == 0 {
		return "invalid character in metric name"
	}
	if !isType {
		return ""
	}
	i = skipBlank(line, i)
	j = skipToken(line, i)
	switch string(line[i:j]) {
	case "counter", "gauge", "histogram", "summary", "untyped":
	case "":
		return "missing metric type"
	default:
		return "unknown metric type"
	}
	if skipBlank(line, j) != len(line) {
		return "unexpected text after metric type"
	}
	return ""
}

// parseLabels parses a label set from line[i:], just after its '{', and returns
// the index after the closing '}'. When capture is set it keeps the namespace, pod
// and container values in l; every other value is only checked.
func (d *Decoder) parseLabels(line []byte, i int, capture bool, l *labelRefs) (int, string) {
	for {
		i = skipBlank(line, i)
		if i == len(line) {
			return i, "unterminated label set"
		}
		if line[i] == '}' {
			return i + 1, ""
		}
		if class[line[i]]&cLabelStart == 0 {
			return i, "invalid label name"
		}
		ns := i
		for i < len(line) && class[line[i]]&cLabel != 0 {
			i++
		}
		name := line[ns:i]
		i = skipBlank(line, i)
		if i == len(line) || line[i] != '=' {
			return i, "expected '=' after label name"
		}
		i = skipBlank(line, i+1)
		if i == len(line) || line[i] != '"' {
			return i, "expected '\"' to open label value"
		}
		i++
		vs := i
		escaped := false
		// Most values hold no escape: find the closing quote with one
		// vectorized search and take the byte-wise scan only when a backslash
		// comes before it (or no quote does, to report the precise error).
		if n := bytes.IndexByte(line[i:], '"'); n >= 0 && bytes.IndexByte(line[i:i+n], '\\') < 0 {
			i += n
		} else {
			i = vs
		}
	value:
		for {
			if i == len(line) {
				return i, "unterminated label value"
			}
			switch line[i] {
			case '"':
				break value
			case '\\':
				if i+1 == len(line) {
					return i, "unterminated label value"
				}
				switch line[i+1] {
				case '\\', '"', 'n':
				default:
					return i, "invalid escape sequence in label value"
				}
				escaped = true
				i += 2
			default:
				i++
			}
		}
		v := line[vs:i]
		i++ // closing quote

		var bit uint8
		if capture {
			switch string(name) {
			case "namespace":
				bit, l.namespace = lNamespace, v
			case "pod":
				bit, l.pod = lPod, v
			case "container":
				bit, l.container = lContainer, v
			}
		}
		if bit != 0 {
			// UTF-8 is checked when the value is interned.
			if l.present&bit != 0 {
				return i, "duplicate label " + string(name)
			}
			l.present |= bit
			if escaped {
				l.escaped |= bit
			}
		} else if !utf8.Valid(v) {
			return i, "label value is not valid UTF-8"
		}

		i = skipBlank(line, i)
		if i < len(line) && line[i] == ',' {
			i++
			continue
		}
		if i < len(line) && line[i] == '}' {
			return i + 1, ""
		}
		return i, "expected ',' or '}' after label value"
	}
}

func (d *Decoder) nodeSample(fam family, val number, ts int64, b *storage.NodeBatch) string {
	bit := uint16(1) << fam
	if d.nodeSeen&bit != 0 {
		return "duplicate sample of " + fam.String()
	}
	d.nodeSeen |= bit
	p := &b.NodePoint

	switch fam {
	case famScrapeError, famScrapeErrorDeprecated:
		if _, v := val.uint(0); v != vOK {
			d.rejected++
			return ""
		}
		d.accepted++
		if !val.isZero() {
			b.KubeletScrapeError = true
		}
		return ""
	}

	scale, field, rank := 0, storage.HasMemory, rankMemory
	switch fam {
	case famNodeCPU:
		scale, field, rank = 9, storage.HasCPU, rankCPU
	case famNodeSwap:
		field, rank = storage.HasSwap, rankSwap
	}
	x, v := val.uint(scale)
	if v != vOK {
		d.rejected++
		return ""
	}
	d.accepted++
	switch field {
	case storage.HasCPU:
		p.CPUNanoSeconds = x
	case storage.HasMemory:
		p.WorkingSetBytes = x
	case storage.HasSwap:
		p.SwapBytes = x
	}
	p.Valid |= field
	if rank > d.nodeRank {
		d.nodeRank = rank
		p.Timestamp = ts
	}
	return ""
}

// containerIndex returns the batch index of the container the labels name,
// adding an entry for a container not seen yet, or -1 (and why the payload
// is malformed, or "" when the sample is only rejected).
func (d *Decoder) containerIndex(fam family, l *labelRefs, labelSet []byte, b *storage.NodeBatch) (int32, string) {
	if len(l.namespace) == 0 || len(l.pod) == 0 || len(l.container) == 0 {
		d.rejected++
		return -1, ""
	}
	sc := d.sc
	idx, found := d.expectedContainer(fam, l, b)
	if found {
		return idx, ""
	}
	var key containerKey
	var ok bool
	if key.namespace, ok = d.internLabel(l.namespace, l.escaped&lNamespace != 0); !ok {
		return -1, "namespace label is not valid UTF-8"
	}
	if key.pod, ok = d.internLabel(l.pod, l.escaped&lPod != 0); !ok {
		return -1, "pod label is not valid UTF-8"
	}
	if key.container, ok = d.internLabel(l.container, l.escaped&lContainer != 0); !ok {
		return -1, "container label is not valid UTF-8"
	}
	if idx, found = sc.index[key]; !found {
		idx = int32(len(b.Containers))
		sc.index[key] = idx
		b.Containers = append(b.Containers, storage.ContainerPoint{
			Namespace: key.namespace,
			Pod:       key.pod,
			Container: key.container,
			Point:     storage.Point{Timestamp: d.receivedAt},
		})
		sc.state = append(sc.state, containerState{labels: labelSet})
	}
	return idx, ""
}

// sameLabelsAsExpected checks whether the label set starting at line[j] is,
// byte for byte, the one of the line that added the container expected next
// for the family (see decodeScratch.next): then it names that container and
// parses the same, so the parse is skipped. It returns the container's batch
// index and the index after the label set, or -1 and j.
func (d *Decoder) sameLabelsAsExpected(fam family, line []byte, j int) (int32, int) {
	k := d.sc.next[fam]
	if int(k) >= len(d.sc.state) {
		return -1, j
	}
	set := d.sc.state[k].labels
	if len(set) == 0 || len(line)-j < len(set) || string(line[j:j+len(set)]) != string(set) {
		return -1, j
	}
	return int32(d.first) + k, j + len(set)
}

// sameLabelsAsSkipped checks whether the label set starting at line[j] is, byte
// for byte, the checked one the line of a skipped family is compared with
// (skipSets[skipNext]); it returns whether it is and the index after it.
func (sc *decodeScratch) sameLabelsAsSkipped(line []byte, j int) (bool, int) {
	if sc.skipNext >= len(sc.skipSets) {
		return false, j
	}
	set := sc.skipSets[sc.skipNext]
	if len(line)-j < len(set) || string(line[j:j+len(set)]) != string(set) {
		return false, j
	}
	sc.skipNext++
	return true, j + len(set)
}

// containerSample records a sample of the container at batch index idx.
func (d *Decoder) containerSample(fam family, idx int32, val number, ts int64, b *storage.NodeBatch) string {
	sc := d.sc
	sc.next[fam] = idx - int32(d.first) + 1
	st := &sc.state[int(idx)-d.first]
	bit := uint16(1) << fam
	if st.seen&bit != 0 {
		return "duplicate sample of " + fam.String()
	}
	st.seen |= bit

	scale := 0
	if fam == famContainerCPU || fam == famContainerStart {
		scale = 9
	}
	x, v := val.uint(scale)
	if v == vOK && fam == famContainerStart && x > 1<<63-1 {
		v = vRange
	}
	if v != vOK {
		d.rejected++
		return ""
	}
	d.accepted++

	p := &b.Containers[idx].Point
	rank := rankNone
	switch fam {
	case famContainerCPU:
		p.CPUNanoSeconds = x
		p.Valid |= storage.HasCPU
		rank = rankCPU
	case famContainerMemory:
		p.WorkingSetBytes = x
		p.Valid |= storage.HasMemory
		rank = rankMemory
	case famContainerSwap:
		p.SwapBytes = x
		p.Valid |= storage.HasSwap
		rank = rankSwap
	case famContainerStart:
		p.StartTime = int64(x)
	}
	if rank > st.tsRank {
		st.tsRank = rank
		p.Timestamp = ts
	}
	return ""
}

// expectedContainer returns the batch index of the container this decode
// already holds that the sample's labels name, when it is the one expected
// next for the family (see decodeScratch.next): three byte comparisons instead
// of interning three names and a map lookup. Escaped values take the long way.
func (d *Decoder) expectedContainer(fam family, l *labelRefs, b *storage.NodeBatch) (int32, bool) {
	k := d.sc.next[fam]
	if l.escaped != 0 || int(k) >= len(d.sc.state) {
		return 0, false
	}
	idx := int32(d.first) + k
	c := &b.Containers[idx]
	if string(l.container) != c.Container || string(l.pod) != c.Pod || string(l.namespace) != c.Namespace {
		return 0, false
	}
	return idx, true
}

// internLabel returns the node-wide copy of a label value, unescaping it first
// when needed. It reports false when the value is not valid UTF-8.
func (d *Decoder) internLabel(raw []byte, escaped bool) (string, bool) {
	if escaped {
		d.sc.unquote = unescapeLabel(d.sc.unquote[:0], raw)
		raw = d.sc.unquote
	}
	if e, ok := d.names[string(raw)]; ok {
		if e.gen != d.gen {
			e.gen = d.gen
			d.used++
		}
		return e.s, true
	}
	if !utf8.Valid(raw) {
		return "", false
	}
	s := string(raw)
	d.names[s] = &internedName{s: s, gen: d.gen}
	d.used++
	return s, true
}

// unescapeLabel appends raw with its escapes (\\, \", \n; already validated)
// resolved to dst.
func unescapeLabel(dst, raw []byte) []byte {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '\\' && i+1 < len(raw) {
			i++
			c = raw[i]
			if c == 'n' {
				c = '\n'
			}
		}
		dst = append(dst, c)
	}
	return dst
}
