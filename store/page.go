package store

// Page asks for one page of a list: at most Limit items after the opaque Cursor.
type Page struct {
	Cursor string
	Limit  int
}

// Bounds of a page size.
const (
	DefaultPageSize = 30
	MaxPageSize     = 100
)

func (p Page) Size() int {
	switch {
	case p.Limit <= 0:
		return DefaultPageSize
	case p.Limit > MaxPageSize:
		return MaxPageSize
	}
	return p.Limit
}
