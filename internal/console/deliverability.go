package console

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/readiness"
	"github.com/sesame-email/sesame/internal/reputation"
	"github.com/sesame-email/sesame/internal/stats"
)

// DailyStats reads the send statistics per day (stats.Store.Daily).
type DailyStats interface {
	Daily(ctx context.Context, accountID string, since time.Time) ([]stats.DailyRow, error)
}

// Reputation reads the guardrails' stored state (reputation.Guard).
type Reputation interface {
	Account(ctx context.Context, accountID string) (reputation.AccountState, error)
	Set(ctx context.Context, accountID, set string) (reputation.SetState, error)
}

// maxReadiness is how many sending domains the page reports readiness
// for (each report looks up DNS records).
const maxReadiness = 20

// The chart's drawing area, in SVG user units.
const (
	chartW, chartH = 640, 160
	chartLeft      = 44
)

// counts are a group's sums over the page's days.
type counts struct {
	Sends, Deliveries, PermanentBounces, TransientBounces, Complaints int64
}

func (n *counts) add(r stats.DailyRow) {
	n.Sends += r.Sends
	n.Deliveries += r.Deliveries
	n.PermanentBounces += r.PermanentBounces
	n.TransientBounces += r.TransientBounces
	n.Complaints += r.Complaints
}

// line is one series of a chart.
type line struct {
	Name, Class string
	Points      string // the polyline's points
	Total       int64
}

// rate is a rate against the guardrails' two levels.
type rate struct {
	Text   string // "1.25%"
	Level  string // ok, review or pause: the badge
	Review string // the review (PROBATION) level, "5%"
	Pause  string // the pause (SHUTDOWN) level
}

// chart is one from-domain's or configuration set's daily counts.
type chart struct {
	ID    string // the element id: chart-domain-<name> or chart-set-<name>
	Name  string
	Title string
	// All counts every recipient; Real leaves the mailbox simulator's
	// out, as the guardrails' rates do.
	All, Real           counts
	Simulator           int64 // simulator recipients' sends
	Bounce, Complaint   rate  // of Real
	Lines               []line
	Max                 int64
	First, Middle, Last string // the x axis' labels
	Readiness           *readinessSummary
	rows                map[time.Time]*counts
}

// readinessSummary is a sending domain's readiness in a line.
type readinessSummary struct {
	Domain   string
	Identity string // the auth check's identity ("" when none is verified)
	Ready    bool
	Result   string // DMARC's result now
	Failing  []string
	Problem  string // why there is no report
}

// ispShare is one mailbox provider's part of the sends.
type ispShare struct {
	ISP   string
	Sends int64
	Share string
}

// setState is a configuration set's pause state.
type setState struct {
	Name           string
	SendingEnabled bool
	GuardPaused    bool
	PausedAt       time.Time
	Threshold      string // the operator's, "" for none
	Last           string // the guard's last rates
}

// deliverabilityData is the Deliverability page's.
type deliverabilityData struct {
	Days    int
	Choices []int
	From    time.Time
	Account reputation.AccountState
	// AccountBounce and AccountComplaint are the guard's last evaluation.
	AccountBounce, AccountComplaint rate
	Domains, Sets                   []*chart
	ISPs                            []ispShare
	ConfigSets                      []setState
	Legend                          []line
}

