// Package fnimage builds Gantry's function images: it compiles a function in
// the repository's functions/ folder into a static Linux binary and packs it
// into a FROM scratch image through the Docker Engine API, so that tests,
// benchmarks and the README's examples need no registry.
//
// Images are content-addressed: the default tag is
// gantry-fn/<name>:<first 12 hex digits of the source hash>, and every image
// carries the hash in its gantry.fn.source label. An image whose tag already
// carries the current hash is reused, not rebuilt.
package fnimage
