package sesv2

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/sesapi"
	"github.com/sesame-email/sesame/internal/stats"
)

// BatchGetMetricData's limits and enums (the sesv2 model).
const (
	maxMetricQueries = 10
	maxQueryIDLength = 255
	maxDimensions    = 3
)

// metricNames are the model's Metric values; Sesame keeps stats.Metrics
// of them and answers the others with an Errors entry.
var metricNames = []string{"CLICK", "COMPLAINT", "DELIVERY", "DELIVERY_CLICK", "DELIVERY_COMPLAINT", "DELIVERY_OPEN", "OPEN", "PERMANENT_BOUNCE", "SEND", "TRANSIENT_BOUNCE"}

// metricList names the metrics Sesame keeps, for messages.
func metricList() string {
	names := make([]string, len(stats.Metrics))
	for i, m := range stats.Metrics {
		names[i] = string(m)
	}
	return strings.Join(names, ", ")
}

// dimensionNames are the model's MetricDimensionName values; Sesame has
// no tenants, so TENANT_NAME gets an Errors entry.
var dimensionNames = []string{"CONFIGURATION_SET", "EMAIL_IDENTITY", "ISP", "TENANT_NAME"}

// metricDate is a timestamp member of a request body: epoch seconds (the
// REST-JSON default, what the SDKs send), or, leniently, an RFC 3339
// string.
type metricDate struct {
	t   time.Time
	set bool
}

func (d *metricDate) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("%q is not a timestamp (epoch seconds or RFC 3339)", s)
		}
		d.t, d.set = t, true
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e11 {
		return fmt.Errorf("%s is not a timestamp (epoch seconds or RFC 3339)", b)
	}
	sec, frac := math.Modf(f)
	d.t, d.set = time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond)), true
	return nil
}

type metricQueryInput struct {
	Id         *string
	Namespace  *string
	Metric     *string
	Dimensions map[string]string
	StartDate  metricDate
	EndDate    metricDate
}

type metricDataResult struct {
	Id         string
	Timestamps []epoch
	Values     []int64
}

type metricDataError struct {
	Id      string
	Code    string
	Message string
}

type batchGetMetricDataOutput struct {
	Results []metricDataResult
	Errors  []metricDataError
}

