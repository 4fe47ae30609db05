package dns

// ServersFromFile exposes serversFromFile to the external tests.
var ServersFromFile = serversFromFile
