package origin

import "strings"

// roleNames are the local parts that mail systems and feedback loops send
// their reports from. A report counts only when it is written by a system,
// not a person, and these names are how a system says so: a provider does
// not give them to its users. Compared case-insensitively, ignoring a
// +tag. Each is here for a sender of genuine reports:
//
//   - mailer-daemon: the sender of non-delivery reports by convention
//     (Sendmail, Postfix, Exim; Gmail's mailer-daemon@googlemail.com,
//     Yahoo's MAILER-DAEMON@yahoo.com).
//   - postmaster: required at every mail domain (RFC 5321 §4.5.1);
//     Microsoft 365 and Exchange send their NDRs from it.
//   - abuse: the complaints mailbox of RFC 2142 §2, which feedback loops
//     send from.
//   - feedback, feedbackloop, fbl: feedback-loop senders (RFC 6449; Yahoo's
//     complaint feedback loop is feedback@arf.mail.yahoo.com).
//   - arf: named after the report format (RFC 5965), used by feedback-loop
//     software.
//   - staff: Microsoft's JMRP sends its complaints from staff@hotmail.com.
//   - scomp: AOL's feedback loop, scomp@aol.net.
//   - complaints: SES forwards complaints from
//     complaints@email-abuse.amazonses.com, the shape Sesame mimics.
//
// Not listed: noreply and no-reply. They name no report sender, and they
// are what providers send user-written notifications from (document
// shares, invitations, forms), so they say "a system sent this", not "a
// system wrote this".
var roleNames = map[string]bool{
	"mailer-daemon": true,
	"postmaster":    true,
	"abuse":         true,
	"feedback":      true,
	"feedbackloop":  true,
	"fbl":           true,
	"arf":           true,
	"staff":         true,
	"scomp":         true,
	"complaints":    true,
}

// bounceRoleNames are the role names a non-delivery report is written
// from: a bounce changes the suppression list, so its From is held to the
// two names every mail system reserves (RFC 5321 §4.5.1 for postmaster;
// MAILER-DAEMON by universal convention). The feedback-loop names count
// for complaints only: a consumer provider might have let a person
// register one of them.
var bounceRoleNames = map[string]bool{
	"mailer-daemon": true,
	"postmaster":    true,
}

// roleAddress splits addr ("local@domain") and reports whether its local
// part, without a +tag and compared case-insensitively, is one of
// roleNames. domain is normalised; ok is false when addr has no valid
// domain or its local part is not a role name. A local part with any
// byte outside ASCII is never a role name: only ASCII letters are folded
// (Unicode folding would make a Kelvin sign a K and a dotted İ an i, so
// "feedbacK" — with U+212A — would pass for "feedback"). A quoted local
// part ("postmaster") counts as the same mailbox when the caller has
// unquoted it (net/mail does); as given here, quotes are never a role.
func roleAddress(addr string) (domain string, ok bool) {
	local, ok := roleLocal(addr)
	if !ok {
		return "", false
	}
	d, err := domainOf(addr)
	if err != nil {
		return "", false
	}
	return d, roleNames[local]
}

// roleLocal returns addr's local part, ASCII lower-cased and without a
// +tag, or false when it holds a byte outside ASCII.
func roleLocal(addr string) (string, bool) {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return "", false
	}
	local := addr[:i]
	for j := 0; j < len(local); j++ {
		if local[j] >= 0x80 {
			return "", false
		}
	}
	local = strings.ToLower(local) // ASCII only, checked above
	if j := strings.IndexByte(local, '+'); j >= 0 {
		local = local[:j]
	}
	return local, true
}
