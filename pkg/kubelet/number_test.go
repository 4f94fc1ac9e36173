/*
Copyright The metrics-apiserver Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
*/

package kubelet

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in       string
		ok       bool
		ns       uint64 // value × 1e9
		nsV      verdict
		integer  uint64 // value rounded
		integerV verdict
	}{
		{in: "0", ok: true},
		{in: "-0", ok: true},
		{in: "+0.000", ok: true},
		{in: "1", ok: true, ns: 1e9, integer: 1},
		{in: "734.21599", ok: true, ns: 734215990000, integer: 734},
		{in: "184273.901234", ok: true, ns: 184273901234000, integer: 184274},
		{in: "1.83390208e+08", ok: true, ns: 183390208e9, integer: 183390208},
		{in: "1.7525712147740223e+09", ok: true, ns: 1752571214774022300, integer: 1752571215},
		{in: "2.5", ok: true, ns: 2.5e9, integer: 3},
		{in: "0.4999999999", ok: true, ns: 500000000, integer: 0},
		{in: "1E3", ok: true, ns: 1e12, integer: 1000},
		{in: "5.", ok: true, ns: 5e9, integer: 5},
		{in: ".5", ok: true, ns: 5e8, integer: 1},
		{in: "00012", ok: true, ns: 12e9, integer: 12},
		{in: "0.0000000004", ok: true, ns: 0, integer: 0},
		{in: "0.0000000005", ok: true, ns: 1, integer: 0},
		{in: "18446744073709551615", ok: true, nsV: vRange, integer: 18446744073709551610}, // 20th digit truncated
		{in: "1.8e19", ok: true, nsV: vRange, integer: 18e18},
		{in: "1.9e19", ok: true, nsV: vRange, integerV: vRange},
		{in: "1e-400", ok: true},
		{in: "1e400", ok: true, nsV: vRange, integerV: vRange},
		{in: "1e99999999999", ok: true, nsV: vInf, integerV: vInf},
		{in: "0e99999999999", ok: true},
		{in: "-1", ok: true, nsV: vNegative, integerV: vNegative},
		{in: "-1e-300", ok: true, nsV: vNegative, integerV: vNegative},
		{in: "NaN", ok: true, nsV: vNaN, integerV: vNaN},
		{in: "+Inf", ok: true, nsV: vInf, integerV: vInf},
		{in: "-Inf", ok: true, nsV: vInf, integerV: vInf},
		{in: "infinity", ok: true, nsV: vInf, integerV: vInf},
		{in: "0x1p4", ok: true, ns: 16e9, integer: 16},
		{in: "-0x1p4", ok: true, nsV: vNegative, integerV: vNegative},
		{in: "", ok: false},
		{in: "+", ok: false},
		{in: ".", ok: false},
		{in: "1e", ok: false},
		{in: "1e+", ok: false},
		{in: "1.2.3", ok: false},
		{in: "1_000", ok: false},
		{in: "0x_1p0", ok: false},
		{in: "--1", ok: false},
		{in: "1e5.0", ok: false},
		{in: "12,5", ok: false},
		{in: "0x10", ok: false},
		{in: "Nan1", ok: false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			n, ok := parseNumber([]byte(tc.in))
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			_, err := strconv.ParseFloat(tc.in, 64)
			stdOK := (err == nil || errors.Is(err, strconv.ErrRange)) && !strings.Contains(tc.in, "_")
			if stdOK != ok {
				t.Errorf("accepts = %v, strconv.ParseFloat accepts = %v", ok, stdOK)
			}
			if !ok {
				return
			}
			if got, v := n.uint(9); got != tc.ns || v != tc.nsV {
				t.Errorf("uint(9) = %d, %d; want %d, %d", got, v, tc.ns, tc.nsV)
			}
			if got, v := n.uint(0); got != tc.integer || v != tc.integerV {
				t.Errorf("uint(0) = %d, %d; want %d, %d", got, v, tc.integer, tc.integerV)
			}
		})
	}
}

// exactScaled is the reference: the decimal string times 10^scale, rounded half up.
func exactScaled(t *testing.T, s string, scale int) (uint64, bool) {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("big.Rat cannot parse %q", s)
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
	r.Add(r, big.NewRat(1, 2))
	q := new(big.Int).Quo(r.Num(), r.Denom()) // floor, r > 0
	if !q.IsUint64() {
		return 0, false
	}
	return q.Uint64(), true
}

