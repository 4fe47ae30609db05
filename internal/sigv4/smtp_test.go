package sigv4

import "testing"

// TestSMTPPassword pins SES's version-4 SMTP password. The expected values
// were computed once, independently, with the Python script of the SES
// Developer Guide ("smtp_credentials_generate.py": HMAC-SHA256 chain from
// "AWS4"+secret over "11111111", region, "ses", "aws4_request",
// "SendRawEmail"; base64 of 0x04 and the signature):
//
//	python3 -c 'import hmac,hashlib,base64
//	def s(k,m): return hmac.new(k,m.encode(),hashlib.sha256).digest()
//	def pw(sec,reg):
//	  k=s(("AWS4"+sec).encode(),"11111111")
//	  for m in (reg,"ses","aws4_request","SendRawEmail"): k=s(k,m)
//	  return base64.b64encode(bytes([4])+k).decode()
//	print(pw("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","us-east-1"))
//	print(pw("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","eu-west-1"))'
func TestSMTPPassword(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	for _, c := range []struct{ region, want string }{
		{"us-east-1", "BLBM/9hSUELfq8Gw+rU1YcBjkOxGbhT2XG763xVLGWL9"},
		{"eu-west-1", "BMW5RDrXmmVs0lV7GpI4oLkHXpZ4stDsk6q91z1g38Pk"},
	} {
		if got := SMTPPassword(secret, c.region); got != c.want {
			t.Errorf("SMTPPassword(%q) = %q, want %q", c.region, got, c.want)
		}
	}
	if SMTPPassword(secret+"x", "us-east-1") == SMTPPassword(secret, "us-east-1") {
		t.Error("the password does not depend on the secret")
	}
}
