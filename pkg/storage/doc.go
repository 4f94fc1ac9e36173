/*
Copyright The metrics-apiserver Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
*/

// Package storage keeps the few most recent samples of every node and container
// series and turns them into the usage the Metrics API serves. This comment is
// the product's documented policy: what is served, when, and what is not.
//
// # Series and rates
//
// The store keeps one series per node and one per container (namespace, pod,
// container), each a ring of the last Options.RingSize CPU samples (default 2,
// at least 2; more only serve Options.CPUWindow) plus the newest working set.
//
// CPU usage is a rate, in cores, between the newest CPU sample and a base sample:
//
//	usage = (cpu_newest - cpu_base) / (t_newest - t_base)
//
// With Options.CPUWindow 0 the base is the previous sample. Otherwise it is the
// oldest sample in the ring whose timestamp is >= t_newest - CPUWindow, and never
// newer than the previous sample (a rate always spans at least two samples). The
// ring must be long enough to hold a CPUWindow's worth of samples; when it is
// not, the window actually used is shorter. The served Window is the span
// actually used (t_newest - t_base) and Timestamp is t_newest, both the kubelet's
// own sample times. CPU is served as a nano-scaled quantity computed in integer
// arithmetic (truncated to whole nanocores): 3.75 core-seconds over 15 s is
// exactly 250000000 nanocores, which prints as "250m"; other values print as
// "…n".
//
// Memory usage is the newest working set, in bytes. Swap is not served: the
// v1beta1 usage lists only cpu and memory.
//
// # Samples that are ignored or that restart a series
//
// A sample whose timestamp equals the series' newest is a kubelet cache hit or a
// duplicate: it is ignored and changes nothing. A sample with a timestamp <= 0,
// or more than 10 minutes (MaxFutureSkew) ahead of the store's clock, is
// rejected the same way: a sample from the future would pin the series (every
// honest sample after it would look like time going backwards) and would be
// served with a timestamp no consumer can trust. A series whose latest samples
// were ignored or rejected keeps serving its previous values, under their old
// timestamp, until its staleness grace ends (below).
//
// A series starts afresh from the new sample (its ring then holds that one
// sample, so no rate is served until the next one) when
//   - the start time changed: both the stored and the new start time are known
//     and they differ by more than 1 ms (a container restarted);
//   - the timestamp went backwards (the node's clock was stepped back);
//   - the CPU counter went down (a container restarted, or, for the node series,
//     the node rebooted);
//   - the previous CPU counter was exactly 0 and the new one is not: a kubelet
//     reports 0 before it has read the cgroup, and a rate from 0 to a
//     container's lifetime total would be wildly high. A counter staying at 0 is
//     a real value (rate 0);
//   - the rate from the previous CPU sample would exceed 65536 cores
//     (MaxPlausibleCores): no machine has that many, the counter is garbage;
//   - the previous CPU sample is more than Options.MaxStaleness older than the
//     new one (in the kubelet's time), or the series' staleness grace (below)
//     had ended when the scrape was received: a rate over such a gap is an
//     average over minutes, not current usage.
//
// Consequently no negative rate, and no rate over a window <= 0, is ever served.
//
// A sample without a CPU counter (Point.Valid lacks HasCPU) still advances the
// series and updates memory, but the series has no current CPU rate and is not
// served for that scrape; its next CPU sample is paired with the last CPU sample
// in the ring. A sample without a working set likewise makes the series
// unservable until a sample with one arrives.
//
// # Pods
//
// A pod is served only when every one of its containers has both a CPU rate and
// a working set. A pod is never served with a container silently missing (the
// sum a consumer computes would be too low, metrics-server #1781), and a
// container reporting zero usage is a value, not a gap: such a pod is served
// (metrics-server #792). The pod's containers are the ones present in the
// node's latest scrape (plus, after a partial scrape, the ones kept, below).
//
// The pod's Timestamp is the newest of its containers' timestamps. Its Window
// is chosen so that [Timestamp-Window, Timestamp] covers every container's
// interval, which, when the containers share a timestamp, is the longest of
// their windows. That is the conservative choice for consumers: the HPA, for
// example, treats a sample as unreliable when its window began before the pod
// became ready; a window shorter than one of the containers' would hide that
// part of the data predates readiness.
//
// # Staleness
//
// A failed scrape does not reach the store, so a node's last data keeps being
// served, with its honest (old) timestamps, for Options.MaxStaleness (default
// 30 s) after the local receive time of the scrape that last advanced it
// (NodeBatch.ScrapedAt; the store's clock when that is 0): a series is served
// while now < ScrapedAt + MaxStaleness, a pod while that holds for all of its
// containers. After that the series is not served; it is kept until DeleteNode
// (or until a later scrape drops it), and, as said above, the next sample
// starts it afresh instead of computing a rate across the gap. The grace is
// tracked per series, so a series the kubelet keeps repeating from its cache
// expires like one that is not scraped at all.
//
// # Vanished series
//
// Series absent from a node's latest scrape are freed (the container or pod is
// gone), including the node series when the scrape carried no node sample,
// except when NodeBatch.KubeletScrapeError is set: the kubelet then said its
// data may be partial, so series missing from that scrape are kept untouched
// (they are served until their grace ends, and freed by the next complete
// scrape that still lacks them). ForgetPod frees a deleted pod's series at
// once, so a pod recreated under the same name never pairs samples with its
// predecessor's; DeleteNode frees everything of a node.
//
// # Concurrency and memory
//
// Nodes live in a sharded map. StoreNode, ForgetPod and DeleteNode change a
// node's series under that node's write lock; StoreNode updates the series in
// place and allocates nothing while the node's containers stay the same.
// Readers take the node's read lock and compute rates from the rings when
// asked (a few multiplications per container), so nothing is precomputed or
// copied per scrape and a read waits at most for one node's StoreNode. The
// staleness deadline is checked by the reader against the current time. Names
// are shared with the batch they came from (the decoder interns them), never
// copied.
package storage