// TestParseNumberMatchesExactDecimal checks the fast path against exact
// arithmetic on values printed the ways Prometheus clients print them.
func TestParseNumberMatchesExactDecimal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		mag := math.Pow(10, float64(rng.IntN(28)-9))
		f := rng.Float64() * mag
		var s string
		switch i % 4 {
		case 0:
			s = strconv.FormatFloat(f, 'g', -1, 64)
		case 1:
			s = strconv.FormatFloat(f, 'e', -1, 64)
		case 2:
			s = strconv.FormatFloat(f, 'f', -1, 64)
		default:
			s = strconv.FormatFloat(f, 'g', 6, 64)
		}
		if len(s) > 40 { // 'f' of tiny values: many leading zeros, still fine, but keep the check focused
			continue
		}
		n, ok := parseNumber([]byte(s))
		if !ok {
			t.Fatalf("%q not accepted", s)
		}
		for _, scale := range []int{0, 9} {
			want, fits := exactScaled(t, s, scale)
			got, v := n.uint(scale)
			if !fits {
				if v != vRange {
					t.Errorf("%q ×1e%d: got %d (%d), want out of range", s, scale, got, v)
				}
				continue
			}
			if v != vOK || got != want {
				t.Errorf("%q ×1e%d: got %d (%d), want %d", s, scale, got, v, want)
			}
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		in     string
		want   int64
		reason string
	}{
		{"1752574828796", 1752574828796 * 1e6, ""},
		{"0", 0, ""},
		{"+5", 5e6, ""},
		{"-5", -5e6, ""},
		{"9223372036854", 9223372036854 * 1e6, ""},
		{"9223372036855", 0, "timestamp out of range"},
		{"-", 0, "invalid timestamp"},
		{"1e3", 0, "invalid timestamp"},
		{"", 0, "invalid timestamp"},
	}
	for _, tc := range tests {
		got, reason := parseTimestamp([]byte(tc.in))
		if got != tc.want || reason != tc.reason {
			t.Errorf("parseTimestamp(%q) = %d, %q; want %d, %q", tc.in, got, reason, tc.want, tc.reason)
		}
	}
}

// BenchmarkParseValue compares the value parser with strconv.ParseFloat on a
// []byte converted in the call, the form the compiler may keep off the heap.
func BenchmarkParseValue(b *testing.B) {
	tokens := [][]byte{[]byte("734.21599"), []byte("1.7525712147740223e+09"), []byte("0"), []byte("1.83390208e+08")}
	b.Run("parseNumber", func(b *testing.B) {
		b.ReportAllocs()
		var sum uint64
		for b.Loop() {
			for _, tok := range tokens {
				n, _ := parseNumber(tok)
				v, _ := n.uint(9)
				sum += v
			}
		}
		_ = sum
	})
	b.Run("strconv.ParseFloat", func(b *testing.B) {
		b.ReportAllocs()
		var sum float64
		for b.Loop() {
			for _, tok := range tokens {
				f, _ := strconv.ParseFloat(string(tok), 64)
				sum += f
			}
		}
		_ = sum
	})
}

// FuzzParseNumber checks parseNumber against strconv.ParseFloat (what it
// accepts) and exact decimal arithmetic (what the fast path holds).
func FuzzParseNumber(f *testing.F) {
	for _, s := range []string{"0", "-0", "734.21599", "1.83390208e+08", "0.000123", "007.50",
		"1.", ".5", "1..2", "+Inf", "NaN", "1e", "1_000", "12345678901234567890123", "0x1p-2", "-3e-5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := parseNumber([]byte(s))
		_, err := strconv.ParseFloat(s, 64)
		want := (err == nil || errors.Is(err, strconv.ErrRange)) && !strings.Contains(s, "_")
		if ok != want {
			t.Fatalf("parseNumber(%q) ok = %v, strconv.ParseFloat: %v", s, ok, err)
		}
		if !ok || n.float || n.neg || n.mant == 0 || len(s) > 40 {
			return
		}
		if _, isRat := new(big.Rat).SetString(s); !isRat {
			return
		}
		digits := strings.TrimLeft(strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, strings.SplitN(strings.ToLower(s), "e", 2)[0]), "0")
		if len(digits) > maxMantDigits {
			return // beyond 19 digits the fast path truncates
		}
		for _, scale := range []int{0, 9} {
			want, fits := exactScaled(t, s, scale)
			got, v := n.uint(scale)
			if fits && (v != vOK || got != want) {
				t.Fatalf("%q ×1e%d: got %d (%d), want %d", s, scale, got, v, want)
			}
		}
	})
}
