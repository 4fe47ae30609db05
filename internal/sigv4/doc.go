// Package sigv4 verifies AWS Signature Version 4 (AWS4-HMAC-SHA256) on
// incoming HTTP requests, the way Amazon SES does for its v1 Query and v2
// REST-JSON APIs (service name "ses").
//
// It owns everything between "a request arrived" and "this request was signed
// by the holder of access key X for region R": parsing the Authorization
// header (or presigned X-Amz-* query parameters), the credential scope and
// clock-skew checks, rebuilding the canonical request from the server-side
// view of the request (r.RequestURI, r.Host, r.Header, the body bytes),
// deriving the signing key and comparing signatures in constant time.
//
// Verification has two phases, so that a server can refuse a request before
// reading its body: [Verifier.Begin] checks everything the headers and
// request line carry (and, when an X-Amz-Content-Sha256 header stands for
// the body, the signature itself), and the returned [Pending] takes the
// body as it is read and finishes the check. [Verifier.Verify] does both
// for a body already in memory.
//
// It does not know about accounts, permissions or SES error codes: the
// secret for an access key comes from [Verifier.Secret], and failures are
// reported as an [*Error] whose [Kind] the API layer maps to SES's codes
// (InvalidClientTokenId, SignatureDoesNotMatch, ...). The contract it
// implements is section 2 of shared/ses-api.md.
//
// # Compatibility notes
//
// SDKs disagree in small ways, and the verifier accepts the forms real
// clients send:
//
//   - Canonical URI: botocore and the JavaScript v3 SDK remove dot segments
//     and empty segments from the path before signing; the Go v2 SDK signs
//     the path exactly as sent. Both forms are tried when they differ.
//   - Canonical query: the raw query is split on '&' and the first '=',
//     each part is decoded ('+' meaning space) and re-encoded with strict RFC
//     3986 encoding, then sorted by key and value. Parts that are not valid
//     percent-encoding are encoded as they are.
//   - Header values: trimmed, with internal runs of spaces and tabs collapsed
//     to one space (botocore, JavaScript; the Go SDK collapses spaces only).
//   - Payload hash: hex SHA-256 of the body. An X-Amz-Content-Sha256 header
//     is used instead when present, but it must match the body, so it can
//     never be used to sign a request without signing its body. The value
//     UNSIGNED-PAYLOAD is accepted (header or presigned form) only for
//     requests with an empty body. With the header the signature is
//     checked before the body: a request whose signature is wrong and whose
//     header does not match its body fails with the signature message, not
//     the content hash one (both KindBadSignature).
package sigv4
