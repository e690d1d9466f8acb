package console

import (
	"slices"
	"sort"
	"time"
)

// Timeline counts requests per interval of their receipt, by what their
// code says: the page's histogram, as Kibana Discover's.
type Timeline struct {
	// Start is the first interval's start (RFC 3339, UTC); Step its width.
	Start string  `json:"start,omitempty"`
	Step  float64 `json:"stepSeconds,omitempty"`
	// Buckets are the intervals in order, each counting by class.
	Buckets []Bucket `json:"buckets"`
}

// Bucket is one interval's requests by code class; Open are those without
// an answer yet.
type Bucket struct {
	OK          int `json:"2xx"`
	Redirect    int `json:"3xx"`
	ClientError int `json:"4xx"`
	ServerError int `json:"5xx"`
	Open        int `json:"open"`
}

// maxBuckets bounds the histogram's bars.
const maxBuckets = 60

// steps are the interval widths a timeline takes, the least that keeps it
// within maxBuckets.
var steps = []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute,
	2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour}

func timeline(reqs []figures) Timeline {
	t := Timeline{Buckets: []Bucket{}}
	if len(reqs) == 0 {
		return t
	}
	first, last := reqs[0].start, reqs[0].start
	for _, r := range reqs {
		if r.start.Before(first) {
			first = r.start
		}
		if r.start.After(last) {
			last = r.start
		}
	}
	step := steps[len(steps)-1]
	for _, s := range steps {
		if last.Sub(first.Truncate(s)) < time.Duration(maxBuckets)*s {
			step = s
			break
		}
	}
	start := first.Truncate(step)
	t.Start, t.Step = start.UTC().Format(time.RFC3339Nano), step.Seconds()
	t.Buckets = make([]Bucket, int(last.Sub(start)/step)+1)
	for _, r := range reqs {
		b := &t.Buckets[min(int(r.start.Sub(start)/step), len(t.Buckets)-1)]
		switch code := r.code; {
		case code == 0:
			b.Open++
		case code < 300:
			b.OK++
		case code < 400:
			b.Redirect++
		case code < 500:
			b.ClientError++
		default:
			b.ServerError++
		}
	}
	return t
}

// VerbLatency is how long one verb's answered requests took, from
// RequestReceived to ResponseComplete: median and 99th percentile.
type VerbLatency struct {
	Verb  string  `json:"verb"`
	N     int     `json:"n"`
	P50MS float64 `json:"p50ms"`
	P99MS float64 `json:"p99ms"`
}

func latency(reqs []figures) []VerbLatency {
	byVerb := map[string][]float64{}
	for _, r := range reqs {
		if r.ms >= 0 {
			byVerb[r.verb] = append(byVerb[r.verb], r.ms)
		}
	}
	out := []VerbLatency{}
	for verb, ms := range byVerb {
		slices.Sort(ms)
		// Nearest rank.
		rank := func(p float64) float64 { return ms[max(0, int(float64(len(ms))*p+0.999999)-1)] }
		out = append(out, VerbLatency{Verb: verb, N: len(ms), P50MS: rank(0.5), P99MS: rank(0.99)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Verb < out[j].Verb
	})
	return out
}
