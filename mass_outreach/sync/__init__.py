"""Two stores of any engines converge: the stamps (clock), the merge, a store's feed and the applying
of a peer's batch (feed, apply), and the sync of two stores (run)."""
