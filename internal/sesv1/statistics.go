package sesv1

import (
	"fmt"
	"strconv"
	"time"
)

// sendDataPoint is SES's SendDataPoint.
type sendDataPoint struct {
	Timestamp        string
	DeliveryAttempts string
	Bounces          string
	Complaints       string
	Rejects          string
}

type getSendStatisticsResult struct {
	SendDataPoints struct {
		Members []sendDataPoint `xml:"member"`
	}
}

// GetSendStatistics: the account's sending statistics of the last two
// weeks, one data point per 15-minute interval with activity, oldest
// first (Options.SendStatistics; stats.Store.SendStatistics).
// DeliveryAttempts counts recipients sent to, Bounces permanent and
// transient bounces.
func (h *handler) getSendStatistics(c *call) (any, error) {
	if h.sendStatistics == nil {
		return nil, fmt.Errorf("sesv1: GetSendStatistics needs Options.SendStatistics")
	}
	points, err := h.sendStatistics(c.ctx, c.account)
	if err != nil {
		return nil, err
	}
	var res getSendStatisticsResult
	res.SendDataPoints.Members = make([]sendDataPoint, len(points))
	for i, p := range points {
		res.SendDataPoints.Members[i] = sendDataPoint{
			Timestamp:        p.Timestamp.UTC().Format(time.RFC3339),
			DeliveryAttempts: strconv.FormatInt(p.DeliveryAttempts, 10),
			Bounces:          strconv.FormatInt(p.Bounces, 10),
			Complaints:       strconv.FormatInt(p.Complaints, 10),
			Rejects:          strconv.FormatInt(p.Rejects, 10),
		}
	}
	return res, nil
}
