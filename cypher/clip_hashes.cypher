// Returns id and content_hash of the given clips that exist (for no-op re-ingest).
// params: $ids (list of Clip id values)
// surface: internal
UNWIND $ids AS id
MATCH (c:Clip {id: id})
RETURN c.id AS id, c.content_hash AS content_hash
