-- Schema 6: images, their build logs, the routes that name them, and the image digest an
-- execution ran.

-- An image is its document (image: a store.Image) beside the columns lists filter and
-- order on and DeleteImage reads: base ("@name" or '') finds the images that build on
-- another. A write that names an image (a route's image, an image's base) locks the named
-- image's row FOR SHARE, and DeleteImage locks it FOR UPDATE before it looks for users, so
-- that no user is committed between that look and the delete.
CREATE TABLE images (
    name       text COLLATE "C" PRIMARY KEY,
    id         text COLLATE "C" NOT NULL UNIQUE,
    owner      text COLLATE "C" NOT NULL DEFAULT '',
    kind       text NOT NULL,
    base       text COLLATE "C" NOT NULL DEFAULT '',
    image      json NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX images_by_base ON images (base, name) WHERE base <> '';

-- The log of an image's current (or last) build: its last store.MaxImageLog bytes.
CREATE TABLE image_logs (
    name text COLLATE "C" PRIMARY KEY REFERENCES images (name) ON DELETE CASCADE,
    log  bytea NOT NULL
);

-- A route's image, kept beside its document by PostgreSQL: the routes that name an image
-- ("@name") are read from routes_by_image, in app then path order.
ALTER TABLE routes ADD COLUMN image text COLLATE "C" NOT NULL GENERATED ALWAYS AS (coalesce(route->>'image', '')) STORED;
CREATE INDEX routes_by_image ON routes (image, app, path);

-- The digest of the image an execution's container was made from, for a route that runs an
-- image by name; '' for others.
ALTER TABLE executions ADD COLUMN image_digest text NOT NULL DEFAULT '';
