"""The single DynamoDB table in general: key schema, indexes and S3 key prefixes, the
store, the list engine."""
