package options

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/klog/v2"
)

// loggingChildEnv makes the test binary act as a tiny metrics-apiserver that
// parses the real flags, applies the logging options and logs one line.
const loggingChildEnv = "METRICS_APISERVER_LOGGING_CHILD"

func TestMain(m *testing.M) {
	if format := os.Getenv(loggingChildEnv); format != "" {
		os.Exit(loggingChild(format))
	}
	os.Exit(m.Run())
}

func loggingChild(format string) int {
	o := NewOptions()
	fss := o.Flags()
	fs := fss.FlagSet("logging")
	if err := fs.Parse([]string{"--logging-format=" + format}); err != nil {
		klog.ErrorS(err, "Parsing flags")
		return 2
	}
	// only the logging section: the rest needs a cluster
	if err := utilerrors.NewAggregate(o.Validate()); err != nil && strings.Contains(err.Error(), "logging") {
		klog.ErrorS(err, "Invalid logging options")
		return 2
	}
	if err := o.ApplyLogging(); err != nil {
		klog.ErrorS(err, "Applying logging options")
		return 2
	}
	klog.InfoS("Scraping node recovered", "node", klog.KRef("", "node-1"), "address", "10.0.0.1:10250")
	klog.Flush()
	return 0
}

// TestLoggingFormat runs the test binary as a child with --logging-format and
// checks what it writes: one JSON object per line with the structured keys
// for "json", klog's text otherwise.
func TestLoggingFormat(t *testing.T) {
	tests := []struct {
		format   string
		wantJSON bool
	}{
		{"json", true},
		{"text", false},
	}
	for _, tc := range tests {
		t.Run(tc.format, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), loggingChildEnv+"="+tc.format)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("child: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
			}
			out := stdout.String() + stderr.String()
			var line string
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, "Scraping node recovered") {
					line = l
				}
			}
			if line == "" {
				t.Fatalf("log line not found in %q", out)
			}
			var entry map[string]any
			err := json.Unmarshal([]byte(line), &entry)
			if !tc.wantJSON {
				if err == nil {
					t.Fatalf("text format wrote JSON: %s", line)
				}
				if !strings.Contains(line, `node="node-1"`) {
					t.Errorf("text line %q lacks node=\"node-1\"", line)
				}
				return
			}
			if err != nil {
				t.Fatalf("not JSON: %q: %v", line, err)
			}
			want := map[string]any{"msg": "Scraping node recovered", "node": map[string]any{"name": "node-1"}, "address": "10.0.0.1:10250"}
			for k, v := range want {
				gotJSON, _ := json.Marshal(entry[k])
				wantJSON, _ := json.Marshal(v)
				if !bytes.Equal(gotJSON, wantJSON) {
					t.Errorf("%s = %s, want %s (line %s)", k, gotJSON, wantJSON, line)
				}
			}
			for _, k := range []string{"ts", "v"} {
				if _, ok := entry[k]; !ok {
					t.Errorf("JSON line lacks %q: %s", k, line)
				}
			}
		})
	}
}
