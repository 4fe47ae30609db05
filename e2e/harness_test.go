package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/emersion/go-smtp"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for creating schemas

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/dnstest"
)

// The deployment every test runs.
const (
	svcDomain  = "sesame.e2e.test"
	region     = "us-east-1"
	sendDomain = "example.test" // the customer's sending domain
	rcptDomain = "rcpt.test"    // the recipients' domain, MX → 127.0.0.1
	accessKey  = "AKIAE2ETESTKEY0000001"
	secretKey  = "e2eSecretAccessKey/0123456789abcdefghijkl"
	masterKey  = "e2e master key: seals keys at rest"
)

var (
	buildDir  string // removed by TestMain
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sesame-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// binary builds ./cmd/sesame once per test binary and returns its path.
func binary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			buildErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		gomod := strings.TrimSpace(string(out))
		if gomod == "" || gomod == os.DevNull {
			buildErr = errors.New("go env GOMOD: not in a module")
			return
		}
		binPath = filepath.Join(buildDir, "sesame")
		start := time.Now()
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/sesame")
		cmd.Dir = filepath.Dir(gomod)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/sesame: %v\n%s", err, out)
			return
		}
		fmt.Fprintf(os.Stderr, "e2e: built %s in %v\n", binPath, time.Since(start).Round(time.Millisecond))
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binPath
}

// store is a database for a child process: the storage flags shared by
// `serve` and the admin commands.
type store struct {
	name  string
	flags []string
	db    db.Options // the same database, for a test that opens it itself
}

// eachStore runs fn as a subtest (or sub-benchmark) per store: "sqlite"
// always, "postgres" on a fresh schema when SESAME_TEST_DATABASE_URL is set
// (required when SESAME_REQUIRE_POSTGRES=1).
func eachStore[T interface {
	testing.TB
	Run(string, func(T)) bool
}](tb T, fn func(T, store)) {
	for _, name := range []string{"sqlite", "postgres"} {
		tb.Run(name, func(tb T) { fn(tb, newStore(tb, name)) })
	}
}

// newStore returns a fresh database of the kind name ("sqlite" or
// "postgres"; see eachStore).
func newStore(tb testing.TB, name string) store {
	if name == "sqlite" {
		dir := tb.TempDir()
		return store{name: "sqlite", flags: []string{"--data-dir", dir}, db: db.Options{DataDir: dir}}
	}
	url := dbtest.PostgresURL(tb)
	return store{name: "postgres", flags: []string{"--database-url", url, "--master-key", masterKey}, db: db.Options{URL: url}}
}

// childEnv is the test's environment without SESAME_* variables, so that
// only the flags the test passes configure the child.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SESAME_") {
			env = append(env, kv)
		}
	}
	return env
}

// admin runs an admin command of the binary against st and returns its
// output.
func admin(tb testing.TB, bin string, st store, args ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, st.flags...)...)
	cmd.Env = childEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("sesame %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// freePort returns a loopback port that is free now, for TCP and, with
// udp, for UDP too.
func freePort(tb testing.TB, udp bool) int {
	tb.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		if !udp {
			l.Close()
			return port
		}
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err == nil {
			pc.Close()
			return port
		}
	}
	tb.Fatal("no free loopback port")
	return 0
}

// server is one `sesame serve` child process.
type server struct {
	cmd    *exec.Cmd
	api    string // "http://127.0.0.1:port"
	log    string // path of its stdout and stderr
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
}

// serveOptions are the settings of a child that tests choose.
type serveOptions struct {
	apiPort, dnsPort int
	resolver         string // customers' DNS, host:port
	smtpPort         int    // recipients' MX port
	extra            []string
	env              []string // added to the child's environment (GOMAXPROCS=1)
}