// BatchGetMetricData: VDM's sending metrics, over the account's
// statistics (Options.MetricData; stats.Store.MetricData). Sesame keeps
// SEND, DELIVERY, PERMANENT_BOUNCE, TRANSIENT_BOUNCE, COMPLAINT, OPEN and
// CLICK, by EMAIL_IDENTITY, CONFIGURATION_SET and ISP (the recipient's
// mailbox provider, from its MX hosts). OPEN and CLICK are, as in the
// model ("unique open/click events"), the messages with at least one
// Open (Click) event that day, each counted once however often it was
// opened (clicked), under its first recipient. Data is daily, as VDM's: one timestamp
// (00:00 UTC) per day from StartDate's day to EndDate's that has a
// non-zero value. Every recipient counts, mailbox-simulator ones included
// (ISP "Simulator"), where VDM leaves out simulator mail and messages with
// several recipients.
//
// A malformed request (no or more than 10 queries, a query without Id,
// Namespace, Metric, StartDate or EndDate, a Namespace other than VDM, a
// Metric or dimension outside the model's enums, more than 3 dimensions,
// a duplicate Id, an EndDate before its StartDate) is a
// BadRequestException naming the query and the rule. A query for a metric
// or dimension of the model that Sesame does not keep (DELIVERY_OPEN,
// DELIVERY_CLICK and DELIVERY_COMPLAINT, the deliveries of mail with open
// trackers, with click trackers, to ISPs with a feedback loop; TENANT_NAME) gets an
// Errors entry with Code INTERNAL_FAILURE saying so; the other queries are
// answered.
func (h *handler) batchGetMetricData(r *http.Request, c sesapi.Caller) (any, error) {
	if h.metricData == nil {
		return nil, errors.New("sesv2: BatchGetMetricData needs Options.MetricData")
	}
	var in struct{ Queries []metricQueryInput }
	if err := decodeBody(r, &in); err != nil {
		return nil, err // a bad StartDate or EndDate included: metricDate's error is in the message
	}
	switch {
	case len(in.Queries) == 0:
		return nil, badRequest("Queries is required: give between 1 and %d queries.", maxMetricQueries)
	case len(in.Queries) > maxMetricQueries:
		return nil, badRequest("Too many queries: %d given, at most %d are allowed per request.", len(in.Queries), maxMetricQueries)
	}
	type job struct {
		id      string
		q       stats.MetricQuery
		problem string // an Errors entry instead of a result
	}
	jobs := make([]job, len(in.Queries))
	seen := map[string]bool{}
	for i, q := range in.Queries {
		where := fmt.Sprintf("Queries[%d]", i)
		if q.Id == nil || *q.Id == "" {
			return nil, badRequest("%s.Id is required (1 to %d characters).", where, maxQueryIDLength)
		}
		id := *q.Id
		if len(id) > maxQueryIDLength {
			return nil, badRequest("%s.Id is %d characters long; at most %d are allowed.", where, len(id), maxQueryIDLength)
		}
		if seen[id] {
			return nil, badRequest("%s.Id %q is used by another query; each query needs its own Id.", where, id)
		}
		seen[id] = true
		where = fmt.Sprintf("Query %q", id)
		switch {
		case q.Namespace == nil || *q.Namespace == "":
			return nil, badRequest("%s: Namespace is required; the only namespace is VDM.", where)
		case *q.Namespace != "VDM":
			return nil, badRequest("%s: Namespace %q is not valid; the only namespace is VDM.", where, *q.Namespace)
		case q.Metric == nil || *q.Metric == "":
			return nil, badRequest("%s: Metric is required (one of %s).", where, strings.Join(metricNames, ", "))
		case !slices.Contains(metricNames, *q.Metric):
			return nil, badRequest("%s: Metric %q is not valid; valid values are %s.", where, *q.Metric, strings.Join(metricNames, ", "))
		case !q.StartDate.set:
			return nil, badRequest("%s: StartDate is required.", where)
		case !q.EndDate.set:
			return nil, badRequest("%s: EndDate is required.", where)
		case q.EndDate.t.Before(q.StartDate.t):
			return nil, badRequest("%s: EndDate (%s) must not be before StartDate (%s).", where,
				q.EndDate.t.UTC().Format(time.RFC3339), q.StartDate.t.UTC().Format(time.RFC3339))
		case len(q.Dimensions) > maxDimensions:
			return nil, badRequest("%s: %d Dimensions given; at most %d are allowed.", where, len(q.Dimensions), maxDimensions)
		}
		j := job{id: id, q: stats.MetricQuery{Metric: stats.Metric(*q.Metric), Start: q.StartDate.t, End: q.EndDate.t}}
		if !slices.Contains(stats.Metrics, j.q.Metric) {
			j.problem = fmt.Sprintf("Sesame does not keep the metric %s (it does not record which delivered messages carried trackers or went to an ISP with a feedback loop); it keeps %s.", *q.Metric, metricList())
		}
		dims := make([]string, 0, len(q.Dimensions))
		for name := range q.Dimensions {
			dims = append(dims, name)
		}
		slices.Sort(dims)
		for _, name := range dims {
			v := q.Dimensions[name]
			switch {
			case !slices.Contains(dimensionNames, name):
				return nil, badRequest("%s: dimension %q is not valid; valid dimensions are %s.", where, name, strings.Join(dimensionNames, ", "))
			case v == "":
				return nil, badRequest("%s: the value of dimension %s is empty.", where, name)
			case !slices.Contains(stats.Dimensions, stats.Dimension(name)):
				if j.problem == "" {
					j.problem = fmt.Sprintf("Sesame does not keep the dimension %s (it has no tenants); it keeps EMAIL_IDENTITY, CONFIGURATION_SET and ISP.", name)
				}
			}
			if j.q.Dimensions == nil {
				j.q.Dimensions = map[stats.Dimension]string{}
			}
			j.q.Dimensions[stats.Dimension(name)] = v
		}
		jobs[i] = j
	}
	out := batchGetMetricDataOutput{Results: []metricDataResult{}, Errors: []metricDataError{}}
	for _, j := range jobs {
		if j.problem != "" {
			out.Errors = append(out.Errors, metricDataError{Id: j.id, Code: "INTERNAL_FAILURE", Message: j.problem})
			continue
		}
		data, err := h.metricData(r.Context(), c.AccountID, j.q)
		if errors.Is(err, stats.ErrInvalid) {
			return nil, badRequest("Query %q: %s", j.id, strings.TrimPrefix(err.Error(), stats.ErrInvalid.Error()+": "))
		}
		if err != nil {
			return nil, err
		}
		res := metricDataResult{Id: j.id, Timestamps: make([]epoch, len(data.Timestamps)), Values: data.Values}
		for i, t := range data.Timestamps {
			res.Timestamps[i] = epoch(t)
		}
		out.Results = append(out.Results, res)
	}
	return out, nil
}
