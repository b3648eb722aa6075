// Package layers holds no code: its test checks the import graph of README "Architecture"
// (every package imports only packages below it, store knows no backend, runner no
// other Gantry package), so that a change that breaks it fails make test.
package layers