// pctText formats a rate as a percentage.
func pctText(r float64) string {
	s := strconv.FormatFloat(r*100, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + "%"
}

// rateOf judges v against the guardrails' review and pause levels.
func rateOf(v, review, pause float64, hasSends bool) rate {
	r := rate{Text: pctText(v), Level: "ok", Review: pctText(review), Pause: pctText(pause)}
	switch {
	case !hasSends:
		r.Text, r.Level = "—", "none"
	case v >= pause:
		r.Level = "pause"
	case v >= review:
		r.Level = "review"
	}
	return r
}

func ratio(n, d int64) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// seriesOf are the charts' lines: what they draw and their CSS class.
var seriesOf = []struct {
	name, class string
	value       func(*counts) int64
}{
	{"Sends", "s-sends", func(n *counts) int64 { return n.Sends }},
	{"Deliveries", "s-deliveries", func(n *counts) int64 { return n.Deliveries }},
	{"Permanent bounces", "s-permanent", func(n *counts) int64 { return n.PermanentBounces }},
	{"Transient bounces", "s-transient", func(n *counts) int64 { return n.TransientBounces }},
	{"Complaints", "s-complaints", func(n *counts) int64 { return n.Complaints }},
}

// draw computes the chart's lines over days.
func (ch *chart) draw(days []time.Time) {
	ch.Bounce = rateOf(ratio(ch.Real.PermanentBounces, ch.Real.Sends), reputation.ReviewBounceRate, reputation.PauseBounceRate, ch.Real.Sends > 0)
	ch.Complaint = rateOf(ratio(ch.Real.Complaints, ch.Real.Sends), reputation.ReviewComplaintRate, reputation.PauseComplaintRate, ch.Real.Sends > 0)
	for _, n := range ch.rows {
		for _, s := range seriesOf {
			ch.Max = max(ch.Max, s.value(n))
		}
	}
	top := max(ch.Max, 1)
	step := float64(chartW-chartLeft) / float64(max(len(days)-1, 1))
	for _, s := range seriesOf {
		l := line{Name: s.name, Class: s.class}
		var pts []string
		for i, d := range days {
			var v int64
			if n := ch.rows[d]; n != nil {
				v = s.value(n)
			}
			l.Total += v
			x := float64(chartLeft) + float64(i)*step
			y := chartH - float64(v)/float64(top)*(chartH-8)
			pts = append(pts, strconv.FormatFloat(x, 'f', 1, 64)+","+strconv.FormatFloat(y, 'f', 1, 64))
		}
		l.Points = strings.Join(pts, " ")
		ch.Lines = append(ch.Lines, l)
	}
	ch.First, ch.Middle, ch.Last = days[0].Format("Jan 2"), days[len(days)/2].Format("Jan 2"), days[len(days)-1].Format("Jan 2")
}

// fromDomain is the domain part of a sending identity.
func fromDomain(identity string) string {
	if i := strings.LastIndexByte(identity, '@'); i >= 0 {
		return strings.ToLower(identity[i+1:])
	}
	return strings.ToLower(identity)
}

func (c *Console) deliverabilityPage(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	d := deliverabilityData{Days: 14, Choices: []int{14, 30}, Legend: []line{}}
	if v := r.URL.Query().Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || !slices.Contains(d.Choices, n) {
			c.render(w, http.StatusBadRequest, "error", view{Title: "Deliverability", Session: se, Nav: "deliverability",
				Error: "days must be 14 or 30 (the charts show the last 14 or 30 days)."})
			return
		}
		d.Days = n
	}
	today := c.now().UTC().Truncate(stats.Day)
	days := make([]time.Time, d.Days)
	for i := range days {
		days[i] = today.Add(-time.Duration(d.Days-1-i) * stats.Day)
	}
	d.From = days[0]
	rows, err := c.opts.Stats.Daily(ctx, se.AccountID, d.From)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	domains, sets := map[string]*chart{}, map[string]*chart{}
	group := func(m map[string]*chart, kind, name string) *chart {
		ch := m[name]
		if ch == nil {
			ch = &chart{ID: "chart-" + kind + "-" + name, Name: name, rows: map[time.Time]*counts{}}
			m[name] = ch
		}
		return ch
	}
	isps := map[string]int64{}
	var allSends int64
	for _, row := range rows {
		day := row.Day.UTC()
		charts := []*chart{group(domains, "domain", fromDomain(row.Identity))}
		if row.Set != "" {
			charts = append(charts, group(sets, "set", row.Set))
		}
		for _, ch := range charts {
			ch.All.add(row)
			if row.Simulator {
				ch.Simulator += row.Sends
			} else {
				ch.Real.add(row)
			}
			n := ch.rows[day]
			if n == nil {
				n = &counts{}
				ch.rows[day] = n
			}
			n.add(row)
		}
		isps[row.ISP] += row.Sends
		allSends += row.Sends
	}
	for _, m := range []map[string]*chart{domains, sets} {
		for _, ch := range m {
			ch.draw(days)
		}
	}
	d.Domains, d.Sets = sorted(domains), sorted(sets)
	for isp, n := range isps {
		if n > 0 {
			d.ISPs = append(d.ISPs, ispShare{ISP: isp, Sends: n, Share: pctText(ratio(n, allSends))})
		}
	}
	slices.SortFunc(d.ISPs, func(a, b ispShare) int { return cmp.Or(cmp.Compare(b.Sends, a.Sends), strings.Compare(a.ISP, b.ISP)) })
	if len(d.ISPs) > 10 {
		d.ISPs = d.ISPs[:10]
	}
	for _, s := range seriesOf {
		d.Legend = append(d.Legend, line{Name: s.name, Class: s.class})
	}
	if d.Account, err = c.opts.Reputation.Account(ctx, se.AccountID); err != nil {
		c.internal(w, r, err)
		return
	}
	has := d.Account.Last.Sends > 0
	d.AccountBounce = rateOf(d.Account.Last.Bounce, reputation.ReviewBounceRate, reputation.PauseBounceRate, has)
	d.AccountComplaint = rateOf(d.Account.Last.Complaint, reputation.ReviewComplaintRate, reputation.PauseComplaintRate, has)
	if d.ConfigSets, err = c.setStates(ctx, se.AccountID); err != nil {
		c.internal(w, r, err)
		return
	}
	if err := c.readinessOf(ctx, se.AccountID, d.Domains); err != nil {
		c.internal(w, r, err)
		return
	}
	c.render(w, http.StatusOK, "deliverability", view{Title: "Deliverability", Session: se, Nav: "deliverability", Data: d})
}

