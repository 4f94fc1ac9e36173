// Package chartdoc generates the values table of a chart README from the
// `# -- description` comments of values.yaml (the convention helm-docs
// reads), so the README cannot drift from the values without a test noticing.
//
// A comment block belongs to the key below it. Its description starts at the
// line "# -- text" and runs over the following "# text" lines. Every key with
// a description gets a row with its type and default; a key without one is
// documented by its nearest described ancestor, and a leaf with neither is
// reported as undocumented.
package chartdoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// The README's table sits between these two lines.
const (
	BeginMarker = "<!-- values-table:begin (generated from values.yaml by hack/update-manifests.sh) -->"
	EndMarker   = "<!-- values-table:end -->"
)

// Row is one documented key.
type Row struct {
	Key         string // dotted path, e.g. tls.helm.certDurationDays
	Type        string // string, int, bool, float, list, object, null
	Default     string // the value in values.yaml, as compact JSON
	Description string
}

// Parse reads values.yaml and returns its documented keys in file order and
// the dotted paths of leaves nobody documented.
func Parse(values []byte) (rows []Row, undocumented []string, err error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(values, &doc); err != nil {
		return nil, nil, err
	}
	if len(doc.Content) == 0 {
		return nil, nil, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("values.yaml is a %s, not a mapping", kindName(root))
	}
	w := &walker{}
	if err := w.mapping(root, "", false); err != nil {
		return nil, nil, err
	}
	return w.rows, w.undocumented, nil
}

type walker struct {
	rows         []Row
	undocumented []string
}

func (w *walker) mapping(n *yaml.Node, prefix string, covered bool) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		path := k.Value
		if prefix != "" {
			path = prefix + "." + k.Value
		}
		desc := description(k.HeadComment)
		if desc != "" {
			var val any
			if err := v.Decode(&val); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			def, err := json.Marshal(val)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			w.rows = append(w.rows, Row{Key: path, Type: typeOf(v), Default: string(def), Description: desc})
		}
		documented := covered || desc != ""
		if v.Kind == yaml.MappingNode && len(v.Content) > 0 {
			if err := w.mapping(v, path, documented); err != nil {
				return err
			}
		} else if !documented {
			w.undocumented = append(w.undocumented, path)
		}
	}
	return nil
}

// description extracts the "# --" block of a head comment.
func description(comment string) string {
	var parts []string
	in := false
	for _, line := range strings.Split(comment, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "# --"):
			in, parts = true, []string{strings.TrimSpace(strings.TrimPrefix(line, "# --"))}
		case in && strings.HasPrefix(line, "#"):
			parts = append(parts, strings.TrimSpace(strings.TrimPrefix(line, "#")))
		case in && line == "":
			in = false // a blank line ends the block
		}
	}
	return strings.TrimSpace(strings.Join(parts, " "))
}

func typeOf(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "object"
	case yaml.SequenceNode:
		return "list"
	}
	switch n.ShortTag() {
	case "!!str":
		return "string"
	case "!!int":
		return "int"
	case "!!bool":
		return "bool"
	case "!!float":
		return "float"
	case "!!null":
		return "null"
	}
	return n.ShortTag()
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "sequence"
	case yaml.ScalarNode:
		return "scalar"
	}
	return "node"
}

// Table renders the rows as a Markdown table.
func Table(rows []Row) string {
	var b strings.Builder
	b.WriteString("| Key | Type | Default | Description |\n|-----|------|---------|-------------|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s |\n", r.Key, r.Type, cell(r.Default), cell(r.Description))
	}
	return b.String()
}

// cell keeps a value inside its table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}

// Splice replaces what lies between the markers of readme with table.
func Splice(readme []byte, table string) ([]byte, error) {
	begin := bytes.Index(readme, []byte(BeginMarker))
	end := bytes.Index(readme, []byte(EndMarker))
	if begin < 0 || end < 0 || end < begin {
		return nil, fmt.Errorf("the README needs the lines %q and %q, in that order", BeginMarker, EndMarker)
	}
	var out bytes.Buffer
	out.Write(readme[:begin+len(BeginMarker)])
	out.WriteString("\n")
	out.WriteString(table)
	out.Write(readme[end:])
	return out.Bytes(), nil
}
