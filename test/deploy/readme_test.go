package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/metrics-apiserver/metrics-apiserver/test/deploy/chartdoc"
)

// TestChartREADME fails when charts/metrics-apiserver/README.md's values
// table is not what values.yaml's comments generate, or when a value has no
// description. UPDATE_CHART_README=1 rewrites the table instead
// (hack/update-manifests.sh does that).
func TestChartREADME(t *testing.T) {
	values, err := os.ReadFile(filepath.Join(chartDir(t), "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rows, undocumented, err := chartdoc.Parse(values)
	if err != nil {
		t.Fatal(err)
	}
	if len(undocumented) > 0 {
		t.Errorf("values without a `# --` description (on them or a parent): %v", undocumented)
	}
	path := filepath.Join(chartDir(t), "README.md")
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := chartdoc.Splice(readme, chartdoc.Table(rows))
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("UPDATE_CHART_README") == "1" {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if string(want) != string(readme) {
		got, exp := strings.Split(string(readme), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(got), len(exp)); i++ {
			g, e := line(got, i), line(exp, i)
			if g != e {
				t.Fatalf("%s is stale (run hack/update-manifests.sh); first difference at line %d:\n have: %s\n want: %s", path, i+1, g, e)
			}
		}
	}
}

func line(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "<end of file>"
}

// TestSchemaCoversValues: values.schema.json names exactly the keys of
// values.yaml in every object it closes (additionalProperties: false), so a
// new value cannot be forgotten in the schema, nor a removed one linger.
func TestSchemaCoversValues(t *testing.T) {
	values := readValues(t, filepath.Join(chartDir(t), "values.yaml"))
	var schema map[string]any
	data, err := os.ReadFile(filepath.Join(chartDir(t), "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	problems := compareSchema(schema, values, "")
	if len(problems) > 0 {
		t.Errorf("values.yaml and values.schema.json disagree:\n%s", strings.Join(problems, "\n"))
	}
	// the comparison itself must notice a drift
	delete(values, "replicas")
	values["replica"] = 1
	if got := compareSchema(schema, values, ""); !slices.Contains(got, `"replica" is not in the schema`) || !slices.Contains(got, `"replicas" is in the schema, not in values.yaml`) {
		t.Errorf("a drift went unnoticed: %q", got)
	}
}

func compareSchema(schema, values map[string]any, path string) []string {
	props, _ := schema["properties"].(map[string]any)
	closed := schema["additionalProperties"] == false
	var problems []string
	if closed {
		for k := range values {
			if _, ok := props[k]; !ok {
				problems = append(problems, `"`+join(path, k)+`" is not in the schema`)
			}
		}
		for k := range props {
			if _, ok := values[k]; !ok && !(path == "" && k == "global") {
				problems = append(problems, `"`+join(path, k)+`" is in the schema, not in values.yaml`)
			}
		}
	}
	for k, v := range values {
		sub, ok1 := props[k].(map[string]any)
		m, ok2 := v.(map[string]any)
		if ok1 && ok2 {
			problems = append(problems, compareSchema(sub, m, join(path, k))...)
		}
	}
	slices.Sort(problems)
	return problems
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}
