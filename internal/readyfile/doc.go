// Package readyfile owns the readiness file of `gantry server --ready-file PATH`: a small
// JSON file that says the server is ready and where it listens.
//
// The server calls Write once every listener is bound, and removes the file when it shuts
// down. Write puts the whole document in a temporary file in the same directory, then
// renames it over PATH, so a reader sees either no file or a complete one, never a part.
// Whoever starts the server (the black-box tests, gantry-bench, a supervisor) calls Wait,
// which polls until the file appears, or its context ends: cancel the context, with a cause,
// when the server process exits, and Wait returns that cause at once.
//
// A file left by a run that was killed says nothing about the next run: remove it before
// starting a server that writes the same path (the server removes it too, at start-up, but
// a reader that looks before then would see the old run's addresses).
package readyfile
