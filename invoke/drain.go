package invoke

// Held is how many async calls this node's workers hold now (leased, running or about to):
// with Figures, what a draining server waits for.
func (w *Workers) Held() int {
	w.heldMu.Lock()
	defer w.heldMu.Unlock()
	return len(w.held)
}
