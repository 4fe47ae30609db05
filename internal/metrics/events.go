package metrics

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/event"
)

// The fixed labels of sesame_events_total.
const (
	labelSet  = "configuration_set"
	labelType = "event_type"
)

const eventsHelp = "Events of configuration sets with a CloudWatch event destination, by set, SES eventType and the destination's dimensions."

// eventsFamily is sesame_events_total: a prometheus.Collector (unchecked:
// its label names change as destinations are configured) that emits every
// series with the union of all series' label names.
type eventsFamily struct {
	fold *folder

	mu     sync.RWMutex
	series map[string]*series  // by key; see add
	names  map[string]struct{} // union of the dimension labels, at most MaxDimensionLabels
	warned bool                // that a label was left out

	// labels caches DimensionName → its label (without clash suffixes),
	// "" for a label left out; at most maxCachedLabels names.
	labels sync.Map
	cached atomic.Int64
}

// maxCachedLabels bounds the dimension names labelName remembers.
const maxCachedLabels = 4 * MaxDimensionLabels

// series is one counter of the family.
type series struct {
	set, typ string
	names    []string // dimension labels, sorted
	values   []string // their values, in the order of names; none is ""
	n        atomic.Uint64
}

func newEventsFamily(f *folder) *eventsFamily {
	return &eventsFamily{fold: f, series: map[string]*series{}, names: map[string]struct{}{}}
}

// pair is one dimension label of an event being counted.
type pair struct{ name, value string }

// maxInline is how many dimensions add handles without allocating (SES
// allows 10 per destination).
const maxInline = 16

// add counts n for e under set and the labels dims give it.
func (f *eventsFamily) add(set string, dims []configset.Dimension, e *event.Event, n uint64) {
	var inline [maxInline]pair
	ps := inline[:0]
	for _, d := range dims {
		name := f.labelName(d.Name)
		if name == "" {
			continue // beyond MaxDimensionLabels
		}
		// Clashes among this destination's own labels: _2, _3, ...
		if hasName(ps, name) {
			base := name
			for i := 2; hasName(ps, name); i++ {
				name = base + "_" + strconv.Itoa(i)
			}
		}
		v := dimensionValue(d, e)
		if v == "" {
			// An empty value is an absent label: keep it out of the key so
			// that "absent" and "" are one series.
			ps = append(ps, pair{name: name})
			continue
		}
		ps = append(ps, pair{name, f.fold.fold(name, labelValue(v))})
	}
	// Insertion sort by name: the key must not depend on the order of the
	// destination's dimensions.
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].name < ps[j-1].name; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}

	set = f.fold.fold(labelSet, labelValue(set))
	var kb [512]byte
	key := append(kb[:0], set...)
	key = append(key, 0xff)
	key = append(key, e.Type...)
	for _, p := range ps {
		if p.value == "" {
			continue
		}
		key = append(key, 0xff)
		key = append(key, p.name...)
		key = append(key, 0xfe)
		key = append(key, p.value...)
	}

	f.mu.RLock()
	s := f.series[string(key)]
	f.mu.RUnlock()
	if s == nil {
		s = f.create(string(key), set, string(e.Type), ps)
	}
	s.n.Add(n)
}

// create adds the series of key, unless another caller just did.
func (f *eventsFamily) create(key, set, typ string, ps []pair) *series {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.series[key]; s != nil {
		return s
	}
	s := &series{set: strings.Clone(set), typ: typ}
	for _, p := range ps {
		if p.value == "" {
			continue
		}
		s.names = append(s.names, p.name)
		s.values = append(s.values, strings.Clone(p.value))
	}
	for _, p := range ps {
		// Every configured dimension is part of the family's labels, even
		// when this event has no value for it.
		f.names[p.name] = struct{}{}
	}
	f.series[key] = s
	return s
}

func hasName(ps []pair, name string) bool {
	for _, p := range ps {
		if p.name == name {
			return true
		}
	}
	return false
}

// labelName returns the label of dimension name, cached; "" when the
// family has MaxDimensionLabels other labels already (the first time,
// a warning is logged).
func (f *eventsFamily) labelName(name string) string {
	if v, ok := f.labels.Load(name); ok {
		return v.(string)
	}
	l := LabelName(name)
	f.mu.Lock()
	if _, ok := f.names[l]; !ok {
		if len(f.names) < MaxDimensionLabels {
			f.names[l] = struct{}{}
		} else {
			if !f.warned {
				f.warned = true
				f.fold.warnLabels(l)
			}
			l = ""
		}
	}
	f.mu.Unlock()
	if f.cached.Add(1) <= maxCachedLabels {
		f.labels.Store(strings.Clone(name), l)
	}
	return l
}

