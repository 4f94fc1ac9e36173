//go:build !linux

package hoststats

import (
	"errors"

	"github.com/metrics-apiserver/metrics-apiserver/test/kubeletsim"
)

// Reader is not available outside Linux.
type Reader struct{}

var _ kubeletsim.HostStatsSource = (*Reader)(nil)

// New fails outside Linux.
func New() (*Reader, error) { return nil, errors.New("hoststats: only Linux is supported") }

// Sample fails outside Linux.
func (*Reader) Sample() (kubeletsim.HostSample, error) {
	return kubeletsim.HostSample{}, errors.New("hoststats: only Linux is supported")
}

// Capacity is zero outside Linux.
func (*Reader) Capacity() (int, uint64) { return 0, 0 }

// Describe says that nothing is read.
func (*Reader) Describe() string { return "unsupported" }
