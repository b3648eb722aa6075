// Package storetest is the conformance suite of store.Store: the properties written on
// the store interfaces (ordering of lists, ownership checked inside the write, route
// matching, lease exclusivity, allowed status transitions, the change feed, ...) checked
// once, through the interface, against any backend. Every backend's tests call Run.
//
// Each case declares the store.Store methods it covers; Run fails when a method is claimed
// by no case, when a case claims a method the interface lacks, and when a case never calls
// a method it claims. Backend specifics (files, locks, migrations, reopening) are tested
// by the backend itself.
package storetest
