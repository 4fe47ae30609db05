package configset

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/sesame-email/sesame/internal/db"
)

// Destinations returns all the event destinations of the account's set,
// by name, read through q (the publisher reads them inside its batch
// transaction). An unknown set, or a set without destinations: nil, nil.
func (s *Store) Destinations(ctx context.Context, q db.Querier, accountID, name string) ([]Destination, error) {
	rows, err := q.Query(ctx, `SELECT name, enabled, matching_event_types, sns_topic_arn, cloudwatch FROM event_destinations
		WHERE account_id = ? AND configuration_set = ? ORDER BY name`, accountID, name)
	if err != nil {
		return nil, fmt.Errorf("configset: destinations of %s: %w", name, err)
	}
	defer rows.Close()
	var out []Destination
	for rows.Next() {
		var (
			d     Destination
			types string
			cw    *string
		)
		if err := rows.Scan(&d.Name, &d.Enabled, &types, &d.SNSTopicARN, &cw); err != nil {
			return nil, fmt.Errorf("configset: destinations of %s: %w", name, err)
		}
		d.MatchingEventTypes = splitList(types)
		if cw != nil {
			d.CloudWatch = []Dimension{}
			if err := json.Unmarshal([]byte(*cw), &d.CloudWatch); err != nil {
				return nil, fmt.Errorf("configset: dimensions of %s/%s: %w", name, d.Name, err)
			}
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("configset: destinations of %s: %w", name, err)
	}
	return out, nil
}

// EventDestinations is Destinations for the API: an unknown set is a
// *NotFoundError, and a set without destinations an empty, non-nil list.
func (s *Store) EventDestinations(ctx context.Context, accountID, name string) ([]Destination, error) {
	var out []Destination
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		if _, err := GetIn(ctx, tx, accountID, name); err != nil {
			return err
		}
		var err error
		out, err = s.Destinations(ctx, tx, accountID, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []Destination{}
	}
	return out, nil
}

// checkTopic refuses an SNS destination whose topic the account does not
// own (TopicExists); v1 calls that InvalidSNSDestination.
func (s *Store) checkTopic(ctx context.Context, accountID string, d *Destination) error {
	if d.SNSTopicARN == "" {
		return nil
	}
	ok := false
	if s.opts.TopicExists != nil {
		var err error
		if ok, err = s.opts.TopicExists(ctx, accountID, d.SNSTopicARN); err != nil {
			return fmt.Errorf("configset: look up SNS topic %s: %w", d.SNSTopicARN, err)
		}
	}
	if !ok {
		return invalid(InvalidSNS, "SnsDestination.TopicArn", "SNS topic %s not found.", d.SNSTopicARN)
	}
	return nil
}

// validated publishes the validation message to a new or changed SNS
// destination's topic. The destination is stored already, so a failure
// is logged, not returned.
func (s *Store) validated(ctx context.Context, accountID, set string, d *Destination) {
	if d.SNSTopicARN == "" || s.opts.Validated == nil {
		return
	}
	if err := s.opts.Validated(ctx, accountID, d.SNSTopicARN); err != nil {
		s.log.Warn("could not publish the SNS validation message", "account", accountID, "configuration_set", set, "destination", d.Name, "topic", d.SNSTopicARN, "err", err)
	}
}

func encodeDestination(d *Destination) (types string, cw any, err error) {
	types = strings.Join(d.MatchingEventTypes, ",")
	if d.CloudWatch != nil {
		b, err := json.Marshal(d.CloudWatch)
		if err != nil {
			return "", nil, fmt.Errorf("configset: encode dimensions: %w", err)
		}
		cw = string(b)
	}
	return types, cw, nil
}

// dedupe returns the event types each once, in the order given.
func dedupe(types []string) []string {
	out := make([]string, 0, len(types))
	for _, t := range types {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// prepare checks a destination before it is stored (its event types once
// each, its shape, its SNS topic the account's) and encodes its columns.
func (s *Store) prepare(ctx context.Context, accountID string, d *Destination) (types string, cw any, err error) {
	d.MatchingEventTypes = dedupe(d.MatchingEventTypes)
	if err := validateDestination(d); err != nil {
		return "", nil, err
	}
	if err := s.checkTopic(ctx, accountID, d); err != nil {
		return "", nil, err
	}
	return encodeDestination(d)
}

// CreateDestination adds an event destination to the account's set: an
// unknown set is a *NotFoundError, a name in use an *ExistsError, the
// 11th destination a *LimitError, a bad shape or an SNS topic the
// account does not own an *InvalidError. After it is stored, an SNS
// destination's topic gets SES's validation message (Options.Validated).
func (s *Store) CreateDestination(ctx context.Context, accountID, set string, d Destination) error {
	types, cw, err := s.prepare(ctx, accountID, &d)
	if err != nil {
		return err
	}
	err = s.update(ctx, accountID, set, func(tx *db.Tx, _ *Set) error {
		var n, exists int64
		err := tx.QueryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN name = ? THEN 1 ELSE 0 END), 0) FROM event_destinations
			WHERE account_id = ? AND configuration_set = ?`, d.Name, accountID, set).Scan(&n, &exists)
		if err != nil {
			return fmt.Errorf("configset: destinations of %s: %w", set, err)
		}
		if exists > 0 {
			return &ExistsError{Set: set, Destination: d.Name}
		}
		if n >= MaxDestinations {
			return &LimitError{Msg: fmt.Sprintf("Configuration set %s has the maximum number of event destinations (%d).", set, MaxDestinations)}
		}
		_, err = tx.Exec(ctx, `INSERT INTO event_destinations (account_id, configuration_set, name, enabled, matching_event_types, sns_topic_arn, cloudwatch, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, accountID, set, d.Name, d.Enabled, types, d.SNSTopicARN, cw, db.Millis(s.now()))
		if db.IsUniqueViolation(err) {
			return &ExistsError{Set: set, Destination: d.Name}
		}
		if err != nil {
			return fmt.Errorf("configset: create destination %s of %s: %w", d.Name, set, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.validated(ctx, accountID, set, &d)
	return nil
}

// UpdateDestination replaces an event destination of the account's set
// (every member: the kind may change). Errors as CreateDestination's; an
// unknown destination is a *NotFoundError naming it.
func (s *Store) UpdateDestination(ctx context.Context, accountID, set string, d Destination) error {
	types, cw, err := s.prepare(ctx, accountID, &d)
	if err != nil {
		return err
	}
	err = s.update(ctx, accountID, set, func(tx *db.Tx, _ *Set) error {
		res, err := tx.Exec(ctx, `UPDATE event_destinations SET enabled = ?, matching_event_types = ?, sns_topic_arn = ?, cloudwatch = ?
			WHERE account_id = ? AND configuration_set = ? AND name = ?`, d.Enabled, types, d.SNSTopicARN, cw, accountID, set, d.Name)
		if err != nil {
			return fmt.Errorf("configset: update destination %s of %s: %w", d.Name, set, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("configset: update destination %s of %s: %w", d.Name, set, err)
		} else if n == 0 {
			return &NotFoundError{Set: set, Destination: d.Name}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.validated(ctx, accountID, set, &d)
	return nil
}

// DeleteDestination removes an event destination of the account's set.
func (s *Store) DeleteDestination(ctx context.Context, accountID, set, name string) error {
	return s.update(ctx, accountID, set, func(tx *db.Tx, _ *Set) error {
		res, err := tx.Exec(ctx, `DELETE FROM event_destinations WHERE account_id = ? AND configuration_set = ? AND name = ?`, accountID, set, name)
		if err != nil {
			return fmt.Errorf("configset: delete destination %s of %s: %w", name, set, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("configset: delete destination %s of %s: %w", name, set, err)
		} else if n == 0 {
			return &NotFoundError{Set: set, Destination: name}
		}
		return nil
	})
}