// startServer starts `sesame serve` on st and waits until its API answers.
// tb.Cleanup kills it if it still runs.
func startServer(tb testing.TB, bin string, st store, o serveOptions) *server {
	tb.Helper()
	logf, err := os.CreateTemp(tb.TempDir(), "sesame-*.log")
	if err != nil {
		tb.Fatal(err)
	}
	args := append([]string{"serve",
		"--api-addr", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.apiPort)),
		"--dns-addr", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.dnsPort)),
		"--api-tls-addr", "127.0.0.1:0", // any port: the SNS links use --public-url
		"--public-url", fmt.Sprintf("http://127.0.0.1:%d", o.apiPort),
		"--feedback-addr", "127.0.0.1:0",
		"--smtp-addr", "127.0.0.1:0", "--smtps-addr", "127.0.0.1:0", // tests that use them choose ports in extra
		"--region", region, "--service-domain", svcDomain,
		"--resolver", o.resolver,
		"--check-interval", "100ms",
		"--delivery-lease", deliveryLease.String(),
		"--outbound-smtp-port", strconv.Itoa(o.smtpPort),
		"--spf-ip", "127.0.0.1",
	}, st.flags...)
	args = append(args, o.extra...)
	profile := ""
	if dir := os.Getenv("SESAME_BENCH_CPU_PROFILE"); dir != "" {
		// Written when the server stops on SIGTERM (the cleanup below).
		profile = filepath.Join(dir, strings.NewReplacer("/", "_", "=", "").Replace(tb.Name())+".pprof")
		args = append(args, "--cpu-profile", profile)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(childEnv(), o.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		tb.Fatalf("start sesame serve: %v", err)
	}
	s := &server{cmd: cmd, api: fmt.Sprintf("http://127.0.0.1:%d", o.apiPort), log: logf.Name(), exited: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	tb.Cleanup(func() {
		if profile != "" {
			s.stop()
			tb.Logf("CPU profile of sesame serve: %s", profile)
		}
		s.kill()
		if tb.Failed() {
			tb.Logf("last lines of the log of sesame serve (pid %d):\n%s", cmd.Process.Pid, tail(s.log, 40))
		}
	})

	// Ready when the API answers a signed request.
	c := v2Client(s.api, 1)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := c.GetAccount(ctx, &sesv2.GetAccountInput{})
		cancel()
		if err == nil {
			return s
		}
		select {
		case <-s.exited:
			tb.Fatalf("sesame serve exited at start: %v\n%s", s.err, tail(s.log, 40))
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("sesame serve does not answer after 60s: %v\n%s", err, tail(s.log, 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop asks the server to stop (SIGTERM) and waits for it, at most 30s.
func (s *server) stop() {
	if s.cmd.Process.Signal(syscall.SIGTERM) != nil {
		return
	}
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill() {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Kill()
	<-s.exited
}

// procStatus returns a field of /proc/<pid>/status in kB (e.g. "VmHWM"),
// or -1 when it cannot be read (not Linux, or the process is gone).
func procStatus(pid int, field string) int64 { return procField(pid, "status", field) }

// procIO returns a counter of /proc/<pid>/io (bytes), or -1 where there
// is none.
func procIO(pid int, field string) int64 { return procField(pid, "io", field) }

// procField returns the number of a "field: n" line of /proc/<pid>/<file>
// (a trailing unit such as kB dropped), or -1.
func procField(pid int, file, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// procCPU returns the user+system CPU time of a process from
// /proc/<pid>/stat, or -1.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The command name (field 2) may hold spaces; fields restart after ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	const clkTck = 100 // USER_HZ on every Linux port Go supports
	return time.Duration(ut+st) * time.Second / clkTck
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// v2Client is an SES v2 client of the test account at url; conns is how
// many idle connections it keeps (at least the number of goroutines
// sharing it, so that connections are reused). It never retries: a
// failed send is reported, not repeated.
func v2Client(url string, conns int) *sesv2.Client {
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConns = conns + 4
		tr.MaxIdleConnsPerHost = conns + 4
	})
	cfg := aws.Config{
		Region:           region,
		Credentials:      credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       hc,
	}
	return sesv2.NewFromConfig(cfg, func(o *sesv2.Options) { o.BaseEndpoint = aws.String(url) })
}

// customerZone starts the DNS server playing the customers' zones: the
// recipients' domain has an MX host at 127.0.0.1.
func customerZone(tb testing.TB) *dnstest.Server {
	z := dnstest.NewServer(tb)
	z.Add(rcptDomain + ". 300 IN MX 10 mx." + rcptDomain + ".")
	z.Add("mx." + rcptDomain + ". 300 IN A 127.0.0.1")
	return z
}

// setUpAccount creates the test account with its fixed keys and takes it
// out of the sandbox through the CLI: a send rate that never throttles
// and the daily quota max24h ("-1": unlimited).
func setUpAccount(tb testing.TB, bin string, st store, max24h string) {
	tb.Helper()
	admin(tb, bin, st, "account", "create", "--name", "e2e", "--access-key-id", accessKey, "--secret-access-key", secretKey)
	admin(tb, bin, st, "account", "production", "e2e", "--max-24h-send", max24h, "--max-send-rate", "100000")
}

// verifyDomain creates the sending domain identity through the API,
// publishes its Easy DKIM CNAMEs in the customer's zone, and waits until
// the running checker has verified it.
func verifyDomain(tb testing.TB, c *sesv2.Client, zone *dnstest.Server) {
	verifyDomainWith(tb, c, zone, nil)
}

// verifyDomainBoth is verifyDomain that also publishes the identity's
// (optional) Ed25519 DKIM CNAME, before the RSA ones so that the check
// that verifies the domain sees it too: its mail is then signed twice,
// RSA-2048 and Ed25519, as in production. The record comes from the
// admin command `sesame identity records`.
func verifyDomainBoth(tb testing.TB, bin string, st store, c *sesv2.Client, zone *dnstest.Server) {
	verifyDomainWith(tb, c, zone, func() {
		n := 0
		for _, line := range strings.Split(admin(tb, bin, st, "identity", "records", sendDomain, "--account", "e2e"), "\n") {
			if strings.Contains(line, " IN CNAME ") && !strings.HasPrefix(line, ";") {
				zone.Add(line)
				n++
			}
		}
		if n != 4 {
			tb.Fatalf("sesame identity records %s: %d CNAMEs, want 4 (three RSA, one Ed25519)", sendDomain, n)
		}
	})
}

// verifyDomainWith is verifyDomain with publish, when not nil, run after
// the identity is created and before its RSA CNAMEs are published.
func verifyDomainWith(tb testing.TB, c *sesv2.Client, zone *dnstest.Server, publish func()) {
	tb.Helper()
	ctx := context.Background()
	out, err := c.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(sendDomain)})
	if err != nil {
		tb.Fatalf("CreateEmailIdentity: %v", err)
	}
	if out.DkimAttributes == nil || len(out.DkimAttributes.Tokens) != 3 {
		tb.Fatalf("CreateEmailIdentity: DKIM attributes %+v", out.DkimAttributes)
	}
	if publish != nil {
		publish()
	}
	for _, tok := range out.DkimAttributes.Tokens {
		zone.Add(fmt.Sprintf("%s._domainkey.%s. 300 IN CNAME %s.dkim.%s.", tok, sendDomain, tok, svcDomain))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		g, err := c.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(sendDomain)})
		if err == nil && g.VerifiedForSendingStatus && g.DkimAttributes != nil && g.DkimAttributes.Status == types.DkimStatusSuccess {
			return
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("verification %s, DKIM %+v", g.VerificationStatus, g.DkimAttributes)
			}
			tb.Fatalf("%s not verified after 30s: %v", sendDomain, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// body is a text body of about n bytes in 72-character lines.
func body(n int) string {
	line := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 2)[:70] + "\r\n"
	return strings.Repeat(line, n/len(line)+1)[:n]
}

// sendOne sends one message to rcpt+i@rcptDomain and returns its MessageId.
func sendOne(ctx context.Context, c *sesv2.Client, i int, text string) (string, error) {
	out, err := c.SendEmail(ctx, &sesv2.SendEmailInput{
		FromEmailAddress: aws.String("Sender <sender@" + sendDomain + ">"),
		Destination:      &types.Destination{ToAddresses: []string{fmt.Sprintf("rcpt+%d@%s", i, rcptDomain)}},
		Content: &types.EmailContent{Simple: &types.Message{
			Subject: &types.Content{Data: aws.String(fmt.Sprintf("Message %d", i))},
			Body:    &types.Body{Text: &types.Content{Data: aws.String(text), Charset: aws.String("UTF-8")}},
		}},
	})
	if err != nil {
		return "", err
	}
	if out.MessageId == nil || *out.MessageId == "" {
		return "", errors.New("SendEmail returned no MessageId")
	}
	return *out.MessageId, nil
}

// sink is the recipients' MX host: a go-smtp server on loopback that
// records every message it accepts under its MessageId, the local part of
// the envelope sender (<MessageId>@<MAIL FROM domain>), with the
// generation current when it arrived.
type sink struct {
	addr string
	port int
	gen  atomic.Int32

	mu       sync.Mutex
	arrivals map[string][]int32 // MessageId -> generation of each arrival
	first    map[string]time.Time
	total    int
	bytes    int64
	badFrom  []string
	// signed counts the messages whose header carries both an RSA and an
	// Ed25519 DKIM-Signature (a=rsa-sha256, a=ed25519-sha256).
	signed int
}

func newSink(tb testing.TB) *sink {
	tb.Helper()
	s := &sink{arrivals: map[string][]int32{}, first: map[string]time.Time{}}
	s.gen.Store(1)
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }))
	srv.Domain = "mx." + rcptDomain
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = log.New(io.Discard, "", 0) // connections the killed server left half-done
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.port = ln.Addr().(*net.TCPAddr).Port
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return s
}

