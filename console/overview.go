package console

import "net/http"

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	c.page(w, r, http.StatusOK, "overview", "Overview", "overview", nil, nil)
}