// LabelName returns the Prometheus label of the CloudWatch dimension
// name: every character other than ASCII letters, digits and "_" becomes
// "_", a leading digit gets a "_" in front, a run of leading "_" becomes
// one (labels starting "__" are reserved), and configuration_set and
// event_type, the family's own labels, get the suffix "_dim". An empty
// name is "_".
func LabelName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			b[i] = '_'
		}
	}
	s := string(b)
	if s == "" || '0' <= s[0] && s[0] <= '9' {
		s = "_" + s
	}
	if strings.HasPrefix(s, "__") {
		s = "_" + strings.TrimLeft(s, "_")
	}
	if s == labelSet || s == labelType {
		s += "_dim"
	}
	return s
}

// MaxValueLength is the longest label value kept, in bytes (CloudWatch
// takes dimension values of at most 256 characters); a longer value is cut
// there, at a character boundary.
const MaxValueLength = 256

// MaxDimensionLabels is how many distinct dimension labels
// sesame_events_total carries at most; see the package doc.
const MaxDimensionLabels = 100

// labelValue returns v as a usable label value: valid UTF-8 (Prometheus
// refuses anything else; header fields may carry raw bytes) and at most
// MaxValueLength bytes. It allocates only when it changes v.
func labelValue(v string) string {
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	if len(v) > MaxValueLength {
		i := MaxValueLength
		for i > 0 && !utf8.RuneStart(v[i]) {
			i--
		}
		v = v[:i]
	}
	return v
}

// dimensionValue is d's value for e: from its source, else its default.
func dimensionValue(d configset.Dimension, e *event.Event) string {
	switch d.Source {
	case configset.SourceMessageTag:
		if v := e.Mail.Tags[d.Name]; len(v) > 0 && v[0] != "" {
			return v[0]
		}
		if d.Name == event.TagConfigurationSet && e.ConfigurationSet != "" {
			// MarshalJSON adds this auto-tag when the Mail lacks it.
			return e.ConfigurationSet
		}
	case configset.SourceEmailHeader:
		for _, h := range e.Mail.Headers {
			if strings.EqualFold(h.Name, d.Name) {
				if v := strings.TrimSpace(h.Value); v != "" {
					return v
				}
				break
			}
		}
	case configset.SourceLinkTag:
		if c := e.Click; c != nil {
			if v := c.LinkTags[d.Name]; len(v) > 0 && v[0] != "" {
				return v[0]
			}
		}
	}
	return d.Default
}

func (f *eventsFamily) Describe(chan<- *prometheus.Desc) {} // unchecked: the labels vary

func (f *eventsFamily) Collect(ch chan<- prometheus.Metric) {
	f.mu.RLock()
	names := make([]string, 0, len(f.names))
	for n := range f.names {
		names = append(names, n)
	}
	slices.Sort(names)
	type snap struct {
		s *series
		n uint64
	}
	all := make([]snap, 0, len(f.series))
	for _, s := range f.series {
		all = append(all, snap{s, s.n.Load()})
	}
	f.mu.RUnlock()
	if len(all) == 0 {
		return
	}

	desc := prometheus.NewDesc("sesame_events_total", eventsHelp, append([]string{labelSet, labelType}, names...), nil)
	values := make([]string, 2+len(names))
	for _, a := range all {
		clear(values)
		values[0], values[1] = a.s.set, a.s.typ
		for i, n := range a.s.names {
			j, _ := slices.BinarySearch(names, n)
			values[2+j] = a.s.values[i]
		}
		m, err := prometheus.NewConstMetric(desc, prometheus.CounterValue, float64(a.n), values...)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(desc, err)
			continue
		}
		ch <- m
	}
}

// folder bounds the distinct values of each label.
type folder struct {
	max  int
	warn func(label string)
	// warnLabels, when set, is told the first dimension label left out
	// of sesame_events_total (MaxDimensionLabels).
	warnLabels func(label string)

	mu     sync.RWMutex
	seen   map[string]map[string]struct{} // label → values kept
	warned map[string]bool
}

func newFolder(max int, warn func(label string)) *folder {
	return &folder{max: max, warn: warn, seen: map[string]map[string]struct{}{}, warned: map[string]bool{}}
}

// fold returns value when label keeps it (it has been seen, or there is
// room for it), else Other.
func (f *folder) fold(label, value string) string {
	f.mu.RLock()
	vs := f.seen[label]
	_, ok := vs[value]
	full := len(vs) >= f.max
	f.mu.RUnlock()
	if ok {
		return value
	}
	if full {
		f.full(label)
		return Other
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	vs = f.seen[label]
	if vs == nil {
		vs = map[string]struct{}{}
		f.seen[strings.Clone(label)] = vs
	}
	if _, ok := vs[value]; ok {
		return value
	}
	if len(vs) >= f.max {
		if !f.warned[label] {
			f.warned[strings.Clone(label)] = true
			f.warn(label)
		}
		return Other
	}
	vs[strings.Clone(value)] = struct{}{}
	return value
}

// full warns once that label is full.
func (f *folder) full(label string) {
	f.mu.RLock()
	w := f.warned[label]
	f.mu.RUnlock()
	if w {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.warned[label] {
		f.warned[strings.Clone(label)] = true
		f.warn(label)
	}
}
