// Package images owns the images Gantry manages: it takes uploads (a build context or a
// `docker save` tarball, streamed to disk under a size limit and checked before Docker
// sees them: what one unpacks to is bounded too, by Config.MaxUnpacked, 4 × MaxUpload by
// default, and its entries by MaxEntries), and runs builds, loads and pulls in the
// background through Docker's Engine API on a bounded pool of workers, each with a time
// limit (at most Config.MaxQueued uploads and pulls wait for one: 503 beyond, before an
// upload is read). It keeps each image's record in the store current (CREATING → READY
// with the image's digest, or ERROR with the reason and the end of the log), saves the
// build log as it grows, removes the Docker images it no longer needs (an old build's
// tag, a failed build's leftovers), and deletes and prunes images. A build cut off by
// Close (server shutdown) may leave the untagged image of the step the daemon was
// committing then; `docker image prune` removes it. The uploads a crash leaves in the
// upload folder are removed by the next Start. A job writes its image every 30 seconds
// while it waits and runs; a CREATING image no node wrote for longer than BuildTimeout
// and a minute is taken as interrupted (its node stopped), so that it can be built again,
// deleted or pruned. Handlers call it; it never imports them.
package images
