"""The `carton` command's groups: assets, downloads, account."""
