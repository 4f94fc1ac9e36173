package app

import (
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want int // percent in effect afterwards
	}{
		{"unset: our default", nil, defaultGCPercent},
		{"GOGC set: left to the runtime", map[string]string{"GOGC": "200"}, 137},
		{"GOGC=off: left to the runtime", map[string]string{"GOGC": "off"}, 137},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// 137 stands for whatever the runtime applied from the environment
			orig := debug.SetGCPercent(137)
			defer debug.SetGCPercent(orig)
			tuneGC(func(k string) string { return tt.env[k] })
			if got := debug.SetGCPercent(137); got != tt.want {
				t.Errorf("GC percent = %d, want %d", got, tt.want)
			}
		})
	}
}
