/*
Copyright The metrics-apiserver Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
*/

package storage

import (
	"math/bits"
	"time"
)

const (
	// MaxFutureSkew is how far ahead of the store's clock a sample's timestamp
	// may be; samples further in the future are rejected.
	MaxFutureSkew = 10 * time.Minute
	// MaxPlausibleCores bounds a CPU rate: a rate above it means the counter is
	// garbage, and the series starts afresh.
	MaxPlausibleCores = 1 << 16

	maxPlausibleNanocores = MaxPlausibleCores * 1e9
	// startTimeTolerance absorbs the rounding of start times (seconds with a
	// fraction in the text format) before a difference counts as a restart.
	startTimeTolerance = int64(time.Millisecond)
)

// cpuSample is one CPU observation kept in a ring.
type cpuSample struct {
	ts  int64
	cpu uint64
}

// series is the writer-side state of one node or container. Its ring of CPU
// samples lives outside the struct (in the owning node's slab) so the struct
// stays small and fixed-size whatever Options.RingSize is.
type series struct {
	// lastTS is the timestamp of the newest accepted sample, with or without CPU;
	// 0 when the series holds nothing.
	lastTS int64
	// start is the newest known start time (0 unknown).
	start int64
	// advancedAt is the local time of the scrape that accepted lastTS.
	advancedAt int64
	// mem is the working set of the newest accepted sample.
	mem uint64
	// head is the ring index of the newest CPU sample, n how many samples the
	// ring holds.
	head, n uint8
	// valid is the field set of the newest accepted sample.
	valid Fields
	// seen marks a container series found in the scrape being stored.
	seen bool
}

// writeCtx carries what every series of one StoreNode call needs.
type writeCtx struct {
	scrapedAt int64 // local receive time of the scrape
	maxTS     int64 // samples newer than this are rejected
	staleness int64 // Options.MaxStaleness in nanoseconds
}

type addResult uint8

const (
	sampleAdded addResult = iota
	sampleDuplicate
	sampleRejected
)

// add applies one sample to the series; ring is the series' ring storage.
func (s *series) add(p *Point, ring []cpuSample, w *writeCtx) addResult {
	ts := p.Timestamp
	if ts <= 0 || ts > w.maxTS {
		return sampleRejected
	}
	fresh := false
	switch {
	case s.lastTS == 0:
		fresh = true
	case ts == s.lastTS:
		return sampleDuplicate
	case ts < s.lastTS:
		fresh = true // the node's clock went backwards
	case w.scrapedAt-s.advancedAt >= w.staleness:
		fresh = true // stale: do not compute a rate across the gap
	case s.start != 0 && p.StartTime != 0 && absDiff(s.start, p.StartTime) > startTimeTolerance:
		fresh = true // restarted
	}
	if fresh {
		s.n = 0
		s.start = p.StartTime
	} else if p.StartTime != 0 {
		s.start = p.StartTime
	}
	if p.Valid.Has(HasCPU) {
		if s.n > 0 {
			last := ring[s.head]
			cpu := p.CPUNanoSeconds
			if cpu < last.cpu || // counter reset, node reboot
				(last.cpu == 0 && cpu != 0) || // counter was not initialised yet
				ts-last.ts > w.staleness ||
				!plausible(cpu-last.cpu, ts-last.ts) {
				s.n = 0
			}
		}
		if s.n == 0 {
			s.head = 0
		} else if s.head++; int(s.head) == len(ring) {
			s.head = 0
		}
		ring[s.head] = cpuSample{ts: ts, cpu: p.CPUNanoSeconds}
		if int(s.n) < len(ring) {
			s.n++
		}
	}
	s.lastTS = ts
	s.advancedAt = w.scrapedAt
	s.valid = p.Valid
	s.mem = p.WorkingSetBytes
	return sampleAdded
}

// usage is what one series serves: nanocores over [ts-window, ts], working set
// bytes, and the local time after which it must not be served.
type usage struct {
	cpu    uint64
	mem    uint64
	ts     int64
	window int64
	expiry int64
}

// usage computes the servable usage of the series, ok false when it has none.
func (s *series) usage(ring []cpuSample, cpuWindow, staleness int64) (u usage, ok bool) {
	if s.n < 2 || !s.valid.Has(HasCPU|HasMemory) {
		return u, false
	}
	size := len(ring)
	head := int(s.head)
	newest := ring[head]
	if newest.ts != s.lastTS {
		return u, false
	}
	base := ring[(head-1+size)%size]
	if cpuWindow > 0 {
		from := newest.ts - cpuWindow
		for k := 2; k < int(s.n); k++ {
			c := ring[(head-k+size)%size]
			if c.ts < from {
				break
			}
			base = c
		}
	}
	dt := newest.ts - base.ts
	if dt <= 0 || newest.cpu < base.cpu {
		return u, false
	}
	nanocores, ok := rate(newest.cpu-base.cpu, dt)
	if !ok {
		return u, false
	}
	return usage{
		cpu:    nanocores,
		mem:    s.mem,
		ts:     newest.ts,
		window: dt,
		expiry: s.advancedAt + staleness,
	}, true
}

// rate returns dcpu core-nanoseconds over dt nanoseconds in nanocores, exact
// (truncated) integer arithmetic; ok is false when it does not fit or exceeds
// the plausible maximum.
func rate(dcpu uint64, dt int64) (uint64, bool) {
	if dt <= 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(dcpu, 1e9)
	if hi >= uint64(dt) {
		return 0, false // quotient overflows 64 bits
	}
	q, _ := bits.Div64(hi, lo, uint64(dt))
	if q > maxPlausibleNanocores {
		return 0, false
	}
	return q, true
}

func plausible(dcpu uint64, dt int64) bool {
	_, ok := rate(dcpu, dt)
	return ok
}

func absDiff(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}