func sorted(m map[string]*chart) []*chart {
	out := make([]*chart, 0, len(m))
	for _, ch := range m {
		out = append(out, ch)
	}
	slices.SortFunc(out, func(a, b *chart) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// setStates are the account's configuration sets with their pauses.
func (c *Console) setStates(ctx context.Context, accountID string) ([]setState, error) {
	list, err := c.opts.ConfigSets.List(ctx, accountID)
	if err != nil {
		return nil, err
	}
	var out []setState
	for _, s := range list {
		g, err := c.opts.Reputation.Set(ctx, accountID, s.Name)
		if err != nil {
			return nil, err
		}
		st := setState{Name: s.Name, SendingEnabled: s.SendingEnabled, GuardPaused: g.Paused(), PausedAt: g.PausedAt}
		if g.Threshold.Bounce > 0 || g.Threshold.Complaint > 0 {
			st.Threshold = fmt.Sprintf("bounces %s, complaints %s", pctText(g.Threshold.Bounce), pctText(g.Threshold.Complaint))
		}
		if g.Last.Sends > 0 {
			st.Last = fmt.Sprintf("%d sends: bounces %s, complaints %s", g.Last.Sends, pctText(g.Last.Bounce), pctText(g.Last.Complaint))
		}
		out = append(out, st)
	}
	return out, nil
}

// readinessOf adds the readiness summary of each sending domain (the
// first maxReadiness).
func (c *Console) readinessOf(ctx context.Context, accountID string, domains []*chart) error {
	for k, ch := range domains {
		if k == maxReadiness {
			break
		}
		s := &readinessSummary{Domain: ch.Name}
		rep, err := c.opts.Readiness.Evaluate(ctx, accountID, ch.Name)
		switch {
		case errors.Is(err, readiness.ErrNotFound):
			s.Problem = "no identity of the account covers it any more"
		case errors.Is(err, readiness.ErrNotVerified):
			s.Problem = "no identity covering it is verified"
		case err != nil:
			return err
		default:
			s.Identity, s.Ready, s.Result = rep.Identity, rep.Ready, rep.Result.Result
			for _, chk := range rep.Checks {
				if chk.Status == readiness.Fail {
					s.Failing = append(s.Failing, chk.Title)
				}
			}
		}
		ch.Readiness = s
	}
	return nil
}
