"""The HTTP face: the route table, request screening and responses, representations
(JSON/XML), paging links, the OpenAPI document."""
