package kubeletsim

import (
	"net/netip"
	"strings"
	"testing"
)

func TestNodeAddresses(t *testing.T) {
	tests := []struct {
		base    string
		n       int
		want    []string
		wantErr bool
	}{
		{"127.0.10.1", 3, []string{"127.0.10.1", "127.0.10.2", "127.0.10.3"}, false},
		{"127.0.10.253", 3, []string{"127.0.10.253", "127.0.10.254", "127.0.11.1"}, false},
		{"127.0.10.0", 1, []string{"127.0.10.1"}, false},
		{"127.255.255.253", 3, nil, true},
	}
	for _, tt := range tests {
		got, err := nodeAddresses(netip.MustParseAddr(tt.base), tt.n)
		if (err != nil) != tt.wantErr {
			t.Fatalf("%s x%d: err = %v", tt.base, tt.n, err)
		}
		if err != nil {
			continue
		}
		var s []string
		for _, a := range got {
			s = append(s, a.String())
		}
		if strings.Join(s, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%s x%d: got %v, want %v", tt.base, tt.n, s, tt.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		errs   int
	}{
		{"defaults", func(*Config) {}, 0},
		{"no nodes at all", func(c *Config) { c.Nodes = 0 }, 1},
		{"bad prefix", func(c *Config) { c.NodePrefix = "Sim_Node" }, 1},
		{"ipv6 base", func(c *Config) { c.AddressBase = netip.MustParseAddr("::1") }, 1},
		{"bad label", func(c *Config) { c.NodeLabels = map[string]string{"a b": "c"} }, 1},
		{"relative metrics path", func(c *Config) { c.MetricsPathAnnotation = "metrics" }, 1},
		{"real node without source", func(c *Config) { c.RealNodeName = "real" }, 1},
		{"negative backdate", func(c *Config) { c.Backdate = -1 }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			c.complete()
			if errs := c.Validate(); len(errs) != tt.errs {
				t.Fatalf("got %d errors %v, want %d", len(errs), errs, tt.errs)
			}
		})
	}
}
