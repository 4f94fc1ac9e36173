package chartdoc

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name         string
		values       string
		rows         []Row
		undocumented []string
	}{
		{
			name: "leaves, nesting, continuation lines",
			values: `# file header, not a description

image:
  # -- Image repository.
  repository: r
  # a plain comment
  # -- The tag; empty means
  # the appVersion.
  tag: ""
# -- How many.
replicas: 1
`,
			rows: []Row{
				{Key: "image.repository", Type: "string", Default: `"r"`, Description: "Image repository."},
				{Key: "image.tag", Type: "string", Default: `""`, Description: "The tag; empty means the appVersion."},
				{Key: "replicas", Type: "int", Default: "1", Description: "How many."},
			},
		},
		{
			name: "a described object covers its children",
			values: `# -- Security context.
securityContext:
  runAsNonRoot: true
  capabilities:
    drop: [ALL]
`,
			rows: []Row{{Key: "securityContext", Type: "object", Default: `{"capabilities":{"drop":["ALL"]},"runAsNonRoot":true}`, Description: "Security context."}},
		},
		{
			name: "undocumented leaves are reported, empty maps and lists too",
			values: `rbac:
  create: true
# -- Labels.
podLabels: {}
tolerations: []
extra: {}
`,
			rows:         []Row{{Key: "podLabels", Type: "object", Default: `{}`, Description: "Labels."}},
			undocumented: []string{"rbac.create", "tolerations", "extra"},
		},
		{
			name:   "types",
			values: "# -- a\na: 1.5\n# -- b\nb: false\n# -- c\nc: null\n# -- d\nd: [1]\n",
			rows: []Row{
				{Key: "a", Type: "float", Default: "1.5", Description: "a"},
				{Key: "b", Type: "bool", Default: "false", Description: "b"},
				{Key: "c", Type: "null", Default: "null", Description: "c"},
				{Key: "d", Type: "list", Default: "[1]", Description: "d"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, undocumented, err := Parse([]byte(tc.values))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(rows, tc.rows) {
				t.Errorf("rows\n got %+v\nwant %+v", rows, tc.rows)
			}
			if !reflect.DeepEqual(undocumented, tc.undocumented) {
				t.Errorf("undocumented %q, want %q", undocumented, tc.undocumented)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, values := range []string{"- a\n- b\n", "a: [\n"} {
		if _, _, err := Parse([]byte(values)); err == nil {
			t.Errorf("%q: no error", values)
		}
	}
}

func TestTable(t *testing.T) {
	got := Table([]Row{{Key: "a.b", Type: "string", Default: `"x|y"`, Description: "pipes | escaped"}})
	want := "| Key | Type | Default | Description |\n|-----|------|---------|-------------|\n" +
		"| `a.b` | string | `\"x\\|y\"` | pipes \\| escaped |\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestSplice(t *testing.T) {
	readme := "# Chart\n\n" + BeginMarker + "\nold table\n" + EndMarker + "\ntail\n"
	got, err := Splice([]byte(readme), "new table\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "# Chart\n\n" + BeginMarker + "\nnew table\n" + EndMarker + "\ntail\n"
	if string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, bad := range []string{"no markers", EndMarker + "\n" + BeginMarker, BeginMarker} {
		if _, err := Splice([]byte(bad), "x"); err == nil || !strings.Contains(err.Error(), "needs the lines") {
			t.Errorf("%q: want a markers error, got %v", bad, err)
		}
	}
}
