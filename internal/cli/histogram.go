package cli

import (
	"math"
	"math/bits"
	"strconv"
	"time"
)

// histSubBits sets the histogram's precision: every power-of-two range of
// values is split into 1<<histSubBits equal buckets, so a bucket is at most
// 1/128 of its lower bound wide, and the midpoint a percentile reports is
// within 0.4% of any value in it (HDR histograms' layout, with three
// significant binary digits fewer than their usual setting, which bench
// does not need).
const histSubBits = 7

const (
	histSub = 1 << histSubBits
	// histBuckets covers every non-negative int64: values below 2*histSub
	// have a bucket each, and each power of two above has histSub.
	histBuckets = (64 - histSubBits) * histSub
)

// Histogram counts durations in log-linear buckets: a full latency
// distribution in fixed memory (about 58 KB), whose percentiles are
// within 1% of the exact ones however many values it holds, for bench's
// p50 to p99.9 without keeping every sample. The zero value is empty and
// ready; it is not safe for concurrent use.
type Histogram struct {
	counts   [histBuckets]int64
	n        int64
	min, max int64
	sum      float64
}

// histIndex is the bucket of v (nanoseconds, v >= 0).
func histIndex(v int64) int {
	shift := max(bits.Len64(uint64(v))-histSubBits-1, 0)
	return shift*histSub + int(v>>shift)
}

// histBounds is the lowest value of bucket i and the bucket's width.
func histBounds(i int) (lo, width int64) {
	if i < 2*histSub {
		return int64(i), 1
	}
	shift := i/histSub - 1
	return int64(i-shift*histSub) << shift, 1 << shift
}

// Record adds one duration; a negative one (a clock step) counts as 0.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[histIndex(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds every value of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count is how many durations h holds.
func (h *Histogram) Count() int64 { return h.n }

// Max is the longest duration recorded (exact), 0 when empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is the average duration (exact), 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile is the q-th quantile (0 < q <= 1) by nearest rank: the value
// at rank ceil(q×n) of the sorted durations, as the midpoint of its bucket
// (clamped to the exact min and max), so within 0.4% of the exact one;
// 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen int64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			lo, w := histBounds(i)
			return time.Duration(min(max(lo+(w-1)/2, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// Percentiles are the latency figures bench prints, in milliseconds.
type Percentiles struct {
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p99_9_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// Percentiles reads p50, p90, p99, p99.9 and the max off h.
func (h *Histogram) Percentiles() Percentiles {
	return Percentiles{
		P50Ms:  ms(h.Quantile(0.50)),
		P90Ms:  ms(h.Quantile(0.90)),
		P99Ms:  ms(h.Quantile(0.99)),
		P999Ms: ms(h.Quantile(0.999)),
		MaxMs:  ms(h.Max()),
	}
}

// String is the percentiles as bench's text prints them.
func (p Percentiles) String() string {
	return "p50 " + fmtMs(p.P50Ms) + ", p90 " + fmtMs(p.P90Ms) + ", p99 " + fmtMs(p.P99Ms) +
		", p99.9 " + fmtMs(p.P999Ms) + ", max " + fmtMs(p.MaxMs)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// fmtMs prints milliseconds with one decimal, or three below 10 ms (echo
// calls take tens of microseconds).
func fmtMs(v float64) string {
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 3, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
}
