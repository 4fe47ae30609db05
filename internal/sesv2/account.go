package sesv2

import (
	"errors"
	"net/http"
	"time"

	"github.com/sesame-email/sesame/internal/sesapi"
)

type sendQuota struct {
	Max24HourSend   float64
	MaxSendRate     float64
	SentLast24Hours float64
}

type getAccountOutput struct {
	DedicatedIpAutoWarmupEnabled bool
	EnforcementStatus            string
	ProductionAccessEnabled      bool
	SendQuota                    sendQuota
	SendingEnabled               bool
}

// getAccount: GET /v2/email/account — quotas, sandbox and sending state.
func (h *handler) getAccount(r *http.Request, c sesapi.Caller) (any, error) {
	if h.accounts == nil || h.queue == nil {
		return nil, errors.New("sesv2: GetAccount needs the account and queue stores")
	}
	a, err := h.accounts.Get(r.Context(), c.AccountID)
	if err != nil {
		return nil, err
	}
	n, err := h.queue.SentSince(r.Context(), c.AccountID, h.now().Add(-24*time.Hour))
	if err != nil {
		return nil, err
	}
	return getAccountOutput{
		EnforcementStatus:       "HEALTHY",
		ProductionAccessEnabled: !a.Sandbox,
		SendQuota:               sendQuota{Max24HourSend: a.Max24HourSend, MaxSendRate: a.MaxSendRate, SentLast24Hours: float64(n)},
		SendingEnabled:          a.SendingEnabled,
	}, nil
}

// putAccountSendingAttributes: PUT /v2/email/account/sending {SendingEnabled}.
func (h *handler) putAccountSendingAttributes(r *http.Request, c sesapi.Caller) (any, error) {
	if h.accounts == nil {
		return nil, errors.New("sesv2: PutAccountSendingAttributes needs the account store")
	}
	var in struct{ SendingEnabled bool }
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	return nil, h.accounts.SetSendingEnabled(r.Context(), c.AccountID, in.SendingEnabled)
}
