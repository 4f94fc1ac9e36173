package options

import (
	"strings"
	"testing"
)

func TestKubeletOptionsValidateTLS(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*KubeletOptions)
		wantErr string
	}{
		{"defaults", func(*KubeletOptions) {}, ""},
		{"verify node name", func(o *KubeletOptions) { o.TLSVerifyNodeName = true }, ""},
		{"verify node name with a CA", func(o *KubeletOptions) { o.TLSVerifyNodeName, o.CAFile = true, "/ca.crt" }, ""},
		{"verify node name while insecure", func(o *KubeletOptions) { o.TLSVerifyNodeName, o.InsecureTLS = true, true }, "--kubelet-tls-verify-node-name are mutually exclusive"},
		{"insecure with a CA", func(o *KubeletOptions) { o.InsecureTLS, o.CAFile = true, "/ca.crt" }, "mutually exclusive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := NewKubeletOptions()
			tc.mod(o)
			errs := o.Validate()
			if tc.wantErr == "" {
				if len(errs) > 0 {
					t.Fatalf("unexpected errors %v", errs)
				}
				return
			}
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.wantErr) {
				t.Fatalf("errors %v, want one with %q", errs, tc.wantErr)
			}
		})
	}
}
