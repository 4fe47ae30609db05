package sesv2

import (
	"encoding/json"
	"testing"
	"time"
)

// BatchGetMetricData's body decoding (metricDate's parser included) never
// panics, and a timestamp it accepts lies within years 0–9999 (RFC 3339's
// range; numbers are bounded to ±1e11 seconds, years 1–5138 or so).
func FuzzMetricQueries(f *testing.F) {
	for _, s := range []string{
		`{"Queries":[{"Id":"a","Namespace":"VDM","Metric":"SEND","StartDate":1700000000.5,"EndDate":1700003600}]}`,
		`{"Queries":[{"StartDate":"2025-03-10T12:00:00Z","EndDate":"bad"}]}`,
		`{"Queries":[{"StartDate":1e300,"EndDate":-1e300,"Dimensions":{"ISP":"Gmail"}}]}`,
		`{"Queries":[{"StartDate":null,"EndDate":[]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var in struct{ Queries []metricQueryInput }
		if err := json.Unmarshal(b, &in); err != nil {
			return
		}
		for _, q := range in.Queries {
			for _, d := range []metricDate{q.StartDate, q.EndDate} {
				if y := d.t.Year(); d.set && (y < -1500 || y > 9999) {
					t.Errorf("accepted a timestamp out of range: %v", d.t)
				}
			}
		}
	})
}

func TestMetricDate(t *testing.T) {
	for in, want := range map[string]time.Time{
		`1700000000`:             time.Unix(1700000000, 0),
		`1700000000.25`:          time.Unix(1700000000, 250e6),
		`"2025-03-10T12:00:00Z"`: time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC),
	} {
		var d metricDate
		if err := json.Unmarshal([]byte(in), &d); err != nil || !d.set || !d.t.Equal(want) {
			t.Errorf("%s: %v %v %v, want %v", in, d.t, d.set, err, want)
		}
	}
	for _, in := range []string{`"yesterday"`, `1e300`, `true`, `{}`} {
		var d metricDate
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("%s: accepted as %v", in, d.t)
		}
	}
}
