//go:build race

package kubelet

// raceEnabled: under the race detector sync.Pool drops a random share of
// what is put back, so pooled paths allocate and allocation counts mean nothing.
const raceEnabled = true
