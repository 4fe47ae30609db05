// Package archtest holds tests of the tree's structure: every package has
// one package doc comment, only the composition root reads configuration,
// production code never imports the test kits, and the leaf packages stay
// leaves. It has no code of its own.
package archtest
