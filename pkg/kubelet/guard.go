/*
Copyright The metrics-apiserver Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
*/

package kubelet

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/component-base/metrics"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/storage"
)

const (
	// ReasonClockSkew fails a scrape whose samples are timestamped more than
	// MaxClockSkew away from the local clock: the kubelet's clock is wrong
	// (or its stats are stuck), and its timestamps would mislead consumers.
	ReasonClockSkew = "clock_skew"
	// ReasonRejectedSamples is the failing_nodes reason of a node whose
	// latest scrape succeeded but dropped NaN, infinite or negative samples.
	ReasonRejectedSamples = "rejected_samples"
)

// MaxClockSkew is how far a kubelet's sample time may be from the local
// clock, either way; the store rejects samples further in the future anyway.
const MaxClockSkew = storage.MaxFutureSkew

// NodeScraper scrapes one node; *Client is one.
type NodeScraper interface {
	Scrape(ctx context.Context, node *corev1.Node, d *Decoder, b *storage.NodeBatch) (ScrapeInfo, error)
}

// Guard wraps a NodeScraper for the scraper. It
//   - names the node in the request context (WithNodeName), for transports
//     that verify kubelet certificates against node names;
//   - fails a scrape whose node sample (or, without one, newest container
//     sample) is more than MaxClockSkew from the time the response arrived,
//     with ReasonClockSkew;
//   - keeps the reason of every node whose latest scrape failed (or
//     rejected samples) in the gauge metrics_apiserver_kubelet_failing_nodes.
//
// It is safe for concurrent use; call Forget when a node is deleted.
type Guard struct {
	next NodeScraper

	mu      sync.Mutex
	failing map[string]string // node -> reason of its latest scrape, only when not ""
}

// NewGuard wraps next.
func NewGuard(next NodeScraper) *Guard {
	return &Guard{next: next, failing: map[string]string{}}
}

// Scrape scrapes the node through the wrapped scraper and checks the result.
func (g *Guard) Scrape(ctx context.Context, node *corev1.Node, d *Decoder, b *storage.NodeBatch) (ScrapeInfo, error) {
	if node != nil {
		ctx = WithNodeName(ctx, node.Name)
	}
	info, err := g.next.Scrape(ctx, node, d, b)
	if err == nil && b != nil {
		err = checkClock(b, info.Address)
	}
	if node != nil {
		g.record(node.Name, err, info)
	}
	return info, err
}

// Forget drops a deleted node from the gauge.
func (g *Guard) Forget(node string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r, ok := g.failing[node]; ok {
		failingNodes.WithLabelValues(r).Dec()
		delete(g.failing, node)
	}
}

// Failing returns the reason the node's latest scrape failed, "" when it
// succeeded (or was never recorded).
func (g *Guard) Failing(node string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.failing[node]
}

func (g *Guard) record(node string, err error, info ScrapeInfo) {
	reason := ""
	switch {
	case err != nil:
		reason = Reason(err)
		if reason == ReasonCanceled {
			return // we are stopping (or the node's loop is): says nothing about the node
		}
	case info.Rejected > 0:
		reason = ReasonRejectedSamples
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	prev, ok := g.failing[node]
	if prev == reason {
		return
	}
	if ok {
		failingNodes.WithLabelValues(prev).Dec()
	}
	if reason == "" {
		delete(g.failing, node)
		return
	}
	g.failing[node] = reason
	failingNodes.WithLabelValues(reason).Inc()
}

// checkClock compares the kubelet's sample time with the time its response
// arrived (b.ScrapedAt, set by the decoder).
func checkClock(b *storage.NodeBatch, addr string) error {
	ts := int64(0)
	if b.NodePoint.Valid != 0 {
		ts = b.NodePoint.Timestamp
	} else {
		for i := range b.Containers {
			if c := &b.Containers[i]; c.Valid != 0 && c.Timestamp > ts {
				ts = c.Timestamp
			}
		}
	}
	if ts == 0 || b.ScrapedAt == 0 {
		return nil
	}
	skew := time.Duration(ts - b.ScrapedAt)
	dir := "ahead of"
	if skew < 0 {
		skew, dir = -skew, "behind"
	}
	if skew <= MaxClockSkew {
		return nil
	}
	return &ScrapeError{
		Reason:  ReasonClockSkew,
		Address: addr,
		Err: fmt.Errorf("samples are timestamped %s, %s %s the local clock (limit %s)",
			time.Unix(0, ts).UTC().Format(time.RFC3339), skew.Round(time.Second), dir, MaxClockSkew),
	}
}

const failingNodesHelp = "Nodes whose latest scrape failed, by reason (the outcomes of metrics_apiserver_kubelet_scrapes_total); " +
	"rejected_samples counts nodes whose latest scrape succeeded but dropped NaN, infinite or negative samples. " +
	"The log names each node when its state changes."

var failingNodes = metrics.NewGaugeVec(&metrics.GaugeOpts{
	Namespace:      "metrics_apiserver",
	Subsystem:      "kubelet",
	Name:           "failing_nodes",
	Help:           failingNodesHelp,
	StabilityLevel: metrics.ALPHA,
}, []string{"reason"})

// RegisterMetrics registers the kubelet client's metrics.
func RegisterMetrics(register func(metrics.Registerable) error) error {
	return register(failingNodes)
}
