// Package secrets owns Gantry's secrets: function secrets, users' SSH key pairs and the
// gateway's TLS private keys. Their values live in a Backend (HashiCorp Vault's KV v2, or
// the embedded default: AES-256-GCM sealed values in the store, under a key file); their
// records (owner, keys, versions, SSH metadata, never a value) live in the store. Service
// writes the two in an order that a crash cannot leave half-done: the record is marked
// pending before the backend is written and settled after, and Recover finishes or undoes
// what a crash left pending. Values reach functions only as files (see Files); no
// operation of the API ever returns one.
package secrets
