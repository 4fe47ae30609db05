package console

// SafeFilename is safeFilename, for the tests.
var SafeFilename = safeFilename
