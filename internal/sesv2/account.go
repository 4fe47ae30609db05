package sesv2

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/sesapi"
)

type sendQuota struct {
	Max24HourSend   float64
	MaxSendRate     float64
	SentLast24Hours float64
}

type getAccountOutput struct {
	DedicatedIpAutoWarmupEnabled bool
	Details                      *accountDetails `json:",omitempty"`
	EnforcementStatus            string
	ProductionAccessEnabled      bool
	SendQuota                    sendQuota
	SendingEnabled               bool
	SuppressionAttributes        *suppressionAttributes `json:",omitempty"`
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
	details, err := h.details(r, c.AccountID)
	if err != nil {
		return nil, err
	}
	supp, err := h.accountSuppressionAttributes(r, c.AccountID)
	if err != nil {
		return nil, err
	}
	enforcement := "HEALTHY"
	if h.enforcement != nil {
		if enforcement, err = h.enforcement(r.Context(), c.AccountID); err != nil {
			return nil, err
		}
	}
	return getAccountOutput{
		Details:                 details,
		EnforcementStatus:       enforcement,
		ProductionAccessEnabled: !a.Sandbox,
		SendQuota:               sendQuota{Max24HourSend: a.Max24HourSend, MaxSendRate: a.MaxSendRate, SentLast24Hours: float64(n)},
		SendingEnabled:          a.SendingEnabled,
		SuppressionAttributes:   supp,
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
	if !in.SendingEnabled {
		return nil, h.accounts.SetSendingEnabled(r.Context(), c.AccountID, false)
	}
	err := h.accounts.ResumeSending(r.Context(), c.AccountID, h.enforcement)
	if errors.Is(err, account.ErrShutdown) {
		return nil, badRequest("%s", account.ShutdownMessage)
	}
	return nil, err
}

type accountDetails struct {
	MailType                        string
	WebsiteURL                      string
	ContactLanguage                 string   `json:",omitempty"`
	UseCaseDescription              string   `json:",omitempty"`
	AdditionalContactEmailAddresses []string `json:",omitempty"`
	ReviewDetails                   *struct {
		Status string
		CaseId string
	} `json:",omitempty"`
}

// details returns GetAccount's Details member, nil when none were given.
func (h *handler) details(r *http.Request, accountID string) (*accountDetails, error) {
	d, err := h.accounts.Details(r.Context(), accountID)
	if errors.Is(err, account.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := &accountDetails{MailType: d.MailType, WebsiteURL: d.WebsiteURL, ContactLanguage: d.ContactLanguage,
		UseCaseDescription: d.UseCaseDescription, AdditionalContactEmailAddresses: d.AdditionalContacts}
	if d.ReviewStatus != "" {
		out.ReviewDetails = &struct {
			Status string
			CaseId string
		}{d.ReviewStatus, d.CaseID}
	}
	return out, nil
}

// putAccountDetails: POST /v2/email/account/details — recorded for the
// operator, who grants production access with `sesame account production`.
func (h *handler) putAccountDetails(r *http.Request, c sesapi.Caller) (any, error) {
	if h.accounts == nil {
		return nil, errors.New("sesv2: PutAccountDetails needs the account store")
	}
	var in struct {
		MailType, WebsiteURL, ContactLanguage, UseCaseDescription string
		AdditionalContactEmailAddresses                           []string
		ProductionAccessEnabled                                   *bool
	}
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	d := account.Details{MailType: in.MailType, WebsiteURL: in.WebsiteURL, ContactLanguage: in.ContactLanguage,
		UseCaseDescription: in.UseCaseDescription, AdditionalContacts: in.AdditionalContactEmailAddresses}
	err := h.accounts.SetDetails(r.Context(), c.AccountID, d, in.ProductionAccessEnabled != nil && *in.ProductionAccessEnabled)
	if errors.Is(err, account.ErrInvalid) {
		return nil, badRequest("%s", strings.TrimPrefix(err.Error(), account.ErrInvalid.Error()+": "))
	}
	return nil, err
}
