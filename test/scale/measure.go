package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat; 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// procRSS returns VmRSS of pid in bytes.
func procRSS(pid int) (int64, error) { return procStatusBytes(pid, "VmRSS") }

// procPeakRSS returns VmHWM of pid in bytes: the largest resident set it had
// since it started.
func procPeakRSS(pid int) (int64, error) { return procStatusBytes(pid, "VmHWM") }

func procStatusBytes(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseStatusBytes(data, field)
}

// parseStatusBytes reads a "<field>: <n> kB" line of /proc/<pid>/status.
func parseStatusBytes(status []byte, field string) (int64, error) {
	prefix := []byte(field + ":")
	for _, line := range bytes.Split(status, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("unexpected %s line %q", field, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		return kb << 10, err
	}
	return 0, fmt.Errorf("no %s line", field)
}

// procCPU returns utime+stime of pid in seconds.
func procCPU(pid int) (float64, error) {
	st, err := readStat(pid)
	return st.cpuSeconds, err
}

// procMinorFaults returns how many minor page faults pid has taken: pages it
// touched for the first time (or again after giving them back to the kernel).
func procMinorFaults(pid int) (uint64, error) {
	st, err := readStat(pid)
	return st.minorFaults, err
}

func readStat(pid int) (procStat, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	return parseStat(data)
}

// procStat is what the harness reads of /proc/<pid>/stat.
type procStat struct {
	cpuSeconds  float64 // utime + stime
	minorFaults uint64  // minflt
}

func parseStat(stat []byte) (procStat, error) {
	// The command name (field 2) may contain spaces and parentheses: the
	// fields we want follow the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("malformed stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); minflt is field 10, utime 14, stime 15.
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("stat has %d fields after the command", len(f))
	}
	flt, err0 := strconv.ParseUint(f[7], 10, 64)
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err0 != nil || err1 != nil || err2 != nil {
		return procStat{}, fmt.Errorf("minflt/utime/stime: %v %v %v", err0, err1, err2)
	}
	return procStat{cpuSeconds: float64(u+s) / clockTicks, minorFaults: flt}, nil
}

// pageFaultMicroseconds measures what a minor page fault costs on this
// machine: it maps size bytes of anonymous memory and writes one byte to each
// page, each write faulting the page in. A server whose heap grows by that
// many pages pays the same.
func pageFaultMicroseconds(size int) (float64, error) {
	page := os.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return 0, err
	}
	defer syscall.Munmap(mem)
	start := time.Now()
	for i := 0; i < size; i += page {
		mem[i] = 1
	}
	return float64(time.Since(start).Nanoseconds()) / 1e3 / float64(size/page), nil
}

// errNoSeries: the exposition has no series of the histogram (a labelled
// one appears with its first observation).
var errNoSeries = errors.New("no series")

// histogram is a cumulative Prometheus histogram summed over its label sets.
type histogram struct {
	bounds []float64 // sorted upper bounds, +Inf last
	counts []float64 // cumulative
	sum    float64
}

// parseHistogram sums every series of the histogram family name in a
// Prometheus text exposition whose labels include every one of match
// (each written as in the exposition: `verb="GET"`).
func parseHistogram(text []byte, name string, match ...string) (histogram, error) {
	byLE := map[float64]float64{}
	var h histogram
	found := false
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !hasLabels(line, name, match) {
			continue
		}
		switch {
		case strings.HasPrefix(line, name+"_bucket{"):
			le, v, err := bucketLine(line)
			if err != nil {
				return h, err
			}
			byLE[le] += v
			found = true
		case strings.HasPrefix(line, name+"_sum"):
			v, err := lastValue(line)
			if err != nil {
				return h, err
			}
			h.sum += v
		}
	}
	if !found {
		return h, fmt.Errorf("%w %s_bucket", errNoSeries, name)
	}
	for le := range byLE {
		h.bounds = append(h.bounds, le)
	}
	sort.Float64s(h.bounds)
	for _, le := range h.bounds {
		h.counts = append(h.counts, byLE[le])
	}
	return h, sc.Err()
}

