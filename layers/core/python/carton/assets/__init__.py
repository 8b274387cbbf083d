"""Assets: import, uploads and ingest, listing, renditions and conversions."""
