/*
Copyright The metrics-apiserver Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
*/

package kubelet

import (
	"bytes"
	"errors"
	"math"
	"math/bits"
	"strconv"
)

// number is a sample value as written in the payload. The common decimal forms
// ("734.21599", "1.83390208e+08", "0") are kept exactly as mant×10^exp, so that
// seconds convert to integer nanoseconds without a float64 rounding step; anything
// else strconv.ParseFloat accepts (hex floats, "NaN", "+Inf", ...) is kept as f.
type number struct {
	mant  uint64
	exp   int32
	neg   bool
	float bool // value is f, not mant×10^exp
	f     float64
}

// verdict tells whether a number is usable as a non-negative integer quantity.
type verdict uint8

const (
	vOK verdict = iota
	vNaN
	vInf
	vNegative
	vRange
)

const maxMantDigits = 19 // 10^19-1 < 2^64

var pow10u = [...]uint64{
	1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
	1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
}

// parseNumber parses a sample value token. It accepts what strconv.ParseFloat
// accepts (values out of float64 range included, as ±Inf or 0) except digit
// separators ("1_000"), and never allocates for tokens of up to 32 bytes.
func parseNumber(s []byte) (number, bool) {
	var n number
	i := 0
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		n.neg = s[0] == '-'
		i++
	}
	var (
		mant uint64
		nd   int // significant digits held in mant (leading zeros are not)
		exp  int
	)
	// Integer part, then fraction: a byte is a digit when c-'0' <= 9.
	// Leading zeros leave mant at 0 and are not counted in nd.
	first := i
	for ; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			break
		}
		if nd < maxMantDigits {
			mant = mant*10 + uint64(c)
			if mant != 0 {
				nd++
			}
		} else {
			exp++ // a dropped integer digit still scales the value
		}
	}
	sawDigits := i > first
	if i < len(s) && s[i] == '.' {
		i++
		first = i
		for ; i < len(s); i++ {
			c := s[i] - '0'
			if c > 9 {
				break
			}
			if nd < maxMantDigits { // dropped fraction digits are truncated
				mant = mant*10 + uint64(c)
				exp--
				if mant != 0 {
					nd++
				}
			}
		}
		sawDigits = sawDigits || i > first
	}
	if !sawDigits {
		return parseNumberSlow(s)
	}
	if i < len(s) {
		if s[i] != 'e' && s[i] != 'E' {
			return parseNumberSlow(s)
		}
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		if i == len(s) {
			return parseNumberSlow(s)
		}
		e := 0
		for ; i < len(s); i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return parseNumberSlow(s)
			}
			if e < 100000 {
				e = e*10 + int(c-'0')
			}
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if mant == 0 {
		exp = 0
	}
	if exp < -200000 || exp > 200000 {
		// Far outside any quantity we read; the slow path gives 0 or ±Inf.
		return parseNumberSlow(s)
	}
	n.mant, n.exp = mant, int32(exp)
	return n, true
}

func parseNumberSlow(s []byte) (number, bool) {
	if bytes.IndexByte(s, '_') >= 0 {
		return number{}, false // digit separators are Go syntax, not the exposition format's
	}
	f, err := strconv.ParseFloat(string(s), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return number{}, false
	}
	return number{float: true, f: f, neg: math.Signbit(f)}, true
}

// uint returns the value times 10^scale, rounded half up to an integer, or why
// it cannot: NaN, infinite, negative (-0 is 0) or too large for a uint64.
func (n number) uint(scale int) (uint64, verdict) {
	if n.float {
		switch {
		case math.IsNaN(n.f):
			return 0, vNaN
		case math.IsInf(n.f, 0):
			return 0, vInf
		case n.f == 0:
			return 0, vOK
		case n.f < 0:
			return 0, vNegative
		}
		x := n.f * math.Pow10(scale)
		if x >= 1<<64 {
			return 0, vRange
		}
		return uint64(math.Round(x)), vOK
	}
	if n.mant == 0 {
		return 0, vOK
	}
	if n.neg {
		return 0, vNegative
	}
	e := int(n.exp) + scale
	if e >= 0 {
		if e >= len(pow10u) {
			return 0, vRange
		}
		hi, lo := bits.Mul64(n.mant, pow10u[e])
		if hi != 0 {
			return 0, vRange
		}
		return lo, vOK
	}
	if -e >= len(pow10u) {
		return 0, vOK // below 0.1: rounds to 0
	}
	p := pow10u[-e]
	q, r := n.mant/p, n.mant%p
	if r >= p-r {
		q++
	}
	return q, vOK
}

// isZero reports whether the value is zero (either sign). NaN is not zero.
func (n number) isZero() bool {
	if n.float {
		return n.f == 0
	}
	return n.mant == 0
}

// parseTimestamp parses an optional sample timestamp (integer milliseconds since
// the Unix epoch) and returns it in nanoseconds.
func parseTimestamp(s []byte) (int64, string) {
	i := 0
	neg := false
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		i++
	}
	if i == len(s) {
		return 0, "invalid timestamp"
	}
	const maxMillis = math.MaxInt64 / 1_000_000
	var ms int64
	for ; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, "invalid timestamp"
		}
		ms = ms*10 + int64(c-'0')
		if ms > maxMillis {
			return 0, "timestamp out of range"
		}
	}
	if neg {
		ms = -ms
	}
	return ms * 1e6, ""
}
