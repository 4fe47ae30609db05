// Package e2e holds Sesame's end-to-end tests and benchmarks: they build
// the sesame binary, run `sesame serve` as a child process on SQLite and
// (when SESAME_TEST_DATABASE_URL is set) PostgreSQL, and drive it only
// through its real peers: the AWS SDK for Go v2 over HTTP with SigV4, the
// admin CLI, an in-process DNS server playing the customers' zones
// (internal/dnstest) and an in-process go-smtp server playing the
// recipients' MX host.
//
// TestCrashRecovery kills the server with SIGKILL in the middle of a burst
// of sends, restarts it on the same database and checks that every
// MessageId the API returned reaches the recipient's server.
// TestAPILimits attacks the API with stalled uploads of 56 MB bodies,
// unsigned and badly signed, and checks the server's peak RSS
// (/proc/<pid>/status), that real SDK requests are served meanwhile, and
// that an idle keep-alive connection is closed after --api-idle-timeout.
// BenchmarkSendPath measures the whole sending path:
//
//	go test -run '^$' -bench SendPath -benchtime 1x ./e2e/
//
// (SESAME_BENCH_MESSAGES sets the number of messages, 20,000 by default;
// SESAME_BENCH_CONCURRENCY the number of concurrent API clients, 16 by
// default; SESAME_BENCH_MAX_24H_SEND gives the account a daily quota,
// unlimited by default; SESAME_BENCH_CPU_PROFILE=DIR makes each server
// write its CPU profile, named for the sub-benchmark, into DIR: the servers
// then stop with SIGTERM, which writes it, instead of SIGKILL.)
//
// The package has no code of its own.
package e2e
