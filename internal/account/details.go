package account

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/addr"
	"github.com/sesame-email/sesame/internal/db"
)

// Details is an account's description and production-access request (v2
// PutAccountDetails), kept for the operator.
type Details struct {
	MailType           string // MARKETING or TRANSACTIONAL
	WebsiteURL         string
	ContactLanguage    string // EN or JA, or ""
	UseCaseDescription string
	AdditionalContacts []string
	// ReviewStatus is PENDING while production access is requested and not
	// granted, GRANTED once `sesame account production` ran; "" when no
	// access was asked for.
	ReviewStatus string
	CaseID       string
	UpdatedAt    time.Time
}

// SetDetails validates and stores the account's details. With
// requestProduction, a sandboxed account's review becomes PENDING (the
// operator grants it with `sesame account production`). Nothing is stored
// when a rule is broken.
func (s *Store) SetDetails(ctx context.Context, accountID string, d Details, requestProduction bool) error {
	switch {
	case d.MailType != "MARKETING" && d.MailType != "TRANSACTIONAL":
		return fmt.Errorf("%w: MailType must be MARKETING or TRANSACTIONAL", ErrInvalid)
	case d.WebsiteURL == "" || len(d.WebsiteURL) > 1000 || !(strings.HasPrefix(d.WebsiteURL, "http://") || strings.HasPrefix(d.WebsiteURL, "https://")):
		return fmt.Errorf("%w: WebsiteURL must be an http(s) URL of at most 1000 characters", ErrInvalid)
	case d.ContactLanguage != "" && d.ContactLanguage != "EN" && d.ContactLanguage != "JA":
		return fmt.Errorf("%w: ContactLanguage must be EN or JA", ErrInvalid)
	case len(d.UseCaseDescription) > 5000:
		return fmt.Errorf("%w: UseCaseDescription is at most 5000 characters", ErrInvalid)
	case len(d.AdditionalContacts) > 4:
		return fmt.Errorf("%w: at most 4 AdditionalContactEmailAddresses", ErrInvalid)
	}
	for _, c := range d.AdditionalContacts {
		if _, err := addr.ParseAddress(c); err != nil {
			return fmt.Errorf("%w: AdditionalContactEmailAddresses: %v", ErrInvalid, err)
		}
	}
	a, err := s.Get(ctx, accountID)
	if err != nil {
		return err
	}
	old, err := s.Details(ctx, accountID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	d.ReviewStatus, d.CaseID = "", ""
	if old != nil {
		d.ReviewStatus, d.CaseID = old.ReviewStatus, old.CaseID
	}
	if requestProduction && a.Sandbox && d.ReviewStatus != "PENDING" {
		d.ReviewStatus, d.CaseID = "PENDING", digits(10)
	}
	_, err = s.db.Exec(ctx, `INSERT INTO account_details (account_id, mail_type, website_url, contact_language, use_case_description, additional_contacts, review_status, case_id, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (account_id) DO UPDATE SET mail_type = excluded.mail_type, website_url = excluded.website_url, contact_language = excluded.contact_language,
		use_case_description = excluded.use_case_description, additional_contacts = excluded.additional_contacts, review_status = excluded.review_status,
		case_id = excluded.case_id, updated_at = excluded.updated_at`,
		accountID, d.MailType, d.WebsiteURL, d.ContactLanguage, d.UseCaseDescription, strings.Join(d.AdditionalContacts, ","), d.ReviewStatus, d.CaseID, db.Millis(s.now()))
	if err != nil {
		return fmt.Errorf("account: set details: %w", err)
	}
	return nil
}

// Details returns the account's stored details; ErrNotFound when none.
func (s *Store) Details(ctx context.Context, accountID string) (*Details, error) {
	var d Details
	var contacts string
	var at int64
	err := s.db.QueryRow(ctx, `SELECT mail_type, website_url, contact_language, use_case_description, additional_contacts, review_status, case_id, updated_at FROM account_details WHERE account_id = ?`, accountID).
		Scan(&d.MailType, &d.WebsiteURL, &d.ContactLanguage, &d.UseCaseDescription, &contacts, &d.ReviewStatus, &d.CaseID, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: no details for %s", ErrNotFound, accountID)
	}
	if err != nil {
		return nil, fmt.Errorf("account: details: %w", err)
	}
	if contacts != "" {
		d.AdditionalContacts = strings.Split(contacts, ",")
	}
	d.UpdatedAt = db.Time(at)
	return &d, nil
}
