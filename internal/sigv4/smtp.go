package sigv4

import "encoding/base64"

// SMTP password derivation (version 4), as the SES Developer Guide
// documents it ("Obtaining Amazon SES SMTP credentials by converting
// existing AWS credentials"): the SigV4 signing key for the fixed date
// "11111111", the region and the service "ses" signs the message
// "SendRawEmail"; the password is the base64 of the version byte 0x04
// followed by that signature.
const (
	smtpDate    = "11111111"
	smtpMessage = "SendRawEmail"
	smtpVersion = 0x04
)

// SMTPPassword returns the SMTP password SES derives from a secret access
// key for region: what an SMTP client gives, with the access key id as the
// user name, to the submission server of that region.
func SMTPPassword(secret, region string) string {
	sig := hmacSHA256(signingKey(secret, smtpDate, region, "ses"), smtpMessage)
	return base64.StdEncoding.EncodeToString(append([]byte{smtpVersion}, sig...))
}
