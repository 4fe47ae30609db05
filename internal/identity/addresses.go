package identity

import "context"

// AddressesOf returns the account's address identities at domain (exactly
// that domain, not its subdomains), ordered by name: who may send from a
// domain the account has not verified as a whole.
func (s *Store) AddressesOf(ctx context.Context, accountID, domain string) ([]*Identity, error) {
	return s.query(ctx, `SELECT `+columns+` FROM identities WHERE account_id = ? AND kind = ? AND domain = ? ORDER BY name`,
		accountID, string(KindEmail), domain)
}
