package kubeletsim

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// A tiny, strict parser of the kubelet's /metrics/resource text, for tests:
// it checks the structure the kubelet produces (HELP then TYPE before every
// family, samples of that family only, sorted rows, labels in the order
// container,namespace,pod, timestamps on every sample but
// container_start_time_seconds and resource_scrape_error) and returns the
// samples.

type family struct {
	name, help, typ string
	samples         []sample
}

type sample struct {
	labels [][2]string
	value  float64
	ts     int64 // -1 when absent
}

func (s sample) label(name string) string {
	for _, l := range s.labels {
		if l[0] == name {
			return l[1]
		}
	}
	return ""
}

var untimestamped = map[string]bool{"container_start_time_seconds": true, "resource_scrape_error": true}

func parseText(data []byte) ([]family, error) {
	var fams []family
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		switch {
		case strings.HasPrefix(text, "# HELP "):
			name, help, ok := strings.Cut(text[len("# HELP "):], " ")
			if !ok {
				return nil, fmt.Errorf("line %d: HELP without text", line)
			}
			for _, f := range fams {
				if f.name == name {
					return nil, fmt.Errorf("line %d: family %s twice", line, name)
				}
			}
			fams = append(fams, family{name: name, help: help})
		case strings.HasPrefix(text, "# TYPE "):
			name, typ, _ := strings.Cut(text[len("# TYPE "):], " ")
			if len(fams) == 0 || fams[len(fams)-1].name != name || fams[len(fams)-1].typ != "" || len(fams[len(fams)-1].samples) > 0 {
				return nil, fmt.Errorf("line %d: TYPE %s not right after its HELP", line, name)
			}
			if typ != "counter" && typ != "gauge" {
				return nil, fmt.Errorf("line %d: type %q", line, typ)
			}
			fams[len(fams)-1].typ = typ
		case text == "" || strings.HasPrefix(text, "#"):
			return nil, fmt.Errorf("line %d: unexpected %q", line, text)
		default:
			if len(fams) == 0 || fams[len(fams)-1].typ == "" {
				return nil, fmt.Errorf("line %d: sample before HELP/TYPE", line)
			}
			f := &fams[len(fams)-1]
			s, name, err := parseSample(text)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			if name != f.name {
				return nil, fmt.Errorf("line %d: sample %s in family %s", line, name, f.name)
			}
			if untimestamped[name] != (s.ts < 0) {
				return nil, fmt.Errorf("line %d: %s: timestamp presence wrong", line, name)
			}
			if n := len(f.samples); n > 0 && !labelsLess(f.samples[n-1].labels, s.labels) {
				return nil, fmt.Errorf("line %d: rows not sorted", line)
			}
			f.samples = append(f.samples, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, f := range fams {
		if len(f.samples) == 0 {
			return nil, fmt.Errorf("family %s has no samples", f.name)
		}
	}
	return fams, nil
}

func labelsLess(a, b [][2]string) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i][1] != b[i][1] {
			return a[i][1] < b[i][1]
		}
	}
	return len(a) < len(b)
}

var labelOrder = map[string]int{"container": 0, "namespace": 1, "pod": 2}

func parseSample(text string) (sample, string, error) {
	s := sample{ts: -1}
	name := text
	rest := ""
	if i := strings.IndexAny(text, "{ "); i >= 0 {
		name, rest = text[:i], text[i:]
	}
	if strings.HasPrefix(rest, "{") {
		end := strings.Index(rest, "} ")
		if end < 0 {
			return s, "", fmt.Errorf("unterminated labels")
		}
		last := -1
		for _, kv := range strings.Split(rest[1:end], ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
				return s, "", fmt.Errorf("bad label %q", kv)
			}
			pos, known := labelOrder[k]
			if !known || pos <= last {
				return s, "", fmt.Errorf("label %q out of order", k)
			}
			last = pos
			s.labels = append(s.labels, [2]string{k, v[1 : len(v)-1]})
		}
		rest = rest[end+1:]
	}
	fields := strings.Fields(rest)
	if len(fields) < 1 || len(fields) > 2 || !strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "  ") {
		return s, "", fmt.Errorf("bad value/timestamp %q", rest)
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, "", err
	}
	s.value = v
	if len(fields) == 2 {
		if s.ts, err = strconv.ParseInt(fields[1], 10, 64); err != nil {
			return s, "", err
		}
	}
	return s, name, nil
}

// find returns the sample of family name with the given label values
// (container, namespace, pod in that order, only those present).
func find(fams []family, name string, values ...string) (sample, bool) {
	for _, f := range fams {
		if f.name != name {
			continue
		}
	next:
		for _, s := range f.samples {
			if len(s.labels) != len(values) {
				continue
			}
			for i, v := range values {
				if s.labels[i][1] != v {
					continue next
				}
			}
			return s, true
		}
	}
	return sample{}, false
}
