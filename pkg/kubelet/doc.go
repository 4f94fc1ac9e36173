/*
Copyright The metrics-apiserver Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
*/

// Package kubelet talks to one kubelet: Client fetches its resource metrics
// endpoint (GET /metrics/resource) and Decoder turns the payload into a
// storage.NodeBatch.
//
// # Decoder contract
//
// Input is the Prometheus text exposition format (version 0.0.4) as kubelets print
// it. Lines end in "\n" or "\r\n"; the last line may lack its line break. Blank
// lines and comments are allowed anywhere; "# HELP" and "# TYPE" lines must name a
// metric (TYPE also one of counter, gauge, histogram, summary, untyped), HELP text
// is not read. Sample lines are
//
//	name[{label="value",...}] value [timestamp_ms]
//
// with label values escaped as \\, \" and \n and valid UTF-8, a value in any form
// strconv.ParseFloat accepts (including NaN and ±Inf) but without "_" separators,
// and an optional integer timestamp in milliseconds. Every sample line is checked, including lines of
// families that are not read; a malformed line fails the whole decode with a
// *DecodeError naming the line. Quoted UTF-8 metric names are not supported.
//
// Families read, in any order, with samples of different families joined on
// (namespace, pod, container) into one storage.ContainerPoint per container:
//
//	node_cpu_usage_seconds_total        NodePoint.CPUNanoSeconds (HasCPU)
//	node_memory_working_set_bytes       NodePoint.WorkingSetBytes (HasMemory)
//	node_swap_usage_bytes               NodePoint.SwapBytes (HasSwap)
//	container_cpu_usage_seconds_total   CPUNanoSeconds (HasCPU)
//	container_memory_working_set_bytes  WorkingSetBytes (HasMemory)
//	container_swap_usage_bytes          SwapBytes (HasSwap)
//	container_start_time_seconds        StartTime, in Unix nanoseconds
//	resource_scrape_error, scrape_error NodeBatch.KubeletScrapeError when not 0
//
// Every other family (pod_*, container_swap_limit_bytes, ...) is checked for syntax
// and otherwise skipped. Labels other than namespace, pod and container are ignored,
// and so are all labels of node-level families. Seconds become nanoseconds and
// bytes integers by exact decimal arithmetic on the printed value, rounded half up.
//
// Timestamps: a sample's own timestamp, or receivedAt when it has none. A point
// takes the timestamp of its CPU sample; without an accepted CPU sample that of its
// memory sample, then that of its swap sample, else receivedAt. The start time
// sample's timestamp is not used.
//
// Rejected samples: a value that is NaN, ±Inf, negative (-0 is 0) or does not fit
// the field, and a container sample whose namespace, pod or container label is
// missing or empty, leave their field unset and are counted by RejectedSamples; the
// decode goes on. A container entry is created by its first sample even when that
// sample is rejected, so an entry may have Valid == 0 (for instance a container
// reported only by container_start_time_seconds).
//
// Two samples of one read family for the same container (or two node-level samples
// of one family) are a decode error, whatever other labels they carry.
//
// Names (namespace, pod, container) are interned per Decoder: equal names share
// memory across scrapes of the node, and the batch never refers to the payload.
// Names not used by the latest decode are forgotten once they outnumber the ones in
// use. Between decodes a Decoder holds only that name table: the scratch one decode
// needs (container index, per-container bookkeeping) comes from a pool shared by all
// Decoders. A Decoder is for one node and one goroutine at a time.
package kubelet
