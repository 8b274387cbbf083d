"""Downloads: creating, showing, listing, deleting, notifying, and the sweeper that ends
the ones left behind."""
