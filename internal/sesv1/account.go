package sesv1

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/sesame-email/sesame/internal/account"
)

type getSendQuotaResult struct {
	Max24HourSend   string
	MaxSendRate     string
	SentLast24Hours string
}

// formatDouble writes a double as SES does: 200.0, not 200.
func formatDouble(f float64) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	for _, c := range s {
		if c == '.' || c == 'e' {
			return s
		}
	}
	return s + ".0"
}

// GetSendQuota: the account's quotas and its recipients in the last 24 hours.
func (h *handler) getSendQuota(c *call) (any, error) {
	if h.accounts == nil || h.queue == nil {
		return nil, fmt.Errorf("sesv1: GetSendQuota needs the account and queue stores")
	}
	a, err := h.accounts.Get(c.ctx, c.account)
	if err != nil {
		return nil, err
	}
	n, err := h.queue.SentSince(c.ctx, c.account, h.now().Add(-24*time.Hour))
	if err != nil {
		return nil, err
	}
	return getSendQuotaResult{Max24HourSend: formatDouble(a.Max24HourSend), MaxSendRate: formatDouble(a.MaxSendRate), SentLast24Hours: formatDouble(float64(n))}, nil
}

type getAccountSendingEnabledResult struct {
	Enabled bool
}

// GetAccountSendingEnabled: whether the account may send.
func (h *handler) getAccountSendingEnabled(c *call) (any, error) {
	if h.accounts == nil {
		return nil, fmt.Errorf("sesv1: GetAccountSendingEnabled needs the account store")
	}
	a, err := h.accounts.Get(c.ctx, c.account)
	if err != nil {
		return nil, err
	}
	return getAccountSendingEnabledResult{Enabled: a.SendingEnabled}, nil
}

// UpdateAccountSendingEnabled: pause or resume sending (no Result element).
func (h *handler) updateAccountSendingEnabled(c *call) (any, error) {
	if h.accounts == nil {
		return nil, fmt.Errorf("sesv1: UpdateAccountSendingEnabled needs the account store")
	}
	enabled := false // the model's member is optional; absent means false, as the SDKs send it
	if c.param("Enabled") != "" {
		v, err := c.requiredBool("Enabled")
		if err != nil {
			return nil, err
		}
		enabled = v
	}
	if !enabled {
		return nil, h.accounts.SetSendingEnabled(c.ctx, c.account, false)
	}
	err := h.accounts.ResumeSending(c.ctx, c.account, h.enforcement)
	if errors.Is(err, account.ErrShutdown) {
		return nil, invalidParameter("%s", account.ShutdownMessage)
	}
	return nil, err
}
