package rebalancer

// maintProgress lists the graceful maintenances under way, by ownKey.
func (r *Rebalancer) maintProgress() map[string]*MaintProgress { return nil }