// hasLabels tells whether a sample line of family name carries every label
// of match. Label values are compared as the exposition writes them.
func hasLabels(line, name string, match []string) bool {
	if len(match) == 0 {
		return true
	}
	rest, ok := strings.CutPrefix(line, name)
	if !ok {
		return false
	}
	open, end := strings.IndexByte(rest, '{'), strings.LastIndexByte(rest, '}')
	if open < 0 || end < open {
		return false
	}
	labels := "," + rest[open+1:end] + ","
	for _, m := range match {
		if !strings.Contains(labels, ","+m+",") {
			return false
		}
	}
	return true
}

func bucketLine(line string) (le, v float64, err error) {
	i := strings.Index(line, `le="`)
	if i < 0 {
		return 0, 0, fmt.Errorf("bucket without le: %q", line)
	}
	rest := line[i+4:]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return 0, 0, fmt.Errorf("bucket with open le: %q", line)
	}
	le, err = strconv.ParseFloat(rest[:j], 64) // accepts +Inf
	if err != nil {
		return 0, 0, err
	}
	v, err = lastValue(line)
	return le, v, err
}

// lastValue parses the sample value: the first field after the labels.
func lastValue(line string) (float64, error) {
	if i := strings.LastIndexByte(line, '}'); i >= 0 {
		line = line[i+1:]
	} else if i := strings.IndexByte(line, ' '); i >= 0 {
		line = line[i:]
	}
	f := strings.Fields(line)
	if len(f) == 0 {
		return 0, fmt.Errorf("no value")
	}
	return strconv.ParseFloat(f[0], 64)
}

// sub returns h - base, bucket by bucket (the window between two scrapes).
func (h histogram) sub(base histogram) histogram {
	out := histogram{bounds: h.bounds, counts: make([]float64, len(h.counts)), sum: h.sum - base.sum}
	for i, le := range h.bounds {
		out.counts[i] = h.counts[i]
		for j, ble := range base.bounds {
			if ble == le {
				out.counts[i] -= base.counts[j]
			}
		}
	}
	return out
}

func (h histogram) count() float64 {
	if len(h.counts) == 0 {
		return 0
	}
	return h.counts[len(h.counts)-1]
}

// within returns the fraction of observations at most le, a bound of the
// histogram (NaN when it has no observations or no such bound).
func (h histogram) within(le float64) float64 {
	n := h.count()
	for i, b := range h.bounds {
		if b == le && n > 0 {
			return h.counts[i] / n
		}
	}
	return math.NaN()
}

// quantile interpolates linearly inside the bucket holding q, as PromQL's
// histogram_quantile does; +Inf yields the highest finite bound.
func (h histogram) quantile(q float64) float64 {
	n := h.count()
	if n == 0 {
		return math.NaN()
	}
	rank := q * n
	prevBound, prevCount := 0.0, 0.0
	for i, le := range h.bounds {
		if h.counts[i] >= rank {
			if math.IsInf(le, 1) {
				return prevBound
			}
			if h.counts[i] == prevCount {
				return le
			}
			return prevBound + (le-prevBound)*(rank-prevCount)/(h.counts[i]-prevCount)
		}
		prevBound, prevCount = le, h.counts[i]
	}
	return prevBound
}

// summary of a sample of values.
type summary struct {
	Count int     `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

func summarize(v []float64) summary {
	if len(v) == 0 {
		return summary{}
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	var total float64
	for _, x := range s {
		total += x
	}
	return summary{Count: len(s), Mean: total / float64(len(s)), P50: rank(s, 0.50), P90: rank(s, 0.90), P99: rank(s, 0.99), Max: s[len(s)-1]}
}

// rank is the nearest-rank quantile of sorted s.
func rank(s []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}