func (s *sink) record(from string, n int64, bothSigned bool) {
	now := time.Now()
	gen := s.gen.Load()
	id, _, ok := strings.Cut(from, "@")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total++
	s.bytes += n
	if bothSigned {
		s.signed++
	}
	if !ok || id == "" {
		s.badFrom = append(s.badFrom, from)
		return
	}
	if _, seen := s.first[id]; !seen {
		s.first[id] = now
	}
	s.arrivals[id] = append(s.arrivals[id], gen)
}

// missing returns the ids that have not arrived, and the latest first
// arrival among the others.
func (s *sink) missing(ids []string) (missing []string, last time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		t, ok := s.first[id]
		if !ok {
			missing = append(missing, id)
		} else if t.After(last) {
			last = t
		}
	}
	return missing, last
}

type sinkSession struct {
	s    *sink
	from string
}

func (ss *sinkSession) Reset()        { ss.from = "" }
func (ss *sinkSession) Logout() error { return nil }
func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}
func (ss *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (ss *sinkSession) Data(r io.Reader) error {
	br := bufio.NewReader(r)
	var header []byte
	for {
		line, err := br.ReadBytes('\n')
		header = append(header, line...)
		if err != nil || len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
	}
	n, err := io.Copy(io.Discard, br)
	if err != nil {
		return err
	}
	h := bytes.ToLower(header)
	both := bytes.Count(h, []byte("\ndkim-signature:"))+boolInt(bytes.HasPrefix(h, []byte("dkim-signature:"))) >= 2 &&
		bytes.Contains(h, []byte("a=rsa-sha256")) && bytes.Contains(h, []byte("a=ed25519-sha256"))
	ss.s.record(ss.from, n+int64(len(header)), both)
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
