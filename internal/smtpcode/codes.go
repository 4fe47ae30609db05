package smtpcode

// Basic reply codes. Those without a reference are from RFC 5321 §4.2.2
// and §4.2.3.
const (
	ServiceReady            = 220
	ServiceClosing          = 221
	AuthSucceeded           = 235 // RFC 4954 §6
	OK                      = 250
	UserNotLocalWillForward = 251
	CannotVerify            = 252
	AuthContinue            = 334 // RFC 4954 §4
	StartMailInput          = 354

	ServiceNotAvailable   = 421 // also sent before closing the connection
	MailboxBusy           = 450 // mailbox unavailable, e.g. busy or temporarily blocked
	LocalError            = 451 // local error in processing
	InsufficientStorage   = 452 // also "too many recipients", RFC 5321 §4.5.3.1.10
	TempAuthFailure       = 454 // RFC 4954 §6
	ParamsNotAccommodated = 455

	SyntaxError           = 500
	ParamSyntaxError      = 501
	NotImplemented        = 502
	BadSequence           = 503
	ParamNotImplemented   = 504
	NoMailHost            = 521 // the host does not accept mail, RFC 7504
	AuthRequired          = 530 // RFC 4954 §6
	AuthFailed            = 535 // RFC 4954 §6
	MailboxUnavailable    = 550 // mailbox not found, no access, or policy refusal
	UserNotLocal          = 551
	ExceededStorage       = 552 // exceeded storage allocation
	MailboxNameNotAllowed = 553
	TransactionFailed     = 554
	ParamsNotRecognized   = 555 // MAIL FROM/RCPT TO parameters not recognised
	NoMailDomain          = 556 // the domain does not accept mail (null MX), RFC 7504, RFC 7505 §4
)

// Enhanced status codes (RFC 3463 §3, registry of RFC 5248), with the
// class they are most often used with; the subject and detail mean the
// same with class 4 or 5. They are variables only because Go has no array
// constants: do not assign to them.
var (
	StatusOK = [3]int{2, 0, 0} // X.0.0 other undefined status, §3.1

	StatusTempOther = [3]int{4, 0, 0} // X.0.0 other undefined status, §3.1
	StatusPermOther = [3]int{5, 0, 0} // X.0.0 other undefined status, §3.1

	StatusBadMailbox       = [3]int{5, 1, 1}  // X.1.1 bad destination mailbox address, §3.2
	StatusBadSystem        = [3]int{5, 1, 2}  // X.1.2 bad destination system address, §3.2
	StatusBadMailboxSyntax = [3]int{5, 1, 3}  // X.1.3 bad destination mailbox address syntax, §3.2
	StatusMailboxMoved     = [3]int{5, 1, 6}  // X.1.6 destination mailbox has moved, no forwarding address, §3.2
	StatusBadSender        = [3]int{5, 1, 7}  // X.1.7 bad sender's mailbox address syntax, §3.2
	StatusBadSenderSystem  = [3]int{5, 1, 8}  // X.1.8 bad sender's system address, §3.2
	StatusNullMX           = [3]int{5, 1, 10} // X.1.10 recipient address has null MX, RFC 7505 §4

	StatusMailboxDisabled = [3]int{5, 2, 1} // X.2.1 mailbox disabled, not accepting messages, §3.3
	StatusMailboxFull     = [3]int{4, 2, 2} // X.2.2 mailbox full, §3.3 (a persistent transient failure)
	StatusMessageLength   = [3]int{5, 2, 3} // X.2.3 message length exceeds administrative limit, §3.3

	StatusSystemFull      = [3]int{4, 3, 1} // X.3.1 mail system full, §3.4
	StatusMessageTooLarge = [3]int{5, 3, 4} // X.3.4 message too big for system, §3.4

	StatusNetwork       = [3]int{4, 4, 0} // X.4.0 other or undefined network or routing status, §3.5
	StatusNoAnswer      = [3]int{4, 4, 1} // X.4.1 no answer from host, §3.5
	StatusBadConnection = [3]int{4, 4, 2} // X.4.2 bad connection, §3.5
	StatusRoutingServer = [3]int{4, 4, 3} // X.4.3 directory server (DNS) failure, §3.5
	StatusUnableToRoute = [3]int{5, 4, 4} // X.4.4 unable to route, §3.5
	StatusExpired       = [3]int{4, 4, 7} // X.4.7 delivery time expired, §3.5

	StatusInvalidCommand = [3]int{5, 5, 1} // X.5.1 invalid command, §3.6
	StatusSyntaxError    = [3]int{5, 5, 2} // X.5.2 syntax error, §3.6
	StatusTooManyRcpts   = [3]int{4, 5, 3} // X.5.3 too many recipients, §3.6

	StatusMediaNotSupported = [3]int{5, 6, 1} // X.6.1 media not supported, §3.7

	StatusPolicy        = [3]int{5, 7, 0} // X.7.0 other or undefined security status, §3.8
	StatusNotAuthorized = [3]int{5, 7, 1} // X.7.1 delivery not authorized, message refused, §3.8
)
