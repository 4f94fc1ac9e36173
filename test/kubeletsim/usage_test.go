package kubeletsim

import (
	"reflect"
	"testing"
)

func TestContainerUsages(t *testing.T) {
	def := Usage{NanoCores: 10e6, MemoryBytes: 16 << 20}
	tests := []struct {
		name        string
		annotations map[string]string
		containers  []string
		want        []Usage
		wantErr     bool
	}{
		{"defaults", nil, []string{"a", "b"}, []Usage{def, def}, false},
		{"pod level applies to each container",
			map[string]string{AnnotationCPU: "250m", AnnotationMemory: "64Mi"}, []string{"a", "b"},
			[]Usage{{250e6, 64 << 20}, {250e6, 64 << 20}}, false},
		{"cores as decimals", map[string]string{AnnotationCPU: "1.5"}, []string{"a"},
			[]Usage{{1500e6, 16 << 20}}, false},
		{"per container override wins, missing fields fall back",
			map[string]string{AnnotationCPU: "200m", AnnotationUsage: `{"b":{"cpu":"100m"},"c":{"memory":"32Mi"}}`},
			[]string{"a", "b", "c"},
			[]Usage{{200e6, 16 << 20}, {100e6, 16 << 20}, {200e6, 32 << 20}}, false},
		{"override for unknown container is ignored",
			map[string]string{AnnotationUsage: `{"zzz":{"cpu":"3"}}`}, []string{"a"}, []Usage{def}, false},
		{"invalid pod cpu falls back to default",
			map[string]string{AnnotationCPU: "lots", AnnotationMemory: "1Gi"}, []string{"a"},
			[]Usage{{10e6, 1 << 30}}, true},
		{"negative memory rejected",
			map[string]string{AnnotationMemory: "-1Mi"}, []string{"a"}, []Usage{def}, true},
		{"invalid JSON keeps pod level",
			map[string]string{AnnotationCPU: "300m", AnnotationUsage: `{"a":`}, []string{"a"},
			[]Usage{{300e6, 16 << 20}}, true},
		{"invalid override field keeps the valid one",
			map[string]string{AnnotationUsage: `{"a":{"cpu":"x","memory":"8Mi"}}`}, []string{"a"},
			[]Usage{{10e6, 8 << 20}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ContainerUsages(tt.annotations, tt.containers, def)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
