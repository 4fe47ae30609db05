package template

// SetLimit lowers the store's templates-per-account limit, so the limit
// is tested without creating 20,000 templates.
func SetLimit(s *Store, n int) { s.limit = n }
