package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// BenchmarkSendPathReplay is BenchmarkSendPath with the client's work
// taken out: before each round (outside its clocks) every SendEmail
// request is built and SigV4-signed with the AWS SDK's signer, then the
// round replays them over plain net/http from SESAME_BENCH_CONCURRENCY
// goroutines (SigV4 allows a signature 15 minutes). What it measures is
// the server's throughput and latency, with the client's CPU reduced to
// HTTP and the SMTP sink. Same settings, sub-benchmarks and metrics as
// BenchmarkSendPath (client-CPU-ms/msg leaves the signing out).
//
//	go test -run '^$' -bench SendPathReplay -benchtime 1x ./e2e/
func BenchmarkSendPathReplay(b *testing.B) {
	n := envInt(b, "SESAME_BENCH_MESSAGES", 20000)
	conc := envInt(b, "SESAME_BENCH_CONCURRENCY", 16)
	bin := binary(b)
	eachStoreProcs(b, func(b *testing.B, st store, env []string) { benchReplay(b, bin, st, env, n, conc) })
}

// presigned is a signed SendEmail request ready to replay.
type presigned struct {
	body   []byte
	header http.Header
}

func benchReplay(b *testing.B, bin string, st store, env []string, n, conc int) {
	zone := customerZone(b)
	mx := newSink(b)
	setUpAccount(b, bin, st, "-1")
	srv := startServer(b, bin, st, serveOptions{apiPort: freePort(b, false), dnsPort: freePort(b, true), resolver: zone.Addr(), smtpPort: mx.port, env: env})
	verifyDomainBoth(b, bin, st, v2Client(srv.api, 1), zone)

	url := srv.api + "/v2/email/outbound-emails"
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: conc + 4, MaxIdleConnsPerHost: conc + 4}}
	b.Cleanup(hc.CloseIdleConnections)
	var (
		base int // the number of reqs[0] less one
		reqs []presigned
	)
	prepare := func(first, n int) {
		base, reqs = first, make([]presigned, n)
		for k := range reqs {
			reqs[k] = presign(b, url, first+k+1)
		}
	}
	send := func(ctx context.Context, _, i int) (string, error) {
		p := reqs[i-base-1]
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(p.body))
		if err != nil {
			return "", err
		}
		req.Header = p.header
		resp, err := hc.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		if err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("SendEmail: %s: %s", resp.Status, out)
		}
		var r struct{ MessageId string }
		if err := json.Unmarshal(out, &r); err != nil || r.MessageId == "" {
			return "", fmt.Errorf("SendEmail: no MessageId in %s", out)
		}
		return r.MessageId, nil
	}
	measureRounds(b, srv, mx, n, conc, send, hooks{prepare: prepare, bothSigned: true})
}

// presign builds and signs the SES v2 SendEmail request of sendOne's
// message i.
func presign(tb testing.TB, url string, i int) presigned {
	body, err := json.Marshal(map[string]any{
		"FromEmailAddress": "Sender <sender@" + sendDomain + ">",
		"Destination":      map[string]any{"ToAddresses": []string{fmt.Sprintf("rcpt+%d@%s", i, rcptDomain)}},
		"Content": map[string]any{"Simple": map[string]any{
			"Subject": map[string]string{"Data": fmt.Sprintf("Message %d", i)},
			"Body":    map[string]any{"Text": map[string]string{"Data": benchBody, "Charset": "UTF-8"}},
		}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ses", region, time.Now()); err != nil {
		tb.Fatal(err)
	}
	return presigned{body: body, header: req.Header}
}
