/*
Copyright The metrics-apiserver Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
*/

package kubelet

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/storage"
)

// FuzzDecode checks Decode's invariants on arbitrary input. Its seed corpus is
// testdata/fuzz/FuzzDecode: both fixtures, every quirk and every known-bad input
// (regenerate with UPDATE_FUZZ_CORPUS=1 go test -run TestFuzzCorpus).
//
//	go test ./pkg/kubelet -run '^$' -fuzz FuzzDecode -fuzztime 60s
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		d := NewDecoder()
		var b storage.NodeBatch
		b.Reset("worker-1")
		err := d.Decode(body, received, &b)
		if err != nil {
			de, ok := err.(*DecodeError)
			if !ok {
				t.Fatalf("error %T %v is not a *DecodeError", err, err)
			}
			if de.Line < 1 || de.Reason == "" || len(de.Excerpt) > maxExcerpt || !utf8.ValidString(de.Excerpt) {
				t.Fatalf("bad DecodeError %+v", de)
			}
			if len(b.Containers) != 0 || b.NodePoint != (storage.Point{}) || b.KubeletScrapeError || b.ScrapedAt != 0 {
				t.Fatalf("failed decode left data in the batch: %+v", b)
			}
			return
		}
		checkBatch(t, &b, d)

		// Decoding again with the same (now warm) decoder gives the same batch.
		var again storage.NodeBatch
		again.Reset("worker-1")
		if err := d.Decode(body, received, &again); err != nil {
			t.Fatalf("second decode failed: %v", err)
		}
		if !reflect.DeepEqual(b, again) {
			t.Fatalf("second decode differs:\n%+v\n%+v", b, again)
		}
	})
}

func checkBatch(t *testing.T, b *storage.NodeBatch, d *Decoder) {
	t.Helper()
	if b.ScrapedAt != recNs {
		t.Fatalf("ScrapedAt = %d", b.ScrapedAt)
	}
	checkPoint := func(what string, p storage.Point) {
		if !p.Valid.Has(storage.HasCPU) && p.CPUNanoSeconds != 0 ||
			!p.Valid.Has(storage.HasMemory) && p.WorkingSetBytes != 0 ||
			!p.Valid.Has(storage.HasSwap) && p.SwapBytes != 0 ||
			p.Valid&^all != 0 || p.StartTime < 0 {
			t.Fatalf("%s: inconsistent point %+v", what, p)
		}
	}
	checkPoint("node", b.NodePoint)
	seen := make(map[containerKey]bool, len(b.Containers))
	for _, c := range b.Containers {
		if c.Namespace == "" || c.Pod == "" || c.Container == "" ||
			!utf8.ValidString(c.Namespace) || !utf8.ValidString(c.Pod) || !utf8.ValidString(c.Container) {
			t.Fatalf("bad names %q/%q/%q", c.Namespace, c.Pod, c.Container)
		}
		k := containerKey{c.Namespace, c.Pod, c.Container}
		if seen[k] {
			t.Fatalf("container %v twice", k)
		}
		seen[k] = true
		checkPoint(fmt.Sprint(k), c.Point)
	}
	if d.AcceptedSamples() < 0 || d.RejectedSamples() < 0 {
		t.Fatalf("negative counts")
	}
}

// corpusInputs are the seed inputs kept in testdata/fuzz/FuzzDecode, by file name.
func corpusInputs(t *testing.T) map[string][]byte {
	in := map[string][]byte{
		"fixture-1": readFixture(t, "metrics_resource_1.txt"),
		"fixture-2": readFixture(t, "metrics_resource_2.txt"),
	}
	slug := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
				return r
			}
			if r >= 'A' && r <= 'Z' {
				return r + 'a' - 'A'
			}
			return '-'
		}, s)
	}
	for _, q := range quirks {
		in["quirk-"+slug(q.name)] = []byte(q.body)
	}
	for _, bad := range badInputs {
		in["bad-"+slug(bad.name)] = []byte(bad.body)
	}
	return in
}

const corpusDir = "testdata/fuzz/FuzzDecode"

func marshalCorpus(b []byte) []byte {
	return fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b)
}

// TestFuzzCorpus checks that the committed seed corpus holds every fixture, quirk
// and bad input; UPDATE_FUZZ_CORPUS=1 rewrites it.
func TestFuzzCorpus(t *testing.T) {
	in := corpusInputs(t)
	if os.Getenv("UPDATE_FUZZ_CORPUS") == "1" {
		for name, body := range in {
			if err := os.WriteFile(filepath.Join(corpusDir, name), marshalCorpus(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, body := range in {
		raw, err := os.ReadFile(filepath.Join(corpusDir, name))
		if err != nil {
			t.Errorf("seed missing (run with UPDATE_FUZZ_CORPUS=1): %v", err)
			continue
		}
		s, ok := strings.CutPrefix(string(raw), "go test fuzz v1\n[]byte(")
		s, ok2 := strings.CutSuffix(s, ")\n")
		got, err := strconv.Unquote(s)
		if !ok || !ok2 || err != nil || got != string(body) {
			t.Errorf("seed %s is stale (run with UPDATE_FUZZ_CORPUS=1)", name)
		}
	}
}
