"""Building archives: ZIP planning (archive), parts (assembly), workers, the workflow's
steps and the cleanup of what they leave."""
