package cli

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exactQuantile is the nearest-rank quantile of sorted: the value at rank
// ceil(q×n).
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	r := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(r, 1), len(sorted))-1]
}

// TestHistogramQuantiles records a known sample (log-normal latencies
// around 50 ms with a long tail, as a loaded network's, and a few
// microsecond ones) and checks every percentile bench prints, and more,
// against the exact nearest-rank percentile of the sorted sample: within
// 1%.
func TestHistogramQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 1))
	var h Histogram
	sample := make([]time.Duration, 0, 200_000)
	for range 200_000 {
		d := time.Duration(math.Exp(rng.NormFloat64()*1.2) * float64(50*time.Millisecond))
		if rng.IntN(100) == 0 {
			d = time.Duration(rng.IntN(5000)) * time.Microsecond
		}
		sample = append(sample, d)
		h.Record(d)
	}
	slices.Sort(sample)
	require.EqualValues(t, len(sample), h.Count())
	for _, q := range []float64{0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999, 1} {
		want, got := exactQuantile(sample, q), h.Quantile(q)
		assert.InEpsilon(t, float64(want), float64(got), 0.01, "q=%v: exact %v, histogram %v", q, want, got)
	}
	assert.Equal(t, sample[len(sample)-1], h.Max(), "the max is exact")
	var sum float64
	for _, d := range sample {
		sum += float64(d)
	}
	assert.InEpsilon(t, sum/float64(len(sample)), float64(h.Mean()), 1e-6, "the mean is exact, to the nanosecond")

	p := h.Percentiles()
	assert.InEpsilon(t, float64(exactQuantile(sample, 0.999))/1e6, p.P999Ms, 0.01)
	assert.True(t, p.P50Ms <= p.P90Ms && p.P90Ms <= p.P99Ms && p.P99Ms <= p.P999Ms && p.P999Ms <= p.MaxMs, "%+v", p)
}

// TestHistogramBuckets checks the layout over the whole int64 range: each
// value falls in a bucket that holds it, no wider than 1/128 of its lower
// bound (exact below 256 ns), and neighbouring buckets meet.
func TestHistogramBuckets(t *testing.T) {
	vals := []int64{0, 1, 2, 127, 128, 255, 256, 257, 511, 512, 1000, 1 << 20, 1<<20 + 1, 123456789, 1<<40 - 1, math.MaxInt64}
	for range 10_000 {
		vals = append(vals, rand.Int64N(1<<uint(rand.IntN(63))+1))
	}
	for _, v := range vals {
		i := histIndex(v)
		require.True(t, i >= 0 && i < histBuckets, "value %d: bucket %d", v, i)
		lo, w := histBounds(i)
		require.True(t, lo <= v && v-lo < w, "value %d in bucket %d [%d, +%d)", v, i, lo, w)
		if lo >= 256 {
			require.LessOrEqual(t, w*128, lo, "value %d: bucket [%d, +%d) too wide", v, lo, w)
		} else {
			require.EqualValues(t, 1, w)
		}
	}
	for i := 1; i < histBuckets; i++ {
		plo, pw := histBounds(i - 1)
		lo, _ := histBounds(i)
		require.Equal(t, plo+pw, lo, "bucket %d starts where %d ends", i, i-1)
	}
}

// TestHistogramSmall: empty, one value, exact small values, Merge, and a
// negative duration.
func TestHistogramSmall(t *testing.T) {
	var h Histogram
	assert.Zero(t, h.Quantile(0.5))
	assert.Equal(t, Percentiles{}, h.Percentiles())

	h.Record(42 * time.Millisecond)
	for _, q := range []float64{0.001, 0.5, 1} {
		assert.Equal(t, 42*time.Millisecond, h.Quantile(q), "one value is every quantile, exactly (clamped to min and max)")
	}

	var a, b, all Histogram
	for v := range 200 {
		d := time.Duration(v)
		all.Record(d)
		if v%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	assert.Equal(t, all, a)
	assert.Equal(t, time.Duration(99), a.Quantile(0.5), "below 256 ns each value is its own bucket")
	assert.Equal(t, time.Duration(199), a.Quantile(1))

	var n Histogram
	n.Record(-time.Second)
	assert.Zero(t, n.Max())
	assert.EqualValues(t, 1, n.Count())
}
