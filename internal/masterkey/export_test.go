package masterkey

// Create is create, for tests that need a file system without hard links.
var Create = create
