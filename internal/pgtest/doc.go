// Package pgtest gives tests a PostgreSQL database of their own: a fresh schema (Schema)
// or a fresh database (Database) in the server that GANTRY_TEST_POSTGRES names, dropped
// when the test ends. Without GANTRY_TEST_POSTGRES a test skips, except under CI=true,
// where it fails: CI must run the PostgreSQL tests (.ci/run starts a server).
package pgtest
