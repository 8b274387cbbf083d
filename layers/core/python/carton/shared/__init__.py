"""What every part of Carton uses: AWS clients, settings, field types, domain errors, logs
and metrics, safe HTTP, S3 feeds, media types, presigned links. Imports nothing else of
Carton."""
