"""Share links: a finished download's archive for people without an API key, through an
expiring, revocable, counted link (the token stored hashed)."""
